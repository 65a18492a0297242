"""The headline comparison: SKILD vs SR3 vs CNN vs naive vs the exact posterior, at scales 2, 4 and 8.

Runs :func:`isingsr.correlate.correlate` (``isingsr correlate --scale S``; shipped checkpoints, default cached
Monte Carlo truth at L = 32, n = 1000) for each scale into ``OUT/sS/``, then
writes the results table from the ``summary.json`` files (``OUT/table.md``; one
scale each in ``OUT/table_sS.md``):
marginal accuracy (G4c and G2 against the truth: largest |z|, diagonal
chi^2/dof and the full-covariance p-value of "residual = 0"; energy and U4
z-scores; block consistency; every error paired with the truth configuration
the input came from) and conditional accuracy against the exact posterior
(mse ratio of the energy and of the block magnetisations; 1 = as good as an
exact draw for each input). Also prints SKILD's max |G4c residual| over each
baseline's.

SKILD runs as ``isingsr correlate`` runs it (``--consistency auto``: ``conditioned`` with 4 weighted particles
at an integer scale of 4 or more; ``--consistency none``: the free sampler; results/MANIFEST.md says which runs
used which).
Usage (CPU, 2 cores; the README's table, the same as ``make run`` at 2x, 4x and 8x; docs/results.md gives the time):
  python experiments/compare_methods.py --out results/headline_L32 --figure docs/figures/g4c_L32_s4.png
Re-analyse files already made there (seconds per scale; e.g. after a change to the analysis):
  python experiments/compare_methods.py --out results/headline_L32 --reuse
L = 128 on a CPU with the free sampler (skild_L64.pt and the L = 32 SR3 and CNN, carried to L = 128), with the
collinear G4c too (docs/L128.md gives the truth files and times):
  python experiments/compare_methods.py --out results/L128 --scales 4 --truth data/L128_n1000.h5 --collinear \\
      --consistency none
SKILD with its block majorities held to the input (``isingsr correlate --consistency conditioned``):
  python experiments/compare_methods.py --out results/L128_conditioned --scales 4 --truth data/L128_n1000.h5 \\
      --collinear --methods skild,posterior --consistency conditioned --particles 1
L = 128 on a GPU, with checkpoints trained there (see the README):
  python experiments/compare_methods.py --out results/methods_L128 --truth data/L128_test.h5 \\
      --ckpt runs/L128/checkpoint.pt --sr3-ckpt 'runs/sr3_L128_s{S}/checkpoint.pt' \\
      --cnn-ckpt 'runs/cnn_L128_s{S}/checkpoint.pt'
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

from isingsr.analysis.report import has_collinear
from isingsr.analysis.tables import markdown, pval, value_err
from isingsr.correlate import correlate
from isingsr.defaults import CONSISTENCY, METHODS, PRECISION, PRECISIONS, SAMPLER, SAMPLER_NAMES
from isingsr.progress import StageBars

from _script import add_steps, for_scale, main, numbers, parser, steps_per_scale


HEADER = ["S", "method", "max abs dG4c", "max abs z", "G4c chi2/dof", "G4c p", "G2 chi2/dof", "G2 p", "dE (z)",
          "dU4 (z)", "consistency", "E given c: mse ratio", "block m given c: mse ratio"]
#: Further columns when the runs measured the collinear G4c (``--collinear``).
COLLINEAR = ["collinear: max abs dG4c", "max abs z", "p"]
#: Row order of the table.
ORDER = ["truth", "naive", "skild", "sr3", "cnn", "posterior"]


def ordered(names) -> list[str]:
    """``names`` in the table's row order (:data:`ORDER`; others last)."""
    return sorted(names, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))


def header(summary: dict) -> list[str]:
    return HEADER + (COLLINEAR if has_collinear(summary) else [])


