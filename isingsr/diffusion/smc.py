"""Twisted sequential Monte Carlo: super-resolution conditioned on the input's block majorities, corrected
by importance weights.

The constrained samplers of :mod:`isingsr.diffusion.consistency` change the network's estimate of x_0 so
that its blocks agree with the coarse input y; each is a model of the conditional mean
``E[x_0 | x_t, y]``, and where the model is wrong the output is too (docs/consistency.md). Here one such
sampler is only the *proposal* of a particle filter whose target is the unconstrained model's own reverse
chain from the same start state, restricted to outputs that coarse-grain to y:

    ``p(x_{0:T} | x_T, y)  ∝  prod_t p_theta(x_{t-1} | x_t) * P(y | x_0)``

with ``P(y | x_0)`` the majority rule's likelihood (1 for a block of the input's majority, 1/2 for a tie,
which the fair-coin rule gives the input's spin half the time, 0 otherwise). For every configuration K
particles start from the same state x_T and take the proposal's ancestral step; each carries the weight
(Wu et al. 2023, twisted diffusion sampler)

    ``w  *=  p_theta(x' | x) / q(x' | x, y)  *  g_{t'}(x') / g_t(x)``

where p_theta's step uses the network's estimate D, q's the constrained one D~ (both Gaussian per mode with
the same variance, so the ratio is ``exp(-z.delta - |delta|^2 / 2)`` in the step's whitened noise z, with
``delta`` the whitened difference of the two means) and ``g_t`` is a twisting function, an approximation of
``P(y | x_t)`` that keeps the weights even along the way: each block's mean of ``x_0 ~ N(D, Sigma_t)`` on the
input's side, ``prod_B Phi(y_B mu_B / s_t)`` (``s_t`` the block mean's standard deviation under the
Gaussian posterior covariance). Its block means ``mu_B`` are best taken from an estimate whose block means
err as the Gaussian model says: early on the network's err about 12 times s_t^2, the estimate with the
Wiener one ``a_t X_t`` in the modes of signal fraction below 0.1 about 0.9 times
(``results/block_mean_errors_tiny_L32``), and with it the weights stay even (docs/consistency.md).
At t = 0 the twist is the exact likelihood. Particles are resampled (systematic) when the effective sample
size falls below half of K; at the end one particle per configuration is drawn by its weight. Whatever the
proposal and twist, the weighted particles become draws of the target as K grows; a good proposal and twist
need few. Cost: K network evaluations per step and configuration.

References
----------
L. Wu, B. L. Trippe, C. A. Naesseth, D. M. Blei and J. P. Cunningham, "Practical and asymptotically exact
conditional sampling in diffusion models", NeurIPS (2023).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ..defaults import TWIST_A
from ..exceptions import InputError
from .consistency import _along_input, _block_means, block_mean_variance
from .denoiser import with_wiener
from .process import DiagonalProcess
from .rng import generators, randn
from .samplers import _check_times, _start, step_coefficients

__all__ = ["TWIST_A", "SMCStats", "log_twist", "wiener_twist", "log_likelihood", "systematic_resample",
           "twisted_smc_sample"]


@dataclass
class SMCStats:
    """What the particle filter did, one entry per call (batch): its time grid, the effective sample size before each
    step's
    resampling (fraction of K, mean over the batch's configurations), how many configurations resampled at
    each step, and each step's ``spread``: the variance over a configuration's particles of the log-weight the
    step adds (its proposal ratio and twist ratio; the last step's with the final likelihood in place of the
    next twist), mean over the configurations where it is finite -- where along the steps the weights become
    uneven (summed over steps, about the log-weight variance they accumulate); and per configuration the final
    effective sample size (fraction of K; 0 where no particle was consistent). Calls may append from several
    threads (each appends whole entries)."""
    times: list[list[float]] = field(default_factory=list)
    ess: list[list[float]] = field(default_factory=list)
    resampled: list[list[int]] = field(default_factory=list)
    spread: list[list[float]] = field(default_factory=list)
    final_ess: list[float] = field(default_factory=list)

    @property
    def no_consistent(self) -> int:
        """Configurations none of whose particles was consistent with the input."""
        return sum(1 for e in self.final_ess if e == 0.0)


def log_twist(x0: torch.Tensor, coarse: torch.Tensor, b: int, s: float) -> torch.Tensor:
    """``sum_B log Phi(y_B mean_B(x0) / s)`` per sample, shape (N,); with ``s = 0`` the block-mean signs' indicator."""
    n, L = x0.shape[0], x0.shape[-1]
    mu = coarse.to(torch.float64) * _block_means(x0.reshape(n, L, L).to(torch.float64), b)
    if s <= 0:
        return torch.where(mu > 0, torch.zeros_like(mu), -math.inf).sum(dim=(1, 2))
    return torch.special.log_ndtr(mu / s).sum(dim=(1, 2))


def wiener_twist(process: DiagonalProcess, twist_a: float = TWIST_A):
    """``twist_estimate`` of :func:`twisted_smc_sample`: the network's estimate with the Wiener one ``a_t X_t`` in
    the modes of signal fraction ``a_t(k) < twist_a`` (:func:`~isingsr.diffusion.denoiser.with_wiener`)."""
    def estimate(x0: torch.Tensor, x_t: torch.Tensor, t) -> torch.Tensor:
        a = process.a(torch.as_tensor(t, dtype=torch.float64, device=x0.device).reshape(-1)[0])
        return with_wiener(x0, x_t, a, a < twist_a, process.basis)
    return estimate


def log_likelihood(x0: torch.Tensor, coarse: torch.Tensor, b: int) -> torch.Tensor:
    """log P(y | sign(x0)) under the majority rule with fair-coin ties, per sample (N,): 0, -k log 2 for
    k tied blocks, or -inf when a block's majority is against the input. Spins are ``x0 >= 0``."""
    n, L = x0.shape[0], x0.shape[-1]
    spins = torch.where(x0.reshape(n, L, L) >= 0, 1.0, -1.0).to(torch.float64)
    along = _along_input(spins, coarse, b).sum(-1)
    zero = torch.zeros_like(along)
    per_block = torch.where(along > 0, zero, torch.where(along == 0, zero - math.log(2.0), zero - math.inf))
    return per_block.sum(dim=(1, 2))


def systematic_resample(logw: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Systematic resampling of each row of log-weights ``(N, K)`` with offsets ``u`` in [0, 1), shape (N,):
    ancestor indices ``(N, K)``; particle j is copied about ``K w_j`` times."""
    n, k = logw.shape
    w = torch.softmax(logw, dim=1)
    cdf = torch.cumsum(w, dim=1)
    cdf[:, -1] = 1.0
    points = (u[:, None] + torch.arange(k, dtype=w.dtype, device=w.device)[None, :]) / k
    return torch.searchsorted(cdf, points).clamp(max=k - 1)


def _no_nan(logw: torch.Tensor) -> torch.Tensor:
    """Log-weights with nan (an impossible particle, -inf minus -inf) as -inf; infinities kept."""
    return torch.where(torch.isnan(logw), -math.inf, logw)


def _spread(increment: torch.Tensor) -> float:
    """Variance over each row's particles of a log-weight increment ``(N, K)``, mean over the rows where every
    entry is finite (0 where none is)."""
    ok = torch.isfinite(increment).all(dim=1)
    return float(increment[ok].var(dim=1, unbiased=False).mean()) if bool(ok.any()) else 0.0


def _ess(logw: torch.Tensor) -> torch.Tensor:
    """Effective sample size per row of log-weights, as a fraction of the row's length."""
    w = torch.softmax(logw, dim=1)
    return 1.0 / (w * w).sum(dim=1) / logw.shape[1]


def twisted_smc_sample(den, propose, process: DiagonalProcess, x_start: torch.Tensor, times, coarse: torch.Tensor,
                       b: int, particles: int, generator, *, twist_estimate=None, finish=None,
                       stats: SMCStats | None = None) -> torch.Tensor:
    """Super-resolved fields ``(N, 1, L, L)`` float64, one per start state, from K = ``particles`` weighted
    particles each (module docstring).

    Parameters
    ----------
    den : callable
        The network's denoiser ``den(x_t, t) -> x0_hat``: the model whose conditional law is the target.
    propose : callable
        ``propose(x0_hat, x_t, t) -> x0_tilde``: the constrained estimate the particles step with (e.g.
        :meth:`~isingsr.diffusion.consistency.MeanConstrainedDenoiser.lift`), for K N samples at once.
    process : DiagonalProcess
        In the fourier basis (the block means' variance assumes every block alike).
    x_start : tensor, shape (N, 1, L, L)
        Start states at ``times[0]``, shared by each configuration's particles.
    times : strictly decreasing grid ending at 0 (:func:`~isingsr.diffusion.samplers.time_grid`).
    coarse : tensor, shape (N, L/b, L/b), +-1
    generator : list of N torch.Generator
        One per configuration; every particle's noise and every resampling is drawn from its own.
    twist_estimate : callable or None
        ``twist_estimate(x0_hat, x_t, t) -> estimate`` whose block means the twist takes (None: the network's
        ``x0_hat``), e.g. one with the Wiener estimate in the noisiest modes, whose block means err as the
        Gaussian model says where the network's do not.
    finish : callable or None
        ``finish(x (M, 1, L, L), coarse (M, L/b, L/b), generators) -> x``: applied to the particle chosen for a
        configuration none of whose particles is consistent (counted in ``stats``), e.g. the majority projection.
    stats : SMCStats or None
        Filled in place.
    """
    k = int(particles)
    if k < 1:
        raise InputError(f"particles must be >= 1, got {particles}")
    x = _start(process, x_start)
    n, L = x.shape[0], x.shape[-1]
    gens = list(generator)
    if len(gens) != n:
        raise InputError(f"got {len(gens)} generators for {n} start states")
    # each particle draws its noise from a generator seeded by its configuration's: reproducible per configuration
    seeds = [torch.randint(0, 2**62, (k,), generator=g).tolist() for g in gens]
    pgens = generators([s for row in seeds for s in row], device=gens[0].device)
    B, times = process.basis, _check_times(times)
    cr = coarse.to(x.device).repeat_interleave(k, 0)
    x = x.repeat_interleave(k, 0)
    X = B.forward(x)
    logw = torch.zeros(n, k, dtype=torch.float64, device=x.device)
    prev_twist = None
    stats = SMCStats() if stats is None else stats
    ess_trace, resampled, spread = [], [], []
    step_w = torch.zeros_like(logw)  # the last step's proposal ratio, per particle
    for t, t_next in zip(times[:-1], times[1:]):
        tt = torch.full((n * k,), t, dtype=torch.float64, device=x.device)
        D = den(x, tt).to(torch.float64)
        s = block_mean_variance(process.sigma2(t), B, b, L) ** 0.5
        twist = log_twist(D if twist_estimate is None else twist_estimate(D, x, tt), cr, b, s)
        if prev_twist is not None:
            logw = logw + (twist - prev_twist).reshape(n, k)
            spread.append(_spread(step_w + (twist - prev_twist).reshape(n, k)))
        logw = _no_nan(logw)
        ess = _ess(logw)
        ess_trace.append(float(ess.mean()))
        redo = ess < 0.5
        resampled.append(int(redo.sum()))
        # every configuration draws its offset at every step, so its stream does not depend on its batch
        u = torch.stack([torch.rand((), generator=g, dtype=torch.float64) for g in gens]).to(x.device)
        if bool(redo.any()):
            idx = systematic_resample(logw, u)
            idx = torch.where(redo[:, None], idx, torch.arange(k, device=x.device)[None, :])
            flat = (idx + k * torch.arange(n, device=x.device)[:, None]).reshape(-1)
            x, X, D, twist = x[flat], X[flat], D[flat], twist[flat]
            logw = torch.where(redo[:, None], torch.zeros_like(logw), logw)
        Dq = propose(D, x, tt).to(torch.float64)
        c_x, c_d, std = step_coefficients(process, t, t_next, 1.0, "gaussian")
        z = randn(tuple(x.shape), pgens, x.device)
        X = c_x * X + c_d * B.forward(Dq) + std * B.forward(z)
        known = std > 0
        delta = B.inverse(torch.where(known, c_d * B.forward(Dq - D) / torch.where(known, std, 1.0), 0.0))
        step_w = (-(z * delta).sum(dim=(1, 2, 3)) - 0.5 * (delta * delta).sum(dim=(1, 2, 3))).reshape(n, k)
        logw = logw + step_w
        x = B.inverse(X)
        prev_twist = twist
    last = (log_likelihood(x, cr, b) - prev_twist).reshape(n, k)
    spread.append(_spread(step_w + last))
    logw = _no_nan(logw + last)
    none_ok = torch.isinf(logw).all(dim=1) & (logw < 0).all(dim=1)
    stats.times.append([float(t) for t in times])
    stats.ess.append(ess_trace)
    stats.resampled.append(resampled)
    stats.spread.append(spread)
    stats.final_ess.extend(torch.where(none_ok, 0.0, _ess(torch.where(none_ok[:, None], 0.0, logw))).tolist())
    u = torch.stack([torch.rand((), generator=g, dtype=torch.float64) for g in gens]).to(x.device)
    w = torch.softmax(torch.where(none_ok[:, None], 0.0, logw), dim=1)
    pick = torch.searchsorted(torch.cumsum(w, dim=1), u[:, None]).clamp(max=k - 1)[:, 0]
    out = x.reshape(n, k, 1, L, L)[torch.arange(n, device=x.device), pick]
    if finish is not None and bool(none_ok.any()):
        out[none_ok] = finish(out[none_ok], coarse.to(x.device)[none_ok],
                              [g for g, bad in zip(gens, none_ok.tolist()) if bad])
    return out
