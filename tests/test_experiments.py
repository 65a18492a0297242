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


def test_opposite_neighbours_counts_the_periodic_neighbours_of_the_other_sign():
    import numpy as np
    from _script import opposite_neighbours

    c = np.ones((1, 4, 4))
    c[0, 0, 0] = -1                                   # an island: 4 opposite neighbours, each of them 1
    c[0, 2, 2] = c[0, 2, 3] = -1                      # a pair: 3 each, and their neighbours 1 or 2
    n = opposite_neighbours(c)
    assert n[0, 0, 0] == 4 and n[0, 2, 2] == 3 and n[0, 2, 3] == 3
    assert n[0, 2, 0] == 1                            # the pair's periodic neighbour on the left
    assert n[0, 1, 1] == 0
    assert opposite_neighbours(c, cap=3)[0, 0, 0] == 3
    square = np.ones((1, 4, 4))
    square[0, :2, :2] = -1                            # a 2 x 2 domain: each of its blocks is a corner
    assert (opposite_neighbours(square)[0, :2, :2] == 2).all()
    assert np.array_equal(opposite_neighbours(c) > 0, __import__("_script").input_walls(c))


def test_lift_table_reads_offsets_in_mu_and_ln_s2():
    import numpy as np
    from empirical_lift import CLASSES, LiftTable, binned

    mu = np.linspace(-1, 1, 4000)
    centres, offsets = binned(mu, mu + 0.1)
    assert len(centres) == 10 and np.allclose(offsets, 0.1)           # 400 blocks per bin
    flat = [np.array([-1.0, 1.0])] * CLASSES
    table = LiftTable(np.log([0.2, 0.1]), [flat, flat],                # given in decreasing s^2: sorted
                      [[np.array([0.4, 0.0])] * CLASSES, [np.array([0.2, 0.2])] * CLASSES])
    cls = np.zeros(3, dtype=int)
    x = np.array([-1.0, 0.0, 0.5])
    assert table.target(x, cls, 0.1).tolist() == pytest.approx([0.0, 0.2, 0.7])      # offset 0.2; clipped at 0
    assert table.target(x, cls, 0.2).tolist() == pytest.approx([0.0, 0.2, 0.6])      # 0.4 - 0.4 (mu + 1) / 2
    half = np.exp(0.5 * (np.log(0.1) + np.log(0.2)))
    assert table.target(x, cls, half)[1] == pytest.approx(0.2)                     # (0.2 + 0.2) / 2 at mu = 0
    assert table.target(x, cls, 0.05).tolist() == pytest.approx([0.0, 0.0, 0.5])     # below the table: mu itself
    assert table.target(x, cls, 1.0).tolist() == pytest.approx([0.0, 0.2, 0.6])      # above it: the last


def test_block_structure_class_stats_of_the_truth_itself():
    import numpy as np
    from block_structure import CLASS_STATS, _class_samples, _samples

    rng = np.random.default_rng(0)
    spins = np.where(rng.random((3, 8, 8)) < 0.5, 1, -1).astype(np.int8)
    b = spins.reshape(3, 4, 2, 4, 2).mean(axis=(2, 4))
    coarse = np.where(b >= 0, 1, -1)
    arrays = [v.mean() for v in _samples(spins, coarse, 2) + _class_samples(spins, coarse, 2)]
    got = {k: f(*arrays) for k, f in CLASS_STATS.items()}
    from _script import opposite_neighbours
    cls = opposite_neighbours(coarse, 3)
    for k, name in enumerate(("0", "1", "2", "3+")):
        if (cls == k).any():
            assert got[f"block m along input, {name} opposite neighbours"] == pytest.approx(
                (b * coarse)[cls == k].mean())
            assert got[f"spread of block m along input, {name} opposite neighbours"] == pytest.approx(
                (b * coarse)[cls == k].std())
            assert got[f"consistency, {name} opposite neighbours"] == 1.0       # its own coarse-graining
            assert got[f"tied blocks, {name} opposite neighbours"] == pytest.approx((b == 0)[cls == k].mean())
    assert (b == 0).any()


