"""SKILD super-resolution from each start protocol, same inputs, seeds and steps.

``conditional`` (default) draws the start from a per-mode Gaussian model of
the fine configuration given the coarse one; ``coarse`` (SPEC's construction)
takes the rescaled coarse embedding as the fine configuration's pass band;
``forward`` (published protocol, leaks the truth) is the exact forward
marginal of the true fine configuration. Each is run on the majority-rule
coarse-graining of the cached truth and compared with it through
``run_correlate`` (paired errors, full-covariance p-values, block consistency
and the conditional scores against exact posterior draws). Last line: how
much the fine magnetisation varies given the input (residual variance of
its regression on the coarse magnetisation, over <m^2>), for the truth, an
exact posterior draw and each start.

Usage (on 2 cores about 2.5 s per reverse step for each protocol, plus seconds for the posterior):
  python experiments/start_protocols.py --out results/start_protocols_s4
An earlier start than the checkpoint's (blur c sqrt(s^2 - 1) with c = 0.5 or 0.3 instead of 0.9):
  python experiments/start_protocols.py --out results/start_protocols_s4_c0.5 --c 0.5 --starts conditional
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from isingsr.analysis.report import run_correlate
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.io.checkpoint import load_checkpoint
from isingsr.models import shipped_checkpoint
from isingsr.io.hdf5 import load_ensemble
from isingsr.correlate import cached_truth, coarse_inputs
from isingsr.defaults import SAMPLER, superres_steps

from _script import main, parser, posterior_reference, super_resolve_truth


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--out", default="results/start_protocols_s4")
    ap.add_argument("--ckpt", default=None, help="SKILD checkpoint [default: shipped, L = 32]")
    ap.add_argument("--scale", type=float, default=4.0)
    ap.add_argument("--steps", type=int, default=None, help="reverse steps [default: the package's for the scale]")
    ap.add_argument("--starts", default="conditional,coarse")
    ap.add_argument("--c", type=float, default=None,
                    help="start at the blur c sqrt(s^2 - 1) instead of the checkpoint's t_start(s) "
                         "(its c is 0.9); files and rows get the suffix _c<c>")
    ap.add_argument("--reuse", action="store_true", help="re-analyse the files already in OUT")
    args = ap.parse_args()
    args.steps = superres_steps(args.scale) if args.steps is None else args.steps
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = args.ckpt or str(shipped_checkpoint(32))
    ck = load_checkpoint(ckpt)
    truth_path = cached_truth(int(ck["process"]["L"]), 1000)
    t_start, tag = None, ""
    if args.c is not None:
        process = build_from_checkpoint(ck).process
        t_start = float(process.t_start(args.scale, args.c))
        tag = f"_c{args.c:g}"
        print(f"c = {args.c:g}: t_start = {t_start:.4f} (the checkpoint's: {process.t_start(args.scale):.4f})")
    cands = {}
    for start in args.starts.split(","):
        path = out / f"skild_{start}{tag}.h5"
        if not (args.reuse and path.exists()):
            t0 = time.perf_counter()
            with tqdm(total=1000, desc=f"{start} start", unit="cfg") as bar:
                super_resolve_truth("skild", truth_path, args.scale, path, ckpt, start=start, steps=args.steps,
                                    sampler=SAMPLER,
                                    t_start=t_start, progress=lambda done, total: bar.update(done - bar.n))
            print(f"{start}: {time.perf_counter() - t0:.0f} s")
        cands[f"skild_{start}{tag}"] = str(path)
    _, reference = posterior_reference(truth_path, args.scale, out / "posterior.h5")
    s = run_correlate(truth_path, args.scale, out, candidates=cands, progress=False, naive=False,
                      posterior_reference=reference)
    cond = s["conditional"]["scores"]
    head = ("| start | max abs dG4c | G4c p | G2 p | G4c residual r = 1, L/4 (z) | dE (z) | dU4 (z) | consistency "
            "| E given c: mse ratio | block m given c: mse ratio |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, c in s["comparison"].items():
        sc, res, z, k = c["scalars"], c["g4c_residual"], c["g4c_z"], cond[name]
        lines.append(
            f"| {name.removeprefix('skild_')} | {c['g4c_max_abs_dev']:.4f} | {c['g4c_p_value']:.2g} | "
            f"{c['g2_p_value']:.2g} | {res[0]:+.4f} ({z[0]:+.1f}), {res[-1]:+.4f} ({z[-1]:+.1f}) | "
            + " | ".join(f"{sc[q]['diff']:+.4f} ({sc[q]['z']:+.1f})" for q in ("energy", "binder"))
            + f" | {c['consistency']:.3f} | {k['energy']['mse_ratio']:.2f} ± {k['energy']['mse_ratio_err']:.2f} | "
            f"{k['block_m']['mse_ratio']:.2f} ± {k['block_m']['mse_ratio_err']:.2f} |")
    # the magnetisation given the input: residual variance of m regressed on the coarse m, over <m^2>
    truth = load_ensemble(truth_path)
    mc = coarse_inputs(truth.spins, args.scale, 0).mean((1, 2))
    spread = {}
    for name, path in {"truth": truth_path, "posterior": out / "posterior.h5", **cands}.items():
        m = load_ensemble(path).spins.mean((1, 2), dtype=np.float64)
        spread[name] = float(np.mean((m - (m @ mc) / (mc @ mc) * mc) ** 2) / np.mean(m * m))
    lines += ["", "spread of m given the input, var(m - beta m_coarse) / <m^2>: "
              + ", ".join(f"{k} {v:.5f}" for k, v in spread.items())]
    print("\n".join(lines))
    table = out / f"table{tag}.md"
    table.write_text(f"scale {args.scale:g}, {args.steps} steps, {SAMPLER}"
                     + (f", start at c = {args.c:g} (t = {t_start:.4f})" if tag else "") + "\n\n"
                     + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main(run)