def table(summary: dict) -> list[list[str]]:
    """Rows of :func:`header`, one per ensemble, in the order truth, naive, skild, sr3, cnn, posterior."""
    cond = (summary.get("conditional") or {}).get("scores", {})
    rows = []
    for name in ordered(summary["ensembles"]):
        c = summary["comparison"].get(name)
        k = cond.get(name, {})
        ce, cm = k.get("energy", {}), k.get("block_m", {})
        if c is None:
            marg = ["(truth)"] + [""] * 8
        else:
            sc = c["scalars"]
            zmax = max(abs(z) for z in c["g4c_z"] if z is not None)
            marg = [f"{c['g4c_max_abs_dev']:.4f}", f"{zmax:.1f}", f"{c['g4c_chi2_dof']:.3g}", pval(c["g4c_p_value"]),
                    f"{c['g2_chi2_dof']:.3g}", pval(c["g2_p_value"]), f"{sc['energy']['z']:+.1f}",
                    f"{sc['binder']['z']:+.1f}",
                    "—" if c.get("consistency") is None else format(c["consistency"], ".3f")]
        rows.append([f"{summary['scale']:g}", name, *marg, value_err(ce.get("mse_ratio"), ce.get("mse_ratio_err"), 2),
                     value_err(cm.get("mse_ratio"), cm.get("mse_ratio_err"), 2)])
        if has_collinear(summary):
            rows[-1] += ["(truth)", "", ""] if c is None else [
                f"{c['g4c_col_max_abs_dev']:.4f}", f"{max(abs(z) for z in c['g4c_col_z'] if z is not None):.1f}",
                pval(c["g4c_col_p_value"])]
    return rows


def reused(folder: Path, steps: int, start: str, sampler: str, wanted=METHODS,
           precision: str = "float32", consistency: str = "auto",
           particles: int | None = None) -> tuple[list[str], dict]:
    """Methods of ``wanted`` still to run, and the diffusion/CNN files already in ``folder`` taken as candidates.

    ``precision``: the network precision of this run (``float32`` or ``bf16``); SKILD and SR3 files made in
    another are refused (files without the attribute were made in float32). So are SKILD files made with another
    ``--consistency`` or ``--particles``, ``auto`` and None resolved as ``isingsr correlate`` resolves them (files
    without the attributes: none, 1 particle).
    """
    from isingsr.coarse import majority_blocks
    from isingsr.defaults import resolve_consistency
    from isingsr.io.hdf5 import load_ensemble

    methods, cands = [m for m in ("naive", "posterior") if m in wanted], {}
    for m in ("skild", "sr3", "cnn"):
        if m not in wanted:
            continue
        path = folder / f"{m}.h5"
        if not path.exists():
            methods.append(m)
            continue
        attrs = load_ensemble(path, max_samples=1).attrs
        S = float(attrs["scale"])
        block = majority_blocks(attrs.get("rule", "majority"), round(attrs["L_coarse"] * S), S)
        cons, k, _ = resolve_consistency(consistency, particles, None, scale=S, smc_ok=sampler == "ancestral",
                                         block=block, blocks=int(attrs["L_coarse"]) ** 2)
        if m != "cnn" and (attrs.get("steps"), attrs.get("sampler")) != (steps, sampler):
            sys.exit(f"{path}: made with {attrs.get('sampler')} {attrs.get('steps')} steps, not --sampler {sampler} "
                     f"--steps {steps}; drop --reuse or match them")
        if m != "cnn" and attrs.get("precision", "float32") != precision:
            sys.exit(f"{path}: made in {attrs.get('precision', 'float32')}, not {precision}; drop --reuse or match "
                     "--precision")
        made = (attrs.get("consistency", "none"), int(attrs.get("particles", 1)))
        if m == "skild" and made != (cons, k):
            sys.exit(f"{path}: made with --consistency {made[0]} --particles {made[1]}, not {cons} with {k}; "
                     "delete it to make it again, or match --consistency and --particles")
        if m == "skild" and attrs.get("protocol") != start:
            sys.exit(f"{path}: made with the {attrs.get('protocol')} start, not --start {start}; "
                     "delete it to make it again, or match --start")
        cands[m] = str(path)
    return methods, cands


