"""How even the particle filter's weights stay: effective sample sizes of ``--particles`` along the steps.

Twisted sequential Monte Carlo (:mod:`isingsr.diffusion.smc`) is exact as the number of particles K grows
whatever its proposal and twist; with few particles it works only if the weights stay even. For the first
``-n`` inputs of the truth ensemble (coarse-grained as ``isingsr correlate`` does) this runs SKILD's
super-resolution with K particles for each ``--variants`` entry ``CONSISTENCY:LIFT_A:TWIST_A`` (the proposal's
``--consistency`` option, the signal fraction below which its lift and the twist take the Wiener estimate;
0: the network's own) and tabulates, over inputs, the mean effective sample size (a fraction of K) before
each step's resampling in the first, middle and last third of the steps, the share of (input, step) pairs
that resampled, the final effective sample size and the inputs without a consistent particle (``OUT/table.md``);
and where along the steps the weights become uneven: the variance over each input's particles of the
log-weight each step adds (``SMCStats.spread``), summed over the steps in bands of the blur length at which
they start, the last step (which ends in the majority rule's likelihood) apart (``OUT/spread.md``; a band's
sum is about the log-weight variance it would accumulate without resampling).

Usage (about 40 s per variant of 32 inputs at 4x on 2 cores):
  python experiments/smc_weights.py --ckpt isingsr/models/skild_L32_tiny.pt --scale 4 -n 32 \\
      --variants conditioned:0:0,conditioned:0:0.1,conditioned:0.1:0.1,none:0:0.1 --out results/smc_weights_L32_s4
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from isingsr.analysis.tables import markdown
from isingsr.correlate import coarse_inputs
from isingsr.defaults import CONSISTENCY
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.diffusion.pipeline import superresolve_fields
from isingsr.diffusion.smc import SMCStats
from isingsr.exceptions import InputError
from isingsr.io.hdf5 import load_ensemble

from _script import add_skild_ckpt, add_truth, main, parser, truth_path

HEADER = ["proposal", "lift_a", "twist_a", "ESS, first third of steps", "ESS, middle third", "ESS, last third",
          "resampled", "final ESS", "inputs without a consistent particle"]
#: Bands of the blur length (lattice spacings) at the start of a step, for ``OUT/spread.md``.
BANDS = ((2.0, np.inf), (1.0, 2.0), (0.5, 1.0), (0.25, 0.5), (0.0, 0.25))
SPREAD_HEADER = ["proposal", "lift_a", "twist_a", *(f"blur {lo:g}-{hi:g}: steps, spread" if np.isfinite(hi)
                                                    else f"blur > {lo:g}: steps, spread" for lo, hi in BANDS),
                 "last step", "total"]


def spread_row(spread: np.ndarray, blur: np.ndarray) -> list[str]:
    """The per-step spreads summed in :data:`BANDS` of the blur length, the last step apart, and their total."""
    cells = []
    for lo, hi in BANDS:
        inside = (blur[:-1] >= lo) & (blur[:-1] < hi)
        cells.append(f"{int(inside.sum())}, {spread[:-1][inside].sum():.2f}")
    return [*cells, f"{spread[-1]:.2f}", f"{spread.sum():.2f}"]


def variant(text: str) -> tuple[str, float, float]:
    """``CONSISTENCY:LIFT_A:TWIST_A`` as its three parts, or one line saying what is wrong."""
    parts = text.split(":")
    try:
        mode, lift_a, twist_a = parts[0], float(parts[1]), float(parts[2])
    except (IndexError, ValueError):
        raise InputError(f"--variants {text!r}: expected CONSISTENCY:LIFT_A:TWIST_A, e.g. conditioned:0:0.1") from None
    if len(parts) != 3 or mode not in CONSISTENCY:
        raise InputError(f"--variants {text!r}: expected CONSISTENCY:LIFT_A:TWIST_A with CONSISTENCY one of "
                         f"{', '.join(CONSISTENCY)}")
    return mode, lift_a, twist_a


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("-n", type=int, default=32, help="inputs (the first n of the truth)")
    ap.add_argument("--particles", type=int, default=8)
    ap.add_argument("--steps", type=int, default=None, help="reverse steps [the package's default for the scale]")
    ap.add_argument("--variants", default="conditioned:0:0,conditioned:0:0.1,conditioned:0.1:0.1")
    ap.add_argument("--out", type=Path, required=True)
    add_truth(ap)
    add_skild_ckpt(ap)
    args = ap.parse_args()
    if args.n < 1 or args.particles < 2:
        ap.error("-n must be >= 1 and --particles >= 2")
    variants = [variant(v) for v in args.variants.split(",")]
    ck = torch.load(args.ckpt, map_location="cpu", weights_only=False)
    truth = load_ensemble(truth_path(ap, None) if args.truth is None else args.truth)  # any L, with its checkpoint
    den = build_from_checkpoint(ck, L=truth.L)  # a checkpoint of another size is carried to the truth's L
    coarse = coarse_inputs(truth.spins, args.scale, 0)[: args.n]
    rows, spread_rows = [], []
    for mode, lift_a, twist_a in variants:
        stats = SMCStats()
        superresolve_fields(den, ck, coarse, args.scale, steps=args.steps, seed=0, consistency=mode,
                            lift_a=lift_a, particles=args.particles, twist_a=twist_a, smc_stats=stats)
        ess = np.mean([np.asarray(e) for e in stats.ess], axis=0)  # every batch has the same steps
        resampled = np.sum([np.asarray(r) for r in stats.resampled], axis=0)
        thirds = np.array_split(ess[1:], 3)  # the first step has no weights yet
        rows.append([mode, f"{lift_a:g}", f"{twist_a:g}", *(f"{t.mean():.2f}" for t in thirds),
                     f"{resampled.sum() / (args.n * len(resampled)):.2f}", f"{np.mean(stats.final_ess):.2f}",
                     str(stats.no_consistent)])
        print(markdown(HEADER, rows[-1:]).splitlines()[-1], flush=True)
        spread = np.mean([np.asarray(s) for s in stats.spread], axis=0)
        blur = np.array([float(den.process.blur_length(t)) for t in stats.times[0][:-1]])  # where each step starts
        spread_rows.append([mode, f"{lift_a:g}", f"{twist_a:g}", *spread_row(spread, blur)])
    table, spread_table = markdown(HEADER, rows), markdown(SPREAD_HEADER, spread_rows)
    print(table, spread_table, sep="\n\n")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(table + "\n")
    (args.out / "spread.md").write_text(spread_table + "\n")


if __name__ == "__main__":
    main(run)
