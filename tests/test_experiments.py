"""The experiment scripts (``python experiments/NAME.py``) import, and the helpers they share do what their
commands in results/MANIFEST.md rely on."""

import importlib
import math
from pathlib import Path

import pytest

from isingsr.models import shipped_baseline

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.fixture(autouse=True)
def scripts_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXPERIMENTS))  # as `python experiments/NAME.py` has it


@pytest.mark.parametrize("name", sorted(p.stem for p in EXPERIMENTS.glob("*.py")))
def test_every_script_imports_and_has_its_help(name):
    assert importlib.import_module(name).__doc__.strip()  # the docstring is the script's --help


def test_sr3_checkpoint_fills_the_scale_into_a_pattern_or_takes_the_shipped_one():
    from _script import sr3_checkpoint

    assert sr3_checkpoint("isingsr/models/sr3_L32_s{S}.pt", 4.0) == "isingsr/models/sr3_L32_s4.pt"
    assert sr3_checkpoint("runs/sr3_s{S}/checkpoint.pt", 2.5) == "runs/sr3_s2.5/checkpoint.pt"
    for s in (2, 4, 8):
        assert sr3_checkpoint(None, s) == shipped_baseline("sr3", 32, s)


def test_a_pattern_with_another_field_is_a_one_line_error():
    from _script import for_scale

    from isingsr.exceptions import InputError

    assert for_scale(None, 4) is None
    for bad in ("runs/sr3_s{scale}.pt", "runs/sr3_s{0}.pt", "runs/sr3_s{S.pt"):
        with pytest.raises(InputError, match="the only field a pattern may hold is {S}"):
            for_scale(bad, 4)


def test_calibrated_lift_reads_one_block_size_of_the_error_table(tmp_path):
    from calibrated_lift import read_ratios

    from isingsr.exceptions import InputError

    head = "| b | t | blur | mse | s^2 | ratio | r2 | r3 |\n|---|---|---|---|---|---|---|---|\n"
    table = tmp_path / "table.md"
    table.write_text(head + "| 4 | 0.400 | 3.49 | 1.6 | 0.1326 | 12.27 | 0.87 | 0.99 |\n"
                            "| 4 | 0.100 | 0.90 | 0.02 | 0.03276 | 0.71 | 0.70 | 1.00 |\n")
    ln_s2, ln_ratio = read_ratios(table)
    assert ln_s2.tolist() == pytest.approx([math.log(0.03276), math.log(0.1326)])   # increasing, for np.interp
    assert ln_ratio.tolist() == pytest.approx([math.log(0.71), math.log(12.27)])
    table.write_text(head + "| 4 | 0.400 | 3.49 | 1.6 | 0.1326 | 12.27 | 0.87 | 0.99 |\n"
                            "| 8 | 0.600 | 5.00 | 1.0 | 0.2 | 7.5 | 0.9 | 1.0 |\n")
    with pytest.raises(InputError, match="one block size"):
        read_ratios(table)
    with pytest.raises(InputError, match="no such file"):
        read_ratios(tmp_path / "missing.md")



def test_input_walls_are_the_blocks_with_a_periodic_neighbour_of_the_other_sign():
    import numpy as np
    from _script import input_walls

    c = np.ones((1, 4, 4))
    c[0, 0, 0] = -1                                   # one flipped block: it and its four periodic neighbours
    want = np.zeros((1, 4, 4), dtype=bool)
    for i, j in ((0, 0), (0, 1), (1, 0), (0, 3), (3, 0)):
        want[0, i, j] = True
    assert np.array_equal(input_walls(c), want)
    assert not input_walls(np.ones((2, 4, 4))).any()