def test_block_structure_magnetisation_bins_are_the_truths_and_pair_each_configuration():
    import numpy as np
    from block_structure import M_EDGES, M_STATS, _magnetisation_samples

    rng = np.random.default_rng(2)
    up = rng.random((400, 1, 8, 8)) < rng.random((400, 1, 1, 1))  # magnetisations spread over [-1, 1]
    spins = np.where(up[:, 0], 1, -1).astype(np.int8)
    m = spins.reshape(400, -1).mean(axis=1)
    arrays = [v.mean() for v in _magnetisation_samples(spins, m)]
    flipped = [v.mean() for v in _magnetisation_samples(-spins, m)]  # each configuration reversed
    for k, f in enumerate(M_STATS.values()):
        lo, hi = M_EDGES[k], M_EDGES[k + 1]
        sel = (np.abs(m) >= lo) & ((np.abs(m) < hi) if hi < 1 else (np.abs(m) <= hi))
        assert sel.any()
        assert f(*arrays) == pytest.approx(np.abs(m[sel]).mean())  # the truth along its own sign: its |m|
        assert f(*flipped) == pytest.approx(-np.abs(m[sel]).mean())  # against the paired truth's sign
    assert sum(v for v in arrays[1::2]) == pytest.approx(1.0)  # every configuration in one bin


def test_class_lift_with_equal_factors_is_conditioned_and_a_wider_class_lifts_more(monkeypatch, make_process):
    import numpy as np
    import torch

    import isingsr.diffusion.consistency as consistency
    from class_lift import class_means, install
    monkeypatch.setattr(consistency, "truncated_targets", consistency.truncated_targets)  # restored afterwards
    plain = consistency.truncated_targets
    p = make_process(16)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.normal(0, 0.5, (2, 1, 16, 16)))
    coarse = torch.from_numpy(np.where(rng.random((2, 4, 4)) < 0.5, 1.0, -1.0))
    var = p.sigma2(0.3)
    want = plain(x, coarse, 4, var, p.basis, every_block=True)
    install([1, 1, 1, 1])
    assert torch.allclose(consistency.truncated_targets(x, coarse, 4, var, p.basis, every_block=True), want)
    install([1, 4, 4, 4])                                      # wider at the walls only
    got = consistency.truncated_targets(x, coarse, 4, var, p.basis, every_block=True)
    from _script import input_walls
    wall = torch.from_numpy(input_walls(coarse.numpy()))
    assert torch.equal(got[~wall], want[~wall]) and (got[wall] > want[wall]).all()
    assert torch.equal(consistency.truncated_targets(x, coarse, 4, var, p.basis), plain(x, coarse, 4, var, p.basis))

    spins = np.where(rng.random((50, 8, 8)) < 0.5, 1, -1)
    c = np.where(spins.reshape(50, 4, 2, 4, 2).sum(axis=(2, 4)) >= 0, 1, -1)
    means, errs = class_means(spins, c, 2)
    m = c * spins.reshape(50, 4, 2, 4, 2).mean(axis=(2, 4))
    from _script import opposite_neighbours
    cls = opposite_neighbours(c, 3)
    assert means[0] == pytest.approx(m[cls == 0].mean()) and (errs > 0).all()


def test_lift_scripts_split_their_arguments_at_the_dashes(monkeypatch):
    from pathlib import Path

    from _script import calibration_out, split_for_consistency
    from isingsr.exceptions import InputError

    monkeypatch.setattr("sys.argv", ["x.py", "--scale", "4", "--", "--modes", "conditioned", "--out", "r"])
    own, rest = split_for_consistency()
    assert own == ["--scale", "4"] and rest == ["--modes", "conditioned", "--out", "r"]
    assert calibration_out(None, rest) == Path("r") and calibration_out(Path("o"), rest) == Path("o")
    with pytest.raises(InputError, match="--out"):
        calibration_out(None, ["--modes", "conditioned", "--out"])
    monkeypatch.setattr("sys.argv", ["x.py", "--scale", "4", "--", "--out", "r"])
    with pytest.raises(InputError, match="--modes"):
        split_for_consistency()
    monkeypatch.setattr("sys.argv", ["x.py", "--help"])
    assert split_for_consistency() == (["--help"], [])                 # --help is argparse's to answer


def test_smc_weights_reads_its_variants_and_refuses_a_bad_one():
    from smc_weights import variant

    from isingsr.exceptions import InputError

    assert variant("conditioned:0.1:0") == ("conditioned", 0.1, 0.0)
    for bad in ("conditioned:0.1", "nonsense:0:0", "conditioned:a:0", "conditioned:0:0:1"):
        with pytest.raises(InputError, match="--variants"):
            variant(bad)


