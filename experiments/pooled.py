"""One super-resolution setting on several independent Monte Carlo ensembles: each against its truth, and pooled.

A test at the 2-sigma / 5% level fails about once in twenty by chance, so one
setting run on three ensembles and judged by four numbers on each will now
and then miss on one of them. Pooling separates a chance miss from a bias:
the ensembles are independent, so their configurations together are one
ensemble of their total size, compared with the truths together (each
super-resolved configuration paired with the truth configuration its input
came from, jackknife blocks in each ensemble's Monte Carlo time order). Its
errors are sqrt(number of ensembles) times smaller: a bias that each
ensemble shows at 1 sigma stands out at 1.7 sigma in three, while a chance
miss on one ensemble is diluted.

Each FILE is a super-resolved ensemble as ``isingsr superres``/``correlate``
and the experiment scripts write it: its ``source`` attribute names the
truth (its first n configurations, coarse-grained with the recorded
``seed``), ``scale`` the factor. Every file must come from the same
checkpoint, sampler, steps, consistency, particles, lift and precision, at
the same scale and L, and from different truths.

Reports, one row per ensemble and one pooled: configurations, block
consistency, max |dG4c|, max |z|, the G4c and G2 full-covariance p-values,
the energy and Binder U4 z-scores, and the residual of G2's second
difference at ``--curvature`` r (default 2), ``G2(r-1) - 2 G2(r) + G2(r+1)``
(super-resolved minus truth, paired jackknife error): a test of the local
texture that one number carries, where the full-covariance G2 test spreads
it over L/2 distances. Writes ``OUT/table.md`` and ``OUT/summary.json`` (with
G4c's and G2's residuals and z-scores at every distance).

Usage (seconds; the files come from the commands of results/MANIFEST.md):
  python experiments/pooled.py --out results/pooled_default_L32_s4 \\
      results/headline_L32/s4/skild.h5 \\
      results/smc4_lift_seed2027_L32/s4/skild_conditioned_c0.9_lift0.1_smc4.h5 \\
      results/smc4_lift_seed3031_L32/s4/skild_conditioned_c0.9_lift0.1_smc4.h5
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from isingsr.analysis.compare import block_consistency, compare, measure
from isingsr.analysis.errors import jackknife
from isingsr.analysis.tables import markdown, pval
from isingsr.correlate import coarse_inputs
from isingsr.exceptions import InputError
from isingsr.io.hdf5 import load_ensemble
from isingsr.io.paths import local_path, portable_path

from _script import main, parser

#: Attributes that make two super-resolved files the same setting (absent ones count as equal only if absent in
#: both).
SETTING = ("kind", "checkpoint", "sampler", "steps", "consistency", "particles", "lift_a", "twist_a", "precision",
           "protocol", "t_start", "scale", "rule", "L")
HEADER = ["ensemble", "n", "consistency", "max abs dG4c", "max abs z", "G4c p", "G2 p", "dE (z)", "dU4 (z)"]


def second_difference(truth: dict, cand: dict, r: int) -> tuple[float, float]:
    """``G2(r-1) - 2 G2(r) + G2(r+1)`` of the candidate minus that of the truth and its jackknife error, from two
    :func:`~isingsr.analysis.compare.measure` results with ``keep_samples`` (configuration i of each paired)."""
    d = cand["samples"]["g2"][0] - truth["samples"]["g2"][0]
    v, e = jackknife(lambda x: x, d[:, r - 1] - 2 * d[:, r] + d[:, r + 1])
    return float(v), float(e)


def compared(truth, cand, consistency: float, r: int) -> dict:
    """The candidate spins against the truth's (each (N, L, L), paired, in Monte Carlo time order): the table's
    numbers, and G4c's and G2's residuals and z-scores per distance (G4c at ``g4c_r``, G2 at 0..L/2)."""
    mt, mc = measure(truth, keep_samples=True), measure(cand, keep_samples=True)
    c = compare(mt, mc)
    curv, curv_err = second_difference(mt, mc, r)
    return {"n": len(truth), "consistency": consistency, "g4c_max_abs_dev": float(c["g4c_max_abs_dev"]),
            "g4c_max_abs_z": float(max(abs(z) for z in c["g4c_z"])), "g4c_p_value": float(c["g4c_p_value"]),
            "g2_p_value": float(c["g2_p_value"]), "energy_z": float(c["scalars"]["energy"]["z"]),
            "binder_z": float(c["scalars"]["binder"]["z"]), "g2_second_difference": curv,
            "g2_second_difference_err": curv_err, "g4c_r": [int(x) for x in mt["r"]],
            "g4c_residual": [float(x) for x in c["g4c_residual"]], "g4c_z": [float(x) for x in c["g4c_z"]],
            "g2_residual": [float(x) for x in c["g2_residual"]], "g2_z": [float(x) for x in c["g2_z"]]}


def _row(name: str, s: dict) -> list[str]:
    d, e = s["g2_second_difference"], s["g2_second_difference_err"]
    return [name, str(s["n"]), f"{s['consistency']:.3f}", f"{s['g4c_max_abs_dev']:.4f}", f"{s['g4c_max_abs_z']:.1f}",
            pval(s["g4c_p_value"]), pval(s["g2_p_value"]), f"{s['energy_z']:+.1f}", f"{s['binder_z']:+.1f}",
            f"{d:+.5f} ± {e:.5f} ({d / e:+.1f})"]


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("files", nargs="+", type=Path, help="super-resolved ensembles, one per truth")
    ap.add_argument("--out", type=Path, required=True, help="folder for table.md and summary.json")
    ap.add_argument("--curvature", type=int, default=2, help="r of G2's second difference [default: 2]")
    args = ap.parse_args()
    if len(args.files) < 2:
        ap.error("give at least two files to pool")
    cands = [load_ensemble(f) for f in args.files]
    first = cands[0].attrs
    for f, e in zip(args.files[1:], cands[1:]):
        differ = [k for k in SETTING if e.attrs.get(k) != first.get(k)]
        if differ:
            raise InputError(f"{f}: another setting than {args.files[0]} ({', '.join(differ)} differ)")
    sources = [e.attrs.get("source") for e in cands]
    if None in sources:
        raise InputError(f"{args.files[sources.index(None)]}: no 'source' attribute naming its truth")
    if len(set(sources)) < len(sources):
        raise InputError("two files come from the same truth; pooling needs independent ensembles")
    scale = float(first["scale"])
    r = args.curvature
    if not 1 <= r < int(first["L"]) // 2:
        ap.error(f"--curvature: r from 1 to {int(first['L']) // 2 - 1} at L = {first['L']}")
    header = HEADER + [f"d(G2({r - 1}) - 2 G2({r}) + G2({r + 1})) (z)"]
    summary = {"files": [portable_path(f) for f in args.files], "setting": {k: first.get(k) for k in SETTING},
               "curvature_r": r, "ensembles": {}}
    truths, outputs = [], []
    for f, cand, source in zip(args.files, cands, sources):
        truth = load_ensemble(local_path(source), max_samples=cand.n)
        if truth.n < cand.n or truth.L != cand.L:
            raise InputError(f"{f}: its truth {source} has {truth.n} configurations of L = {truth.L}, "
                             f"the file {cand.n} of L = {cand.L}")
        order = truth.time_order()
        coarse = coarse_inputs(truth.spins, scale, int(cand.attrs.get("seed", 0)))
        truths.append(truth.spins[order])
        outputs.append(cand.spins[order])
        summary["ensembles"][source] = compared(truths[-1], outputs[-1],
                                                block_consistency(cand.spins, coarse, scale), r)
    k = sum(s["consistency"] * s["n"] for s in summary["ensembles"].values()) / sum(map(len, truths))
    summary["pooled"] = compared(np.concatenate(truths), np.concatenate(outputs), k, r)
    rows = [_row(name, s) for name, s in [*summary["ensembles"].items(), ("pooled", summary["pooled"])]]
    table = markdown(header, rows)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(table + "\n")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main(run)