def pairing_gain(summary: dict) -> dict:
    """Per paired method: min and max over r of hypot(err_truth, err_method) / paired residual error of G4c."""
    ens, out = summary["ensembles"], {}
    for name, c in summary["comparison"].items():
        if c.get("errors") != "paired" or any(e is None or e == 0 for e in c["g4c_residual_err"]):
            continue
        g = [math.hypot(a, b) / e for a, b, e in zip(ens["truth"]["g4c_err"], ens[name]["g4c_err"],
                                                    c["g4c_residual_err"])]
        out[name] = (min(g), max(g))
    return out


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--out", default="results/methods")
    ap.add_argument("--scales", type=numbers(), default="2,4,8")
    ap.add_argument("--truth", default=None, help="truth ensemble [default: cached L = 32, n = 1000]")
    ap.add_argument("--ckpt", default=None, help="SKILD checkpoint [default: shipped]")
    ap.add_argument("--sr3-ckpt", default=None, help="SR3 checkpoint pattern with {S} [default: shipped]")
    ap.add_argument("--cnn-ckpt", default=None, help="CNN checkpoint pattern with {S} [default: shipped]")
    add_steps(ap)
    ap.add_argument("--sampler", default=SAMPLER, choices=SAMPLER_NAMES)
    ap.add_argument("--start", default="conditional", choices=("conditional", "coarse", "forward"),
                    help="SKILD start protocol [default: conditional]")
    ap.add_argument("--consistency", default="auto", choices=("auto",) + CONSISTENCY,
                    help="SKILD's block consistency with the input (isingsr correlate --consistency) [default: auto, "
                         "the command's]")
    ap.add_argument("--particles", type=int, default=None,
                    help="SKILD's weighted particles per input (isingsr correlate --particles) [default: the "
                         "command's, 4 with conditioned]")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", choices=PRECISIONS, default=PRECISION,
                    help="network precision of SKILD and SR3 (bf16: faster, biased; docs/sampling.md#precision)")
    ap.add_argument("--collinear", action="store_true", help="also the collinear G4c (isingsr correlate --collinear)")
    ap.add_argument("--methods", type=lambda t: t.split(","), default=None,
                    help=f"comma-separated subset of {','.join(METHODS)} [default: all that have a checkpoint]")
    ap.add_argument("--table-only", action="store_true", help="only rebuild the table from OUT/sS/summary.json")
    ap.add_argument("--figure", type=Path, default=None,
                    help="also copy the G4c figure of scale 4 there (the README's headline figure)")
    ap.add_argument("--reuse", action="store_true",
                    help="re-analyse the super-resolved files already in OUT/sS (skild, sr3, cnn: made with the same "
                         "--steps) instead of generating them again; naive and the exact posterior are redone "
                         "(deterministic, seconds)")
    args = ap.parse_args()
    out = Path(args.out)
    steps = steps_per_scale(ap, args.steps, args.scales)
    out.mkdir(parents=True, exist_ok=True)
    rows, ratios, gains, starts = [], [], [], []
    for S in args.scales:
        folder = out / f"s{S:g}"
        if not args.table_only:
            methods, cands = args.methods, {}
            if args.reuse:
                methods, cands = reused(folder, steps[S], args.start,
                                        args.sampler, args.methods or METHODS,
                                        args.precision, args.consistency, args.particles)
            ckpts = {"skild": args.ckpt, "sr3": for_scale(args.sr3_ckpt, S), "cnn": for_scale(args.cnn_ckpt, S)}
            bars = StageBars()
            try:
                summary = correlate(S, truth=args.truth, out=folder, methods=methods, candidates=cands, ckpts=ckpts,
                                    steps=steps[S], sampler=args.sampler, start=args.start, device=args.device,
                                    precision=args.precision,
                                    skild_options={"consistency": args.consistency, "particles": args.particles},
                                    collinear=args.collinear, progress=bars,
                                    log=lambda s: print(s, file=sys.stderr))
            finally:
                bars.close()
            print(f"scale {S:g}: {summary['run']['wall_s']:.0f} s", file=sys.stderr)
        summary = json.loads((out / f"s{S:g}" / "summary.json").read_text())
        rows += table(summary)
        head = header(summary)
        (out / f"table_s{S:g}.md").write_text(markdown(head, table(summary)) + "\n")
        if args.figure is not None and S == 4:
            args.figure.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / "g4c.png", args.figure)
        prov = summary["ensembles"].get("skild", {}).get("provenance", {})
        if prov:
            held = "" if prov.get("consistency", "none") == "none" else f", --consistency {prov['consistency']}"
            held += f", {prov['particles']} particles" if prov.get("particles") else ""
            starts.append(f"S = {S:g}: {prov.get('protocol')} start, {prov.get('steps')} steps{held}")
        cmp = summary["comparison"]
        if "skild" in cmp:
            for m in ("sr3", "cnn", "naive"):
                if m in cmp:
                    ratios.append(f"S = {S:g}: max|dG4c| skild / {m} = "
                                  f"{cmp['skild']['g4c_max_abs_dev'] / cmp[m]['g4c_max_abs_dev']:.3f}")
        gains.append(f"S = {S:g}: "
                     + ", ".join(f"{m} {lo:.1f}-{hi:.1f}" for m, (lo, hi) in pairing_gain(summary).items()))
    lines = ["SKILD: " + "; ".join(starts) + "\n", markdown(head, rows)]
    print("\n".join(lines))
    print()
    print("\n".join(ratios))
    print("\nquadrature / paired error of the G4c residual, min-max over r (how much pairing tightens it):")
    print("\n".join(gains))
    (out / "table.md").write_text("\n".join(lines) + "\n\n" + "\n".join(ratios) + "\n")


if __name__ == "__main__":
    main(run)
