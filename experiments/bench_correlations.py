"""Wall time of G2 + square G4c (r = 1..32) with jackknife errors.

Usage::

    python experiments/bench_correlations.py            # 10,000 configurations of 128 x 128
    python experiments/bench_correlations.py --n 1000 --L 64

Configurations are independent random +-1 spins from numpy (a timing
benchmark needs no critical data). The first, untimed call on a few
configurations compiles (or loads from cache) the numba kernels.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from isingsr.analysis.correlations import g2, g4c_square


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000, help="configurations (default 10000)")
    p.add_argument("--L", type=int, default=128, help="linear size (default 128)")
    p.add_argument("--rmax", type=int, default=32, help="largest square side (default 32)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    spins = (2 * rng.integers(0, 2, size=(a.n, a.L, a.L), dtype=np.int8) - 1).astype(np.int8)
    r = np.arange(1, min(a.rmax, a.L - 1) + 1)
    g2(spins[:4], n_blocks=2), g4c_square(spins[:4], r, n_blocks=2)  # warm-up: numba compilation / cache load
    t0 = time.perf_counter()
    _, v2, e2 = g2(spins)
    t1 = time.perf_counter()
    _, v4, e4 = g4c_square(spins, r)
    t2 = time.perf_counter()
    print(f"N = {a.n}, L = {a.L}, r = 1..{r[-1]}, cores = {os.cpu_count()}")
    print(f"G2  (FFT, r = 0..{a.L // 2}) + jackknife: {t1 - t0:7.2f} s")
    print(f"G4c (square, {r.size} sizes) + jackknife: {t2 - t1:7.2f} s")
    print(f"total                               : {t2 - t0:7.2f} s")
    print(f"check (random spins): G2(1) = {v2[1]:+.5f} +- {e2[1]:.5f}, G4c(1) = {v4[0]:+.5f} +- {e4[0]:.5f}")


if __name__ == "__main__":
    main()
