"""`conditioned` with its truncation width calibrated to the network's measured block-mean errors.

``--consistency conditioned`` moves every block mean of the network's estimate
to the mean of N(mu, s^2) truncated to the input's sign, with s^2 the Gaussian
model's error variance of a block mean (:func:`isingsr.diffusion.consistency.truncated_targets`).
The network's actual mean squared error of its block means
(``experiments/block_mean_errors.py``) is a multiple of s^2 that changes with t:
for the tiny L = 32 network at 4x, 12 at the start and 0.56-0.71 below a blur
of one site. This script runs ``consistency.py`` with s^2 multiplied, at each
call, by that ratio interpolated in ln s^2 from the measured table
(``--calibration full``), or by min(ratio, 1) (``shrink``: only the late lift,
larger than the network's error, made smaller); ``--factor F`` multiplies s^2 by F
on top (``--calibration none --factor 0.5``: half the Gaussian model's s^2 at every t), and
``--wall-factor W`` takes W instead for the blocks at a wall of the input (a nearest
neighbour of the opposite sign), where ``conditioned``'s blocks come out too weak and
elsewhere too strong (docs/consistency.md). The table must hold one block
size, that of the scale run. Every argument after ``--`` goes to
``consistency.py`` (run it with ``--modes conditioned``).

Usage (about 2 min per 4x run of the tiny network on 2 cores):
  python experiments/block_mean_errors.py --ckpt isingsr/models/skild_L32_tiny.pt --blocks 4 \\
      --out results/block_mean_errors_tiny_L32
  python experiments/calibrated_lift.py --errors results/block_mean_errors_tiny_L32/table.md --calibration shrink \\
      -- --ckpt isingsr/models/skild_L32_tiny.pt --out results/calibrated_lift_shrink_L32 --scales 4 --c 0.9 \\
      --modes conditioned --polish 0 --no-sr3
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from isingsr.exceptions import InputError

from _script import input_walls, main, parser, run_consistency, split_for_consistency

CALIBRATIONS = ("full", "shrink", "none")


def read_ratios(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """ln s^2 and ln(mse / s^2), increasing in s^2, from block_mean_errors.py's table (one block size)."""
    if not path.is_file():
        raise InputError(f"--errors {path}: no such file (make it with experiments/block_mean_errors.py)")
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in path.read_text().splitlines()
            if line.startswith("|") and not line.startswith("|---") and not line.startswith("| b ")]
    if len({r[0] for r in rows}) != 1:
        raise InputError(f"--errors {path}: expected the rows of one block size, got "
                         f"{sorted({r[0] for r in rows}) or 'none'}")
    try:
        s2, ratio = (np.array([float(r[i]) for r in rows]) for i in (4, 5))
    except (IndexError, ValueError):
        raise InputError(f"--errors {path}: not a table of experiments/block_mean_errors.py") from None
    order = np.argsort(s2)
    return np.log(s2[order]), np.log(ratio[order])


def calibrate(ln_s2: np.ndarray, ln_ratio: np.ndarray, how: str, factor: float = 1.0,
              wall_factor: float | None = None) -> None:
    """Replace :func:`truncated_targets` in :mod:`isingsr.diffusion.consistency` by one with s^2 calibrated;
    with ``wall_factor`` the blocks at an input wall take that factor instead of ``factor``."""
    import torch

    import isingsr.diffusion.consistency as consistency

    plain = consistency.truncated_targets

    def calibrated(x, coarse, b, variance, basis, every_block=False):
        s2 = consistency.block_mean_variance(variance, basis, b, x.shape[-1])
        if s2 <= 0:
            return plain(x, coarse, b, variance, basis, every_block)
        ratio = float(np.exp(np.interp(np.log(s2), ln_s2, ln_ratio)))
        variance = variance * {"full": ratio, "shrink": min(ratio, 1.0), "none": 1.0}[how]
        target = plain(x, coarse, b, variance * factor, basis, every_block)
        if wall_factor is None:
            return target
        wall = torch.from_numpy(input_walls(coarse.cpu().numpy())).to(target.device)
        return torch.where(wall, plain(x, coarse, b, variance * wall_factor, basis, every_block), target)

    consistency.truncated_targets = calibrated


def run() -> None:
    own, rest = split_for_consistency()
    ap = parser(__doc__)
    ap.add_argument("--errors", type=Path, required=True, help="table.md of experiments/block_mean_errors.py")
    ap.add_argument("--calibration", choices=CALIBRATIONS, required=True)
    ap.add_argument("--factor", type=float, default=1.0, help="a constant multiplier of s^2 on top (default 1)")
    ap.add_argument("--wall-factor", type=float, default=None,
                    help="the multiplier of the blocks at an input wall (a neighbour of the opposite sign) instead")
    args = ap.parse_args(own)
    for name, v in (("--factor", args.factor), ("--wall-factor", args.wall_factor)):
        if v is not None and not v > 0:
            raise InputError(f"{name} {v}: must be positive")
    calibrate(*read_ratios(args.errors), args.calibration, args.factor, args.wall_factor)
    run_consistency(rest)


if __name__ == "__main__":
    main(run)
