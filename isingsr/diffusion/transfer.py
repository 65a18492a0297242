"""Run a SKILD checkpoint at a lattice size other than its training size.

The network is fully convolutional and conditioned on the physical cutoff
length ln w(t), so it means the same thing at any L. What is tied to the
training L is the process's data: the spectrum S(k) of the modes and the
pass-band gain of the coarse start, both per mode of the L x L lattice. At a
new size L* they are carried over by the critical scaling of the Ising
spectrum, with no data at L*:

* ``|k| >= k_1`` (the training lattice's smallest non-zero shell): S(k) is a
  bulk quantity, independent of L; the training profile is interpolated in
  ``ln S`` against ``ln |k|``.
* ``|k| < k_1`` and the zero mode: finite-size scaling at criticality,
  ``S_L(k) = L^(2 - eta) f(k L)`` with ``eta = 1/4``, gives
  ``S_{L*}(k) = (L*/L)^(7/4) S_L(k L*/L)`` (the zero mode: chi ~ L^(7/4)).
* the gain is a function of the physical wavenumber within the coarse pass
  band ``max(|k_x|, |k_y|) <= pi L'/L*``; it is interpolated bilinearly in
  ``(|k_x|, |k_y|)`` from the training lattice's band.
* the pass-band correlation rho of the conditional start is carried through
  the variance it leaves free, ``R = (1 - rho^2) S``: what the coarse input
  does not fix is a sum of block-scale fluctuations, local and L-independent
  at a given physical wavenumber (``R`` is interpolated like the gain), while
  S(k) near k = 0 grows like L^(7/4); then ``rho = sqrt(1 - R / S*)``.
  Carrying rho itself would leave the zero mode 2^(7/4) = 3.4 times too
  free at twice the size (``experiments/check_transfer.py``).

The schedule keeps its cutoff ``l_min`` and its ratio ``l_max / l_min = L``
becomes ``L*``, so ``t_start(s) = ln s / ln L*`` and the state at t_start
has the same physical blur c sqrt(s^2 - 1) as in training. Super-resolution
from t_start(s) only visits cutoffs w <= c s, which the network saw in
training whenever s <= L. Generation from t = 1 at L* > L would ask the
network about cutoffs it never saw, so it is not offered.

Only checkpoints trained at the critical point qualify (the scaling above is
that of the critical ensemble); :func:`check_transferable` says so in one line.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..constants import BETA_C
from ..exceptions import InputError
from .process import SpectralProcess
from .spectral import Spectrum, get_basis, radial_bins, shell_wavenumbers

__all__ = ["ETA", "check_transferable", "spectrum_at", "gain_at", "corr_at", "process_at"]

#: Anomalous dimension of the 2D Ising model: the critical spectrum scales as L^(2 - eta).
ETA = 0.25


def check_transferable(ck: dict, L_new: int) -> None:
    """Raise :class:`InputError` unless the checkpoint's process may be carried to size ``L_new``."""
    L = int(ck["process"]["L"])
    if L_new == L:
        return
    beta = (ck.get("data") or {}).get("beta")
    if beta is None or not math.isclose(float(beta), BETA_C, rel_tol=1e-9):
        raise InputError(f"this checkpoint was trained at L = {L} on data at beta = {beta}; running it at "
                         f"L = {L_new} uses the critical finite-size scaling of S(k), which needs beta_c")


def spectrum_at(sp: Spectrum, L_new: int) -> Spectrum:
    """The training spectrum carried to ``L_new`` by critical finite-size scaling (module docstring)."""
    B = get_basis(sp.basis)
    k_tr, S_tr = sp.k.cpu().numpy(), sp.S_bins.cpu().numpy()
    nz = k_tr > 0
    lk, lS = np.log(k_tr[nz]), np.log(S_tr[nz])
    k1 = float(k_tr[nz].min())
    bins, nb = radial_bins(B, L_new)
    k_new = shell_wavenumbers(B, L_new, bins, nb).numpy()
    r = L_new / sp.L
    fss = r ** (2 - ETA)

    def bulk(k):
        return np.exp(np.interp(np.log(k), lk, lS))

    S_new = np.empty(nb)
    for i, k in enumerate(k_new):
        if k == 0:
            S_new[i] = fss * float(S_tr[~nz][0])
        elif k < k1 * (1 - 1e-9):
            S_new[i] = fss * bulk(k * r)
        else:
            S_new[i] = bulk(k)
    S_new = np.maximum(S_new, float(S_tr.min()))
    return Spectrum(sp.basis, L_new, bins, torch.from_numpy(k_new), torch.from_numpy(S_new), sp.floor, sp.n_samples)


