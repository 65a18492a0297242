"""Samplers over an explicit time grid, start states, and the start-state alignment diagnostic.

One denoiser contract: ``denoiser(x_t, t) -> x0_hat``, with ``x_t`` a
``(B, 1, L, L)`` float64 field and ``t`` a ``(B,)`` float64 tensor; it may
return any real dtype. Samplers are free functions
``sample(denoiser, process, x_start, times)`` that run the reverse process
along ``times`` (decreasing, ending at 0); generation starts at t = 1 from
spectrum-matched noise (:func:`gaussian_field`), super-resolution is the same
call from a later start state (:func:`conditional_start`, :func:`coarse_start`,
:func:`forward_start`)
and the tail of the grid (``time_grid(n, t_start=process.t_start(scale))``).

Randomness comes from ``generator``: None, one ``torch.Generator``, or one
generator per sample (:func:`generators`), in which case sample i does not
depend on the batch it is drawn in.

References
----------
Chen et al., "Everything at Every Scale: Scale-Invariant Diffusion with
Continuous Super-Resolution" (2026), the SKILD preprint.
J. Ho, A. Jain and P. Abbeel, "Denoising diffusion probabilistic models",
NeurIPS (2020).
J. Song, C. Meng and S. Ermon, "Denoising diffusion implicit models", ICLR (2021).
T. Karras, M. Aittala, T. Aila and S. Laine, "Elucidating the design space of
diffusion-based generative models", NeurIPS (2022).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import torch

from ..coarse import block_centre, coarse_grain, spectral_resample
from ..exceptions import InputError
from .process import SpectralProcess, randn
from .spectral import get_basis, mode_powers, radial_bins, shell_sums, shell_wavenumbers

__all__ = ["generators", "time_grid", "gaussian_field", "wiener_denoiser", "ancestral_sample", "ddim_sample",
           "embed_coarse", "coarse_start", "conditional_start", "forward_start", "measure_passband", "measure_gain",
           "Alignment", "alignment",
           "select_t_start", "KL_MAX", "L_END", "U_END", "VARIANCES"]

#: Smallest blur length of :func:`time_grid` before the last step to t = 0 (lattice units).
L_END = 0.02
#: Envelope progress below which :func:`time_grid` stops refining the zero mode.
U_END = 0.05
#: Named choices of the step variance of :func:`ancestral_sample`.
VARIANCES = ("gaussian", "posterior")
#: Budget of :func:`select_t_start`: KL between the coarse and the true start state, nats per coarse site.
KL_MAX = 0.03


def generators(seeds, device="cpu") -> list[torch.Generator]:
    """One seeded ``torch.Generator`` per sample, e.g. ``generators(range(256))``."""
    return [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]


def time_grid(n_steps: int, t_start: float = 1.0, process: SpectralProcess | None = None,
              l_end: float = L_END, u_end: float = U_END) -> torch.Tensor:
    """Decreasing time grid ``t_start = t_0 > ... > t_n = 0``, shape ``(n_steps + 1,)`` float64.

    Without ``process``: uniform in t, i.e. uniform in the log of the cutoff
    length ``w(t)``. With ``process``: uniform in
    ``tau(t) = ln l(t) + ln(max(u, u_end) / u_end)`` from ``t_start`` down to
    the time where the blur length is ``l_end``, then one step to 0, where
    ``u = (t - t_env) / (1 - t_env)`` in the envelope (0 before). Each mode
    fades over about one unit of ``ln(k l)``, and the zero mode over one unit
    of ``ln u`` (``1 - a^2 ~ u^2`` there), so every mode, the zero mode
    included, crosses its transition in about the same number of steps, and
    the finest scales, which a uniform grid crosses in one step, are resolved.
    The last step leaves a relative ``(k l_end)^2`` to the denoiser.

    Examples
    --------
    >>> time_grid(4, 0.5).tolist()
    [0.5, 0.375, 0.25, 0.125, 0.0]
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, Integral) or n_steps < 1:
        raise InputError(f"n_steps must be a positive integer, got {n_steps!r}")
    if isinstance(t_start, bool) or not isinstance(t_start, Real) or not 0 < t_start <= 1:
        raise InputError(f"t_start must lie in (0, 1], got {t_start!r}")
    t_end = 0.0 if process is None else float(process.time_at_blur(l_end))
    if process is None or t_start <= t_end:
        return torch.linspace(float(t_start), 0.0, int(n_steps) + 1, dtype=torch.float64)
    t = np.linspace(t_end, 1.0, 100_001)                                    # tau is increasing on [t_end, 1]
    u = np.clip((t - process.t_env) / (1 - process.t_env), u_end, 1.0)
    tau = np.log(process.blur_length(torch.from_numpy(t)).cpu().numpy()) + np.log(u / u_end)
    taus = np.linspace(np.interp(t_start, t, tau), tau[0], int(n_steps))
    grid = np.append(np.interp(taus, tau, t), 0.0)
    grid[0] = t_start
    return torch.from_numpy(grid)


