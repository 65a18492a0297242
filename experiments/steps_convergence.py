"""How SKILD's and SR3's answers move with the number of reverse steps.

Reads the ``summary.json`` files that ``experiments/compare_methods.py``
wrote for the same truth, inputs and seeds at several ``--steps`` (one
results folder per step count, each with ``s2/``, ``s4/``, ``s8/``) and prints,
per scale and method, the G4c residual at r = 1 with its paired z-score, the
largest |G4c residual|, the full-covariance p-value and the energy z-score.
A sampler that converges moves monotonically towards its network's own
answer; a residual that changes sign between step counts was a cancellation
of discretisation and network bias, not accuracy.

Usage (seconds; the folders from the README's compare_methods commands):
  python experiments/steps_convergence.py results/methods results/methods_steps100 results/methods_steps200
"""

from __future__ import annotations

import json
from pathlib import Path

from isingsr.exceptions import InputError

from _script import main, parser
from isingsr.analysis.tables import pval


def rows(folders: list[Path], scales: list[str], methods: list[str]) -> list[str]:
    """Markdown rows ``| S | method | steps | r = 1 residual (z) | max abs dG4c | G4c p | dE (z) |``."""
    out = []
    for s in scales:
        for m in methods:
            for folder in folders:
                path = folder / f"s{s}" / "summary.json"
                if not path.exists():
                    raise InputError(f"{path} does not exist (run experiments/compare_methods.py --out {folder})")
                try:
                    summary = json.loads(path.read_text())
                    c = summary["comparison"].get(m)
                    if c is None:
                        continue
                    steps = summary["ensembles"][m].get("provenance", {}).get("steps")
                    out.append(f"| {s} | {m} | {steps} | {c['g4c_residual'][0]:+.4f} ({c['g4c_z'][0]:+.1f}) | "
                               f"{c['g4c_max_abs_dev']:.4f} | {pval(c['g4c_p_value'])} | "
                               f"{c['scalars']['energy']['z']:+.1f} |")
                except (ValueError, KeyError, TypeError, IndexError) as exc:
                    raise InputError(f"{path} is not a summary.json of isingsr correlate ({exc!r})") from None
    return out


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("folders", nargs="+", type=Path, help="compare_methods output folders, one per step count")
    ap.add_argument("--scales", default="2,4,8")
    ap.add_argument("--methods", default="skild,sr3")
    args = ap.parse_args()
    body = rows(args.folders, args.scales.split(","), args.methods.split(","))
    print("| S | method | steps | G4c residual r = 1 (z) | max abs dG4c | G4c p | dE (z) |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(body))


if __name__ == "__main__":
    main(run)
