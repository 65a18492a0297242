"""Evaluate a SKILD checkpoint against Monte Carlo truth: super-resolution at several scales, and generation.

For each scale: coarse-grain an independent Monte Carlo ensemble (majority
rule), super-resolve it with SKILD (``--start``, default the conditional
start, and the published forward start for comparison), and compare G2, square G4c, energy and U4 with the
truth (``isingsr.analysis.report.run_correlate``, figures per scale), plus the
start-state alignment KL at t_start. Then unconditional generation from t = 1
against the same truth. Writes the markdown table to ``OUT/table.md`` and
everything to ``OUT/results.json``; the sampler and steps are the defaults of
the package unless given.

Usage:
  python experiments/eval_skild.py --out results/eval_skild_L32
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from isingsr.analysis.compare import compare, measure
from isingsr.analysis.report import run_correlate
from isingsr.diffusion.pipeline import generate_fields, to_spins
from isingsr.diffusion.alignment import alignment
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.io.checkpoint import load_checkpoint
from isingsr.io.hdf5 import load_ensemble, write_ensemble
from isingsr.correlate import cached_truth
from isingsr.defaults import GENERATION_STEPS, SAMPLER, SAMPLER_NAMES

from _script import super_resolve_truth


def row(name, cmp, extra=""):
    sc = cmp["scalars"]
    return (f"| {name} | {cmp['g4c_max_abs_dev']:.4f} | {cmp['g4c_chi2_dof']:.2f} | {cmp['g2_max_abs_dev']:.4f} | "
            f"{cmp['g2_chi2_dof']:.2f} | {sc['energy']['diff']:+.4f} ({sc['energy']['z']:+.1f}) | "
            f"{sc['binder']['diff']:+.4f} ({sc['binder']['z']:+.1f}) | {extra} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", default="isingsr/models/skild_L32.pt")
    ap.add_argument("--out", default="results/eval_skild_L32")
    ap.add_argument("--n", type=int, default=1000, help="truth configurations (and super-resolved ones)")
    ap.add_argument("--n-gen", type=int, default=500, help="generated configurations")
    ap.add_argument("--scales", default="2,4,2.5")
    ap.add_argument("--start", default="conditional", choices=("conditional", "coarse"),
                    help="honest start protocol of the 'skild' rows")
    ap.add_argument("--forward-scales", default="4", help="scales also run with the forward (published) start")
    ap.add_argument("--steps", type=int, default=None, help="super-resolution steps "
                    "[default: the package's for the scale]")
    ap.add_argument("--gen-steps", type=int, default=GENERATION_STEPS)
    ap.add_argument("--sampler", default=SAMPLER, choices=SAMPLER_NAMES)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ck = load_checkpoint(args.ckpt)
    den = build_from_checkpoint(ck)
    L = ck["process"]["L"]
    truth_path = cached_truth(L, args.n, log=print)
    truth = load_ensemble(truth_path)
    results = {"ckpt": args.ckpt, "L": L, "n": args.n, "steps": args.steps, "sampler": args.sampler,
               "basis": ck["process"]["basis"], "scales": {}}
    header = ("| ensemble | max abs dG4c | G4c chi2/dof | max abs dG2 | G2 chi2/dof | dE (z) | dU4 (z) | "
              "consistency, KL at t_start |\n|---|---|---|---|---|---|---|---|")
    lines = []
    for s in [float(x) for x in args.scales.split(",")]:
        starts = [args.start] + (["forward"] if f"{s:g}" in args.forward_scales.split(",") else [])
        cands, timing = {}, {}
        for start in starts:
            t0 = time.perf_counter()
            name = "skild" if start == args.start else "skild_forward"
            cands[name] = str(super_resolve_truth("skild", truth_path, s, out / f"s{s:g}_{name}.h5", args.ckpt,
                                                  start=start, steps=args.steps, sampler=args.sampler))
            timing[name] = time.perf_counter() - t0
        summary = run_correlate(truth_path, s, out / f"s{s:g}", candidates=cands, progress=False)
        t_s = den.process.t_start(s)
        al = alignment(den.process, truth.spins[: min(500, truth.n)], s, [t_s],
                       gain=ck["gains"][f"{s:g}"].double())
        res = {"t_start": t_s, "kl_per_mode": float(al.kl[0]), "kl_cond_per_mode": float(al.kl_cond[0]),
               "seconds": timing, "comparison": summary["comparison"]}
        results["scales"][f"{s:g}"] = res
        for name in ["naive", *cands]:
            cmp = summary["comparison"][name]
            extra = f"{cmp['consistency']:.4f}" if cmp.get("consistency") is not None else ""
            if name == "skild":
                extra += f", KL {al.kl[0]:.4f} (cond. {al.kl_cond[0]:.4f}) nats/mode"
            lines.append(row(f"{s:g}x {name}", cmp, extra))
        print(header + "\n" + "\n".join(lines), flush=True)
    t0 = time.perf_counter()
    fields = generate_fields(den, args.n_gen, steps=args.gen_steps, sampler=args.sampler, seed=0)
    gen_time = time.perf_counter() - t0
    spins = to_spins(fields)
    write_ensemble(out / "generated.h5", spins, {"kind": "skild-generation", "checkpoint": args.ckpt,
                                                 "steps": args.gen_steps, "sampler": args.sampler}, overwrite=True)
    cmp = compare(measure(truth.spins, order=truth.time_order()), measure(spins))
    results["generation"] = {"n": args.n_gen, "steps": args.gen_steps, "seconds": gen_time, "comparison": cmp}
    lines.append(row(f"generation ({args.gen_steps} steps)", cmp))
    print(header + "\n" + "\n".join(lines))
    (out / "results.json").write_text(json.dumps(results, indent=2, default=lambda o: np.asarray(o).tolist()))
    (out / "table.md").write_text(header + "\n" + "\n".join(lines) + "\n")
    print("timings (s): " + ", ".join(f"{k} {v['seconds']}" for k, v in results["scales"].items())
          + f", generation {gen_time:.0f}")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