def _check_times(times) -> list[float]:
    t = torch.as_tensor(times, dtype=torch.float64)
    if t.ndim != 1 or t.numel() < 2 or not bool(torch.all(t[1:] < t[:-1])) or float(t[-1]) != 0.0 \
            or not bool(torch.all((t >= 0) & (t <= 1))):
        raise InputError("times must be a 1-D, strictly decreasing grid in [0, 1] ending at 0")
    return t.tolist()


def gaussian_field(process: SpectralProcess, n: int, generator=None) -> torch.Tensor:
    """Stationary Gaussian fields with spectrum S: ``B^-1[sqrt(S) eps]``, shape ``(n, 1, L, L)`` float64.

    This is also the start state of generation (the t = 1 marginal).
    """
    eps = randn((n, 1, process.L, process.L), generator, process.S.device)
    return process.basis.inverse(process.S.sqrt() * process.basis.forward(eps))


def wiener_denoiser(process: SpectralProcess):
    """The exact denoiser for zero-mean Gaussian data with spectrum S.

    ``X0_hat = a S / (a^2 S + sigma^2) X_t = a X_t`` per mode (spectrum
    matching makes the denominator S). Used to test the process and samplers.
    """
    def denoise(x_t, t):
        la = process.log_a(t.reshape(-1, 1))
        return process.basis.inverse(la.exp() * process.basis.forward(x_t))
    return denoise


def _start(process: SpectralProcess, x_start) -> torch.Tensor:
    if not torch.is_tensor(x_start) or x_start.ndim != 4 or tuple(x_start.shape[1:]) != (1, process.L, process.L):
        raise InputError(f"x_start: expected shape (B, 1, {process.L}, {process.L}), "
                         f"got {tuple(x_start.shape) if torch.is_tensor(x_start) else type(x_start).__name__}")
    return x_start.to(torch.float64)


def ancestral_sample(denoiser, process: SpectralProcess, x_start, times, generator=None,
                     variance="gaussian") -> torch.Tensor:
    """Ancestral (DDPM) sampling from ``times[0]`` down to ``times[-1] = 0``.

    Each step draws, per mode, ``X_prev ~ N(c_t X_t + c_0 X0_hat, v S + c_0^2 m)``
    with the posterior coefficients of
    :meth:`SpectralProcess.posterior_coefficients` and ``m`` the expected
    error variance ``E[Var(X_0 | X_t)]`` of the denoiser, chosen by ``variance``:

    * ``'gaussian'`` (default): ``m = (1 - a_t^2) S``, the value for Gaussian
      data with spectrum S; the step variance is then ``(1 - alpha^2) S``
      (Ho et al.'s "large" choice) and the Wiener oracle reproduces S exactly
      on any grid. The upper bound of ``m`` for any data with spectrum S.
    * ``'posterior'``: ``m = 0``, the DDPM posterior variance (Ho et al.'s
      "small" choice; exact when ``x_0`` is a function of ``x_t``); on Gaussian
      data it loses O(1/n) of the variance for n steps, and its last step
      returns ``x0_hat`` itself.
    * a callable ``m(t) -> (L, L)`` tensor: the per-mode MSE of a trained
      denoiser at time t (the analytic-DPM choice, between the two).

    Parameters
    ----------
    denoiser : callable
        ``denoiser(x_t (B, 1, L, L), t (B,)) -> x0_hat (B, 1, L, L)``.
    process : SpectralProcess
    x_start : tensor, shape (B, 1, L, L)
        State at ``times[0]``.
    times : sequence or tensor, shape (n + 1,)
        Strictly decreasing, ending at 0 (:func:`time_grid`).
    generator : None, torch.Generator or list of them (one per sample)
    variance : {'gaussian', 'posterior'} or callable

    Returns
    -------
    tensor, shape (B, 1, L, L) float64
        Continuous fields at t = 0 (``torch.sign`` gives spins).
    """
    if variance not in VARIANCES and not callable(variance):
        raise InputError(f"unknown variance {variance!r}; expected one of {', '.join(VARIANCES)} or a callable")
    x, B, times = _start(process, x_start), process.basis, _check_times(times)
    for t, t_prev in zip(times[:-1], times[1:]):
        x0_hat = denoiser(x, torch.full((x.shape[0],), t, dtype=torch.float64, device=x.device))
        c_t, c_0, v = process.posterior_coefficients(t, t_prev)       # per mode, (L, L)
        if variance == "gaussian":
            m = process.sigma2(t)                                        # Var(X_0 | X_t) of Gaussian data
        else:
            m = 0.0 if variance == "posterior" else torch.as_tensor(variance(t), dtype=torch.float64)
        std = torch.sqrt(v * process.S + c_0**2 * m)
        z = B.forward(randn(tuple(x.shape), generator, x.device))     # white noise per mode
        X = c_t * B.forward(x) + c_0 * B.forward(x0_hat.to(torch.float64)) + std * z
        x = B.inverse(X)
    return x


