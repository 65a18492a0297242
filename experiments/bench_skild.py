"""Speed of SKILD on this machine: training img/s and super-resolution wall time.

* training: the real training loop (augmentation, spectral forward process,
  loss, AdamW, EMA) of the ``small`` preset at L = 32, batch 64; img/s over
  steps after a warm-up;
* super-resolution: 4x of 64 configurations to L = 64 with the deterministic
  few-step sampler (DDIM, 20 steps) and with the ancestral sampler (40 steps).
  Timing does not depend on the weights, so this uses a freshly initialised
  ``small`` network on a process built from Monte Carlo data at L = 64.

Usage:  python experiments/bench_skild.py [--train-steps 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from isingsr.coarse import coarse_grain
from isingsr.diffusion.denoiser import COND_DIM, Denoiser
from isingsr.diffusion.pipeline import superresolve_fields
from isingsr.diffusion.process import SpectralProcess
from isingsr.diffusion.starts import measure_gain
from isingsr.diffusion.spectral import estimate_spectrum
from isingsr.train import TrainConfig, train
from isingsr.diffusion.unet import UNet, preset
from isingsr.io.hdf5 import write_ensemble
from isingsr.mc import sample_configurations


def bench_train(steps: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        write_ensemble(Path(d) / "L32.h5", sample_configurations(32, 2000, seed=3), {"source": "bench"})
        cfg = TrainConfig(data=str(Path(d) / "L32.h5"), out=str(Path(d) / "run"), steps=steps, batch=64,
                          log_every=steps // 2, ckpt_every=10 * steps)
        train(cfg, log=lambda s: None)
        last = (Path(d) / "run" / "log.txt").read_text().strip().splitlines()[-1]
        return float(last.split("img/s ")[1].split()[0])  # rate over the second half (after warm-up)


def bench_superres(sampler: str, steps: int) -> float:
    fine = sample_configurations(64, 256, seed=5)
    spectrum = estimate_spectrum(fine, "fourier")
    process = SpectralProcess(64, "fourier", spectrum)
    den = Denoiser(UNet(preset("small", cond_dim=COND_DIM)).eval(), process)
    ck = {"gains": {"4": measure_gain(fine, 4.0)}}
    coarse = coarse_grain(fine[:64], 4, seed=0)
    superresolve_fields(den, ck, coarse[:4], 4.0, steps=2, sampler=sampler)  # warm-up
    t0 = time.perf_counter()
    with torch.no_grad():
        superresolve_fields(den, ck, coarse, 4.0, steps=steps, sampler=sampler, batch=64)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-steps", type=int, default=40)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"training, small preset, L = 32, batch 64: {bench_train(args.train_steps):.1f} img/s")
    for sampler, steps in (("ddim", 20), ("ancestral", 40)):
        print(f"4x super-resolution of 64 configurations to L = 64, {sampler} {steps} steps: "
              f"{bench_superres(sampler, steps):.1f} s")


if __name__ == "__main__":
    main()
