"""How much of the input's block signs SKILD's start state keeps: block consistency at t_start, no network.

SKILD super-resolves from a state at time t_start(S), blurred to
``c sqrt(S^2 - 1)`` (c: ``--start-blur``). The sampler then draws the fine
configuration given that state, so the block signs the state has already
lost are redrawn, and the output can agree with the input at most as well
as the state's information allows. This script measures that information:
for each scale and blur constant it draws, for the Monte Carlo truth's
majority-rule inputs (``isingsr correlate``'s, tie seed 0),

* the conditional start (the default: a Gaussian model of the fine
  configuration given the input, diffused to t_start; shipped checkpoint for
  the truth's L, sample i seeded i as in the sampler), and
* the exact forward marginal of the true fine configuration at the same time
  (``--start forward``, the published protocol that sees the answer),

and counts the blocks whose mean has the input's sign, among blocks next to a
domain wall of the input (a nearest neighbour of the opposite input spin) and
among the others. Compare with the output's consistency
(``experiments/block_structure.py``, ``isingsr correlate``): if the output
keeps no more than the start does, its wrong blocks are the start's, not the
network's.

Usage (seconds; no network evaluations):
  python experiments/start_consistency.py --scales 2,4,8 --blurs 0.9,0.7,0.5,0.3 --out results/start_consistency_L32
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from isingsr.analysis.tables import markdown
from isingsr.coarse import block_centre
from isingsr.correlate import cached_truth, coarse_inputs
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.diffusion.pipeline import corr_for, gain_for
from isingsr.diffusion.rng import generators
from isingsr.diffusion.starts import conditional_start, forward_start
from isingsr.exceptions import InputError
from isingsr.io.checkpoint import load_checkpoint
from isingsr.io.hdf5 import load_ensemble
from isingsr.models import shipped_checkpoint

from _script import input_walls, main, numbers, parser


def kept(field: np.ndarray, coarse: np.ndarray, S: int, wall: np.ndarray) -> tuple[float, float, float]:
    """Share of blocks whose mean has the input's sign: at walls, inside domains, all."""
    n, L, _ = field.shape
    ok = field.reshape(n, L // S, S, L // S, S).mean(axis=(2, 4)) * coarse > 0
    return float(ok[wall].mean()), float(ok[~wall].mean()), float(ok.mean())


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--truth", default=None, help="Monte Carlo ensemble (its L picks the shipped checkpoint) "
                    "[default: isingsr correlate's cached L = 32, n = 1000]")
    ap.add_argument("--scales", type=numbers(int), default="2,4,8", help="integer block sizes dividing L")
    ap.add_argument("--blurs", type=numbers(), default=None,
                    help="start blur constants c [default: the checkpoint's]")
    ap.add_argument("--ckpt", default=None, help="SKILD checkpoint [default: the shipped one for the truth's L]")
    ap.add_argument("-n", "--n", type=int, default=None, help="first n configurations [all]")
    ap.add_argument("--out", type=Path, default=None, help="folder for table.md and summary.json")
    args = ap.parse_args()
    args.truth = args.truth or cached_truth(32, 1000, log=print)
    truth = load_ensemble(args.truth, max_samples=args.n)
    L, x = truth.L, truth.spins
    ckpt = args.ckpt or shipped_checkpoint(L)
    ck = load_checkpoint(ckpt)
    p = build_from_checkpoint(ck, L=L).process
    blurs = args.blurs or [p.blur_per_block]
    rows, summary = [], {"truth": str(args.truth), "n": truth.n, "L": L, "checkpoint": str(ckpt), "rows": []}
    for S in args.scales:
        if S < 2 or L % S:
            raise InputError(f"--scales: {S} is no integer >= 2 dividing L = {L}")
        c = coarse_inputs(x, S, 0)
        wall = input_walls(c)
        gain, corr = gain_for(ck, S, L, L // S), corr_for(ck, S, L, L // S)
        for blur in blurs:
            t = float(p.t_start(S, blur))
            with torch.inference_mode():
                start = conditional_start(p, c.astype(np.float64), t, gain, corr, generators(range(truth.n)),
                                          offset=block_centre(L, S, "majority"))[:, 0].numpy()
                fwd = forward_start(p, x.astype(np.float64), t, generator=generators(range(truth.n)))[:, 0].numpy()
            ks, kf = kept(start, c, S, wall), kept(fwd, c, S, wall)
            rows.append([f"{S}", f"{blur:g}", f"{t:.3f}", f"{wall.mean():.3f}"] + [f"{v:.3f}" for v in ks + kf])
            summary["rows"].append({"scale": S, "blur": blur, "t_start": t, "wall_share": float(wall.mean()),
                                    "conditional": dict(zip(("wall", "inside", "all"), ks)),
                                    "forward": dict(zip(("wall", "inside", "all"), kf))})
    head = ["S", "c", "t_start", "share of wall blocks", "conditional: at walls", "inside", "all",
            "forward (true x0): at walls", "inside", "all"]
    table = markdown(head, rows)
    print(f"{truth.n} configurations of {L}x{L}, {Path(ckpt).name}\n{table}")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "table.md").write_text(table + "\n")
        (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main(run)
