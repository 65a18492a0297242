"""``scripts/train_L32_gpu.sh``: its path at toy size on the CPU (``SMOKE=1``), and its one-line refusal
without a GPU."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from isingsr.io.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path, **env):
    return subprocess.run(["bash", str(ROOT / "scripts" / "train_L32_gpu.sh")], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PY": sys.executable, "OUT": str(tmp_path / "r"), **env})


def test_smoke_run_probes_then_trains_a_cosine_run_of_that_length(tmp_path):
    res = _run(tmp_path, SMOKE="1")
    assert res.returncode == 0, res.stderr[-2000:]
    out = tmp_path / "r"
    probe = [ln for ln in (out / "times.txt").read_text().splitlines() if ln.startswith("probe:")]
    steps = int(probe[0].split("-> ")[1].split()[0])
    config = json.loads((out / "run" / "config.json").read_text())
    assert config["lr_schedule"] == "cosine" and config["steps"] == steps and config["init_from"]
    ck = load_checkpoint(out / "skild_L32_long.pt")
    assert ck["slim"] and ck["init_from"]["step"] == 5000 and ck["data"]["seed"] == 2
    last = (out / "run" / "log.txt").read_text().splitlines()[-1]
    assert last.startswith(f"step {steps} ") or int(ck["step"]) < steps  # a cosine run ends at --steps or --minutes
    assert "sha256 of the spins of L32_train_seed2_n2000.h5" in (out / "times.txt").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_without_a_gpu_it_says_so_in_one_line(tmp_path):
    res = _run(tmp_path)
    assert res.returncode != 0
    assert res.stderr.strip().splitlines()[-1] == ("error: no CUDA device: this script is for a GPU "
                                                    "(SMOKE=1 runs its path on the CPU)")
    assert not (tmp_path / "r" / "run").exists()
