"""The GPU recipe's path, run at toy size on the CPU (``scripts/gpu_recipe.py --smoke``)."""

import importlib.util
import json
from pathlib import Path

import pytest

from isingsr.exceptions import InputError

ROOT = Path(__file__).resolve().parents[1]


def _recipe():
    spec = importlib.util.spec_from_file_location("gpu_recipe", ROOT / "scripts" / "gpu_recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smoke_run_goes_through_every_phase(tmp_path):
    report = _recipe().main(["--smoke", "--out", str(tmp_path / "r")])
    assert set(report["phase_seconds"]) == {"monte carlo", "training", "super-resolution and correlate"}
    assert report["train_steps"] >= 1 and report["train_img_per_s"] > 0
    assert json.loads((tmp_path / "r" / "recipe.json").read_text()) == report
    for f in ("run/checkpoint.pt", "run/log.txt", "correlate/summary.json", "correlate/g4c.png"):
        assert (tmp_path / "r" / f).exists()
    assert 0 <= report["skild_consistency"] <= 1 and report["skild_g4c_max_abs_dev"] >= 0


def test_without_a_gpu_the_full_recipe_says_so(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(InputError, match="no CUDA device"):
        _recipe().main(["--out", str(tmp_path / "r")])