def ddim_sample(denoiser, process: SpectralProcess, x_start, times, eta: float = 0.0, generator=None) -> torch.Tensor:
    """DDIM sampling per mode; ``eta = 0`` is deterministic (few steps).

    ``eta = 1`` is :func:`ancestral_sample` with ``variance='posterior'``.
    Even with an exact denoiser the deterministic sampler is first order: on
    Gaussian data each step multiplies a mode's variance by
    ``cos^2(theta_t - theta_prev)``, ``a = cos theta``, so the spectrum comes
    out low by O(1/n); use :func:`time_grid` with the process.

    Each step: ``eps_hat = (X_t - a_t X0_hat) / sigma_t`` and
    ``X_prev = a_prev X0_hat + sqrt(sigma_prev^2 - eta^2 v S) eps_hat + eta sqrt(v S) z``
    with ``v S`` the posterior variance. Modes with ``sigma_t = 0`` are known
    exactly (``X0 = X_t / a_t``) and are carried over. Arguments and return
    value as :func:`ancestral_sample`.
    """
    if isinstance(eta, bool) or not isinstance(eta, Real) or not 0 <= eta <= 1:
        raise InputError(f"eta must lie in [0, 1], got {eta!r}")
    x, B, times = _start(process, x_start), process.basis, _check_times(times)
    for t, t_prev in zip(times[:-1], times[1:]):
        x0_hat = denoiser(x, torch.full((x.shape[0],), t, dtype=torch.float64, device=x.device))
        Xt, X0 = B.forward(x), B.forward(x0_hat.to(torch.float64))
        a_t, a_p, s2_t, s2_p = process.a(t), process.a(t_prev), process.sigma2(t), process.sigma2(t_prev)
        noisy = s2_t > 0
        X0 = torch.where(noisy, X0, Xt / a_t)                          # sigma_t = 0: a_t = 1, X0 = X_t
        E = torch.where(noisy, (Xt - a_t * X0) / torch.sqrt(torch.where(noisy, s2_t, 1.0)), 0.0)
        var = eta**2 * process.posterior_coefficients(t, t_prev)[2] * process.S
        X = a_p * X0 + torch.sqrt(torch.clamp(s2_p - var, min=0.0)) * E
        if eta > 0:
            X = X + torch.sqrt(var) * B.forward(randn(tuple(x.shape), generator, x.device))
        x = B.inverse(X)
    return x


# ----- start states for super-resolution ----------------------------------------------------------


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
    B, S = process.basis, process.S
    Y = B.forward(embed_coarse(process, y_coarse, None, offset))
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
    ok = band & (P_emb > 1e-12 * P_emb.max())
    P_emb = torch.where(ok, P_emb, 1.0)
    gain = torch.where(ok, torch.sqrt(P_fine / P_emb), 0.0)
    corr = torch.where(ok, (P_cross / torch.sqrt(P_fine.clamp_min(1e-300) * P_emb)).clamp(0.0, 1.0), 0.0)
    return gain, corr


def measure_gain(fine_spins, scale, basis="fourier", rule: str = "majority", seed=0) -> torch.Tensor:
    """The pass-band gain of :func:`measure_passband` alone, shape ``(L, L)`` float64."""
    return measure_passband(fine_spins, scale, basis, rule, seed)[0]


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