def gain_at(gain: torch.Tensor, basis, L_new: int, L_coarse: int) -> torch.Tensor:
    """A per-mode pass-band gain ``(L, L)`` carried to ``(L_new, L_new)`` for coarse inputs of size ``L_coarse``."""
    B = get_basis(basis)
    g = torch.as_tensor(gain, dtype=torch.float64).cpu()
    L = g.shape[-1]
    # one value per pair of axis frequency indices m = |k| L / k_unit (fourier: 0..L/2; dct: 0..L-1)
    m = torch.round(B.axis_wavenumber(L) * L / B.k_unit).to(torch.int64)
    M = int(m.max()) + 1
    table = torch.zeros(M, M, dtype=torch.float64)
    table[m[:, None], m[None, :]] = g
    inband = torch.nonzero(table.diagonal() > 0)
    m_band = int(inband.max()) if inband.numel() else 0
    # The band edge (the coarse Nyquist row, where zero-padding halves the power) is its own kind of
    # mode: it maps onto the training edge. Interior modes are interpolated among interior modes only
    # (linearly extrapolated past the last interior one).
    k_new = B.axis_wavenumber(L_new)
    f = k_new * L / B.k_unit
    edge = torch.isclose(k_new, torch.tensor(math.pi * L_coarse / L_new, dtype=torch.float64))
    i0 = torch.where(edge, m_band - 1, torch.clamp(torch.floor(f).to(torch.int64), max=m_band - 2)).clamp(min=0)
    i1 = torch.clamp(i0 + 1, max=m_band)
    w = torch.where(edge, 1.0, f - i0)
    x0, x1, wx = i0[:, None], i1[:, None], w[:, None]
    y0, y1, wy = i0[None, :], i1[None, :], w[None, :]
    out = ((1 - wx) * (1 - wy) * table[x0, y0] + wx * (1 - wy) * table[x1, y0]
           + (1 - wx) * wy * table[x0, y1] + wx * wy * table[x1, y1])
    band = torch.maximum(k_new[:, None], k_new[None, :]) <= math.pi * L_coarse / L_new * (1 + 1e-9)
    return torch.where(band, out.clamp(min=0.0), 0.0)


def corr_at(corr: torch.Tensor, spectrum: Spectrum, L_new: int, L_coarse: int) -> torch.Tensor:
    """A per-mode pass-band correlation ``(L, L)`` carried to ``(L_new, L_new)`` (module docstring).

    ``spectrum`` is the training spectrum; the free variance ``(1 - rho^2) S``
    is interpolated like the gain (:func:`gain_at`) and divided by the
    spectrum carried to ``L_new`` (:func:`spectrum_at`).
    """
    rho = torch.as_tensor(corr, dtype=torch.float64).cpu().clamp(0.0, 1.0)
    if rho.shape[-1] == L_new:
        return rho
    inband = rho > 0  # gain_at finds the band edge from where its table is non-zero
    band = gain_at(inband.to(torch.float64), spectrum.basis, L_new, L_coarse) > 0
    free = gain_at(torch.where(inband, (1 - rho * rho) * spectrum.per_mode.cpu(), 0.0), spectrum.basis, L_new,
                   L_coarse)
    S_new = spectrum_at(spectrum, L_new).per_mode.cpu()
    return torch.where(band, torch.sqrt((1 - free / S_new).clamp(0.0, 1.0)), 0.0)


def process_at(config: dict, spectrum: Spectrum, L_new: int, device=None) -> SpectralProcess:
    """The process of ``config`` (:meth:`SpectralProcess.config`) at ``L_new``.

    Same ``l_min`` and blur constant; ``l_max`` scales with L; the spectrum is
    :func:`spectrum_at`. At the training L this is exactly the stored process.
    """
    L = int(config["L"])
    if L_new == L:
        return SpectralProcess.from_config(config, spectrum, device=device)
    cfg = {**config, "L": L_new, "l_max": float(config["l_max"]) * L_new / L}
    return SpectralProcess.from_config(cfg, spectrum_at(spectrum, L_new), device=device)
