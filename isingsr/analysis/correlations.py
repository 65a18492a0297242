"""Spin correlation functions: per-configuration estimators and their jackknife.

Every function here reduces an ensemble ``(N, L, L)`` (int8 +-1 spins, or real
fields, e.g. Gaussian test fields) on the L x L torus to *per-configuration*
translation averages, shape ``(N, n_r)``; observables are functions of their
ensemble means, with errors from :func:`isingsr.analysis.errors.jackknife`
(samples put in Monte Carlo time order with ``order``, e.g.
``Ensemble.time_order()``).

Definitions (e_x, e_y unit vectors; averages over all L^2 sites x):

* Two-point function, r = 0 .. L/2, axes averaged::

      G2(r) = < (1/(2 L^2)) sum_x s_x (s_{x + r e_x} + s_{x + r e_y}) >

  computed with FFTs (row and column autocorrelations). By Z2 symmetry
  <s> = 0, so G2 is also the connected function; no per-configuration
  magnetisation is subtracted (on a finite torus G2 does not decay to 0).
* Square corners s1 = s_x, s2 = s_{x+r e_x}, s3 = s_{x+r e_y},
  s4 = s_{x+r e_x+r e_y}, r >= 1. Per configuration: the plaquette
  ``P = (1/L^2) sum_x s1 s2 s3 s4``, the side pair
  ``S = (1/(2 L^2)) sum_x (s1 s2 + s1 s3)`` (= the G2 sample) and the diagonal
  pair ``D = (1/(2 L^2)) sum_x (s1 s4 + s2 s3)`` (both diagonals). Then::

      G4c(r) = <P> - <s1 s2><s3 s4> - <s1 s3><s2 s4> - <s1 s4><s2 s3>
             = <P> - 2 <S>^2 - <D>^2

  (two side pairs, one diagonal pair; the symmetrised form is invariant
  under the lattice symmetries D4 configuration by configuration).
* Collinear points x, x + r e, x + 2r e, x + 3r e, averaged over e = e_x, e_y:
  ``Q`` (the product) and pair samples ``C_k`` at distance k r (k = 1, 2, 3)::

      G4c_col(r) = <Q> - <C_1>^2 - <C_2>^2 - <C_3><C_1>

* Power spectrum ``S(k) = < |sum_x s_x e^{-i k.x}|^2 > / L^2``, radially
  averaged over shells of integer ``round(|n|)``, ``k = 2 pi n / L``.

Distances are reduced modulo L (periodic boundaries); the default square and
collinear sizes are r = 1 .. L/4. The four-point sums run in a numba kernel
(parallel over configurations); ±1 spins are summed exactly (float32 holds
integers below 2^24, so L < 2048 is exact), real fields in float64.

References
----------
J. L. Lebowitz, "GHS and other inequalities", Commun. Math. Phys. 35, 87 (1974)
(G4c <= 0 for the ferromagnet).
Chen et al., "Everything at Every Scale: Scale-Invariant Diffusion with
Continuous Super-Resolution" (2026), the SKILD preprint (four-point test).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numba as nb
import numpy as np
import scipy.fft as sfft
from tqdm.auto import tqdm

from ..coarse import _as_stack, block_spin
from ..exceptions import InputError
from .errors import DEFAULT_BLOCKS, jackknife

__all__ = [
    "SquareSamples",
    "CollinearSamples",
    "default_r",
    "g2_samples",
    "square_samples",
    "collinear_samples",
    "g2",
    "g4c_square",
    "g4c_square_estimator",
    "g4c_collinear",
    "g4c_collinear_estimator",
    "power_spectrum",
    "correlations_across_scales",
]

_FFT_CHUNK = 256  # configurations per FFT batch
_KERNEL_CHUNK = 1024  # configurations per numba call (progress granularity)
_WORKERS = os.cpu_count() or 1


class SquareSamples(NamedTuple):
    """Per-configuration square-corner samples, each ``(N, n_r)`` float64."""

    r: np.ndarray
    plaquette: np.ndarray
    side: np.ndarray
    diagonal: np.ndarray


class CollinearSamples(NamedTuple):
    """Per-configuration collinear samples: product Q and pairs C_1, C_2, C_3, each ``(N, n_r)``."""

    r: np.ndarray
    product: np.ndarray
    pair1: np.ndarray
    pair2: np.ndarray
    pair3: np.ndarray


def default_r(L: int) -> np.ndarray:
    """Default four-point sizes r = 1 .. max(1, L // 4), int64."""
    return np.arange(1, max(1, L // 4) + 1, dtype=np.int64)


def _prepare(spins) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(N, L, L)`` stack (not copied) and a one-element array of the working precision.

    Integer (+-1) spins are summed in float32, exact for integers below 2^24
    (L < 2048); real fields in float64.
    """
    a, _ = _as_stack(spins)
    if a.shape[0] < 1:
        raise InputError("spins: the ensemble is empty (0 configurations)")
    exact32 = np.issubdtype(a.dtype, np.integer) and a.shape[-1] < 2048
    if a.dtype.kind not in "iuf" or a.dtype.itemsize > 8:
        a = a.astype(np.float64)
    return np.ascontiguousarray(a), np.zeros(1, dtype=np.float32 if exact32 else np.float64)


def _r_values(r, L: int) -> np.ndarray:
    if r is None:
        return default_r(L)
    rr = np.atleast_1d(np.asarray(r))
    if rr.ndim != 1 or rr.dtype.kind not in "iuf" or np.any(rr != np.round(rr)):
        raise InputError(f"r must be a list of integers, got {r!r}")
    rr = rr.astype(np.int64)
    if rr.size and (rr.min() < 1 or rr.max() >= L):
        raise InputError(f"r must lie in 1 .. L - 1 = {L - 1}, got {rr.min()} .. {rr.max()}")
    return rr


@nb.njit(inline="always", cache=True)
def _tile(a, c, t):  # pragma: no cover - numba
    """Periodic copy of configuration c into t (shape (L + e, L + e))."""
    L = a.shape[1]
    for y in range(t.shape[0]):
        for x in range(t.shape[1]):
            t[y, x] = a[c, y % L, x % L]


@nb.njit(parallel=True, fastmath=True, cache=True)
def _square_kernel(a, proto, offsets, plaq, side, diag):  # pragma: no cover - numba
    n, L, _ = a.shape
    inv = 1.0 / (L * L)
    ext = offsets.max() if offsets.size else 0
    for c in nb.prange(n):
        t = np.empty((L + ext, L + ext), dtype=proto.dtype)
        _tile(a, c, t)
        zero = t[0, 0] - t[0, 0]  # accumulators in the tile's precision
        for j in range(offsets.size):
            r = offsets[j]
            ap, ah, av, ad, aa = zero, zero, zero, zero, zero
            for y in range(L):
                for x in range(L):
                    s1, s2, s3, s4 = t[y, x], t[y, x + r], t[y + r, x], t[y + r, x + r]
                    h = s1 * s2
                    ap += h * (s3 * s4)
                    ah += h
                    av += s1 * s3
                    ad += s1 * s4
                    aa += s2 * s3
            plaq[c, j] = ap * inv
            side[c, j] = (ah + av) * (0.5 * inv)
            diag[c, j] = (ad + aa) * (0.5 * inv)


@nb.njit(parallel=True, fastmath=True, cache=True)
def _collinear_kernel(a, proto, offsets, prod, p1, p2, p3):  # pragma: no cover - numba
    n, L, _ = a.shape
    inv = 0.5 / (L * L)
    for c in nb.prange(n):
        t = np.empty((2 * L, 2 * L), dtype=proto.dtype)
        _tile(a, c, t)
        zero = t[0, 0] - t[0, 0]
        for j in range(offsets.size):
            r1, r2, r3 = offsets[j] % L, (2 * offsets[j]) % L, (3 * offsets[j]) % L
            aq, a1, a2, a3 = zero, zero, zero, zero
            for y in range(L):
                for x in range(L):
                    s0 = t[y, x]
                    h1, h2, h3 = s0 * t[y, x + r1], s0 * t[y, x + r2], s0 * t[y, x + r3]
                    v1, v2, v3 = s0 * t[y + r1, x], s0 * t[y + r2, x], s0 * t[y + r3, x]
                    aq += h1 * (t[y, x + r2] * t[y, x + r3]) + v1 * (t[y + r2, x] * t[y + r3, x])
                    a1 += h1 + v1
                    a2 += h2 + v2
                    a3 += h3 + v3
            prod[c, j], p1[c, j], p2[c, j], p3[c, j] = aq * inv, a1 * inv, a2 * inv, a3 * inv


def _run_kernel(kernel, spins, r, n_out: int, progress: bool, what: str):
    a, proto = _prepare(spins)
    rr = _r_values(r, a.shape[-1])
    outs = [np.empty((a.shape[0], rr.size)) for _ in range(n_out)]
    with tqdm(total=a.shape[0], disable=not progress, unit="conf", desc=what, leave=False) as bar:
        for i in range(0, a.shape[0], _KERNEL_CHUNK):
            sl = slice(i, i + _KERNEL_CHUNK)
            kernel(a[sl], proto, rr, *[o[sl] for o in outs])
            bar.update(a[sl].shape[0])
    return rr, outs


def square_samples(spins: np.ndarray, r=None, progress: bool = False) -> SquareSamples:
    """Per-configuration plaquette, side-pair and diagonal-pair averages of r x r squares.

    Parameters
    ----------
    spins : ndarray, shape (N, L, L) or (L, L), int8 +-1 or real
        Configurations on the torus.
    r : sequence of int, optional
        Square sides, each in 1 .. L-1 (default 1 .. L/4).
    progress : bool
        Show a progress bar.

    Returns
    -------
    SquareSamples
        ``r`` (n_r,) and ``plaquette``, ``side``, ``diagonal``, each
        ``(N, n_r)`` float64 (definitions in the module docstring).
    """
    rr, outs = _run_kernel(_square_kernel, spins, r, 3, progress, "four-point (square)")
    return SquareSamples(rr, *outs)


def collinear_samples(spins: np.ndarray, r=None, progress: bool = False) -> CollinearSamples:
    """Per-configuration products and pairs of collinear points x, x+r, x+2r, x+3r.

    Parameters and returns as :func:`square_samples`, with ``product``,
    ``pair1``, ``pair2``, ``pair3`` (pairs at distances r, 2r, 3r), each
    averaged over both axes.
    """
    rr, outs = _run_kernel(_collinear_kernel, spins, r, 4, progress, "four-point (collinear)")
    return CollinearSamples(rr, *outs)


def g2_samples(spins: np.ndarray, progress: bool = False) -> np.ndarray:
    """Per-configuration two-point function at r = 0 .. L/2, by FFT.

    Row and column autocorrelations come from 1D real FFTs along each axis
    (the power summed over the other axis before the inverse transform),
    O(L^2 log L) per configuration. Integer spins give integer site sums,
    which are rounded, so the result equals the direct sum exactly.

    Parameters
    ----------
    spins : ndarray, shape (N, L, L) or (L, L), int8 +-1 or real
    progress : bool
        Show a progress bar.

    Returns
    -------
    ndarray, shape (N, L//2 + 1), float64
        ``(1/(2 L^2)) sum_x s_x (s_{x + r e_x} + s_{x + r e_y})``.

    Examples
    --------
    >>> g2_samples(np.ones((2, 4, 4), dtype=np.int8)).tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    a, _ = _prepare(spins)
    n, L, _ = a.shape
    out = np.empty((n, L // 2 + 1))
    exact = np.issubdtype(a.dtype, np.integer)
    for i in tqdm(range(0, n, _FFT_CHUNK), disable=not progress, desc="two-point (FFT)", leave=False):
        x = a[i : i + _FFT_CHUNK].astype(np.float64)
        fx = sfft.rfft(x, axis=-1, workers=_WORKERS)  # along x, for each row
        fy = sfft.rfft(x, axis=-2, workers=_WORKERS)  # along y, for each column
        px = (fx.real**2 + fx.imag**2).sum(axis=-2)
        py = (fy.real**2 + fy.imag**2).sum(axis=-1)
        sums = sfft.irfft(px + py, n=L, axis=-1)[:, : L // 2 + 1]  # sum_x s_x (s_{x+r ex} + s_{x+r ey})
        out[i : i + _FFT_CHUNK] = (np.rint(sums) if exact else sums) / (2.0 * L * L)
    return out


def _ordered(samples, order):
    return samples if order is None else [s[order] for s in samples]


def g2(spins: np.ndarray, order=None, n_blocks: int = DEFAULT_BLOCKS, progress: bool = False):
    """Two-point function G2(r), r = 0 .. L/2, with jackknife errors.

    Parameters
    ----------
    spins : ndarray, shape (N, L, L), int8 +-1 or real
    order : ndarray of int, optional
        Permutation putting configurations in Monte Carlo time order (e.g.
        ``Ensemble.time_order()``) for the blocked jackknife.
    n_blocks : int
        Jackknife blocks.
    progress : bool
        Show a progress bar.

    Returns
    -------
    r, value, err : ndarray, shape (L//2 + 1,)
    """
    (s,) = _ordered([g2_samples(spins, progress)], order)
    value, err = jackknife(lambda m: m, s, n_blocks=n_blocks)
    return np.arange(s.shape[1]), value, err


def g4c_square(spins: np.ndarray, r=None, order=None, n_blocks: int = DEFAULT_BLOCKS, progress: bool = False):
    """Connected four-point function of r x r square corners with jackknife errors.

    ``G4c(r) = <P> - 2 <S>^2 - <D>^2`` (see the module docstring).

    Parameters
    ----------
    spins : ndarray, shape (N, L, L), int8 +-1 or real
    r : sequence of int, optional
        Square sides (default 1 .. L/4).
    order, n_blocks, progress
        As :func:`g2`.

    Returns
    -------
    r, value, err : ndarray, shape (n_r,)
    """
    smp = square_samples(spins, r, progress)
    value, err = jackknife(g4c_square_estimator, *_ordered(smp[1:], order), n_blocks=n_blocks)
    return smp.r, value, err


def g4c_square_estimator(plaquette, side, diagonal):
    """``G4c = <P> - 2 <S>^2 - <D>^2`` from the means of :class:`SquareSamples` (module docstring)."""
    return plaquette - 2.0 * side * side - diagonal * diagonal


def g4c_collinear(spins: np.ndarray, r=None, order=None, n_blocks: int = DEFAULT_BLOCKS, progress: bool = False):
    """Connected four-point function of collinear points (0, r, 2r, 3r), both axes.

    ``G4c_col(r) = <Q> - <C_1>^2 - <C_2>^2 - <C_3><C_1>``. Arguments and
    returns as :func:`g4c_square`.
    """
    smp = collinear_samples(spins, r, progress)
    value, err = jackknife(g4c_collinear_estimator, *_ordered(smp[1:], order), n_blocks=n_blocks)
    return smp.r, value, err


def g4c_collinear_estimator(product, pair1, pair2, pair3):
    """``G4c_col = <Q> - <C_1>^2 - <C_2>^2 - <C_3><C_1>`` from the means of :class:`CollinearSamples`."""
    return product - pair1 * pair1 - pair2 * pair2 - pair3 * pair1


def _shells(L: int) -> tuple[np.ndarray, np.ndarray]:
    """Shell index of each rfft2 mode and its multiplicity in the full spectrum."""
    ny = np.fft.fftfreq(L, 1.0 / L)[:, None]
    nx = np.arange(L // 2 + 1)[None, :]
    shell = np.rint(np.hypot(nx, ny)).astype(np.int64)
    weight = np.full((L, L // 2 + 1), 2.0)
    weight[:, 0] = 1.0
    if L % 2 == 0:
        weight[:, -1] = 1.0  # the Nyquist column is its own mirror
    return shell, weight


def power_spectrum(spins: np.ndarray, order=None, n_blocks: int = DEFAULT_BLOCKS, progress: bool = False):
    """Radially averaged power spectrum S(k) = <|FFT(s)(k)|^2> / L^2.

    Modes ``k = 2 pi (n_x, n_y) / L`` (n in -L/2 .. L/2) are grouped into
    shells of equal ``round(|n|)``; each configuration's shell mean is a
    sample for the jackknife. ``S(0) = L^2 <m^2>``, and for +-1 spins the
    mean of S over all L^2 modes is 1 (Parseval).

    Parameters
    ----------
    spins : ndarray, shape (N, L, L), int8 +-1 or real
    order, n_blocks, progress
        As :func:`g2`.

    Returns
    -------
    k, S, S_err : ndarray, shape (n_shells,)
        Mean |k| of the modes in each shell (radians per lattice spacing),
        the shell-averaged spectrum and its jackknife error.
    """
    a, _ = _prepare(spins)
    n, L, _ = a.shape
    shell, weight = _shells(L)
    n_sh = int(shell.max()) + 1
    onehot = np.zeros((shell.size, n_sh))
    onehot[np.arange(shell.size), shell.ravel()] = weight.ravel()
    count = onehot.sum(axis=0)
    kmag = 2 * np.pi / L * np.hypot(np.arange(L // 2 + 1)[None, :], np.fft.fftfreq(L, 1.0 / L)[:, None])
    k = (kmag.ravel() @ onehot) / count
    samples = np.empty((n, n_sh))
    for i in tqdm(range(0, n, _FFT_CHUNK), disable=not progress, desc="power spectrum", leave=False):
        F = sfft.rfft2(a[i : i + _FFT_CHUNK].astype(np.float64), workers=_WORKERS)
        power = (F.real**2 + F.imag**2).reshape(F.shape[0], -1) / (L * L)
        samples[i : i + _FFT_CHUNK] = (power @ onehot) / count
    (samples,) = _ordered([samples], order)
    S, S_err = jackknife(lambda m: m, samples, n_blocks=n_blocks)
    return k, S, S_err


def correlations_across_scales(
    spins: np.ndarray,
    scales=(1, 2, 4, 8),
    r=None,
    order=None,
    n_blocks: int = DEFAULT_BLOCKS,
    seed=0,
    progress: bool = False,
) -> dict[int, dict]:
    """G2 and square G4c of an ensemble and of its majority-rule block spins.

    Parameters
    ----------
    spins : ndarray, shape (N, L, L), int8 +-1
    scales : sequence of int
        Block factors b (each dividing L); b = 1 is the ensemble itself.
    r : sequence of int, optional
        Square sides in units of the *coarse* lattice, the same at every b
        (default 1 .. (L/b)/4 at each b).
    order, n_blocks, progress
        As :func:`g2` (block-spin configuration i comes from configuration i).
    seed : int
        Seed of the majority rule's tie-breaking (the same seed at each b).

    Returns
    -------
    dict
        ``{b: {"L", "r2", "g2", "g2_err", "r", "g4c", "g4c_err"}}`` with
        ``L = L/b``, ``r2`` = 0 .. L/(2b) the G2 distances and ``r`` the
        square sides, all in coarse lattice units.
    """
    out: dict[int, dict] = {}
    for b in tqdm(list(scales), disable=not progress, desc="scales", leave=False):
        cg = block_spin(spins, b, rule="majority", seed=seed)
        r2, v2, e2 = g2(cg, order, n_blocks)
        r4, v4, e4 = g4c_square(cg, r, order, n_blocks)
        out[int(b)] = {"L": int(cg.shape[-1]), "r2": r2, "g2": v2, "g2_err": e2, "r": r4, "g4c": v4, "g4c_err": e4}
    return out
