"""Wolff single-cluster Monte Carlo for the periodic square-lattice Ising model.

Python (:class:`WolffChains`) validates input, seeds and schedules work;
private ``@njit(nogil=True)`` kernels mutate preallocated arrays. Each chain
owns its spins and an inline xoshiro256** generator, so a chain's trajectory
depends only on the seed and the chain index -- never on how many worker
threads run the chains -- and the whole state can be saved and resumed.

Measurement spacing is a *fixed number of cluster updates* between saved
configurations, chosen once after thermalisation from the measured mean
cluster size. Saving "after at least N flipped spins" instead makes the saved
state depend on the size of the last cluster and biases every observable
(``shared/SPEC.md`` §1).

References
----------
U. Wolff, "Collective Monte Carlo updating for spin systems",
Phys. Rev. Lett. 62, 361 (1989).
D. Blackman and S. Vigna, "Scrambled linear pseudorandom number generators",
ACM Trans. Math. Softw. 47, 36 (2021) (xoshiro256**).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba as nb
import numpy as np

from ..constants import BETA_C
from ..exceptions import InputError

__all__ = ["WolffChains", "RunResult", "bond_threshold", "neighbour_table", "default_workers", "default_chains",
           "seed_chains"]

_U64 = np.uint64
_MASK_SHIFT = _U64(11)  # compare the top 53 bits of a 64-bit draw with the threshold


# --------------------------------------------------------------------------- kernels
@nb.njit(inline="always")
def _rotl(x, k):  # pragma: no cover - numba
    return (x << k) | (x >> (_U64(64) - k))


@nb.njit(inline="always")
def _xoshiro(s0, s1, s2, s3):  # pragma: no cover - numba
    """One xoshiro256** step: returns (output, new state)."""
    result = _rotl(s1 * _U64(5), _U64(7)) * _U64(9)
    t = s1 << _U64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, _U64(45))
    return result, s0, s1, s2, s3


@nb.njit(cache=True, nogil=True)
def _run_chain(spins, nbr, thresh, rng, n_updates, min_flips, stack, out, out_e, out_m, every, sizes):
    """Advance one chain by Wolff cluster updates.

    Runs ``n_updates`` updates (or, if ``min_flips > 0``, until at least that
    many spins have flipped -- used only during thermalisation). When
    ``every > 0`` the configuration after every ``every``-th update is copied
    to ``out[k]`` with its energy and magnetisation per site. ``sizes`` (if
    non-empty) receives the size of each cluster. Returns (updates done,
    spins flipped); ``spins`` and ``rng`` are updated in place.
    """
    n_sites = spins.shape[0]
    nn = _U64(n_sites)
    s0, s1, s2, s3 = rng[0], rng[1], rng[2], rng[3]
    flipped = 0
    done = 0
    saved = 0
    n_sizes = sizes.shape[0]
    while True:
        if min_flips > 0:
            if flipped >= min_flips or done >= n_updates:
                break
        elif done >= n_updates:
            break
        r, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
        seed = np.int64(((r >> _U64(32)) * nn) >> _U64(32))
        old = spins[seed]
        spins[seed] = -old
        stack[0] = seed
        top = 1
        size = 1
        while top > 0:
            top -= 1
            i = stack[top]
            for d in range(4):
                j = nbr[i, d]
                if spins[j] == old:
                    r, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                    if (r >> _MASK_SHIFT) < thresh:
                        spins[j] = -old
                        stack[top] = j
                        top += 1
                        size += 1
        if done < n_sizes:
            sizes[done] = size
        flipped += size
        done += 1
        if every > 0 and done % every == 0:
            e = 0
            m = 0
            for i in range(n_sites):
                si = spins[i]
                out[saved, i] = si
                m += si
                e -= np.int64(si) * (spins[nbr[i, 0]] + spins[nbr[i, 1]])
            out_e[saved] = e / n_sites
            out_m[saved] = m / n_sites
            saved += 1
    rng[0], rng[1], rng[2], rng[3] = s0, s1, s2, s3
    return done, flipped


# --------------------------------------------------------------------------- helpers
def neighbour_table(L: int) -> np.ndarray:
    """Periodic neighbours of each site of an L x L lattice, row-major index.

    Returns
    -------
    ndarray, shape (L*L, 4), int32
        Columns: +x, +y, -x, -y neighbours.
    """
    idx = np.arange(L * L).reshape(L, L)
    cols = [np.roll(idx, -1, axis=1), np.roll(idx, -1, axis=0), np.roll(idx, 1, axis=1), np.roll(idx, 1, axis=0)]
    return np.stack([c.ravel() for c in cols], axis=1).astype(np.int32)


def bond_threshold(beta: float, J: float = 1.0) -> np.uint64:
    """Integer threshold t such that P(draw >> 11 < t) = 1 - exp(-2 beta J) to 2^-53."""
    p = -math.expm1(-2.0 * beta * J)
    return _U64(min(int(p * 2.0**53), 2**53))


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def default_chains(n: int) -> int:
    """Chains used when not given: about 100 samples per chain, 1 to 32 chains.

    Independent of the number of workers, so that results are too.
    """
    return int(min(32, max(1, n // 100)))


def seed_chains(seed: int, chains: int, L: int) -> tuple[np.ndarray, np.ndarray]:
    """Independent generator states and random initial spins, one per chain.

    Uses numpy's SeedSequence spawning, so chain c depends only on (seed, c).

    Returns
    -------
    states : ndarray, shape (chains, 4), uint64
        xoshiro256** states.
    spins : ndarray, shape (chains, L*L), int8
        Infinite-temperature initial configurations.
    """
    children = np.random.SeedSequence(seed).spawn(chains)
    states = np.stack([c.generate_state(4, dtype=np.uint64) for c in children])
    states[np.all(states == 0, axis=1), 0] = 1  # the all-zero state is forbidden
    spins = np.stack([
        np.random.default_rng(c.spawn(1)[0]).integers(0, 2, size=L * L, dtype=np.int8) * 2 - 1
        for c in children
    ]).astype(np.int8)
    return states, spins


@dataclass
class RunResult:
    """Configurations saved by :meth:`WolffChains.sample` (chain-major).

    Attributes
    ----------
    spins : ndarray, shape (C, k, L, L), int8
    energy, magnetization : ndarray, shape (C, k), float64 (per site)
    update : ndarray, shape (C, k), int64
        Cluster-update count of the chain when each configuration was saved.
    flipped : int
        Spins flipped in total (for throughput figures).
    """

    spins: np.ndarray
    energy: np.ndarray
    magnetization: np.ndarray
    update: np.ndarray
    flipped: int


class WolffChains:
    """Independent Wolff chains on the L x L torus, H = -J sum_<ij> s_i s_j.

    Parameters
    ----------
    L : int
        Linear size (>= 4).
    beta : float
        Inverse temperature (> 0); default beta_c = ln(1 + sqrt 2)/2.
    chains : int
        Number of independent chains (>= 1).
    seed : int
        Master seed; chain c uses the c-th spawned SeedSequence stream.
    workers : int, optional
        Threads running chains in parallel (default: all cores). Results do
        not depend on it.
    J : float
        Coupling (> 0, ferromagnetic).

    Notes
    -----
    The state (``spins``, ``rng``, ``updates``) is public so that a run can be
    saved and resumed with :meth:`from_state`. Chains start from independent
    random (infinite-temperature) configurations drawn from their own stream.

    Examples
    --------
    >>> ch = WolffChains(L=8, chains=2, seed=1, workers=1)
    >>> info = ch.thermalize(sweeps=20)
    >>> res = ch.sample(per_chain=3, updates_between=info["updates_between"])
    >>> res.spins.shape
    (2, 3, 8, 8)
    """

    def __init__(self, L: int, beta: float = BETA_C, chains: int = 1, seed: int = 0,
                 workers: int | None = None, J: float = 1.0):
        if int(L) != L or L < 4:
            raise InputError(f"L must be an integer >= 4, got {L}")
        if not (beta > 0 and math.isfinite(beta)):
            raise InputError(f"beta must be a positive number, got {beta}")
        if int(chains) != chains or chains < 1:
            raise InputError(f"chains must be an integer >= 1, got {chains}")
        if not (J > 0):
            raise InputError(f"J must be positive (ferromagnet), got {J}")
        if seed < 0:
            raise InputError(f"seed must be >= 0, got {seed}")
        self.L, self.beta, self.J, self.chains, self.seed = int(L), float(beta), float(J), int(chains), int(seed)
        self.workers = default_workers() if workers is None else int(workers)
        if self.workers < 1:
            raise InputError(f"workers must be >= 1, got {workers}")
        self._nbr = neighbour_table(self.L)
        self._thresh = bond_threshold(self.beta, self.J)
        self.rng, self.spins = seed_chains(self.seed, self.chains, self.L)
        self.updates = np.zeros(self.chains, dtype=np.int64)

    @classmethod
    def from_state(cls, L, beta, spins, rng, updates, seed=0, workers=None, J=1.0) -> "WolffChains":
        """Rebuild chains from saved state (see ``spins``, ``rng``, ``updates``)."""
        spins = np.asarray(spins, dtype=np.int8).reshape(len(rng), -1)
        obj = cls(L=L, beta=beta, chains=len(rng), seed=seed, workers=workers, J=J)
        obj.spins = spins.copy()
        obj.rng = np.asarray(rng, dtype=np.uint64).copy()
        obj.updates = np.asarray(updates, dtype=np.int64).copy()
        return obj

    # ------------------------------------------------------------------ running
    def _map(self, fn):
        """Run fn(c) for every chain, on ``workers`` threads (kernels release the GIL)."""
        if self.workers == 1 or self.chains == 1:
            return [fn(c) for c in range(self.chains)]
        with ThreadPoolExecutor(max_workers=min(self.workers, self.chains)) as pool:
            return list(pool.map(fn, range(self.chains)))

    def _advance(self, c, n_updates, min_flips=0, sizes=None, every=0, out=None, out_e=None, out_m=None):
        n_sites = self.L * self.L
        stack = np.empty(n_sites, dtype=np.int32)
        if sizes is None:
            sizes = np.empty(0, dtype=np.int64)
        if out is None:
            out = np.empty((0, n_sites), dtype=np.int8)
            out_e = np.empty(0)
            out_m = np.empty(0)
        done, flipped = _run_chain(self.spins[c], self._nbr, self._thresh, self.rng[c], np.int64(n_updates),
                                   np.int64(min_flips), stack, out, out_e, out_m, np.int64(every), sizes)
        self.updates[c] += done
        return done, flipped

    def thermalize(self, sweeps: float = 100.0, settle_sweeps: float = 20.0, sweeps_between: float = 2.0) -> dict:
        """Equilibrate every chain and choose the measurement spacing.

        Phase A runs each chain until ``sweeps * L^2`` spins have flipped
        (a state-dependent stop is harmless here because phase B follows).
        Phase B runs a *fixed* number of updates, ``settle_sweeps * L^2 / <C>_A``,
        and measures the mean cluster size <C> pooled over chains; from it
        ``updates_between = max(1, round(sweeps_between * L^2 / <C>))``.

        Returns
        -------
        dict
            ``updates_between``, ``mean_cluster_size`` (phase B), its standard
            error, ``thermalization_updates`` (per chain, both phases).
        """
        if sweeps < 0 or settle_sweeps <= 0 or sweeps_between <= 0:
            raise InputError("thermalisation sweeps must be >= 0 and spacing sweeps > 0")
        n_sites = self.L * self.L
        start = self.updates.copy()
        half = max(1, int(sweeps * n_sites / 2))  # flips per half of phase A (never more updates than flips)
        self._map(lambda c: self._advance(c, half, min_flips=half))
        second = self._map(lambda c: self._advance(c, half, min_flips=half))
        mean_a = sum(f for _, f in second) / max(1, sum(d for d, _ in second))
        n_b = max(10, int(math.ceil(settle_sweeps * n_sites / max(mean_a, 1.0))))
        b_sizes = [np.zeros(n_b, dtype=np.int64) for _ in range(self.chains)]
        self._map(lambda c: self._advance(c, n_b, sizes=b_sizes[c]))
        sizes = np.concatenate(b_sizes).astype(np.float64)
        mean_c = float(sizes.mean())
        between = max(1, int(round(sweeps_between * n_sites / mean_c)))
        return {
            "updates_between": between,
            "mean_cluster_size": mean_c,
            "mean_cluster_size_err": float(sizes.std(ddof=1) / math.sqrt(len(sizes))) if len(sizes) > 1 else 0.0,
            "thermalization_updates": int(np.max(self.updates - start)),
        }

    def sample(self, per_chain, updates_between: int) -> RunResult:
        """Advance the chains, saving a configuration every ``updates_between`` updates.

        Parameters
        ----------
        per_chain : int or sequence of int
            Configurations to save from each chain (one number for all, or one
            per chain).
        updates_between : int
            Fixed number of cluster updates between saved configurations.
        """
        counts = np.broadcast_to(np.asarray(per_chain, dtype=np.int64), (self.chains,))
        if np.any(counts < 0) or updates_between < 1:
            raise InputError("per_chain must be >= 0 and updates_between >= 1")
        k = int(counts.max()) if self.chains else 0
        n_sites = self.L * self.L
        spins = np.zeros((self.chains, k, n_sites), dtype=np.int8)
        energy = np.full((self.chains, k), np.nan)
        mag = np.full((self.chains, k), np.nan)
        update = np.full((self.chains, k), -1, dtype=np.int64)
        start = self.updates.copy()

        def work(c):
            n = int(counts[c])
            return self._advance(c, n * updates_between, every=updates_between,
                                 out=spins[c, :n], out_e=energy[c, :n], out_m=mag[c, :n])

        flipped = sum(f for _, f in self._map(work))
        for c in range(self.chains):
            update[c, : counts[c]] = start[c] + updates_between * np.arange(1, counts[c] + 1)
        return RunResult(spins.reshape(self.chains, k, self.L, self.L), energy, mag, update, int(flipped))
