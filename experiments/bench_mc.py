"""Benchmark of the Wolff sampler: ns per flipped spin and independent configurations per second.

For each L and worker count, every worker runs one chain for a fixed number
of saves (~2 sweeps apart, as `isingsr generate` does). Reported:

* ns/flip      wall time per flipped spin per core (time * workers / flips)
* cfg/s        saved configurations per second (all workers)
* tau_E, tau_m integrated autocorrelation times of E and |m| in saves
* indep/s      cfg/s / (2 max(tau_E, tau_m)): effectively independent configurations per second
* speed-up     cfg/s relative to one worker

and the wall time of the full `generate --L 128 -n 10000` path (HDF5 included).

Usage:  python experiments/bench_mc.py [--sizes 32,64,128,256] [--seconds 3] [--out results/bench_mc]
(``--out`` writes the table to ``OUT/table.md`` and the generate timing to ``OUT/generate.txt``.)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from isingsr.analysis.errors import chain_autocorrelation
from isingsr.analysis.tables import markdown
from isingsr.mc.generate import generate
from isingsr.mc.wolff import WolffChains, default_workers


def bench(L: int, workers: int, seconds: float, seed: int = 0) -> dict:
    mc = WolffChains(L, chains=workers, seed=seed, workers=workers)
    therm = mc.thermalize()
    k = therm["updates_between"]
    mc.sample(5, k)  # warm-up (JIT, caches)
    t0 = time.perf_counter()
    probe = mc.sample(20, k)
    per_save = (time.perf_counter() - t0) / 20
    n = max(400, int(seconds / per_save))
    t0 = time.perf_counter()
    res = mc.sample(n, k)
    dt = time.perf_counter() - t0
    del probe
    chain = np.repeat(np.arange(workers), n)
    taus = chain_autocorrelation(res.energy.ravel(), res.magnetization.ravel(), chain)
    cfg_s = workers * n / dt
    tau = max(taus["tau_int_E"], taus["tau_int_absm"])
    return {"L": L, "workers": workers, "ns_per_flip": dt * workers / res.flipped * 1e9, "cfg_s": cfg_s,
            "tau_E": taus["tau_int_E"], "tau_m": taus["tau_int_absm"], "indep_s": cfg_s / (2 * tau),
            "updates_between": k}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="32,64,128,256")
    ap.add_argument("--seconds", type=float, default=3.0, help="timed run per row")
    ap.add_argument("--no-generate", action="store_true", help="skip the end-to-end generate timing")
    ap.add_argument("--out", type=Path, default=None, help="folder for table.md and generate.txt")
    args = ap.parse_args()
    all_w = default_workers()
    rows = []
    for L in [int(s) for s in args.sizes.split(",")]:
        base = None
        for w in sorted({1, all_w}):
            r = bench(L, w, args.seconds)
            base = base or r["cfg_s"]
            rows.append([L, w, f"{r['ns_per_flip']:.1f}", f"{r['cfg_s']:.0f}", f"{r['tau_E']:.2f}", f"{r['tau_m']:.2f}",
                         f"{r['indep_s']:.0f}", f"{r['cfg_s'] / base:.2f}"])
            print(" ".join(str(c) for c in rows[-1]), flush=True)
    table = markdown(["L", "workers", "ns/flip (per core)", "cfg/s", "tau_int E (saves)", "tau_int abs m (saves)",
                      "indep cfg/s", "speed-up"], rows)
    print(table)
    line = ""
    if not args.no_generate:
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            a = generate(Path(d) / "L128.h5", 128, 10000, workers=all_w)
            dt = time.perf_counter() - t0
        line = f"generate --L 128 -n 10000 ({a['chains']} chains, {all_w} workers, HDF5 included): {dt:.1f} s"
        print("\n" + line)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "table.md").write_text(table + "\n")
        if line:
            (args.out / "generate.txt").write_text(line + "\n")


if __name__ == "__main__":
    main()
