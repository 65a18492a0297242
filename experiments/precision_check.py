"""What bf16 changes in SKILD's super-resolution: the same inputs and seeds in float32 and in bf16.

Coarse-grains the first ``--n`` configurations of ``--truth`` as ``isingsr
correlate`` does, super-resolves them with the same checkpoint, sampler,
steps and seeds twice -- the network in float32 and under bf16 autocast --
and reports:

* configuration by configuration: the fraction of sites on which the two
  outputs agree and the difference of their energies per site;
* the bf16 ensemble against the float32 one as its reference, with errors
  paired configuration by configuration (max |dG4c|, max |z|, the G4c and G2
  full-covariance p-values, energy and U4 z-scores): whether the precision
  is visible at all at this n;
* each against the Monte Carlo truth (the numbers ``isingsr correlate``
  reports).

Speed is measured apart, on one machine at one time, by ``experiments/bench_sampling.py``.

``--reference`` takes an existing float32 SKILD file of the same truth (e.g.
``results/L128/s4/skild.h5``; its first ``--n`` configurations, after checking
that seed, steps, sampler and checkpoint match) instead of running float32 again.

Usage:  python experiments/precision_check.py --truth data/L128_n1000.h5 --scale 4 --n 100 \\
            --reference results/L128/s4/skild.h5 --out results/precision_L128_s4
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from isingsr.analysis.compare import compare, measure
from isingsr.analysis.scalars import energy_magnetization
from isingsr.analysis.tables import markdown, pval
from isingsr.correlate import coarse_inputs, _shipped
from isingsr.defaults import SAMPLER
from isingsr.exceptions import InputError
from isingsr.io.hdf5 import load_ensemble
from isingsr.io.paths import portable_path
from isingsr.progress import Bar
from isingsr.superres import load_superresolver, superresolve_to_file

from _script import main, parser


def super_resolve(coarse, scale, L, ckpt, precision, out, seed, steps) -> Path:
    model = load_superresolver("skild", ckpt, L=L, device="cpu", precision=precision, steps=steps)
    bar = Bar(f"skild {precision}", "cfg")
    try:
        return superresolve_to_file(model, coarse, scale, out, seed=seed, overwrite=True, progress=bar)
    finally:
        bar.close()


def check_reference(attrs: dict, ckpt, seed: int, steps: int | None) -> None:
    want = {"seed": seed, "sampler": SAMPLER, "precision": "float32", "checkpoint": portable_path(ckpt)}
    if steps is not None:
        want["steps"] = steps
    got = {k: attrs.get(k, "float32" if k == "precision" else None) for k in want}
    bad = [f"{k} {got[k]!r} (want {want[k]!r})" for k in want if str(got[k]) != str(want[k])]
    if bad:
        raise InputError(f"--reference: made with {', '.join(bad)}")


def row(name: str, c: dict) -> list[str]:
    sc = c["scalars"]
    return [name, f"{c['g4c_max_abs_dev']:.5f}", f"{max(abs(z) for z in c['g4c_z'] if z is not None):.1f}",
            pval(c["g4c_p_value"]), pval(c["g2_p_value"]), f"{sc['energy']['z']:+.1f}", f"{sc['binder']['z']:+.1f}"]


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--truth", required=True, help="Monte Carlo ensemble (HDF5)")
    ap.add_argument("--scale", type=float, default=4.0)
    ap.add_argument("--n", type=int, default=100, help="first n configurations")
    ap.add_argument("--ckpt", default=None, help="SKILD checkpoint [default: the shipped one for the truth's L]")
    ap.add_argument("--steps", type=int, default=None, help="reverse steps [default: the package's for the scale]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reference", default=None, help="existing float32 SKILD file of the same truth and seed")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    truth = load_ensemble(args.truth)
    if not 2 <= args.n <= truth.n:
        raise InputError(f"--n must be in 2..{truth.n}")
    ckpt = args.ckpt or _shipped("skild", truth.L, args.scale)
    coarse = coarse_inputs(truth.spins, args.scale, args.seed)[: args.n]
    args.out.mkdir(parents=True, exist_ok=True)
    runs = {}
    if args.reference:
        ref = load_ensemble(args.reference, max_samples=args.n)
        check_reference(ref.attrs, ckpt, args.seed, args.steps)
        runs["float32"] = Path(args.reference)
    else:
        runs["float32"] = super_resolve(coarse, args.scale, truth.L, ckpt, "float32", args.out / "float32.h5",
                                        args.seed, args.steps)
    runs["bf16"] = super_resolve(coarse, args.scale, truth.L, ckpt, "bf16", args.out / "bf16.h5", args.seed,
                                 args.steps)
    ens = {k: load_ensemble(p, max_samples=args.n) for k, p in runs.items()}
    a, b = ens["float32"].spins, ens["bf16"].spins
    agree = (a == b).mean(axis=(1, 2))
    e_a, e_b = energy_magnetization(a)[0], energy_magnetization(b)[0]
    de = e_b - e_a
    print("measuring correlations", file=sys.stderr)
    m = {k: measure(e.spins, keep_samples=True, collinear=False) for k, e in ens.items()}
    m["truth"] = measure(truth.spins[: args.n], keep_samples=True)
    vs_f32 = compare(m["float32"], m["bf16"])
    vs_truth = {k: compare(m["truth"], m[k]) for k in ("float32", "bf16")}
    head = ["ensemble", "max abs dG4c", "max abs z", "G4c p", "G2 p", "dE (z)", "dU4 (z)"]
    table = markdown(head, [row("bf16 against float32 (same inputs and seeds)", vs_f32),
                            row("float32 against Monte Carlo", vs_truth["float32"]),
                            row("bf16 against Monte Carlo", vs_truth["bf16"])])
    pairs = markdown(["site agreement mean", "site agreement min", "mean dE per site", "sd of dE per site",
                      "sd of E per site (float32)"],
                     [[f"{agree.mean():.4f}", f"{agree.min():.4f}",
                       f"{de.mean():+.5f} ± {de.std(ddof=1) / np.sqrt(len(de)):.5f}", f"{de.std(ddof=1):.5f}",
                       f"{e_a.std(ddof=1):.5f}"]])
    (args.out / "table.md").write_text(table + "\n")
    (args.out / "pairs.md").write_text(pairs + "\n")
    summary = {"truth": portable_path(args.truth), "scale": args.scale, "n": args.n,
               "steps": int(ens["bf16"].attrs["steps"]), "checkpoint": portable_path(ckpt), "seed": args.seed,
               "files": {k: portable_path(p) for k, p in runs.items()},
               "site_agreement": agree.tolist(), "energy_difference": de.tolist(),
               "bf16_vs_float32": {k: vs_f32[k] for k in ("g4c_max_abs_dev", "g4c_p_value", "g2_p_value")},
               "command": " ".join(sys.argv)}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    print(pairs, table, sep="\n\n")


if __name__ == "__main__":
    main(run)
