"""`conditioned` with the truncated-Gaussian lift replaced by the conditional mean measured on Monte Carlo data.

``--consistency conditioned`` moves every block mean of the network's estimate
x0_hat = D(x_t, t) to E[m | mu, sign], with mu the estimate's block mean
along the input spin y_B and m the clean field's, under the Gaussian model
m ~ N(mu, s^2) truncated to m > 0 (:func:`isingsr.diffusion.consistency.truncated_targets`).
That model has no prior on m and one width for every block; the widths
that pass at 4x differ between the blocks at the input's walls and the
others (``calibrated_lift.py``), by more than the network's own errors do.

This script measures the lift instead of modelling it. Independent Monte
Carlo configurations x0 (``--calib``, not the evaluation's) are coarse-grained
by b (majority rule, seed 0, as the evaluation's inputs) and noised by the
forward process at ``--times`` times from the start of the scale down to a
blur of ``--min-blur`` sites (uniform in ln s^2); at each the network's block
means mu = y_B mean_B(D(x_t)) are paired with the clean ones m = y_B mean_B(x0).
Per time and per number of the block's four nearest neighbours whose input
spin is opposite (0, 1, 2, 3 or more: how far into a domain wall the block
sits) the offset E[m - mu | mu] is tabulated in bins of equal count of mu.
Inside the sampler every block's target is mu plus that offset, read off in
mu (linearly, the end bins' offsets held beyond them) and in ln s^2 (between
the two nearest times; below the last, the plain estimate). Under the
forward process this target is the best predictor of m from (mu, y_B, the
neighbours' y) that the table resolves: it is what ``conditioned`` guesses,
measured, with the network's bias and the prior of the block means in it.
It is one pass of the network over Monte Carlo data, no training.

Writes ``OUT/lift_table.md`` (the offsets at a few mu) and runs
``consistency.py`` with every argument after ``--`` (give it
``--modes conditioned`` and the same ``--ckpt``).

Usage (about 2 min for the table and 2 min per 4x run of the tiny network on 2 cores):
  isingsr generate --L 32 -n 4000 --seed 4040 --out data/L32_n4000_seed4040.h5
  python experiments/empirical_lift.py --calib data/L32_n4000_seed4040.h5 --scale 4 \\
      --ckpt isingsr/models/skild_L32_tiny.pt -- --ckpt isingsr/models/skild_L32_tiny.pt \\
      --out results/empirical_lift_L32 --scales 4 --c 0.9 --modes conditioned --polish 0 --no-sr3
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from isingsr.analysis.tables import markdown
from isingsr.coarse import coarse_grain
from isingsr.diffusion.consistency import _block_means, block_mean_variance
from isingsr.exceptions import InputError

from _script import (add_calibration, calibration_out, install_block_targets, load_calibration,
                     main, noised_estimates, opposite_neighbours, parser, run_consistency, split_for_consistency)

#: Classes of blocks by their number of opposite input neighbours; 3 and 4 share the last.
CLASSES = 4
#: Blocks per bin of mu (at least), and the most bins per class and time.
PER_BIN, MAX_BINS = 400, 40


class LiftTable:
    """Offsets E[m - mu | mu, class] at times keyed by ln s^2 (increasing): ``centres[j][c]`` and
    ``offsets[j][c]`` are the bin means of mu and of m - mu."""

    def __init__(self, ln_s2: np.ndarray, centres: list, offsets: list):
        order = np.argsort(ln_s2)
        self.ln_s2 = np.asarray(ln_s2)[order]
        self.centres = [centres[j] for j in order]
        self.offsets = [offsets[j] for j in order]

    def _at(self, j: int, mu: np.ndarray, cls: np.ndarray) -> np.ndarray:
        out = np.empty_like(mu)
        for c in range(CLASSES):
            sel = cls == c
            out[sel] = np.interp(mu[sel], self.centres[j][c], self.offsets[j][c])
        return out

    def target(self, mu: np.ndarray, cls: np.ndarray, s2: float) -> np.ndarray:
        """The lifted block means along the input, mu + offset, at error variance ``s2``; >= 0."""
        x = np.log(s2)
        if x < self.ln_s2[0]:
            return np.maximum(mu, 0.0)
        j = min(int(np.searchsorted(self.ln_s2, x)), len(self.ln_s2) - 1)
        if j == 0 or x >= self.ln_s2[-1]:
            off = self._at(j, mu, cls)
        else:
            w = (x - self.ln_s2[j - 1]) / (self.ln_s2[j] - self.ln_s2[j - 1])
            off = (1 - w) * self._at(j - 1, mu, cls) + w * self._at(j, mu, cls)
        return np.maximum(mu + off, 0.0)


def binned(mu: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bin means of mu and of m - mu over bins of equal count (at least PER_BIN blocks each)."""
    k = int(np.clip(len(mu) // PER_BIN, 1, MAX_BINS))
    order = np.argsort(mu)
    parts = np.array_split(order, k)
    return (np.array([mu[p].mean() for p in parts]), np.array([(m[p] - mu[p]).mean() for p in parts]))


def measure(den, spins: np.ndarray, b: int, times: np.ndarray, log=print) -> tuple[LiftTable, list]:
    """The lift table of ``den`` at block size ``b`` from the configurations ``spins`` (N, L, L)."""
    p, L = den.process, spins.shape[-1]
    coarse = coarse_grain(spins, b, "majority", seed=0).astype(np.float64)
    cls = opposite_neighbours(coarse, CLASSES - 1).ravel()
    x0 = torch.from_numpy(spins[:, None].astype(np.float64))
    m = (coarse * _block_means(x0[:, 0], b).numpy()).ravel()
    ln_s2, centres, offsets, rows = [], [], [], []
    for t in times:
        _, est = noised_estimates(den, x0, t)
        mu = (coarse * _block_means(est[:, 0], b).numpy()).ravel()
        s2 = block_mean_variance(p.sigma2(float(t)), p.basis, b, L)
        per = [binned(mu[cls == c], m[cls == c]) for c in range(CLASSES)]
        ln_s2.append(np.log(s2))
        centres.append([c for c, _ in per])
        offsets.append([o for _, o in per])
        probe = np.array([-0.2, 0.0, 0.2, 0.5])
        row = [f"{t:.3f}", f"{float(p.blur_length(float(t))):.2f}", f"{s2:.4g}"]
        for c in range(CLASSES):
            row.append(" / ".join(f"{v:+.3f}" for v in np.interp(probe, *per[c])))
        rows.append(row)
        log(" | ".join(row))
    return LiftTable(np.array(ln_s2), centres, offsets), rows


def install(table: LiftTable) -> None:
    """Make ``conditioned``'s target of every block the measured lift."""
    install_block_targets(lambda mu, cls, s2: table.target(mu.cpu().numpy().ravel(), cls.cpu().numpy().ravel(),
                                                           s2).reshape(tuple(mu.shape)))


def run() -> None:
    own, rest = split_for_consistency()
    ap = parser(__doc__)
    add_calibration(ap, 4000, "lift")
    ap.add_argument("--times", type=int, default=24, help="times of the table (default 24)")
    ap.add_argument("--min-blur", type=float, default=0.3, help="blur length (sites) of the last time (default 0.3)")
    args = ap.parse_args(own)
    if args.times < 2 or args.min_blur <= 0:
        raise InputError("--times must be >= 2 and --min-blur positive")
    out = calibration_out(args.out, rest)
    ens, _, den = load_calibration(args.calib, args.n, args.scale, args.ckpt)
    L, b = ens.L, args.scale
    p = den.process
    t0, t1 = float(p.t_start(b)), float(p.time_at_blur(args.min_blur))
    grid = np.linspace(1.0, 0.0, 2001)
    ts = t1 + (t0 - t1) * grid
    s2 = np.array([block_mean_variance(p.sigma2(float(t)), p.basis, b, L) for t in ts])
    times = np.interp(np.linspace(np.log(s2[0]), np.log(s2[-1]), args.times), np.log(s2[::-1]), ts[::-1])
    print(f"measuring the lift on {len(ens.spins)} configurations of {args.calib} at {args.times} times "
          f"from t = {t0:.3f} down to t = {t1:.3f} (blur {args.min_blur:g})")
    table, rows = measure(den, ens.spins, b, times)
    out.mkdir(parents=True, exist_ok=True)
    header = ["t", "blur", "s^2"] + [f"offset at mu = -0.2 / 0 / 0.2 / 0.5, {c}{'+' if c == CLASSES - 1 else ''} "
                                     f"opposite neighbours" for c in range(CLASSES)]
    (out / "lift_table.md").write_text(f"`{' '.join(sys.argv)}`\n\n" + markdown(header, rows) + "\n")
    install(table)
    run_consistency(rest)


if __name__ == "__main__":
    main(run)
