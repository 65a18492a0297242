"""Scalar observables of spin ensembles with jackknife errors.

Conventions (``shared/reference/exact_ising.md``): H = -J sum_<ij> s_i s_j
with J = 1 on the L x L torus, N = L^2; energy per site u = H / N;
m = (1/N) sum_i s_i; susceptibility chi = N <m^2> (no factor beta, and no
<|m|>^2 subtraction: the finite-volume convention of Salas & Sokal 2000, in
which chi / L^{7/4} -> 1.09195 at beta_c); Binder cumulant
U4 = 1 - <m^4> / (3 <m^2>^2); specific heat c = beta^2 N (<u^2> - <u>^2).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .errors import DEFAULT_BLOCKS, jackknife

__all__ = ["energy_magnetization", "scalar_observables", "scalar_terms", "SCALAR_KEYS"]

#: Keys of :func:`scalar_observables` (each also has ``<key>_err``).
SCALAR_KEYS = ("energy", "abs_m", "m2", "chi", "binder")


@nb.njit(cache=True, nogil=True)
def _energy_magnetization(spins, e_out, m_out):  # pragma: no cover - numba
    n_conf, L, _ = spins.shape
    inv_n = 1.0 / (L * L)
    for c in range(n_conf):
        e = 0
        m = 0
        for y in range(L):
            yd = y + 1 if y + 1 < L else 0
            for x in range(L):
                xr = x + 1 if x + 1 < L else 0
                s = spins[c, y, x]
                m += s
                e -= s * (spins[c, y, xr] + spins[c, yd, x])
        e_out[c] = e * inv_n
        m_out[c] = m * inv_n


def energy_magnetization(spins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Energy and magnetisation per site of each configuration.

    Parameters
    ----------
    spins : ndarray, shape (N, L, L) or (L, L), int8 +-1
        Configurations on a periodic lattice.

    Returns
    -------
    energy, magnetization : ndarray, shape (N,), float64
        u = -(1/L^2) sum_<ij> s_i s_j and m = (1/L^2) sum_i s_i.

    Examples
    --------
    >>> e, m = energy_magnetization(np.ones((1, 4, 4), dtype=np.int8))
    >>> float(e[0]), float(m[0])
    (-2.0, 1.0)
    """
    s = np.asarray(spins)
    if s.ndim == 2:
        s = s[None]
    s = np.ascontiguousarray(s, dtype=np.int8)
    e = np.empty(s.shape[0])
    m = np.empty(s.shape[0])
    _energy_magnetization(s, e, m)
    return e, m


def scalar_observables(
    energy: np.ndarray,
    magnetization: np.ndarray,
    L: int,
    beta: float | None = None,
    n_blocks: int = DEFAULT_BLOCKS,
) -> dict[str, float]:
    """Energy, |m|, <m^2>, chi, Binder U4 (and c if beta is given) with errors.

    Parameters
    ----------
    energy, magnetization : ndarray, shape (N,)
        Per-configuration energy and magnetisation per site, in Monte Carlo
        time order within each chain (see ``Ensemble.time_order``).
    L : int
        Linear lattice size.
    beta : float, optional
        Inverse temperature; adds the specific heat.
    n_blocks : int
        Jackknife blocks.

    Returns
    -------
    dict
        ``energy, abs_m, m2, chi, binder`` (and ``specific_heat``), each with
        ``<key>_err`` (jackknife standard error), plus ``n``.
    """
    out: dict[str, float] = {"n": int(len(energy))}
    for key, (est, samples) in scalar_terms(energy, magnetization, L, beta).items():
        v, err = jackknife(est, *samples, n_blocks=n_blocks)
        out[key], out[key + "_err"] = float(v), float(err)
    return out


def scalar_terms(energy: np.ndarray, magnetization: np.ndarray, L: int, beta: float | None = None) -> dict:
    """Each scalar observable as an estimator of means of per-configuration samples.

    The one definition of every scalar, used by :func:`scalar_observables`
    and by paired comparisons (``isingsr.analysis.compare``).

    Parameters
    ----------
    energy, magnetization : ndarray, shape (N,)
        Per-configuration energy and magnetisation per site.
    L : int
        Linear lattice size.
    beta : float, optional
        Inverse temperature; adds the specific heat.

    Returns
    -------
    dict
        ``{key: (estimator, samples)}`` in the order of ``SCALAR_KEYS``
        (then ``specific_heat``): ``estimator(*means)`` is the observable,
        ``samples`` the per-configuration arrays whose means it takes.
    """
    e = np.asarray(energy, dtype=np.float64)
    m = np.asarray(magnetization, dtype=np.float64)
    N = float(L * L)
    am, m2 = np.abs(m), m * m
    m4 = m2 * m2
    terms = {
        "energy": (_identity, (e,)),
        "abs_m": (_identity, (am,)),
        "m2": (_identity, (m2,)),
        "chi": (lambda x: N * x, (m2,)),
        "binder": (lambda a, b: 1.0 - b / (3.0 * a * a), (m2, m4)),
    }
    if beta is not None:
        terms["specific_heat"] = (lambda a, b: beta * beta * N * (b - a * a), (e, e * e))
    return terms


def _identity(x):
    return x
