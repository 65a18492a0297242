"""Is SKILD's start at another L the problem? The start-state KL with transferred vs locally measured gains.

SKILD's super-resolution start is built from the coarse input with the
pass-band gains (and correlations) of the checkpoint, measured at its training
size and carried to another L by finite-size scaling
(:func:`isingsr.diffusion.transfer.gain_at`). For each scale this compares, at
the checkpoint's t_start(s) at the target L, the alignment KL
(:func:`isingsr.diffusion.alignment.alignment`: the coarse-built start against
the true forward state, per coarse site, given x_0 and given the coarse input)
with the gain carried from the checkpoint and with the gain measured on
Monte Carlo data at the target L itself. A much larger KL with the carried
gain says the carrying is at fault.

Usage (a minute on 2 cores):
  python experiments/transfer_gains.py --data data/L128.h5 --test data/L128_n100.h5 --out results/transfer_gains_L128
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from isingsr.analysis.tables import markdown
from isingsr.coarse import target_size
from isingsr.diffusion.alignment import alignment
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.diffusion.pipeline import gain_for
from isingsr.diffusion.starts import measure_gain
from isingsr.io.checkpoint import load_checkpoint
from isingsr.io.hdf5 import load_ensemble

from _script import main, numbers, parser

HEADER = ["L", "s", "t_start", "KL given x0 (nats/mode): carried gain", "measured gain",
          "KL given y: carried gain", "measured gain", "rms(carried / measured - 1), pass band"]


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--ckpt", default="isingsr/models/skild_L32.pt")
    ap.add_argument("--data", required=True, help="Monte Carlo at the target L: the locally measured gains")
    ap.add_argument("--test", required=True, help="held-out Monte Carlo at the target L")
    ap.add_argument("--scales", type=numbers(), default="2,4,8")
    ap.add_argument("--n-data", type=int, default=4000, help="configurations of --data used")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    ck = load_checkpoint(args.ckpt)
    data, test = load_ensemble(args.data, max_samples=args.n_data).spins, load_ensemble(args.test).spins
    L = data.shape[-1]
    p = build_from_checkpoint(ck, L=L).process
    rows, results = [], {}
    for s in args.scales:
        t = float(p.t_start(s))
        carried = gain_for(ck, s, L, target_size(L, s)).double()
        local = measure_gain(data, s, basis=ck["process"]["basis"])
        kl = {name: alignment(p, test, s, [t], gain=g) for name, g in (("carried", carried), ("measured", local))}
        band = local.abs() > 1e-6
        mismatch = float(np.sqrt(np.mean(((carried[band] / local[band]) - 1).numpy() ** 2)))
        results[f"{s:g}"] = {"t_start": t, "mismatch_rms": mismatch,
                             **{f"kl_{k}": float(v.kl[0]) for k, v in kl.items()},
                             **{f"kl_cond_{k}": float(v.kl_cond[0]) for k, v in kl.items()}}
        r = results[f"{s:g}"]
        rows.append([str(L), f"{s:g}", f"{t:.3f}", f"{r['kl_carried']:.4f}", f"{r['kl_measured']:.4f}",
                     f"{r['kl_cond_carried']:.4f}", f"{r['kl_cond_measured']:.4f}", f"{mismatch:.3f}"])
        print(rows[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"ckpt": args.ckpt, "data": args.data, "test": args.test,
                                                       "scales": results}, indent=2))
    (args.out / "table.md").write_text(markdown(HEADER, rows) + "\n")
    print(markdown(HEADER, rows))


if __name__ == "__main__":
    main(run)
