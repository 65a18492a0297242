"""Monte Carlo ground truth: Wolff cluster sampler, exact results, the constrained posterior p(fine | coarse)."""

from __future__ import annotations

import numpy as np

from ..constants import BETA_C
from ..exceptions import InputError
from .constrained import constrained_sample, exact_posterior, posterior_autocorrelation, posterior_trace
from .wolff import WolffChains, default_chains, default_workers

__all__ = ["WolffChains", "sample_configurations", "default_workers", "constrained_sample", "exact_posterior",
           "posterior_autocorrelation", "posterior_trace"]


def sample_configurations(L: int, n: int, *, beta: float = BETA_C, seed: int = 0, chains: int | None = None,
                          workers: int | None = None, sweeps_between: float = 2.0,
                          therm_sweeps: float = 100.0) -> np.ndarray:
    """Equilibrium configurations in memory (no file): the quick path for tests and analysis.

    Parameters
    ----------
    L, n : int
        Linear size and number of configurations.
    beta : float
        Inverse temperature (default beta_c).
    seed : int
        Master seed; the result does not depend on ``workers``.
    chains : int, optional
        Independent chains (default: about 100 configurations each, at most 32); configurations are
        returned in order (save index, chain).
    workers : int, optional
        Threads (default: all cores).
    sweeps_between : float
        Target spacing, in sweeps (L^2 flipped spins), converted once after
        thermalisation into a fixed number of cluster updates.
    therm_sweeps : float
        Thermalisation length in sweeps.

    Returns
    -------
    ndarray, shape (n, L, L), int8
    """
    if int(n) != n or n < 1:
        raise InputError(f"n must be an integer >= 1, got {n}")
    chains = default_chains(int(n)) if chains is None else chains
    mc = WolffChains(L, beta=beta, chains=chains, seed=seed, workers=workers)
    info = mc.thermalize(sweeps=therm_sweeps, sweeps_between=sweeps_between)
    counts = n // mc.chains + (np.arange(mc.chains) < n % mc.chains)
    res = mc.sample(counts, info["updates_between"])
    order = [(j, c) for j in range(int(counts.max())) for c in range(mc.chains) if j < counts[c]]
    return np.stack([res.spins[c, j] for j, c in order])
