"""`conditioned` with one truncation width per kind of block, fitted on independent Monte Carlo data.

``--consistency conditioned`` moves every block mean of the network's estimate
to the mean of N(mu, s^2) truncated to the input's sign, with one width s^2 (the
Gaussian model's) for every block. The input fixes how magnetised a block is
on average, and that depends on its surroundings: with k = 0, 1, 2, 3+ nearest
neighbours of the opposite input spin (inside a domain, along a wall, at a
corner, an island) the truth's mean block magnetisation along the input is
0.83, 0.67, 0.49, 0.33 at 4x, L = 32 (``block_structure.py --by-neighbours``),
and an exact posterior draw reproduces it. The free sampler cannot: its block
means are fixed at the start, where the islands and corners are blurred away.

Here the width of class k is f_k s^2, and the four factors f_k are fitted so
that the super-resolutions of an independent ensemble (``--calib``, coarse-
grained by majority rule, seed 0; never the evaluation's inputs) have the
truth's mean block magnetisation along the input in every class: per class a
bisection in ln f_k over [``--lo``, ``--hi``] (the classes are set together,
``--iters`` rounds, same seeds every round, so each class's mean is a smooth
increasing function of its own factor). The fitted factors are then used
for the run of ``consistency.py`` given after ``--`` (``--modes conditioned``,
the same ``--ckpt`` and scale). The fit uses the truth's block magnetisations,
not the Hamiltonian, and no training.

Writes ``OUT/class_fit.md`` (each round's factors and class means against the
truth's, with the truth's errors).

Usage (about 1 min per round and 2 min per 4x evaluation of the tiny network on 2 cores):
  isingsr generate --L 32 -n 4000 --seed 4040 --out data/L32_n4000_seed4040.h5
  python experiments/class_lift.py --calib data/L32_n4000_seed4040.h5 --scale 4 \\
      --ckpt isingsr/models/skild_L32_tiny.pt -- --ckpt isingsr/models/skild_L32_tiny.pt \\
      --out results/class_lift_L32 --scales 4 --c 0.9 --modes conditioned --polish 0 --no-sr3
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from isingsr.analysis.tables import markdown
from isingsr.correlate import coarse_inputs
from isingsr.defaults import superres_steps
from isingsr.diffusion.consistency import _truncated_mean
from isingsr.diffusion.pipeline import superresolve_fields
from isingsr.exceptions import InputError

from _script import (add_calibration, calibration_out, install_block_targets, load_calibration,
                     main, numbers, opposite_neighbours,
                     parser, run_consistency, split_for_consistency)

#: Classes: k opposite input neighbours, the last k or more.
CLASSES = 4


def install(factors) -> None:
    """Make ``conditioned``'s truncation width ``factors[k] s^2`` for the blocks of class k."""
    f = torch.as_tensor(np.asarray(factors, dtype=np.float64))
    install_block_targets(lambda mu, cls, s2: _truncated_mean(mu, (s2 * f.to(mu.device)[cls]).sqrt()))


def class_means(spins: np.ndarray, coarse: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Per class, the mean block magnetisation along the input and its error (configurations independent)."""
    n, L = spins.shape[0], spins.shape[-1]
    m = coarse * spins.astype(np.float64).reshape(n, L // b, b, L // b, b).mean(axis=(2, 4))
    cls = opposite_neighbours(coarse, CLASSES - 1)
    means, errs = [], []
    for k in range(CLASSES):
        per = (m * (cls == k)).sum(axis=(1, 2))
        cnt = (cls == k).sum(axis=(1, 2))
        r = per.sum() / cnt.sum()
        resid = per - r * cnt                       # delta method for a ratio of sums over configurations
        means.append(r)
        errs.append(np.sqrt((resid ** 2).sum()) / cnt.sum())
    return np.array(means), np.array(errs)


def fit(ck, den, spins: np.ndarray, b: int, steps: int, start_blur, lo: float, hi: float, iters: int,
        log=print) -> tuple[np.ndarray, list]:
    """Bisect ln f_k per class until the super-resolutions' class means meet the truth's."""
    coarse = coarse_inputs(spins, b, 0)
    want, want_err = class_means(spins, coarse, b)
    a, z = np.full(CLASSES, np.log(lo)), np.full(CLASSES, np.log(hi))
    rows = [["truth", "", " / ".join(f"{w:.4f} ± {e:.4f}" for w, e in zip(want, want_err))]]
    for i in range(iters):
        f = np.exp(0.5 * (a + z))
        install(f)
        fields, _ = superresolve_fields(den, ck, coarse, b, consistency="conditioned", steps=steps,
                                        start_blur=start_blur, seed=0)
        got, _ = class_means(np.where(fields >= 0, 1, -1), coarse, b)
        low = got < want
        a, z = np.where(low, np.log(f), a), np.where(low, z, np.log(f))
        rows.append([str(i + 1), " / ".join(f"{v:.3g}" for v in f), " / ".join(f"{v:.4f}" for v in got)])
        log(" | ".join(rows[-1]))
    return np.exp(0.5 * (a + z)), rows


def run() -> None:
    own, rest = split_for_consistency()
    ap = parser(__doc__)
    add_calibration(ap, 500, "width")
    ap.add_argument("--steps", type=int, default=None, help="reverse steps [default: the package's for the scale]")
    ap.add_argument("--c", type=float, default=None, help="blur constant of the start [default: the checkpoint's]")
    ap.add_argument("--lo", type=float, default=0.01, help="smallest factor f_k (default 0.01)")
    ap.add_argument("--hi", type=float, default=16.0, help="largest factor f_k (default 16)")
    ap.add_argument("--iters", type=int, default=7, help="bisection rounds (default 7)")
    ap.add_argument("--factors", type=numbers(), default=None,
                    help="the four factors, f_0,f_1,f_2,f_3, instead of fitting them")
    args = ap.parse_args(own)
    if not 0 < args.lo < args.hi or args.iters < 1:
        raise InputError("need 0 < --lo < --hi and --iters >= 1")
    if args.factors is not None and (len(args.factors) != CLASSES or min(args.factors) <= 0):
        raise InputError(f"--factors: {CLASSES} positive numbers, got {args.factors}")
    out = calibration_out(args.out, rest)
    if args.factors is None:
        b = args.scale
        ens, ck, den = load_calibration(args.calib, args.n, b, args.ckpt)
        steps = args.steps or superres_steps(b)
        print(f"fitting the class widths on {len(ens.spins)} configurations of {args.calib}, {steps} steps")
        factors, rows = fit(ck, den, ens.spins, b, steps, args.c, args.lo, args.hi, args.iters)
        rows.append(["fitted", " / ".join(f"{v:.3g}" for v in factors), ""])
        out.mkdir(parents=True, exist_ok=True)
        (out / "class_fit.md").write_text(
            f"`{' '.join(sys.argv)}`\n\n" + markdown(
                ["round", "f_k (k = 0 / 1 / 2 / 3+ opposite neighbours)", "block m along input per class"], rows)
            + "\n")
    else:
        factors = np.asarray(args.factors)
    print("factors " + " / ".join(f"{v:.3g}" for v in factors))
    install(factors)
    run_consistency(rest)


if __name__ == "__main__":
    main(run)
