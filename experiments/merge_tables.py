"""One comparison table from several runs on the same inputs: every method at every scale, side by side.

Each RUN is a scale folder written by ``compare_methods.py`` or ``isingsr correlate`` (it holds
``summary.json``), e.g. ``results/L128/s4``. Runs of one scale are merged only when they describe the same
experiment: the same truth (file, seed, n, and G4c to the last digit), lattice, scale and coarse-graining seed,
and both or neither with the collinear G4c; a method found in several runs is taken from the first that has
it, and where two runs carry the exact posterior (against which the conditional scores are measured) its
G4c must agree to the last digit too. Anything else is a one-line error, never a mixed table.

Writes ``OUT/table.md``: the rows of ``compare_methods.py``'s table, scale by scale, then which run each
method came from; and ``OUT/g4c_sS.png`` (and ``.pdf``) for each scale S: the G4c figure of
``isingsr correlate`` with every merged method on it (``--figure``: a copy of the PNG, ``{S}`` the scale).

Usage (seconds; the L = 128 table of docs/L128.md, every run on the 1,000 inputs of data/L128_n1000.h5):
  python experiments/merge_tables.py --out results/L128_all results/L128/s2 results/L128/s4 \\
      results/L128_sr3/s4 results/L128_s8_n1000/s8 results/L128_sr3/s8 --figure 'docs/figures/g4c_L128_s{S}_n1000.png'
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

from isingsr.analysis.report import correlation_figures, figure_title, has_collinear
from isingsr.analysis.tables import markdown
from isingsr.exceptions import InputError

from _script import for_scale, main, parser
from compare_methods import header, ordered, table


def _same_experiment(a: dict, b: dict, where: str) -> None:
    """Raise InputError unless summaries ``a`` and ``b`` compare against the same truth and inputs."""
    ta, tb = a["ensembles"]["truth"], b["ensembles"]["truth"]
    checks = {
        "lattice size": (a["L"], b["L"]),
        "coarse-graining seed": (a.get("seed"), b.get("seed")),
        "truth file": (ta["provenance"].get("path"), tb["provenance"].get("path")),
        "truth seed": (ta["provenance"].get("seed"), tb["provenance"].get("seed")),
        "truth size": (ta["n"], tb["n"]),
        "truth G4c": (ta["g4c"], tb["g4c"]),
        "collinear G4c": (has_collinear(a), has_collinear(b)),
    }
    for what, (x, y) in checks.items():
        if x != y:
            raise InputError(f"{where}: {what} differs from the first run of scale {a['scale']:g}; "
                             "only runs on the same inputs can share a table")
    pa, pb = a["ensembles"].get("posterior"), b["ensembles"].get("posterior")
    if pa is not None and pb is not None and pa["g4c"] != pb["g4c"]:
        raise InputError(f"{where}: its exact posterior differs from the first run's, so the conditional scores "
                         "are measured against different draws")


def merge(summaries: list[tuple[str, dict]]) -> tuple[dict, dict[str, str]]:
    """The summary of one scale holding every method of ``summaries`` ((name, summary) pairs, first wins),
    and for each method the name of the run it came from."""
    (first_name, merged), rest = summaries[0], summaries[1:]
    merged = copy.deepcopy(merged)
    merged.setdefault("conditional", {}).setdefault("scores", {})
    source = {m: first_name for m in merged["ensembles"]}
    for name, s in rest:
        _same_experiment(merged, s, name)
        scores = (s.get("conditional") or {}).get("scores", {})
        for m in s["ensembles"]:
            if m in source:
                continue
            merged["ensembles"][m] = s["ensembles"][m]
            merged["comparison"][m] = s["comparison"][m]
            if m in scores:
                merged["conditional"]["scores"][m] = scores[m]
            source[m] = name
    return merged, source


def figure(summary: dict, out: Path) -> Path:
    """Draw the G4c figure of ``isingsr correlate`` for a merged summary as ``out/g4c_sS.png``; returns it."""
    ens = summary["ensembles"]
    return correlation_figures({n: ens[n] for n in ordered(ens)}, summary["comparison"], summary["theory"], out,
                               figure_title(summary["L"], summary["scale"], summary["L_coarse"]), keys=("g4c",),
                               suffix=f"_s{summary['scale']:g}")[0]


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--out", type=Path, required=True, help="folder for table.md")
    ap.add_argument("--figure", help="copy each scale's G4c PNG here ({S}: the scale), e.g. docs/figures/g4c_s{S}.png")
    ap.add_argument("runs", nargs="+", type=Path, help="scale folders holding summary.json, e.g. results/L128/s4")
    args = ap.parse_args()
    by_scale: dict[float, list[tuple[str, dict]]] = {}
    for folder in args.runs:
        path = folder / "summary.json"
        if not path.is_file():
            raise InputError(f"{folder}: no summary.json (give scale folders such as results/L128/s4)")
        s = json.loads(path.read_text())
        by_scale.setdefault(float(s["scale"]), []).append((str(folder), s))
    args.out.mkdir(parents=True, exist_ok=True)
    rows, notes, head = [], [], None
    for scale in sorted(by_scale):
        summary, source = merge(by_scale[scale])
        head = head or header(summary)
        if header(summary) != head:
            raise InputError(f"scale {scale:g}: the runs of another scale differ in the collinear G4c; "
                             "merge them into separate tables")
        rows += table(summary)
        png = figure(summary, args.out)
        if args.figure:
            dest = Path(for_scale(args.figure, scale))
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(png, dest)
        runs = {}
        for m, name in source.items():
            runs.setdefault(name, []).append(m)
        notes.append(f"S = {scale:g}: " + "; ".join(f"{', '.join(ms)} from `{name}`" for name, ms in runs.items()))
    text = markdown(head, rows) + "\n\n" + "\n".join(notes) + "\n"
    (args.out / "table.md").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main(run)
