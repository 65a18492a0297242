"""Orthonormal real spectral bases on the L x L lattice, and the data spectrum S(k).

A basis maps a real field ``x`` of shape ``(..., L, L)`` to real coefficients
``X = B x`` of the same shape, one per mode, with ``B`` orthogonal, so that
``sum x^2 = sum X^2`` (Parseval) and white noise stays white. Transforms act
on the last two axes, are batched over the leading ones, keep the dtype
(float32 or float64) and run on any device.

* ``fourier``: the 2D discrete Hartley transform
  ``H(x) = Re(F x) - Im(F x)``, ``F`` the orthonormal 2D DFT
  (``torch.fft.fft2(norm="ortho")``), i.e. ``X(k) = L^-1 sum_x x cas(k.x)``
  with ``cas = cos + sin``. It is real, orthonormal and its own inverse. On
  the torus it diagonalises every stationary covariance:
  ``E[X(k) X(k')] = P(k) delta_{kk'}``, ``P`` the structure factor
  ``E|F x(k)|^2``. Mode ``(i, j)`` has the signed integer frequencies
  ``n = fftfreq(L) * L`` and wavenumber ``|k| = 2 pi sqrt(n_i^2 + n_j^2) / L``.
* ``dct``: the orthonormal 2D DCT-II (``scipy.fft.dctn(norm="ortho")``),
  ``X = C x C^T`` with ``C[i, n] = sqrt(2 / L) c_i cos(pi (2 n + 1) i / (2 L))``,
  ``c_0 = 1 / sqrt 2``, ``c_i = 1`` otherwise; inverse ``x = C^T X C``. Mode
  ``(i, j)`` has ``|k| = pi sqrt(i^2 + j^2) / L``. It is the SKILD paper's basis
  but assumes mirror boundaries: on a torus its noise is not translation
  invariant.

* ``pixel`` (:data:`PIXEL`): the identity, for processes whose noise is
  white and the same at every scale (the SR3 baseline); it has no wavenumbers.

Wavenumbers are in radians per lattice spacing. The data spectrum
(:func:`estimate_spectrum`) is ``S(k) = E[X(k)^2]`` radially averaged over
shells of ``|k|`` and floored away from zero.

References
----------
R. N. Bracewell, "Discrete Hartley transform", J. Opt. Soc. Am. 73, 1832 (1983).
Chen et al., "Everything at Every Scale: Scale-Invariant Diffusion with
Continuous Super-Resolution" (2026), the SKILD preprint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ..exceptions import InputError

__all__ = ["BASES", "PIXEL", "Basis", "get_basis", "as_fields", "mode_power", "mode_powers", "radial_bins",
           "shell_sums",
           "shell_wavenumbers", "Spectrum", "estimate_spectrum"]

#: Names accepted by :func:`get_basis`.
BASES = ("fourier", "dct")
#: Default relative floor of :func:`estimate_spectrum`: S >= floor * (mean of S over modes).
SPECTRUM_FLOOR = 1e-4
_CHUNK = 1024  # configurations transformed at once


def _check_field(x: torch.Tensor, what: str = "x") -> torch.Tensor:
    if not torch.is_tensor(x):
        raise InputError(f"{what}: expected a torch tensor, got {type(x).__name__}")
    if x.ndim < 2 or x.shape[-1] != x.shape[-2] or x.shape[-1] < 1:
        raise InputError(f"{what}: expected shape (..., L, L), got {tuple(x.shape)}")
    if not x.dtype.is_floating_point:
        raise InputError(f"{what}: expected a real floating dtype, got {x.dtype}")
    return x


@lru_cache(maxsize=32)
def _dct_matrix(L: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``C[i, n]``, built in float64 and cached per (L, dtype, device)."""
    i = torch.arange(L, dtype=torch.float64)[:, None]
    n = torch.arange(L, dtype=torch.float64)[None, :]
    C = math.sqrt(2.0 / L) * torch.cos(math.pi * (2 * n + 1) * i / (2 * L))
    C[0] /= math.sqrt(2.0)
    return C.to(dtype=dtype, device=device)


