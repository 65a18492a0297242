"""Samplers: free functions that run a diagonal reverse process over an explicit time grid.

One denoiser contract: ``denoiser(x_t, t) -> x0_hat``, with ``x_t`` a
``(B, C, L, L)`` float64 field (C = 1 for Ising, 3 for RGB images) and ``t`` a ``(B,)`` float64 tensor; it may
return any real dtype. A sampler is ``sample(denoiser, process, x_start, times)``:
it runs from ``times[0]`` down to ``times[-1] = 0`` (:func:`time_grid`).
Generation starts at t = 1 from spectrum-matched noise (:func:`gaussian_field`);
super-resolution is the same call from a later start state
(:mod:`isingsr.diffusion.starts`) and the tail of the grid.

Every one-evaluation sampler here is, mode by mode in the process's basis, the linear multistep update::

    X_next = c_x X + c_d [D_i + w (D_i - D_{i-1})] + std z,     z ~ N(0, 1),

with ``D_i`` the denoiser's estimate of ``X_0`` at ``t_i``. They differ in
the coefficients (:func:`step_coefficients`) and in ``w``:

* ``ancestral`` -- the per-mode DDPM posterior step (``c_x, c_d, std`` of
  :meth:`~isingsr.diffusion.process.DiagonalProcess.posterior_coefficients`,
  ``w = 0``); first order.
* ``ddim`` -- the deterministic DDIM step (``std = 0``, ``w = 0``); first order.
* ``dpmpp-2m-sde`` -- SDE-DPM-Solver++(2M) (Lu et al. 2022): the ancestral
  step with the second-order correction ``w = 1 / (2 r)``, ``r = h_prev / h``,
  ``h = lambda_next - lambda_now`` the step in the mode's half log-SNR
  ``lambda = ln(a / sigma)`` (:meth:`~isingsr.diffusion.process.DiagonalProcess.half_logsnr`).
* ``dpmpp-2m-sde-half`` -- the same correction on the DDIM step with half
  the ancestral noise (DDIM ``eta = 1/2``).
* ``dpmpp-2m`` -- DPM-Solver++(2M), the same correction on the DDIM step
  (the probability-flow ODE).
* ``heun-sde`` / ``heun`` -- predictor-corrector (stochastic Heun): the
  ancestral (DDIM) step, the network again at the predicted state, and the
  same step with the trapezoidal average of the two estimates
  (:func:`heun_weight`); second order, two evaluations per step but the last.

Because the process is diagonal, ``h`` and ``r`` are per mode. The
correction is switched off (``w = 0``: first order) on the first step and,
per mode, where ``h`` or ``h_prev`` is not a finite positive number (a mode
still exactly known, the step to t = 0) or ``r`` is outside
:data:`R_RANGE` (a mode whose rate of change jumps between steps).

Randomness comes from ``generator``: None, one ``torch.Generator``, or one
per sample (:func:`~isingsr.diffusion.rng.generators`), in which case sample
i does not depend on the batch it is drawn in.

References
----------
J. Ho, A. Jain and P. Abbeel, "Denoising diffusion probabilistic models",
NeurIPS (2020).
J. Song, C. Meng and S. Ermon, "Denoising diffusion implicit models", ICLR (2021).
C. Lu, Y. Zhou, F. Bao, J. Chen, C. Li and J. Zhu, "DPM-Solver++: fast solver
for guided sampling of diffusion probabilistic models", arXiv:2211.01095 (2022).
T. Karras, M. Aittala, T. Aila and S. Laine, "Elucidating the design space of
diffusion-based generative models", NeurIPS (2022) (the Heun step).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch

from ..exceptions import InputError
from ..validate import integer, real
from .process import DiagonalProcess
from .rng import randn

__all__ = ["SAMPLERS", "VARIANCES", "R_RANGE", "L_END", "U_END", "L_SOFT", "time_grid", "gaussian_field",
           "step_coefficients", "correction_weight", "ancestral_sample", "ddim_sample", "dpmpp_2m_sde_sample",
           "dpmpp_2m_sde_half_sample", "dpmpp_2m_sample", "heun_weight", "heun_sde_sample", "heun_sample",
           "VARIANCE_SAMPLERS", "TWO_STAGE", "evaluations", "get_sampler"]

#: Smallest blur length of :func:`time_grid` before the last step to t = 0 (lattice units).
L_END = 0.02
#: Envelope progress below which :func:`time_grid` stops refining the zero mode.
U_END = 0.05
#: Blur length (lattice units) below which :func:`time_grid` spaces its steps uniformly in l rather than
#: in ln l. Measured with the shipped L = 32 checkpoint, ancestral sampler, 25 steps, 4x: the energy bias
#: against 400 steps is +0.025 with no softening, +0.0065 at 0.35, +0.012 at 0.7 (``docs/sampling.md``).
L_SOFT = 0.35
#: Named choices of the step variance of the stochastic samplers (:func:`step_coefficients`).
VARIANCES = ("gaussian", "posterior", "adaptive")
#: Step ratios ``r = h_prev / h`` for which the second-order correction is applied (per mode).
R_RANGE = (0.2, 5.0)


def time_grid(n_steps: int, t_start: float = 1.0, process: DiagonalProcess | None = None,
              l_end: float = L_END, u_end: float = U_END, l_soft: float = L_SOFT,
              rho: float = 1.0, bump: float = 0.0, l_bump: float = 1.0, bump_width: float = 0.5) -> torch.Tensor:
    """Decreasing time grid ``t_start = t_0 > ... > t_n = 0``, shape ``(n_steps + 1,)`` float64.

    Without ``process`` (or for a process without a blur length): uniform in
    t, i.e. uniform in the log of the cutoff length ``w(t)`` of SKILD. With a
    :class:`~isingsr.diffusion.process.SpectralProcess`: uniform in

        ``tau(t) = ln sqrt(l(t)^2 + l_soft^2) + ln(max(u, u_end) / u_end)``

    from ``t_start`` down to the time where the blur length is ``l_end``,
    then one step to 0, where ``u = (t - t_env) / (1 - t_env)`` in the
    envelope (0 before). Each mode fades over about one unit of ``ln(k l)``,
    and the zero mode over one unit of ``ln u`` (``1 - a^2 ~ u^2`` there), so
    every mode, the zero mode included, crosses its transition in about the
    same number of steps. Below ``l_soft`` (a fraction of a lattice spacing,
    where only the last details of a spin field change) the steps become
    uniform in l instead, which leaves more of them to the scales that set the
    correlations (:data:`L_SOFT`, measured). The last step leaves a relative
    ``(k l_end)^2`` to the denoiser. ``rho != 1`` bends the grid: its steps
    are uniform in ``s^rho`` with ``tau`` linear in s (rho > 1: more steps at
    the fine scales; measured no better at 50 steps, docs/sampling.md).
    ``bump > 0`` multiplies the density of steps in tau by
    ``1 + bump exp(-ln(l / l_bump)^2 / (2 bump_width^2))``: more steps around the blur length
    ``l_bump`` (lattice units), where the network's estimate changes fastest
    (``experiments/estimate_smoothness.py``: at about one lattice spacing, where the block majorities
    are decided). Measured at 4x it moves the few-step energy bias through zero rather than removing it
    (docs/sampling.md), so it is off by default.

    Examples
    --------
    >>> time_grid(4, 0.5).tolist()
    [0.5, 0.375, 0.25, 0.125, 0.0]
    """
    if not isinstance(n_steps, Integral):
        raise InputError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    n_steps = integer(n_steps, "n_steps", minimum=1)
    t_start = real(t_start, "t_start", low=0, high=1, low_open=True)
    bump = real(bump, "bump", low=0)
    l_bump, bump_width = real(l_bump, "l_bump", low=0, low_open=True), real(bump_width, "bump_width", low=0,
                                                                            low_open=True)
    blurred = process is not None and hasattr(process, "blur_length")
    t_end = float(process.time_at_blur(l_end)) if blurred else 0.0
    if not blurred or t_start <= t_end:
        return torch.linspace(float(t_start), 0.0, int(n_steps) + 1, dtype=torch.float64)
    t = np.linspace(t_end, 1.0, 100_001)                                    # tau is increasing on [t_end, 1]
    u = np.clip((t - process.t_env) / (1 - process.t_env), u_end, 1.0)
    l = process.blur_length(torch.from_numpy(t)).cpu().numpy()
    tau = 0.5 * np.log(l * l + l_soft * l_soft) + np.log(u / u_end)
    if bump:
        w = 1.0 + float(bump) * np.exp(-np.log(l / float(l_bump)) ** 2 / (2.0 * float(bump_width) ** 2))
        tau = tau[0] + np.concatenate([[0.0], np.cumsum(0.5 * (w[1:] + w[:-1]) * np.diff(tau))])
    taus = np.linspace(np.interp(t_start, t, tau), tau[0], int(n_steps))
    if rho != 1.0:
        taus = tau[0] + (taus[0] - tau[0]) * np.linspace(1.0, 0.0, int(n_steps)) ** float(rho)
    grid = np.append(np.interp(taus, tau, t), 0.0)
    grid[0] = t_start
    return torch.from_numpy(grid)


def _check_times(times) -> list[float]:
    t = torch.as_tensor(times, dtype=torch.float64)
    if t.ndim != 1 or t.numel() < 2 or not bool(torch.all(t[1:] < t[:-1])) or float(t[-1]) != 0.0 \
            or not bool(torch.all((t >= 0) & (t <= 1))):
        raise InputError("times must be a 1-D, strictly decreasing grid in [0, 1] ending at 0")
    return t.tolist()


def gaussian_field(process: DiagonalProcess, n: int, generator=None, channels: int = 1) -> torch.Tensor:
    """Stationary Gaussian fields with spectrum S: ``B^-1[sqrt(S) eps]``, shape ``(n, channels, L, L)`` float64.

    This is also the start state of generation (the t = 1 marginal); every
    channel has the same spectrum (images: one spectrum shared by R, G, B).
    """
    eps = randn((n, channels, process.L, process.L), generator, process.S.device)
    return process.basis.inverse(process.S.sqrt() * process.basis.forward(eps))


def _start(process: DiagonalProcess, x_start) -> torch.Tensor:
    if not torch.is_tensor(x_start) or x_start.ndim != 4 or tuple(x_start.shape[2:]) != (process.L, process.L):
        raise InputError(f"x_start: expected shape (B, C, {process.L}, {process.L}), "
                         f"got {tuple(x_start.shape) if torch.is_tensor(x_start) else type(x_start).__name__}")
    return x_start.to(torch.float64)


def step_coefficients(process: DiagonalProcess, t: float, t_next: float, eta: float = 1.0, variance="posterior",
                      first_order=True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """First-order step ``X_next = c_x X + c_d D + std z`` per mode; each ``(L, L)`` float64.

    ``eta = 1``: the DDPM posterior ``q(X_next | X, X_0 = D)``
    (:meth:`~isingsr.diffusion.process.DiagonalProcess.posterior_coefficients`),
    its variance ``v S`` plus ``c_d^2 m``, ``m`` the denoiser's expected error
    variance chosen by ``variance``: ``'posterior'`` ``m = 0``; ``'gaussian'``
    ``m = sigma_t^2``, the error of the exact denoiser of Gaussian data, with
    which a first-order step is exact for Gaussian data on any grid;
    ``'adaptive'`` ``m = sigma_t^2`` for the modes where ``first_order`` (a
    bool or an ``(L, L)`` mask) is true and 0 elsewhere, for a second-order
    sampler whose correction is off in some modes; a callable ``m(t) -> (L, L)``.
    ``0 <= eta < 1``: the DDIM step with noise variance ``eta^2 v S``
    (``eta = 0``: deterministic), ``X_next = a_next D + sqrt(sigma_next^2 - eta^2 v S) eps_hat``,
    ``eps_hat = (X - a D) / sigma``. A mode with ``sigma = 0`` is known and
    carried over (``c_x = 1``, ``c_d = 0``).
    """
    c_t, c_0, v = process.posterior_coefficients(t, t_next)
    if eta == 1.0:
        c_x, c_d, var = c_t, c_0, v * process.S
    else:
        var = eta**2 * v * process.S
        s2, s2n = process.sigma2(t), process.sigma2(t_next)
        known = s2 == 0
        c_x = torch.where(known, 1.0, torch.sqrt(torch.clamp(s2n - var, min=0.0) / torch.where(known, 1.0, s2)))
        c_d = torch.where(known, 0.0, process.a(t_next) - process.a(t) * c_x)
    if variance == "gaussian":
        var = var + c_d**2 * process.sigma2(t)                          # Var(X_0 | X_t) of Gaussian data
    elif variance == "adaptive":
        var = var + c_d**2 * torch.where(torch.as_tensor(first_order, device=var.device), process.sigma2(t), 0.0)
    elif callable(variance):
        var = var + c_d**2 * torch.as_tensor(variance(t), dtype=torch.float64, device=var.device)
    elif variance != "posterior":
        raise InputError(f"unknown variance {variance!r}; expected one of {', '.join(VARIANCES)} or a callable")
    return c_x, c_d, torch.sqrt(var)


def correction_weight(h: torch.Tensor, h_prev: torch.Tensor, r_range=R_RANGE) -> torch.Tensor:
    """Per-mode weight ``w = 1 / (2 r)``, ``r = h_prev / h``, of the 2M correction; 0 where it is off.

    Off where ``h`` or ``h_prev`` is not finite and positive or ``r`` lies outside ``r_range``.
    """
    ok = torch.isfinite(h) & torch.isfinite(h_prev) & (h > 0) & (h_prev > 0)
    r = torch.where(ok, h_prev, 1.0) / torch.where(ok, h, 1.0)
    ok &= (r >= r_range[0]) & (r <= r_range[1])
    return torch.where(ok, 0.5 / r, 0.0)


def _estimate(denoiser, basis, x: torch.Tensor, t: float) -> torch.Tensor:
    """The denoiser's estimate of X_0 at time t, in the process's basis."""
    return basis.forward(denoiser(x, torch.full((x.shape[0],), t, dtype=torch.float64, device=x.device))
                         .to(torch.float64))


def _multistep(denoiser, process: DiagonalProcess, x_start, times, generator, *, eta: float, variance,
               second_order: bool, r_range=R_RANGE, residual: bool = False, draw=None) -> torch.Tensor:
    """The update of the module docstring; the samplers below choose its coefficients.

    ``residual``: the correction acts on ``R = D - a X``, the denoiser's departure from the exact
    denoiser of Gaussian data, instead of on ``D``. ``draw`` (first order, ``variance='gaussian'``): the
    step noise is split into its two sources, ``X_next = c_x X + c_d (D + e) + sqrt(v S) z`` with
    ``e ~ N(0, sigma_t^2)`` per mode the Gaussian model's draw of ``X_0 - D``; ``draw(e, t)`` (fields in
    space, ``(B, C, L, L)``) returns it conditioned on what the caller knows about ``X_0`` (the same law
    as without ``draw`` when it returns ``e``).
    """
    x, B, times = _start(process, x_start), process.basis, _check_times(times)
    X, D_prev, h_prev = B.forward(x), None, None
    for t, t_next in zip(times[:-1], times[1:]):
        D = _estimate(denoiser, B, x, t)
        R = D - process.a(t) * X if residual else D
        w = 0.0
        if second_order:
            h = process.half_logsnr(t_next) - process.half_logsnr(t)   # per mode; nan where known
            if D_prev is not None:
                w = correction_weight(h, h_prev, r_range)
            h_prev = h
        if draw is not None:
            c_x, c_d, std = step_coefficients(process, t, t_next, eta, "posterior")
            e = B.inverse(process.sigma2(t).sqrt() * B.forward(randn(tuple(x.shape), generator, x.device)))
            D = D + B.forward(draw(e, t))
        else:
            c_x, c_d, std = step_coefficients(process, t, t_next, eta, variance, first_order=w == 0)
        X_next = c_x * X + c_d * D
        if second_order and D_prev is not None:
            X_next = X_next + c_d * w * (R - D_prev)
        D_prev = R
        if eta > 0:
            X_next = X_next + std * B.forward(randn(tuple(x.shape), generator, x.device))
        X = X_next
        x = B.inverse(X)
    return x


def ancestral_sample(denoiser, process: DiagonalProcess, x_start, times, generator=None,
                     variance="gaussian", draw=None) -> torch.Tensor:
    """Ancestral (DDPM) sampling from ``times[0]`` down to ``times[-1] = 0``; first order.

    Each step draws, per mode, ``X_prev ~ N(c_t X_t + c_0 X0_hat, v S + c_0^2 m)``
    with the posterior coefficients of
    :meth:`~isingsr.diffusion.process.DiagonalProcess.posterior_coefficients`
    and ``m`` the expected error variance ``E[Var(X_0 | X_t)]`` of the
    denoiser, chosen by ``variance``:

    * ``'gaussian'`` (default): ``m = (1 - a_t^2) S``, the value for Gaussian
      data with spectrum S; the step variance is then ``(1 - alpha^2) S``
      (Ho et al.'s "large" choice) and the Wiener oracle reproduces S exactly
      on any grid. The upper bound of ``m`` for any data with spectrum S.
    * ``'posterior'``: ``m = 0``, the DDPM posterior variance (Ho et al.'s
      "small" choice; exact when ``x_0`` is a function of ``x_t``); on Gaussian
      data it loses O(1/n) of the variance for n steps, and its last step
      returns ``x0_hat`` itself.
    * ``'adaptive'``: the same as ``'gaussian'`` for this first-order sampler.
    * a callable ``m(t) -> (L, L)`` tensor: the per-mode MSE of a trained
      denoiser at time t (the analytic-DPM choice, between the two).

    Parameters
    ----------
    denoiser : callable
        ``denoiser(x_t (B, 1, L, L), t (B,)) -> x0_hat (B, 1, L, L)``.
    process : DiagonalProcess
    x_start : tensor, shape (B, 1, L, L)
        State at ``times[0]``.
    times : sequence or tensor, shape (n + 1,)
        Strictly decreasing, ending at 0 (:func:`time_grid`).
    generator : None, torch.Generator or list of them (one per sample)
    variance : {'gaussian', 'posterior', 'adaptive'} or callable
    draw : callable or None
        With ``variance='gaussian'``: ``draw(e, t) -> e``, the step's Gaussian draw of ``X_0 - D`` (fields
        ``(B, 1, L, L)``) conditioned by the caller, e.g. on the block signs a coarse input fixes
        (:meth:`~isingsr.diffusion.consistency.MeanConstrainedDenoiser.condition_draw`).

    Returns
    -------
    tensor, shape (B, 1, L, L) float64
        Continuous fields at t = 0 (``torch.sign`` gives spins).
    """
    if variance not in VARIANCES and not callable(variance):
        raise InputError(f"unknown variance {variance!r}; expected one of {', '.join(VARIANCES)} or a callable")
    if draw is not None and variance != "gaussian":
        raise InputError(f"a conditioned draw of x_0 needs the step variance 'gaussian', not {variance!r}")
    return _multistep(denoiser, process, x_start, times, generator, eta=1.0, variance=variance, second_order=False,
                      draw=draw)


def ddim_sample(denoiser, process: DiagonalProcess, x_start, times, eta: float = 0.0, generator=None) -> torch.Tensor:
    """DDIM sampling per mode; ``eta = 0`` is deterministic; first order.

    ``eta = 1`` is :func:`ancestral_sample` with ``variance='posterior'``.
    Even with an exact denoiser the deterministic sampler is first order: on
    Gaussian data each step multiplies a mode's variance by
    ``cos^2(theta_t - theta_prev)``, ``a = cos theta``, so the spectrum comes
    out low by O(1/n).

    Each step: ``eps_hat = (X_t - a_t X0_hat) / sigma_t`` and
    ``X_prev = a_prev X0_hat + sqrt(sigma_prev^2 - eta^2 v S) eps_hat + eta sqrt(v S) z``
    with ``v S`` the posterior variance. Modes with ``sigma_t = 0`` are known
    exactly and are carried over. Arguments and return value as
    :func:`ancestral_sample`.
    """
    eta = real(eta, "eta", low=0, high=1)
    return _multistep(denoiser, process, x_start, times, generator, eta=float(eta), variance="posterior",
                      second_order=False)


def dpmpp_2m_sde_sample(denoiser, process: DiagonalProcess, x_start, times, generator=None,
                        variance="adaptive", r_range=R_RANGE, eta: float = 1.0) -> torch.Tensor:
    """SDE-DPM-Solver++(2M) per mode: the ancestral step with a second-order correction.

    Per mode, with ``lambda = ln(a / sigma)``, ``h = lambda_next - lambda_now``,
    ``r = h_prev / h``::

        X_next = (sigma_next / sigma_now) e^-h X_now
                 + a_next (1 - e^-2h) [D_i + (D_i - D_{i-1}) / (2 r)]
                 + sigma_next sqrt(1 - e^-2h) z

    which is :func:`ancestral_sample` with ``variance='posterior'`` plus the
    term in ``D_i - D_{i-1}`` (first order where the correction is off; see
    the module docstring). ``variance`` adds ``c_0^2 m`` to the step variance
    as for :func:`ancestral_sample`; the default ``'adaptive'`` does so only
    in the modes and steps where the correction is off (the first step, each
    mode's last step, a jump of its rate), which are then exact for Gaussian
    data and would otherwise limit the whole sampler to first order. With it,
    on Gaussian data and the exact denoiser, the output variance converges
    like ``1 / n^2`` (``'posterior'`` stalls at the last step's
    ``(k l_end)^2``; ``'gaussian'`` is first order).

    ``0 < eta < 1`` takes the same correction on the DDIM-eta step (:func:`step_coefficients`: noise of
    variance ``eta^2 v S``, the rest of ``sigma_next`` carried by the estimated noise), between this
    sampler (``eta = 1``) and :func:`dpmpp_2m_sample`'s ODE (``eta = 0``, which is that function, not this
    one: it draws no noise, so no step variance to choose). Every eta has the same
    continuous limit for an exact denoiser, and with ``'adaptive'`` every eta is second order on
    Gaussian data (tested); with a network they differ, since the injected noise damps the network's
    error (the ODE carries it) while the correction extrapolates the noise-driven part of
    ``D_i - D_{i-1}`` as if it were a smooth change in t (:func:`dpmpp_2m_sde_half_sample`, measured).
    """
    if variance not in VARIANCES and not callable(variance):
        raise InputError(f"unknown variance {variance!r}; expected one of {', '.join(VARIANCES)} or a callable")
    eta = real(eta, "eta", low=0, high=1, low_open=True)
    return _multistep(denoiser, process, x_start, times, generator, eta=float(eta), variance=variance,
                      second_order=True, r_range=r_range)


def dpmpp_2m_sde_half_sample(denoiser, process: DiagonalProcess, x_start, times, generator=None,
                             variance="adaptive", r_range=R_RANGE) -> torch.Tensor:
    """:func:`dpmpp_2m_sde_sample` with ``eta = 1/2``: half the ancestral step's noise (in standard deviation).

    With the default L = 32 network at 4x and 8x it matches the converged ancestral result with a third
    of its evaluations (35 and 50), where ``eta = 1`` comes out too ordered and ``eta = 0`` too disordered
    at the same count. That is a cancellation, not convergence: its own limit at many steps is 2.3 sigma
    too disordered, at 2x it is too disordered at every count measured, and at L = 128 the same counts
    are too ordered (docs/sampling.md#half-the-noise).
    """
    return dpmpp_2m_sde_sample(denoiser, process, x_start, times, generator, variance=variance, r_range=r_range,
                               eta=0.5)


def dpmpp_2m_sample(denoiser, process: DiagonalProcess, x_start, times, generator=None,
                    r_range=R_RANGE) -> torch.Tensor:
    """DPM-Solver++(2M) per mode, deterministic (probability-flow ODE); ``generator`` is unused.

    ``X_next = (sigma_next / sigma_now) X_now + a_next (1 - e^-h) [D_i + (D_i - D_{i-1}) / (2 r)]``;
    without the correction it is :func:`ddim_sample` with ``eta = 0``.
    """
    return _multistep(denoiser, process, x_start, times, None, eta=0.0, variance="posterior", second_order=True,
                      r_range=r_range)


def ancestral_2m_sample(denoiser, process: DiagonalProcess, x_start, times, generator=None,
                        r_range=R_RANGE) -> torch.Tensor:
    """The Gaussian-exact ancestral step with a second-order correction of the denoiser's non-Gaussian part.

    Write the denoiser as ``D = a X + R``: ``a X`` is the exact denoiser of
    Gaussian data with spectrum S, which :func:`ancestral_sample` with
    ``variance='gaussian'`` integrates exactly on any grid, and ``R`` what the
    data's non-Gaussian structure adds. Each step is that ancestral step with
    ``D`` replaced by ``D + w (R_i - R_{i-1})``, ``w = 1 / (2 r)`` per mode as
    for :func:`dpmpp_2m_sde_sample`: on Gaussian data it is exact, and the
    rest is extrapolated to second order.
    """
    return _multistep(denoiser, process, x_start, times, generator, eta=1.0, variance="gaussian", second_order=True,
                      r_range=r_range, residual=True)


def heun_weight(h: torch.Tensor, stochastic: bool) -> torch.Tensor:
    """Per-mode weight ``w`` of ``D_next - D_now`` in the trapezoidal (Heun) step; 0 where ``h`` is not finite.

    The exact integral of the step with ``D`` linear in ``lambda`` between its two end values:
    ``w = (1 - phi / (k h)) / phi``, ``phi = 1 - e^(-k h)``, with ``k = 2`` for the SDE and 1 for
    the ODE; ``w -> 1/2`` (the trapezoid) for small steps and ``-> 1`` for large ones.
    """
    ok = torch.isfinite(h) & (h > 0)
    k = 2.0 if stochastic else 1.0
    kh = k * torch.where(ok, h, 1.0)
    phi = -torch.expm1(-kh)
    return torch.where(ok, (1.0 - phi / kh) / phi, 0.0)


def _heun(denoiser, process: DiagonalProcess, x_start, times, generator, *, eta: float):
    """Predictor-corrector steps: the first-order step, then the same step with the trapezoidal ``D``.

    Each step ``t -> t_next`` with ``t_next > 0`` costs two network evaluations: ``D`` at ``(X, t)`` and
    ``D'`` at the predicted ``(X_pred, t_next)``; the corrected state is
    ``X_next = X_pred + c_d w (D' - D)`` (:func:`heun_weight`), drawn with the predictor's own noise.
    The step to ``t = 0`` is first order (one evaluation): ``n`` steps cost ``2 n - 1`` evaluations.
    Step variance as ``'adaptive'`` in :func:`step_coefficients`: the Gaussian-exact value where the
    correction is off, the posterior value where it is on.
    """
    x, B, times = _start(process, x_start), process.basis, _check_times(times)
    X = B.forward(x)

    for t, t_next in zip(times[:-1], times[1:]):
        D = _estimate(denoiser, B, x, t)
        h = process.half_logsnr(t_next) - process.half_logsnr(t)
        w = heun_weight(h, eta > 0) if t_next > 0 else torch.zeros_like(h)
        c_x, c_d, std = step_coefficients(process, t, t_next, eta, "adaptive", first_order=w == 0)
        X_next = c_x * X + c_d * D
        if eta > 0:
            X_next = X_next + std * B.forward(randn(tuple(x.shape), generator, x.device))
        if bool(torch.any(w > 0)):
            X_next = X_next + c_d * w * (_estimate(denoiser, B, B.inverse(X_next), t_next) - D)
        X = X_next
        x = B.inverse(X)
    return x


def heun_sde_sample(denoiser, process: DiagonalProcess, x_start, times, generator=None) -> torch.Tensor:
    """Stochastic Heun per mode: the ancestral step with a trapezoidal corrector; second order, 2 evaluations
    per step.

    Per mode, ``X_pred = (sigma_next / sigma_now) e^-h X + a_next (1 - e^-2h) D + sigma_next sqrt(1 - e^-2h) z``
    (the posterior-variance ancestral step), then the same step with ``D`` replaced by
    ``D + w (D(X_pred, t_next) - D)`` and the same ``z``, ``w`` of :func:`heun_weight`. Unlike the
    multistep :func:`dpmpp_2m_sde_sample` it interpolates between two estimates instead of extrapolating
    from the previous one, so the network's error between neighbouring times is averaged, not amplified.
    ``n`` steps cost ``2 n - 1`` network evaluations (:func:`evaluations`).
    """
    return _heun(denoiser, process, x_start, times, generator, eta=1.0)


def heun_sample(denoiser, process: DiagonalProcess, x_start, times, generator=None) -> torch.Tensor:
    """Deterministic Heun per mode (probability-flow ODE, the DDIM step with a trapezoidal corrector);
    ``generator`` is unused; ``2 n - 1`` evaluations for ``n`` steps."""
    return _heun(denoiser, process, x_start, times, None, eta=0.0)


#: Samplers by name (``--sampler``): ``f(denoiser, process, x_start, times, generator) -> fields``.
SAMPLERS = {
    "ancestral": ancestral_sample,
    "ddim": ddim_sample,
    "dpmpp-2m-sde": dpmpp_2m_sde_sample,
    "dpmpp-2m-sde-half": dpmpp_2m_sde_half_sample,
    "dpmpp-2m": dpmpp_2m_sample,
    "ancestral-2m": ancestral_2m_sample,
    "heun-sde": heun_sde_sample,
    "heun": heun_sample,
}
#: Samplers whose step variance can be chosen (their ``variance`` keyword).
VARIANCE_SAMPLERS = ("ancestral", "dpmpp-2m-sde", "dpmpp-2m-sde-half")
#: Samplers that evaluate the network twice per step but the last (:func:`evaluations`).
TWO_STAGE = ("heun-sde", "heun")


def evaluations(sampler: str, steps: int) -> int:
    """Network evaluations per configuration of ``steps`` reverse steps of ``sampler``."""
    return 2 * int(steps) - 1 if sampler in TWO_STAGE else int(steps)


def get_sampler(name: str):
    """The sampler called ``name`` (:data:`SAMPLERS`), or one line saying which exist."""
    try:
        return SAMPLERS[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}") from None
