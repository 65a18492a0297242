"""The alignment diagnostic: is a start state built from the coarse input interchangeable with the true one?

For held-out configurations it compares, per time, the coarse-built start
state with the exact forward state ``x_t`` of the true fine configuration
(per-mode KL given ``x_0`` and given the coarse input, ratio of radial
spectra); :func:`select_t_start` turns the curve into the constant of
``t_start(s)`` (``BLUR_PER_BLOCK`` in :mod:`isingsr.diffusion.process`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..coarse import block_centre, coarse_grain
from ..exceptions import InputError
from .process import SpectralProcess
from .spectral import radial_bins, shell_sums, shell_wavenumbers
from .starts import embed_coarse

__all__ = ["Alignment", "alignment", "select_t_start", "KL_MAX"]

#: Budget of :func:`select_t_start`: KL between the coarse and the true start state, nats per coarse site.
KL_MAX = 0.03


@dataclass(frozen=True)
class Alignment:
    """Coarse-built vs true forward start states, per time (see :func:`alignment`).

    Attributes
    ----------
    scale : float
    L, L_coarse : int
        Fine and coarse linear sizes.
    t, blur : ndarray, shape (T,)
        Times and blur lengths ``l(t)``.
    kl, kl_err : ndarray, shape (T,)
        KL given ``x_0``, mean over the non-zero modes (nats per mode),
        averaged over configurations, and its standard error.
    kl_cond : ndarray, shape (T,)
        KL given only the coarse configuration (Gaussian approximation), nats per mode.
    k : ndarray, shape (n_bins,)
    ratio : ndarray, shape (T, n_bins)
        Radial spectrum of the coarse start over that of the true start.
    zero_mode_mismatch : float
        rms of ``(Y(0) - X_0(0)) / sqrt(S(0))``; the zero mode is not noised before ``t_env``.
    """

    scale: float
    L: int
    L_coarse: int
    t: np.ndarray
    blur: np.ndarray
    kl: np.ndarray
    kl_err: np.ndarray
    kl_cond: np.ndarray
    k: np.ndarray
    ratio: np.ndarray
    zero_mode_mismatch: float

    @property
    def per_site(self) -> float:
        """Non-zero fine modes per coarse site, ``(L^2 - 1) / L'^2``: nats per mode -> nats per coarse site."""
        return (self.L**2 - 1) / self.L_coarse**2


