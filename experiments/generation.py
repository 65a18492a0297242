"""Generation from t = 1 with a SKILD checkpoint against Monte Carlo (``--ckpt``; default the ``small``
``skild_L32.pt``).

For each row: ``n`` configurations generated with the default sampler and
steps, compared with a Monte Carlo truth of the same size (``cached_truth``,
independent of the training data): U4, energy, G2 and the square G4c at
r = 1 .. L/4 (jackknife errors, chi^2 p-value, largest |z|), and the
distribution of |m| by a two-sample Kolmogorov-Smirnov test against the
truth thinned to independent configurations (every ceil(2 tau_int(|m|))-th of
each chain). Rows: the network's own zero mode (``zero_mode=False``) and the
training data's zero-mode histogram in the envelope (the default), at the
training size L = 32, and the default at L = 64 by transfer; ``--more-steps`` adds the default at L = 32
with other step counts.

Usage (the committed table; the default became 200 steps because of its last row):
  python experiments/generation.py --out results/generation_L32 --steps 100 --more-steps 200
The default network at the default steps, the default zero mode only, at L = 32:
  python experiments/generation.py --ckpt isingsr/models/skild_L32_tiny.pt --out results/tiny_L32_generation \\
      --L-transfer 0 --default-only
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import ks_2samp

from isingsr.analysis.compare import compare, measure
from isingsr.correlate import cached_truth
from isingsr.defaults import GENERATION_STEPS, SAMPLER
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.diffusion.pipeline import generate_fields, to_spins
from isingsr.io.checkpoint import load_checkpoint
from isingsr.io.hdf5 import load_ensemble, write_ensemble
from isingsr.progress import Bar

from _script import main as script_main, numbers, parser


def independent_abs_m(ens) -> np.ndarray:
    """|m| of the truth, every ceil(2 tau_int(|m|))-th configuration of each chain (independent draws)."""
    tau = ens.attrs.get("tau_int_absm") or 1.0
    step = max(1, math.ceil(2 * float(tau)))
    m = np.abs(ens.spins.reshape(ens.n, -1).mean(axis=1, dtype=np.float64))
    chain = np.zeros(ens.n, dtype=int) if ens.chain is None else ens.chain
    keep = np.concatenate([np.flatnonzero(chain == c)[::step] for c in np.unique(chain)])
    return m[keep]


def score(truth, spins: np.ndarray) -> dict:
    tm = measure(truth.spins, order=truth.time_order())
    gm = measure(spins)
    cmp = compare(tm, gm)
    sc = cmp["scalars"]
    ref = independent_abs_m(truth)
    ks = ks_2samp(np.abs(spins.reshape(len(spins), -1).mean(axis=1, dtype=np.float64)), ref)
    return {"U4": [gm["binder"], gm["binder_err"]], "U4_truth": [tm["binder"], tm["binder_err"]],
            "dU4_z": sc["binder"]["z"], "dE": sc["energy"]["diff"], "dE_z": sc["energy"]["z"],
            "g4c_max_abs_dev": cmp["g4c_max_abs_dev"], "g4c_max_abs_z": float(np.max(np.abs(cmp["g4c_z"]))),
            "g4c_p": cmp["g4c_p_value"], "g2_p": cmp["g2_p_value"], "ks_absm_D": float(ks.statistic),
            "ks_absm_p": float(ks.pvalue), "ks_truth_n": int(len(ref))}


def row(name: str, L: int, n: int, steps: int, r: dict) -> str:
    return (f"| {name} | {L} | {n} | {steps} | {r['U4'][0]:.3f} ± {r['U4'][1]:.3f} ({r['U4_truth'][0]:.3f} ± "
            f"{r['U4_truth'][1]:.3f}) | {r['dU4_z']:+.1f} | {r['dE']:+.4f} ({r['dE_z']:+.1f}) | "
            f"{r['g4c_max_abs_dev']:.4f} | {r['g4c_max_abs_z']:.1f} | {r['g4c_p']:.2g} | {r['g2_p']:.2g} | "
            f"{r['ks_absm_D']:.3f}, p = {r['ks_absm_p']:.2g} | {r['seconds']:.0f} |")


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--ckpt", default="isingsr/models/skild_L32.pt")
    ap.add_argument("--out", default="results/generation_L32")
    ap.add_argument("--n", type=int, default=1000, help="generated and truth configurations at the training L")
    ap.add_argument("--L-transfer", type=int, default=64, help="second lattice size (by transfer); 0: none")
    ap.add_argument("--n-transfer", type=int, default=500)
    ap.add_argument("--steps", type=int, default=GENERATION_STEPS, help="reverse steps of the first rows")
    ap.add_argument("--more-steps", type=numbers(int), default=[], help="further rows: the default zero mode at L = 32 "
                    "with these reverse steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--default-only", action="store_true", help="without the first row (the network's own zero "
                    "mode, a diagnostic)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    ck = load_checkpoint(args.ckpt)
    L0 = int(ck["process"]["L"])
    runs = [] if args.default_only else [("network zero mode", L0, args.n, False, args.steps)]
    runs.append(("zero-mode histogram (default)", L0, args.n, True, args.steps))
    if args.L_transfer:
        runs.append(("zero-mode histogram (default), by transfer", args.L_transfer, args.n_transfer, True,
                     args.steps))
    runs += [("zero-mode histogram (default)", L0, args.n, True, steps) for steps in args.more_steps]
    lines = ["| zero mode in the envelope | L | n | steps | U4 (truth) | dU4 (z) | dE (z) | max abs dG4c | "
             "max abs z G4c | G4c p | G2 p | KS of abs m vs truth | seconds |", "|---" * 13 + "|"]
    results = {"ckpt": args.ckpt, "sampler": SAMPLER, "seed": args.seed, "rows": {}}
    for name, L, n, zero, steps in runs:
        truth = load_ensemble(cached_truth(L, n, log=print))
        den = build_from_checkpoint(ck, L=L, zero_mode=zero)
        t0 = time.perf_counter()
        bar = Bar(f"{name}, L = {L}, {steps} steps", "cfg")
        try:
            spins = to_spins(generate_fields(den, n, steps=steps, seed=args.seed, progress=bar))
        finally:
            bar.close()
        seconds = time.perf_counter() - t0
        write_ensemble(out / f"L{L}_{'histogram' if zero else 'network'}_steps{steps}.h5", spins,
                       {"kind": "skild-generation", "checkpoint": args.ckpt, "zero_mode": "training histogram"
                        if zero else "network", "steps": steps, "sampler": SAMPLER, "seed": args.seed},
                       overwrite=True)
        r = dict(score(truth, spins), seconds=seconds, truth=truth.attrs.get("seed"))
        results["rows"][f"{name}, L = {L}, {steps} steps"] = r
        lines.append(row(name, L, n, steps, r))
        print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    (out / "table.md").write_text(table)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(table)


if __name__ == "__main__":
    script_main(run)
