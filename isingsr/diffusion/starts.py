"""Start states of super-resolution, and the pass-band statistics they are built from.

Super-resolution by a factor s is the reverse process run from
``t_start(s)`` (:meth:`~isingsr.diffusion.process.SpectralProcess.t_start`)
instead of 1; what differs between protocols is the state it starts from:

* :func:`conditional_start` (default, honest): a draw from a per-mode Gaussian
  model of the fine field given the coarse one, diffused to ``t_start``;
* :func:`coarse_start` (honest, SPEC's construction): the gained coarse
  embedding taken as the fine field's pass band;
* :func:`forward_start` (the published protocol; leaks the true fine field;
  for comparison only).

The per-mode gain and correlation between the fine field and its embedded
coarse-graining are measured on training data by :func:`measure_passband`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..coarse import block_centre, coarse_grain, spectral_resample
from ..exceptions import InputError
from .process import SpectralProcess
from .rng import randn
from .spectral import get_basis, mode_powers

__all__ = ["embed_coarse", "coarse_start", "conditional_start", "conditional_start_from_embedding", "forward_start",
           "measure_passband", "measure_gain", "passband_from_powers"]


def embed_coarse(process: SpectralProcess, y_coarse, gain=None, offset: float = 0.0) -> torch.Tensor:
    """Coarse configurations on the fine grid: spectral zero-padding times the pass-band gain.

    Parameters
    ----------
    y_coarse : ndarray or tensor, shape (B, L', L')
        Coarse spins (or fields).
    gain : tensor, shape (L, L), optional
        Per-mode gain (:func:`measure_passband`); default 1.
    offset : float
        Where coarse site 0 sits on the fine lattice, in fine sites
        (:func:`isingsr.coarse.block_centre`: ``(b - 1) / 2`` for majority-rule
        blocks of side b), so that each coarse value lies over its block.

    Returns
    -------
    tensor, shape (B, 1, L, L) float64
    """
    y = y_coarse.detach().cpu().numpy() if torch.is_tensor(y_coarse) else np.asarray(y_coarse)
    if y.ndim != 3 or y.shape[1] != y.shape[2] or y.shape[-1] > process.L:
        raise InputError(f"y_coarse: expected shape (B, L', L') with L' <= {process.L}, got {y.shape}")
    x = torch.from_numpy(spectral_resample(y, process.L, shift=offset)).to(process.S.device)[:, None]
    if gain is None:
        return x
    return process.basis.inverse(torch.as_tensor(gain, dtype=torch.float64, device=x.device)
                                 * process.basis.forward(x))


def coarse_start(process: SpectralProcess, y_coarse, t, gain=None, generator=None, *,
                 offset: float = 0.0) -> torch.Tensor:
    """Super-resolution start ``x_t = B^-1[a_t Y + sigma_t eps]``, Y the gained embedding of y.

    The coarse configuration stands in for the fine one: its pass-band modes,
    rescaled to the data's power, are treated as exact. Returns
    ``(B, 1, L, L)`` float64; ``t`` a number or ``(B,)`` (usually
    ``process.t_start(scale)``); ``offset`` as for :func:`embed_coarse`.
    """
    return process.q_sample(embed_coarse(process, y_coarse, gain, offset), t, generator=generator)[0]


def conditional_start(process: SpectralProcess, y_coarse, t, gain, corr, generator=None, *,
                      offset: float = 0.0) -> torch.Tensor:
    """Super-resolution start drawn from a Gaussian approximation of ``p(x_t | y)``.

    Per mode, the fine coefficient given the coarse configuration is modelled
    by its linear regression on the embedded coarse coefficient ``Y``,
    ``X_0 | y ~ N(rho g Y, (1 - rho^2) S)``, with ``g`` the pass-band gain and
    ``rho`` the correlation between ``X_0`` and ``Y`` over the training data
    (:func:`measure_passband`; outside the pass band ``rho = g = 0`` and the
    mode is drawn from the data spectrum). A draw of it is then diffused to
    ``t``: ``x_t = B^-1[a_t X_0 + sigma_t eps]``. Each mode keeps the variance
    ``a^2 (rho^2 g^2 E[Y^2] + (1 - rho^2) S) + sigma^2 = S`` when ``g^2 E[Y^2] = S``,
    as for :func:`coarse_start`, but the part of ``X_0`` that the coarse
    configuration does not determine is now noise rather than treated as
    known. This matters most where ``a_t`` is close to 1 and ``sigma_t`` to
    0, above all for the zero mode (noiseless until the envelope acts): with
    :func:`coarse_start` the fine magnetisation is nearly a fixed multiple of the
    coarse one. With ``rho = 1`` for every mode this is :func:`coarse_start`
    (same draws); out of the band the difference is ``a_t X_0``, tiny at ``t_start``.

    Parameters
    ----------
    process : SpectralProcess
    y_coarse : ndarray or tensor, shape (B, L', L')
    t : float or tensor (B,)
    gain, corr : tensor, shape (L, L)
        Per-mode pass-band gain and correlation (:func:`measure_passband`).
    generator : see :func:`generators`
    offset : float
        As for :func:`embed_coarse`.

    Returns
    -------
    tensor, shape (B, 1, L, L) float64
    """
    return conditional_start_from_embedding(process, embed_coarse(process, y_coarse, None, offset), t, gain, corr,
                                            generator)


def conditional_start_from_embedding(process: SpectralProcess, embedded: torch.Tensor, t, gain, corr,
                                     generator=None) -> torch.Tensor:
    """:func:`conditional_start` from coarse inputs already on the fine grid, ``(B, C, L, L)``.

    ``embedded`` is the ungained embedding whose pass-band statistics ``gain``
    and ``corr`` were measured (spectral zero-padding for the Ising lattice,
    :func:`embed_coarse`; DCT zero-padding for images, :mod:`isingsr.images.resize`).
    """
    B, S = process.basis, process.S
    Y = B.forward(embedded.to(dtype=torch.float64, device=S.device))
    g = torch.as_tensor(gain, dtype=torch.float64, device=S.device)
    rho = torch.as_tensor(corr, dtype=torch.float64, device=S.device).clamp(-1.0, 1.0)
    eps = randn(tuple(Y.shape), generator, S.device)  # first, as in coarse_start
    xi = B.forward(randn(tuple(Y.shape), generator, S.device))
    X0 = rho * g * Y + torch.sqrt((1 - rho * rho) * S) * xi
    return process.q_sample(B.inverse(X0), t, eps=eps)[0]


def forward_start(process: SpectralProcess, x_fine, t, generator=None) -> torch.Tensor:
    """Published-protocol start: the exact forward marginal of the true fine field (leaks; comparison only)."""
    x = x_fine if torch.is_tensor(x_fine) else torch.from_numpy(np.asarray(x_fine))
    x = (x[:, None] if x.ndim == 3 else x).to(dtype=torch.float64, device=process.S.device)
    return process.q_sample(x, t, generator=generator)[0]


def measure_passband(fine_spins, scale, basis="fourier", rule: str = "majority",
                     seed=0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-mode pass-band gain ``sqrt(P_fine / P_emb)`` and correlation ``P_cross / sqrt(P_fine P_emb)``.

    The training configurations are coarse-grained with ``rule``
    (:func:`isingsr.coarse.coarse_grain`) and re-embedded by spectral
    zero-padding over the block centres (:func:`embed_coarse`); the fine,
    embedded and cross spectra per mode are D4-symmetrised. The pass band is
    the set of modes whose wavenumber along each axis is at most the coarse
    Nyquist ``pi L' / L``; gain and correlation are 0 outside it (a negative
    correlation, which block spins do not produce, is set to 0 too).

    Returns
    -------
    gain, corr : tensors, shape (L, L) float64
    """
    fine = np.asarray(fine_spins)
    coarse = coarse_grain(fine, scale, rule=rule, seed=seed)
    L, Lc = fine.shape[-1], coarse.shape[-1]
    B = get_basis(basis)
    emb = spectral_resample(coarse, L, shift=block_centre(L, scale, rule))
    P_fine, P_emb, P_cross = mode_powers(fine, emb, B, symmetrize=True)
    k = B.axis_wavenumber(L)
    band = torch.maximum(k[:, None], k[None, :]) <= np.pi * Lc / L * (1 + 1e-9)
    return passband_from_powers(P_fine, P_emb, P_cross, band)


def passband_from_powers(P_fine: torch.Tensor, P_emb: torch.Tensor, P_cross: torch.Tensor,
                         band: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gain ``sqrt(P_fine / P_emb)`` and correlation ``P_cross / sqrt(P_fine P_emb)`` (clipped to [0, 1]) per
    mode of ``band`` (a boolean ``(L, L)`` mask), 0 outside it and where the embedding has no power."""
    ok = band & (P_emb > 1e-12 * P_emb.max())
    P_emb = torch.where(ok, P_emb, 1.0)
    gain = torch.where(ok, torch.sqrt(P_fine / P_emb), 0.0)
    corr = torch.where(ok, (P_cross / torch.sqrt(P_fine.clamp_min(1e-300) * P_emb)).clamp(0.0, 1.0), 0.0)
    return gain, corr


def measure_gain(fine_spins, scale, basis="fourier", rule: str = "majority", seed=0) -> torch.Tensor:
    """The pass-band gain of :func:`measure_passband` alone, shape ``(L, L)`` float64."""
    return measure_passband(fine_spins, scale, basis, rule, seed)[0]
