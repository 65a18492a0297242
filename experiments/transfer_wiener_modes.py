"""SKILD carried to a larger L with the Wiener estimate in the modes the network was not trained on.

``transfer_denoising.py`` finds the L = 32 network's per-mode error at
L = 128 above the Wiener denoiser's in two places: the modes longer than the
training lattice (0 < |k| < 2 pi / L_train, which an L = 32 model never saw)
and, at large blur, the modes still mostly noise (a_t(k) < 0.1-0.2). This
super-resolves the same inputs with the same seeds as
``compare_methods.py`` (majority rule, seed 0, default or given steps) with the
denoiser's estimate replaced, mode by mode, by the Wiener one ``a x_t`` in
the first set of modes (always) and, with ``--a-min``, in the modes with
a_t(k) < a_min, and compares the result with the truth.

Usage (about 11 minutes per run at 8x for 100 configurations of 128 x 128 on 2 cores):
  python experiments/transfer_wiener_modes.py --truth data/L128_n100.h5 --scale 8 --steps 200 \\
      --out results/transfer_wiener_modes_L128_s8
  python experiments/transfer_wiener_modes.py --truth data/L128_n100.h5 --scale 8 --steps 200 --a-min 0.1 \\
      --out results/transfer_wiener_modes_L128_s8_a0.1
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from isingsr.analysis.report import run_correlate
from isingsr.analysis.tables import pval
from isingsr.correlate import coarse_inputs
from isingsr.defaults import superres_steps
from isingsr.diffusion.denoiser import with_wiener
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.diffusion.pipeline import superresolve_fields, to_spins
from isingsr.io.checkpoint import load_checkpoint
from isingsr.io.hdf5 import load_ensemble, write_ensemble
from isingsr.io.paths import portable_path
from isingsr.models import shipped_checkpoint

from _script import main, parser


class WienerModes:
    """``den`` with its estimate replaced by ``a x_t`` in the untrained long modes and where a_t(k) < a_min."""

    def __init__(self, den, train_L: int, a_min: float):
        self.den, self.process, self.a_min = den, den.process, a_min
        k = self.process.basis.wavenumber(self.process.L, device=self.process.S.device)
        self.long = (k > 0) & (k < 2 * math.pi / train_L * (1 - 1e-9))

    def __call__(self, x_t: torch.Tensor, t) -> torch.Tensor:
        p = self.process
        x0 = self.den(x_t, t)
        t = torch.as_tensor(t, dtype=torch.float64, device=p.S.device).reshape(-1).expand(x_t.shape[0])
        a = p.a(t)[:, None]
        return with_wiener(x0, x_t, a, (a < self.a_min) | self.long, p.basis)


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--truth", type=Path, required=True)
    ap.add_argument("--scale", type=float, default=8.0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--ckpt", default=None, help="SKILD checkpoint [default: shipped, L = 32]")
    ap.add_argument("--a-min", type=float, default=0.0)
    ap.add_argument("-n", type=int, default=None, help="only the first n inputs")
    ap.add_argument("--steps", type=int, default=None, help="reverse steps [default: the package's for the scale]")
    ap.add_argument("--reuse", action="store_true", help="analyse OUT/skild.h5 as it is (an interrupted run)")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    ck = load_checkpoint(args.ckpt or shipped_checkpoint(32))
    truth = load_ensemble(args.truth)
    den = WienerModes(build_from_checkpoint(ck, device="cpu", L=truth.L), int(ck["process"]["L"]), args.a_min)
    coarse = coarse_inputs(truth.spins, args.scale, 0)[: args.n]
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "skild.h5"
    wall = None
    if not (args.reuse and path.exists()):
        t0 = time.perf_counter()
        with tqdm(total=len(coarse), desc=f"skild {args.scale:g}x, Wiener modes", unit="cfg") as bar:
            fields, t_start = superresolve_fields(den, ck, coarse, args.scale, seed=0, steps=args.steps,
                                                  progress=lambda done, total: bar.update(done - bar.n))
        wall = time.perf_counter() - t0
        write_ensemble(path, to_spins(fields), {
            "kind": "skild-superres", "source": portable_path(args.truth), "scale": args.scale, "rule": "majority",
            "seed": 0, "t_start": float(t_start),
            "steps": superres_steps(args.scale) if args.steps is None else args.steps,
            "wiener_modes": f"0 < |k| < 2 pi / {int(ck['process']['L'])}"
            + (f" and a_t(k) < {args.a_min:g}" if args.a_min > 0 else "")}, overwrite=True)
    s = run_correlate(args.truth, args.scale, args.out, candidates={"skild": str(path)}, progress=False, naive=False)
    c, sc = s["comparison"]["skild"], s["comparison"]["skild"]["scalars"]
    row = {"a_min": args.a_min, "n": len(coarse), "wall_s": wall, "g4c_max_abs_dev": c["g4c_max_abs_dev"],
           "g4c_max_abs_z": float(np.nanmax(np.abs(c["g4c_z"]))), "g4c_p": c["g4c_p_value"],
           "energy_z": sc["energy"]["z"], "binder_z": sc["binder"]["z"], "consistency": c["consistency"],
           "g4c_residual": c["g4c_residual"]}
    (args.out / "run.json").write_text(json.dumps(row, indent=1) + "\n")
    print(f"max|dG4c| {row['g4c_max_abs_dev']:.4f} (max |z| {row['g4c_max_abs_z']:.1f}), p {pval(row['g4c_p'])}, "
          f"energy {row['energy_z']:+.1f} sigma, U4 {row['binder_z']:+.1f} sigma; sampling {wall} s")


if __name__ == "__main__":
    main(run)