def test_smc_weights_sums_the_spread_in_bands_of_the_blur():
    import numpy as np
    from smc_weights import spread_row

    blur = np.array([3.0, 2.0, 1.5, 0.7, 0.3, 0.1, 0.05])  # the blur at each step's start
    spread = np.arange(1.0, 8.0)
    assert spread_row(spread, blur) == ["2, 3.00", "1, 3.00", "1, 4.00", "1, 5.00", "1, 6.00", "7.00", "28.00"]


def _direct_g2(spins, r):
    """``(1/(2 L^2)) sum_x s_x (s_{x+r e_x} + s_{x+r e_y})`` per configuration, by shifting the lattice."""
    import numpy as np

    s = spins.astype(float)
    return 0.5 * ((s * np.roll(s, -r, axis=1)).mean(axis=(1, 2)) + (s * np.roll(s, -r, axis=2)).mean(axis=(1, 2)))


def _pooled_files(tmp_path, **changed):
    """Two truths of random spins and a 'super-resolved' file of each: its truth with a tenth of the spins
    flipped, recorded as made from it; ``changed`` attributes go to the second file."""
    import numpy as np

    from isingsr.io.hdf5 import write_ensemble

    rng = np.random.default_rng(5)
    files, pairs = [], []
    for k in range(2):
        truth = np.where(rng.random((40, 8, 8)) < 0.5, 1, -1).astype(np.int8)
        cand = np.where(rng.random(truth.shape) < 0.1, -truth, truth).astype(np.int8)
        tpath = write_ensemble(tmp_path / f"truth{k}.h5", truth, {})
        attrs = {"source": str(tpath), "scale": 2.0, "kind": "skild-superres", "checkpoint": "net.pt", "steps": 10,
                 "seed": 0, **(changed if k else {})}
        files.append(str(write_ensemble(tmp_path / f"cand{k}.h5", cand, attrs)))
        pairs.append((truth, cand))
    return files, pairs


def test_pooled_compares_each_file_with_its_truth_and_all_of_them_together(tmp_path, monkeypatch):
    import json

    import numpy as np
    import pooled

    files, pairs = _pooled_files(tmp_path)
    monkeypatch.setattr("sys.argv", ["pooled.py", *files, "--out", str(tmp_path / "out"), "--curvature", "2"])
    pooled.run()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["pooled"]["n"] == 80 and len(summary["ensembles"]) == 2
    second = [_direct_g2(c, 1) - 2 * _direct_g2(c, 2) + _direct_g2(c, 3)
              - (_direct_g2(t, 1) - 2 * _direct_g2(t, 2) + _direct_g2(t, 3)) for t, c in pairs]
    for d, got in zip(second, summary["ensembles"].values()):
        assert got["g2_second_difference"] == pytest.approx(d.mean(), abs=1e-12)
        assert got["g2_second_difference_err"] == pytest.approx(d.std(ddof=1) / math.sqrt(len(d)), rel=1e-9)
    both = np.concatenate(second)
    assert summary["pooled"]["g2_second_difference"] == pytest.approx(both.mean(), abs=1e-12)
    d1 = np.concatenate([_direct_g2(c, 1) - _direct_g2(t, 1) for t, c in pairs])
    assert summary["pooled"]["g2_residual"][1] == pytest.approx(d1.mean(), abs=1e-12)
    assert summary["pooled"]["g4c_r"] == [1, 2] and len(summary["pooled"]["g4c_z"]) == 2
    k = [g["consistency"] for g in summary["ensembles"].values()]
    assert summary["pooled"]["consistency"] == pytest.approx(np.mean(k))
    lines = (tmp_path / "out" / "table.md").read_text().splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == [f"| {f}" for f in summary["ensembles"]] + ["| pooled"]


def test_pooled_refuses_other_settings_the_same_truth_twice_and_one_file(tmp_path, monkeypatch):
    import pooled

    from isingsr.exceptions import InputError

    files, _ = _pooled_files(tmp_path, steps=20)
    monkeypatch.setattr("sys.argv", ["pooled.py", *files, "--out", str(tmp_path / "out")])
    with pytest.raises(InputError, match=r"another setting .*\(steps differ\)"):
        pooled.run()
    (tmp_path / "b").mkdir()
    same, _ = _pooled_files(tmp_path / "b")
    monkeypatch.setattr("sys.argv", ["pooled.py", same[0], same[0], "--out", str(tmp_path / "out")])
    with pytest.raises(InputError, match="same truth"):
        pooled.run()
    monkeypatch.setattr("sys.argv", ["pooled.py", same[0], "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit):
        pooled.run()
    assert not (tmp_path / "out").exists()