class Basis:
    """An orthonormal real basis: ``forward``, ``inverse`` and per-mode wavenumbers.

    Use the instances returned by :func:`get_basis`.

    Attributes
    ----------
    name : str
        ``'fourier'``, ``'dct'`` or ``'pixel'``.
    k_unit : float
        Wavenumber spacing times L: ``2 pi`` (fourier) or ``pi`` (dct); one
        shell of :func:`radial_bins` is ``k_unit / L`` wide.
    """

    def __init__(self, name: str, k_unit: float):
        self.name = name
        self.k_unit = k_unit

    def __repr__(self) -> str:
        return f"get_basis({self.name!r})"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Coefficients ``X = B x``: ``(..., L, L)`` real -> ``(..., L, L)`` same dtype."""
        x = _check_field(x)
        if self.name == "pixel":
            return x
        if self.name == "fourier":
            F = torch.fft.fft2(x, norm="ortho")
            return F.real - F.imag
        C = _dct_matrix(x.shape[-1], x.dtype, x.device)
        return C @ x @ C.T

    def inverse(self, X: torch.Tensor) -> torch.Tensor:
        """Field ``x = B^T X``: ``(..., L, L)`` -> ``(..., L, L)`` same dtype."""
        X = _check_field(X, "X")
        if self.name == "pixel":
            return X
        if self.name == "fourier":
            return self.forward(X)  # the Hartley transform is an involution
        C = _dct_matrix(X.shape[-1], X.dtype, X.device)
        return C.T @ X @ C

    def axis_wavenumber(self, L: int, device=None) -> torch.Tensor:
        """``|k|`` along one axis per index, shape ``(L,)`` float64 (radians per spacing)."""
        if self.name == "pixel":
            raise InputError("the pixel basis has no wavenumbers")
        idx = torch.arange(L, dtype=torch.float64, device=device)
        if self.name == "fourier":
            idx = torch.minimum(idx, L - idx)  # |signed frequency|, Nyquist L/2 for even L
        return self.k_unit * idx / L

    def wavenumber(self, L: int, device=None) -> torch.Tensor:
        """``|k|`` per mode, shape ``(L, L)`` float64.

        Examples
        --------
        >>> get_basis("fourier").wavenumber(4)[0].tolist() == [0.0, math.pi / 2, math.pi, math.pi / 2]
        True
        """
        k = self.axis_wavenumber(L, device)
        return torch.sqrt(k[:, None] ** 2 + k[None, :] ** 2)


_BASES = {name: Basis(name, 2 * math.pi if name == "fourier" else math.pi) for name in BASES}
#: The identity basis (white noise needs no transform).
PIXEL = Basis("pixel", math.nan)


def get_basis(name) -> Basis:
    """The basis called ``name`` (a :class:`Basis` passes through).

    Raises
    ------
    InputError
        Unknown name.

    Examples
    --------
    >>> x = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    >>> B = get_basis("fourier")
    >>> bool(torch.allclose(B.inverse(B.forward(x)), x, atol=1e-12))
    True
    """
    if isinstance(name, Basis):
        return name
    try:
        return _BASES[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown basis {name!r}; expected one of {', '.join(BASES)}") from None


def as_fields(data, what: str = "data") -> torch.Tensor:
    """``(N, L, L)`` float64 tensor from spins or fields: ndarray or tensor, ``(N, L, L)`` or ``(N, 1, L, L)``."""
    x = torch.as_tensor(np.asarray(data) if not torch.is_tensor(data) else data)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 3 or x.shape[-1] != x.shape[-2] or x.shape[0] < 1:
        raise InputError(f"{what}: expected shape (N, L, L) or (N, 1, L, L), got {tuple(x.shape)}")
    if x.dtype == torch.bool or x.is_complex():
        raise InputError(f"{what}: expected real values, got dtype {x.dtype}")
    return x.to(torch.float64)


def _symmetrize(P: torch.Tensor, B: "Basis") -> torch.Tensor:
    """Average a per-mode statistic over the 8 lattice symmetries (see :func:`mode_power`)."""
    P = (P + P.T) / 2
    if B.name == "fourier":
        for d in (0, 1):  # n -> -n (mod L) along axis d
            P = (P + torch.roll(torch.flip(P, (d,)), 1, d)) / 2
    return P


def mode_power(data, basis="fourier", symmetrize: bool = False, device=None) -> torch.Tensor:
    """Per-mode power ``E[X(k)^2]`` averaged over configurations, shape ``(L, L)`` float64.

    Parameters
    ----------
    data : ndarray or tensor, shape (N, L, L) or (N, 1, L, L)
        Spins (int8) or real fields.
    basis : str or Basis
    symmetrize : bool
        Also average over the 8 lattice symmetries (D4, exact for the Ising
        ensemble), which cuts the noise of a per-mode estimate: over
        ``P(i, j) <-> P(j, i)`` and, for ``fourier``, the sign flips
        ``n_x -> -n_x``, ``n_y -> -n_y`` of the frequencies (for ``dct`` the
        mirror images of a field have the same power per mode already).
    device : torch device, optional
        Where to transform (default: the data's device; CPU for arrays).
    """
    B = get_basis(basis)
    x = as_fields(data)
    P = torch.zeros(x.shape[-2:], dtype=torch.float64, device=device or x.device)
    for i in range(0, x.shape[0], _CHUNK):
        P += (B.forward(x[i : i + _CHUNK].to(P.device)) ** 2).sum(0)
    P /= x.shape[0]
    return _symmetrize(P, B) if symmetrize else P


def mode_powers(data, other, basis="fourier", symmetrize: bool = False,
                device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``E[X^2]``, ``E[Z^2]`` and the cross power ``E[X Z]`` per mode of two paired ensembles, in one pass.

    ``other`` has the shape of ``data`` and is paired with it configuration by
    configuration; each field is transformed once. Other parameters as for
    :func:`mode_power`.
    """
    B = get_basis(basis)
    x, z = as_fields(data), as_fields(other, "other")
    if z.shape != x.shape:
        raise InputError(f"other: expected the shape of data {tuple(x.shape)}, got {tuple(z.shape)}")
    P = torch.zeros((3,) + tuple(x.shape[-2:]), dtype=torch.float64, device=device or x.device)
    for i in range(0, x.shape[0], _CHUNK):
        X, Z = B.forward(x[i : i + _CHUNK].to(P.device)), B.forward(z[i : i + _CHUNK].to(P.device))
        P[0] += (X * X).sum(0)
        P[1] += (Z * Z).sum(0)
        P[2] += (X * Z).sum(0)
    P /= x.shape[0]
    return tuple(_symmetrize(q, B) if symmetrize else q for q in P)


def radial_bins(basis, L: int, n_bins: int | None = None, device=None) -> tuple[torch.Tensor, int]:
    """Shell index of each mode, shape ``(L, L)`` int64, and the number of shells.

    ``n_bins=None``: shells of width ``k_unit / L``, mode -> ``round(|k| L / k_unit)``
    (integer |n| shells as in :func:`isingsr.analysis.correlations.power_spectrum`).
    Otherwise the zero mode is shell 0 and the other modes fall in ``n_bins - 1``
    equal-width shells over ``(0, k_max]``. Empty shells are removed (indices
    are compacted).
    """
    B = get_basis(basis)
    k = B.wavenumber(L, device)
    if n_bins is None:
        idx = torch.round(k * L / B.k_unit).to(torch.int64)
    else:
        if int(n_bins) < 2:
            raise InputError(f"n_bins must be >= 2 (the zero mode has its own bin), got {n_bins}")
        width = float(k.max()) / (int(n_bins) - 1)
        idx = torch.where(k > 0, torch.clamp(torch.ceil(k / width), 1, int(n_bins) - 1), 0).to(torch.int64)
    used, idx = torch.unique(idx, return_inverse=True)
    return idx.reshape(L, L), int(used.numel())


def shell_sums(values: torch.Tensor, bins: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Sum of ``values`` ``(..., L, L)`` over the modes of each shell: ``(..., n_bins)`` float64.

    Divide by ``shell_sums(ones, ...)`` (the mode counts) for shell means.
    """
    v = values.to(torch.float64).reshape(*values.shape[:-2], -1)
    out = torch.zeros(*v.shape[:-1], n_bins, dtype=torch.float64, device=v.device)
    return out.index_add_(v.ndim - 1, bins.to(v.device).reshape(-1), v)


def shell_wavenumbers(basis, L: int, bins: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Mean ``|k|`` of the modes in each shell of ``bins`` (:func:`radial_bins`), shape ``(n_bins,)`` float64."""
    k = get_basis(basis).wavenumber(L, bins.device)
    return shell_sums(k, bins, n_bins) / shell_sums(torch.ones_like(k), bins, n_bins)


@dataclass(frozen=True)
class Spectrum:
    """A radially averaged, floored data spectrum (stored in checkpoints).

    Attributes
    ----------
    basis : str
    L : int
    bins : tensor, shape (L, L) int64
        Shell of each mode.
    k : tensor, shape (n_bins,) float64
        Mean ``|k|`` of the modes in each shell.
    S_bins : tensor, shape (n_bins,) float64
        Shell mean of ``E[X(k)^2]``, floored.
    floor : float
        Relative floor applied (``S >= floor * mean of the unfloored S over modes``).
    n_samples : int
        Configurations used.
    """

    basis: str
    L: int
    bins: torch.Tensor
    k: torch.Tensor
    S_bins: torch.Tensor
    floor: float
    n_samples: int

    @property
    def per_mode(self) -> torch.Tensor:
        """``S(k)`` of every mode (its shell's value), shape ``(L, L)`` float64."""
        return self.S_bins[self.bins]

    def state_dict(self) -> dict:
        """Plain tensors and numbers, loadable with ``torch.load(weights_only=True)``."""
        return {"basis": self.basis, "L": self.L, "bins": self.bins.cpu(), "k": self.k.cpu(),
                "S_bins": self.S_bins.cpu(), "floor": self.floor, "n_samples": self.n_samples}

    @classmethod
    def from_state_dict(cls, d: dict) -> "Spectrum":
        return cls(d["basis"], int(d["L"]), d["bins"], d["k"], d["S_bins"], float(d["floor"]), int(d["n_samples"]))


def estimate_spectrum(data, basis="fourier", n_bins: int | None = None, floor: float = SPECTRUM_FLOOR,
                      device=None) -> Spectrum:
    """Data spectrum ``S(k) = E[X(k)^2]``, radially averaged and floored.

    The per-mode power (:func:`mode_power`) is averaged within shells of
    ``|k|`` (:func:`radial_bins`); each mode gets its shell's mean. Shells
    below ``floor * P_mean`` are raised to it, where ``P_mean`` is the mean
    power per mode (``E[x^2]`` per site by Parseval: 1 for +-1 spins), so
    that every mode keeps a little noise and ``S`` can be divided by.

    Parameters
    ----------
    data : ndarray or tensor, shape (N, L, L) or (N, 1, L, L)
        Training configurations (int8 spins are cast to float64).
    basis : str or Basis
    n_bins : int, optional
        Number of shells (default: one per unit of ``|k| L / k_unit``).
    floor : float
        Relative floor, ``0 < floor < 1``.

    Returns
    -------
    Spectrum
        ``.per_mode`` is the ``(L, L)`` tensor; ``.k``, ``.S_bins`` the radial profile.

    Examples
    --------
    >>> spins = np.random.default_rng(0).choice(np.array([-1, 1], dtype=np.int8), size=(64, 8, 8))
    >>> sp = estimate_spectrum(spins)
    >>> sp.per_mode.shape, round(float(sp.per_mode.mean()), 1)
    (torch.Size([8, 8]), 1.0)
    """
    if not 0 < floor < 1:
        raise InputError(f"floor must be in (0, 1), got {floor}")
    B = get_basis(basis)
    x = as_fields(data)
    P = mode_power(x, B, device=device)
    L = P.shape[-1]
    bins, nb = radial_bins(B, L, n_bins, device=P.device)
    S = shell_sums(P, bins, nb) / shell_sums(torch.ones_like(P), bins, nb)
    k = shell_wavenumbers(B, L, bins, nb)
    p_mean = float(P.mean())
    if not p_mean > 0:
        raise InputError("data: all configurations are zero, the spectrum is undefined")
    S = torch.clamp(S, min=floor * p_mean)
    return Spectrum(B.name, L, bins, k, S, float(floor), int(x.shape[0]))
