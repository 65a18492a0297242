"""Exact results for the periodic square-lattice Ising model, for validation.

Two independent routes, neither of which shares code with the sampler:

* :func:`enumerate_exact` sums over all 2^(L^2) states (L <= 4; L = 5 takes
  a few seconds), giving every moment and the joint (E, M) distribution;
* :func:`kaufman_energy` evaluates Kaufman's closed-form finite-lattice
  partition function in arbitrary precision (mpmath) and differentiates it
  for the energy and specific heat per site at any L.

References
----------
B. Kaufman, "Crystal statistics. II. Partition function evaluated by spinor
analysis", Phys. Rev. 76, 1232 (1949).
A. E. Ferdinand and M. E. Fisher, Phys. Rev. 185, 832 (1969).
P. D. Beale, "Exact distribution of energies in the two-dimensional Ising
model", Phys. Rev. Lett. 76, 78 (1996).
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath as mp
import numpy as np

from ..constants import BETA_C
from ..exceptions import InputError

__all__ = ["ExactEnsemble", "enumerate_exact", "kaufman_log_z", "kaufman_energy"]


@dataclass(frozen=True)
class ExactEnsemble:
    """Exact Boltzmann distribution over the (E, M) classes of a small torus.

    Attributes
    ----------
    L : int
    beta : float
    energy, magnetization : ndarray, shape (K,)
        Distinct (total energy, total magnetisation) pairs, integers.
    prob : ndarray, shape (K,)
        Their Boltzmann probabilities (sum to 1).
    """

    L: int
    beta: float
    energy: np.ndarray
    magnetization: np.ndarray
    prob: np.ndarray

    def mean(self, f) -> float:
        """<f(E/N, M/N)> with per-site arguments."""
        n = self.L * self.L
        return float(np.sum(self.prob * f(self.energy / n, self.magnetization / n)))

    def observables(self) -> dict[str, float]:
        """Energy per site, |m|, m^2, m^4, chi = N<m^2>, Binder U4, specific heat."""
        n = self.L * self.L
        u = self.mean(lambda e, m: e)
        u2 = self.mean(lambda e, m: e * e)
        m2 = self.mean(lambda e, m: m * m)
        m4 = self.mean(lambda e, m: m**4)
        return {
            "energy": u,
            "abs_m": self.mean(lambda e, m: np.abs(m)),
            "m2": m2,
            "m4": m4,
            "chi": n * m2,
            "binder": 1.0 - m4 / (3.0 * m2 * m2),
            "specific_heat": self.beta**2 * n * (u2 - u * u),
        }


def enumerate_exact(L: int, beta: float = BETA_C) -> ExactEnsemble:
    """Enumerate all 2^(L^2) configurations of the L x L torus.

    Parameters
    ----------
    L : int
        Linear size, 2 <= L <= 5.
    beta : float
        Inverse temperature (J = 1).

    Returns
    -------
    ExactEnsemble

    Examples
    --------
    >>> round(enumerate_exact(4).observables()["binder"], 9)
    0.617199318
    """
    if not 2 <= L <= 5:
        raise InputError(f"exact enumeration is for 2 <= L <= 5, got {L}")
    n = L * L
    idx = np.arange(n).reshape(L, L)
    right, down = np.roll(idx, -1, 1).ravel(), np.roll(idx, -1, 0).ravel()
    e_counts: dict[tuple[int, int], int] = {}
    block = 1 << min(n, 20)
    for start in range(0, 1 << n, block):
        states = np.arange(start, start + block, dtype=np.int64)
        s = (((states[:, None] >> np.arange(n)) & 1) * 2 - 1).astype(np.int8)
        e = -np.sum(s * (s[:, right] + s[:, down]), axis=1, dtype=np.int64)
        m = np.sum(s, axis=1, dtype=np.int64)
        keys, counts = np.unique(np.stack([e, m], 1), axis=0, return_counts=True)
        for (ek, mk), ck in zip(keys.tolist(), counts.tolist()):
            e_counts[(ek, mk)] = e_counts.get((ek, mk), 0) + ck
    pairs = np.array(sorted(e_counts), dtype=np.int64)
    g = np.array([e_counts[tuple(p)] for p in pairs.tolist()], dtype=np.float64)
    logw = np.log(g) - beta * pairs[:, 0]
    w = np.exp(logw - logw.max())
    return ExactEnsemble(L, float(beta), pairs[:, 0], pairs[:, 1], w / w.sum())


def kaufman_log_z(L: int, K) -> mp.mpf:
    """ln Z of the L x L torus at coupling K = beta J (Kaufman 1949), in mpmath precision.

    Z = 1/2 (2 sinh 2K)^{N/2} (Z1 + Z2 + Z3 + Z4) with
    Z1,2 = prod_{k<L} 2 cosh, sinh (L g_{2k+1} / 2), Z3,4 = prod_{k<L} 2 cosh, sinh (L g_{2k} / 2),
    cosh g_l = cosh 2K coth 2K - cos(pi l / L) (l >= 1), g_0 = 2K + ln tanh K (with its sign).
    """
    K = mp.mpf(K)
    N = L * L

    def g(l):
        if l == 0:
            return 2 * K + mp.log(mp.tanh(K))
        return mp.acosh(mp.cosh(2 * K) / mp.tanh(2 * K) - mp.cos(mp.pi * l / L))

    odd = [g(2 * k + 1) for k in range(L)]
    even = [g(2 * k) for k in range(L)]
    z1 = mp.fprod(2 * mp.cosh(L * x / 2) for x in odd)
    z2 = mp.fprod(2 * mp.sinh(L * x / 2) for x in odd)
    z3 = mp.fprod(2 * mp.cosh(L * x / 2) for x in even)
    z4 = mp.fprod(2 * mp.sinh(L * x / 2) for x in even)
    return mp.log(mp.mpf(1) / 2) + (mp.mpf(N) / 2) * mp.log(2 * mp.sinh(2 * K)) + mp.log(z1 + z2 + z3 + z4)


def kaufman_energy(L: int, beta: float = BETA_C, dps: int = 50) -> tuple[float, float]:
    """Exact energy and specific heat per site of the L x L torus.

    Parameters
    ----------
    L : int
        Linear size (>= 2).
    beta : float
        Inverse temperature (J = 1).
    dps : int
        Decimal digits of working precision.

    Returns
    -------
    u, c : float
        u = -(1/N) d ln Z / dK and c = (K^2 / N) d^2 ln Z / dK^2.

    Examples
    --------
    >>> u, c = kaufman_energy(128)
    >>> round(u, 9), round(c, 8)
    (-1.419076272, 2.53633134)
    """
    if L < 2:
        raise InputError(f"L must be >= 2, got {L}")
    with mp.workdps(dps):
        K = mp.mpf(beta) if beta != BETA_C else mp.log(1 + mp.sqrt(2)) / 2
        d1 = mp.diff(lambda k: kaufman_log_z(L, k), K, 1)
        d2 = mp.diff(lambda k: kaufman_log_z(L, k), K, 2)
        N = L * L
        return float(-d1 / N), float(K * K * d2 / N)