def alignment(process: SpectralProcess, fine_spins, scale, times, gain=None, rule: str = "majority",
              seed=0) -> Alignment:
    """Are the coarse-built and the true forward start states interchangeable?

    Given ``x_0`` (held-out configurations), both start states are Gaussian
    per mode with variance ``sigma^2`` and means ``a Y`` (:func:`coarse_start`)
    and ``a X_0`` (:func:`forward_start`), so ``KL = a^2 (Y - X_0)^2 / (2 sigma^2)``
    per mode, computed exactly (no noise drawn). The sampler, however, needs
    the start to match ``p(x_t | y)``, not ``p(x_t | x_0)``: with ``X_0 | Y``
    approximated per mode by ``N(beta Y, R)`` (regression over the data),
    ``kl_cond = KL(N(a beta Y, sigma^2 + a^2 R) || N(a Y, sigma^2))``
    ``= [q - ln(1 + q) + a^2 (1 - beta)^2 Y^2 / sigma^2] / 2``, ``q = a^2 R / sigma^2``,
    a lower, more relevant figure (``kl`` is its upper bound by convexity).
    Spectra are expectations over the noise: ``a^2 E[Y^2] + sigma^2`` vs
    ``a^2 E[X_0^2] + sigma^2``. The zero mode (noiseless before ``t_env``) is
    left out of the KLs and reported by ``zero_mode_mismatch``.

    Parameters
    ----------
    process : SpectralProcess
    fine_spins : ndarray, shape (N, L, L)
        Held-out configurations (not those ``gain`` was measured on).
    scale : float
    times : sequence of float in (0, 1)
    gain : tensor (L, L), optional
    rule : str
        Coarse-graining rule, as for the data.
    """
    fine = np.asarray(fine_spins)
    coarse = coarse_grain(fine, scale, rule=rule, seed=seed)
    B, S, L = process.basis, process.S, process.L
    X0 = B.forward(torch.from_numpy(fine.astype(np.float64)).to(S.device)).reshape(len(fine), -1)
    Y = B.forward(embed_coarse(process, coarse, gain, block_centre(L, scale, rule))[:, 0]).reshape(len(fine), -1)
    t = torch.as_tensor(times, dtype=torch.float64, device=S.device)
    if t.ndim != 1 or not bool(torch.all((t > 0) & (t < 1))):
        raise InputError("times must be a 1-D sequence of values in (0, 1)")
    a2 = torch.exp(2 * process.log_a(t)).reshape(len(t), -1)                 # (T, L*L), mode 0 = (0, 0)
    s2 = process.sigma2(t).reshape(len(t), -1)
    snr = (a2 / s2)[:, 1:]                                                  # the zero mode is left out
    kl = ((Y - X0)[:, 1:] ** 2) @ snr.T / (2 * snr.shape[1])                # (N, T)
    PY, PX = (Y**2).mean(0), (X0**2).mean(0)
    beta = torch.where(PY > 0, (X0 * Y).mean(0) / torch.where(PY > 0, PY, 1.0), 0.0)
    q = snr * ((X0 - beta * Y) ** 2).mean(0)[1:]
    kl_cond = (q - torch.log1p(q) + snr * ((1 - beta) ** 2 * PY)[1:]).mean(1) / 2
    bins, nb = radial_bins(B, L, device=S.device)
    sq = (len(t), L, L)
    ratio = shell_sums((a2 * PY + s2).reshape(sq), bins, nb) / shell_sums((a2 * PX + s2).reshape(sq), bins, nb)
    k = shell_wavenumbers(B, L, bins, nb)
    mismatch = float(torch.sqrt(((Y[:, 0] - X0[:, 0]) ** 2).mean() / S[0, 0]))
    to_np = lambda v: v.cpu().numpy()  # noqa: E731
    return Alignment(float(scale), L, int(coarse.shape[-1]), to_np(t), to_np(process.blur_length(t)),
                     to_np(kl.mean(0)), to_np(kl.std(0) / np.sqrt(len(fine))), to_np(kl_cond), to_np(k),
                     to_np(ratio), mismatch)


def select_t_start(al: Alignment, kl_max: float = KL_MAX, conditional: bool = False) -> tuple[float, float]:
    """Earliest time at which the KL per coarse site is at most ``kl_max``, and ``c = l(t) / sqrt(s^2 - 1)``.

    KL per coarse site is the KL per mode times ``(L^2 - 1) / L'^2``: the
    total mismatch of a start state divided by the number of coarse degrees of
    freedom, the normalisation under which a scale-invariant system gives the
    same curve at every scale. The KL falls monotonically to 0 at t = 1
    (``a -> 0``), so "interchangeable" needs a budget; between grid points
    ``ln KL`` is interpolated linearly in t and ``ln l`` likewise.

    Parameters
    ----------
    al : Alignment
    kl_max : float
        Budget in nats per coarse site.
    conditional : bool
        Use ``al.kl_cond`` (given y) instead of ``al.kl`` (given x_0).
    """
    kl = np.asarray(al.kl_cond if conditional else al.kl) * al.per_site
    t, blur = np.asarray(al.t), np.asarray(al.blur)
    below = np.nonzero(kl <= kl_max)[0]
    if not len(below):
        raise InputError(f"KL never falls below {kl_max} on the given times (min {kl.min():.3g}); extend the grid")
    i = below[0]
    if i == 0:
        ts, ls = t[0], blur[0]
    else:
        f = (np.log(kl[i - 1]) - np.log(kl_max)) / (np.log(kl[i - 1]) - np.log(kl[i]))
        ts, ls = t[i - 1] + f * (t[i] - t[i - 1]), np.exp(np.log(blur[i - 1]) + f * np.log(blur[i] / blur[i - 1]))
    return float(ts), float(ls / np.sqrt(al.scale**2 - 1))
