"""Monte Carlo against exact results at L = 128: what ``docs/validation.md`` shows.

1. ``isingsr generate --L 128 -n 10000 --out DATA`` (skipped when DATA exists) and
   ``isingsr info DATA`` -> ``OUT/info_L128.txt``;
2. the truth's connected square four-point function G4c(r), r = 1..32, with
   jackknife errors, beside the Monte Carlo values of the SKILD paper's figure
   and the naive 4x block fill (``isingsr correlate --scale 4 --methods naive``)
   -> ``OUT/g4c_L128.md`` and ``OUT/L128_s4/``.

Usage (about 30 s on 2 cores):
  python experiments/validation.py --data data/L128.h5 --out results/validation
"""

from __future__ import annotations

import time
from pathlib import Path

from isingsr.analysis.tables import markdown
from isingsr.correlate import correlate
from isingsr.info import ensemble_summary, fmt_err, summary_text
from isingsr.mc.generate import generate

from _script import main, parser

#: Square-corner G4c of Monte Carlo configurations at L = 128 read off the SKILD paper's figure
#: (two significant digits where the figure allows no more).
PUBLISHED = {1: "-0.820", 2: "-0.591", 4: "-0.428", 8: "-0.317", 16: "~-0.24", 32: "~-0.20"}


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--data", type=Path, default=Path("data/L128.h5"))
    ap.add_argument("--out", type=Path, default=Path("results/validation"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if not args.data.exists():
        generate(args.data, 128, 10000, seed=0)
        print(f"generated {args.data}: {time.perf_counter() - t0:.1f} s")
    text = summary_text(ensemble_summary(args.data), args.data.as_posix())
    (args.out / "info_L128.txt").write_text(text + "\n")
    print(text)
    s = correlate(4, truth=args.data, out=args.out / "L128_s4", methods=["naive"], r=sorted(PUBLISHED))
    t, nv = s["ensembles"]["truth"], s["ensembles"]["naive"]
    rows = [[r, fmt_err(t["g4c"][i], t["g4c_err"][i]), PUBLISHED[r], fmt_err(nv["g4c"][i], nv["g4c_err"][i])]
            for i, r in enumerate(t["r"])]
    table = markdown(["r", f"truth G4c ({t['n']:,} configurations)", "published MC", "naive 4x block fill"], rows)
    (args.out / "g4c_L128.md").write_text(table + "\n")
    print(table)
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main(run)
