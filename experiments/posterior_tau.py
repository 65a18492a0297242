"""Autocorrelation of the constrained posterior chain (isingsr.mc.constrained), to set its defaults.

For each block size b, the 20 critical configurations
``sample_configurations(L, 20, seed=1)`` are coarse-grained by
``block_spin(., b, seed=1)`` and one constrained chain per coarse input runs
``--burn`` sweeps from the block-filled start and ``--sweeps`` recorded ones.
Printed per b: tau_int (in sweeps) of the energy and of the fine
magnetisation, pooled over the 20 chains with per-chain centring, and the
relaxation from the start: the chain-averaged energy per site after t sweeps
minus its equilibrium value, in units of that difference's standard error.

Usage:  python experiments/posterior_tau.py [--L 32] [--blocks 2,4,8] [--sweeps 20000] [--burn 2000] [--workers 1]
(about 15 s on one core with the defaults; the numbers are quoted in isingsr/mc/constrained.py).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from isingsr.analysis.errors import integrated_autocorrelation_time
from isingsr.coarse import block_spin
from isingsr.mc import sample_configurations
from isingsr.mc.constrained import DEFAULT_SWEEPS_BETWEEN, DEFAULT_THERM_SWEEPS, posterior_trace


def measure(coarse: np.ndarray, b: int, burn: int, sweeps: int, seed: int, workers: int | None) -> dict:
    """tau_int of E and m (as :func:`isingsr.mc.constrained.posterior_autocorrelation` computes them, from one
    trace) and the relaxation of the chain-averaged energy from the block-filled start."""
    trace = posterior_trace(coarse, b, sweeps=burn + sweeps, seed=seed, workers=workers)
    out = {}
    for k, name in ((0, "E"), (1, "m")):
        x = trace[:, burn:, k]
        out[name] = integrated_autocorrelation_time(x - x.mean(axis=1, keepdims=True))
    e = trace[:, :, 0]
    eq = e[:, burn:].mean(axis=1)  # each chain's equilibrium mean
    dev = (e[:, :burn] - eq[:, None]).mean(axis=0)  # deviation after t sweeps, averaged over chains
    se = e[:, burn:].std(axis=1).mean() / np.sqrt(e.shape[0])  # its standard error (single sweeps, all chains)
    out["relax"] = dev / se
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", type=int, default=32)
    ap.add_argument("--blocks", default="2,4,8")
    ap.add_argument("--sweeps", type=int, default=20_000)
    ap.add_argument("--burn", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    fine = sample_configurations(args.L, 20, seed=1)
    print(f"L = {args.L}, beta_c, 20 coarse inputs, {args.sweeps} sweeps after {args.burn} burn-in per chain")
    print(f"defaults: therm_sweeps = {DEFAULT_THERM_SWEEPS}, sweeps_between = {DEFAULT_SWEEPS_BETWEEN}")
    worst = 0.0
    for b in (int(x) for x in args.blocks.split(",")):
        t0 = time.perf_counter()
        r = measure(block_spin(fine, b, seed=1), b, args.burn, args.sweeps, args.seed, args.workers)
        dt = time.perf_counter() - t0
        (tau_e, err_e, w_e), (tau_m, err_m, w_m) = r["E"], r["m"]
        worst = max(worst, tau_e, tau_m)
        print(f"b = {b}:  tau_int(E) = {tau_e:.2f} +- {err_e:.2f} (window {w_e})   "
              f"tau_int(m) = {tau_m:.2f} +- {err_m:.2f} (window {w_m})   [{dt:.1f} s]")
        marks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200) if t <= len(r["relax"])]
        print("    <E(t)> - <E>_eq in standard errors, t sweeps from block_fill:  "
              + "  ".join(f"t={t}: {r['relax'][t - 1]:+.1f}" for t in marks))
    print(f"worst tau_int (E or m) = {worst:.2f}:  2 tau = {2 * worst:.1f} sweeps, 20 tau = {20 * worst:.0f} sweeps")


if __name__ == "__main__":
    main()
