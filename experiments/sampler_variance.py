"""SKILD super-resolution with three choices of the ancestral step variance.

Each ancestral step draws ``X_prev ~ N(c_t X_t + c_0 X0_hat, v S + c_0^2 m)``
(``isingsr.diffusion.samplers.ancestral_sample``), where ``m`` is the expected
error variance of the denoiser. The sampler's default (``gaussian``) takes
the Wiener value ``m = (1 - a_t^2) S``, an upper bound for any data with
spectrum S; ``posterior`` takes ``m = 0``; ``analytic`` takes the measured
per-mode mean squared error of the trained network at each time of the grid
(estimated here on independent Monte Carlo configurations, never the truth),
clipped to the Wiener bound (Bao et al. 2022, "Analytic-DPM"). This script
measures the per-mode error, super-resolves the cached truth by ``--scale``
with each choice (same inputs, seeds and steps) and compares them all with
the truth through ``run_correlate`` (paired errors, full-covariance p-values).

Usage (on 2 cores about 2.5 s per reverse step for each variance choice, plus the error estimate):
  isingsr generate --L 32 -n 256 --seed 777 --out data/L32_mse.h5
  python experiments/sampler_variance.py --mse-data data/L32_mse.h5 --out results/sampler_variance_s4
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from isingsr.analysis.report import run_correlate
from isingsr.analysis.tables import markdown, pval, signed_z
from isingsr.diffusion.pipeline import superresolve_fields, to_spins
from isingsr.diffusion.rng import generators
from isingsr.diffusion.samplers import time_grid
from isingsr.diffusion.starts import forward_start
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.io.checkpoint import load_checkpoint
from isingsr.io.hdf5 import load_ensemble, write_ensemble
from isingsr.io.paths import portable_path
from isingsr.models import shipped_checkpoint
from isingsr.correlate import cached_truth, coarse_inputs
from isingsr.defaults import superres_steps

from _script import main, parser


def denoiser_mse(den, spins: np.ndarray, times: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Per-mode mean squared error of ``den`` at each time, shape ``(len(times), L, L)``."""
    p = den.process
    x0 = torch.from_numpy(spins.astype(np.float64))[:, None]
    out = []
    for i, t in enumerate(times.tolist()):
        xt = forward_start(p, x0, t, generator=generators(range(seed + i * len(x0), seed + (i + 1) * len(x0))))
        err = den(xt, torch.full((len(x0),), t, dtype=torch.float64)).to(torch.float64) - x0
        out.append((p.basis.forward(err)[:, 0] ** 2).mean(0))
    return torch.stack(out)


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--mse-data", required=True, help="Monte Carlo configurations for the error estimate")
    ap.add_argument("--out", default="results/sampler_variance_s4")
    ap.add_argument("--ckpt", default=None, help="SKILD checkpoint [default: shipped, L = 32]")
    ap.add_argument("--scale", type=float, default=4.0)
    ap.add_argument("--steps", type=int, default=None, help="reverse steps [default: the package's for the scale]")
    ap.add_argument("--n-mse", type=int, default=256)
    ap.add_argument("--variances", default="gaussian,posterior,analytic")
    ap.add_argument("--start", default="conditional", choices=("conditional", "coarse"),
                    help="SKILD start protocol")
    args = ap.parse_args()
    args.steps = superres_steps(args.scale) if args.steps is None else args.steps
    torch.set_grad_enabled(False)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ck = load_checkpoint(args.ckpt or shipped_checkpoint(32))
    truth_path = cached_truth(int(ck["process"]["L"]), 1000)
    truth = load_ensemble(truth_path)
    den = build_from_checkpoint(ck, device="cpu", L=truth.L)
    p = den.process
    times = time_grid(args.steps, float(p.t_start(args.scale)), process=p)
    choices = args.variances.split(",")
    if "analytic" in choices:
        t0 = time.perf_counter()
        mse = denoiser_mse(den, load_ensemble(args.mse_data).spins[: args.n_mse], times[:-1])
        ratio = (mse / p.sigma2(times[:-1, None, None]).clamp_min(1e-300)).clamp_max(1.0)
        print(f"error estimate: {time.perf_counter() - t0:.0f} s; measured / Wiener error (clipped at 1), "
              f"mean over modes at t = {times[0]:.3f} .. {times[-2]:.4f}: "
              + ", ".join(f"{float(r.mean()):.2f}" for r in ratio[:: max(1, len(ratio) // 6)]))
    coarse = coarse_inputs(truth.spins, args.scale, 0)
    cands = {}
    grid = times[:-1].numpy()
    for v in choices:
        if v == "analytic":
            def var(t, _m=mse):  # the error measured at the grid time t, clipped to the Wiener bound
                return torch.minimum(_m[int(np.argmin(np.abs(grid - t)))], p.sigma2(t))
        else:
            var = v
        t0 = time.perf_counter()
        with tqdm(total=len(coarse), desc=f"{v} variance", unit="cfg") as bar:
            fields, _ = superresolve_fields(den, ck, coarse, args.scale, start=args.start, steps=args.steps, seed=0,
                                            batch=128, variance=var,
                                            progress=lambda done, total: bar.update(done - bar.n))
        print(f"{v}: {time.perf_counter() - t0:.0f} s")
        path = out / f"skild_{v}.h5"
        write_ensemble(path, to_spins(fields), {
            "kind": "skild-superres", "source": portable_path(truth_path), "scale": args.scale, "protocol": args.start,
            "rule": "majority", "sampler": f"ancestral, step variance {v}", "steps": args.steps, "seed": 0},
            overwrite=True)
        cands[f"skild_{v}"] = str(path)
    s = run_correlate(truth_path, args.scale, out, candidates=cands, progress=False, naive=False)
    rows = []
    for name, c in s["comparison"].items():
        sc, res, z = c["scalars"], c["g4c_residual"], c["g4c_z"]
        rows.append([name.removeprefix("skild_"), f"{c['g4c_max_abs_dev']:.4f}", pval(c["g4c_p_value"]),
                     pval(c["g2_p_value"]), f"{signed_z(res[0], z[0])}, {signed_z(res[-1], z[-1])}",
                     *(signed_z(sc[k]["diff"], sc[k]["z"]) for k in ("energy", "abs_m", "binder"))])
    table = markdown(["variance", "max abs dG4c", "G4c p", "G2 p", "G4c residual r = 1, L/4 (z)", "dE (z)",
                      "d abs m (z)", "dU4 (z)"], rows)
    print(table)
    (out / "table.md").write_text(f"scale {args.scale:g}, {args.steps} steps, ancestral, {args.start} start\n\n"
                                  + table + "\n")


if __name__ == "__main__":
    main(run)
