"""SKILD at the mission's scale on one GPU, end to end, in about ten minutes.

Run from the source tree on a machine with one NVIDIA GPU and no internet
(torch, numba, h5py, scipy, matplotlib and click installed):

    PYTHONPATH=. python scripts/gpu_recipe.py --out runs/gpu_L128

1. Monte Carlo: ``--n-train`` critical L x L training configurations (seed 1)
   and ``--n-test`` held-out ones (seed 12345), Wolff cluster updates on all cores;
2. training: the ``base`` U-Net preset, bf16 autocast, for ``--minutes``
   (a time budget; the checkpoint is written when it is spent);
3. super-resolution and comparison: :func:`isingsr.correlate.correlate` at
   ``--scale`` on the held-out configurations (SKILD with the freshly trained
   checkpoint, the naive fill and, with ``--posterior``, the exact posterior),
   the package's default sampler and steps, the network in float32 (``--precision bf16`` is faster
   and biases the output; docs/sampling.md#precision).

Everything goes to OUT: the data, ``run/`` (checkpoint, log, loss curve),
``correlate/`` (summary.json, correlations.csv, figures) and ``recipe.json``
with each phase's wall time, training img/s and peak GPU memory, which are
also printed.

``--smoke`` runs the same path on the CPU at toy size (L = 16, a few training
steps, 64 test configurations) in well under a minute; the test suite runs it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from isingsr.correlate import correlate
from isingsr.defaults import PRECISION, PRECISIONS
from isingsr.device import resolve_device
from isingsr.exceptions import InputError
from isingsr.mc.generate import generate
from isingsr.train import TrainConfig, train
from isingsr.validate import integer, real


def _phase(name: str, times: dict):
    class Phase:
        def __enter__(self):
            self.t0 = time.perf_counter()
            print(f"[{name}] ...", flush=True)

        def __exit__(self, *exc):
            times[name] = round(time.perf_counter() - self.t0, 1)
            print(f"[{name}] {times[name]:.1f} s", flush=True)
    return Phase()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--L", type=int, default=128)
    ap.add_argument("--n-train", type=int, default=20000)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--minutes", type=float, default=6.0, help="training time budget")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--preset", default="base")
    ap.add_argument("--scale", type=float, default=4.0)
    ap.add_argument("--posterior", action="store_true", help="also the exact posterior (constrained Monte Carlo)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", choices=PRECISIONS, default=PRECISION, help="network precision of the sampling")
    ap.add_argument("--smoke", action="store_true", help="toy size on the CPU: the same path in well under a minute")
    args = ap.parse_args(argv)
    integer(args.L, "--L", minimum=8)
    integer(args.n_train, "--n-train", minimum=2)
    integer(args.n_test, "--n-test", minimum=2)
    integer(args.batch, "--batch", minimum=1)
    real(args.minutes, "--minutes", low=0, low_open=True)
    real(args.scale, "--scale", low=1, low_open=True)
    if args.smoke:
        args.L, args.n_train, args.n_test, args.minutes, args.preset, args.device = 16, 256, 64, 0.1, "small", "cpu"
    device = resolve_device(args.device)
    if device.type != "cuda" and not args.smoke:
        raise InputError("no CUDA device: this recipe is for a GPU (use --smoke to run its path on the CPU)")
    args.out.mkdir(parents=True, exist_ok=True)
    times: dict = {}
    train_path, test_path = args.out / f"L{args.L}_train.h5", args.out / f"L{args.L}_test.h5"
    with _phase("monte carlo", times):
        for path, n, seed in ((train_path, args.n_train, 1), (test_path, args.n_test, 12345)):
            if not path.exists():
                generate(path, args.L, n, seed=seed)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with _phase("training", times):
        cfg = TrainConfig(data=str(train_path), out=str(args.out / "run"), preset=args.preset, steps=10**9,
                          batch=args.batch, lr=5e-4 if args.smoke else 2e-4, warmup=5 if args.smoke else 300,
                          ckpt_every=10**9, log_every=10 if args.smoke else 100, device=str(device),
                          max_minutes=args.minutes)
        ckpt = train(cfg, log=print)
    log = (args.out / "run" / "log.txt").read_text().strip().splitlines()
    rates = [float(line.split("img/s ")[1].split()[0]) for line in log if "img/s" in line]
    with _phase("super-resolution and correlate", times):
        methods = ["skild", "naive"] + (["posterior"] if args.posterior else [])
        summary = correlate(args.scale, truth=test_path, out=args.out / "correlate", methods=methods,
                            ckpts={"skild": ckpt}, device=str(device), precision=args.precision, log=print)
    c = summary["comparison"]["skild"]
    report = {"L": args.L, "scale": args.scale, "device": str(device), "preset": args.preset,
              "sampling_precision": args.precision,
              "train_configurations": args.n_train, "test_configurations": args.n_test, "phase_seconds": times,
              "train_img_per_s": rates[-1] if rates else None,
              "train_steps": int(torch.load(ckpt, weights_only=True)["step"]),
              "peak_gpu_memory_gib": (round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
                                      if device.type == "cuda" else None),
              "skild_g4c_max_abs_dev": c["g4c_max_abs_dev"], "skild_g4c_p_value": c["g4c_p_value"],
              "skild_energy_z": c["scalars"]["energy"]["z"], "skild_consistency": c["consistency"]}
    (args.out / "recipe.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    try:
        main()
    except InputError as exc:
        sys.exit(f"error: {exc}")
