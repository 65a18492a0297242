"""Generation and super-resolution from one checkpoint: only the start time differs.

* generation: start at t = 1 from spectrum-matched noise, run the grid to 0;
* super-resolution by any real factor s >= 1: start at ``t_s = t_start(s)``
  and run the tail of the same grid. Start protocols: ``conditional``
  (default, honest: a draw from the per-mode Gaussian approximation of
  p(x_t | y), built from the coarse input and the checkpoint's pass-band
  statistics), ``coarse`` (honest, SPEC's construction: the gained coarse
  embedding treated as the fine configuration's pass band) and ``forward``
  (the exact forward marginal of the true fine configuration, the published
  protocol, which leaks fine-scale signal; for comparison only).

Sample i uses its own generator seeded ``seed + i``, so it does not depend on
the batch size (STYLE: reproducible independent of batching).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ..coarse import block_centre, majority_blocks
from ..device import in_batches
from ..defaults import GENERATION_STEPS, LATE_BLUR, LIFT_MODES, SAMPLER, TWIST_A, auto_batch, superres_steps
from ..exceptions import InputError
from .consistency import (CONSISTENCY, MEAN_MODES, MeanConstrainedDenoiser, ProjectedDenoiser, majority_projector,
                          project_majority, resolve_ties)
from .denoiser import Denoiser
from .rng import generators, randn
from .samplers import VARIANCE_SAMPLERS, gaussian_field, get_sampler, time_grid
from .smc import SMCStats, twisted_smc_sample, wiener_twist
from .spectral import Spectrum
from .starts import coarse_start, conditional_start, forward_start
from .transfer import corr_at, gain_at

__all__ = ["START_PROTOCOLS", "generate_fields", "superresolve_fields", "particles_supported", "gain_for", "corr_for",
           "to_spins"]

START_PROTOCOLS = ("conditional", "coarse", "forward")


def to_spins(fields: np.ndarray) -> np.ndarray:
    """Spins from continuous output fields: the sign, with 0 mapped to +1; int8 (N, L, L)."""
    return np.where(np.asarray(fields) >= 0, 1, -1).astype(np.int8)


def _run(den: Denoiser, x_start: torch.Tensor, times: torch.Tensor, sampler: str, gens,
         variance=None, draw=None) -> torch.Tensor:
    f = get_sampler(sampler)
    if draw is not None:
        return f(den, den.process, x_start, times, generator=gens, draw=draw)
    if variance is None:
        return f(den, den.process, x_start, times, generator=gens)
    if sampler not in VARIANCE_SAMPLERS:
        raise InputError(f"sampler {sampler!r} has no step variance to choose")
    return f(den, den.process, x_start, times, generator=gens, variance=variance)


def generate_fields(den: Denoiser, n: int, *, steps: int = GENERATION_STEPS, sampler: str = SAMPLER, seed: int = 0,
                    batch: int | None = None, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Unconditional samples: continuous fields ``(n, L, L)`` float32 (sign gives spins).

    ``batch``: configurations per network call (default :func:`~isingsr.defaults.auto_batch`);
    the samples do not depend on it.
    """
    if n < 1:
        raise InputError("n must be >= 1")
    p = den.process
    times = time_grid(steps, 1.0, process=p)
    out = np.empty((n, p.L, p.L), dtype=np.float32)
    dev = p.S.device

    def fill(a, b):
        gens = generators(range(seed + a, seed + b), device="cpu")
        x = gaussian_field(p, b - a, generator=gens).to(dev)
        out[a:b] = _run(den, x, times, sampler, gens)[:, 0].cpu().numpy()
    in_batches(n, auto_batch(p.L) if batch is None else batch, fill, dev, progress)
    return out


def _stored(ck: dict, what: str, scale: float) -> torch.Tensor:
    """The per-mode table ``ck[what][scale]`` measured on the training data, or one line saying why not."""
    if what not in ck:
        raise InputError("this checkpoint has no pass-band correlations (it predates the conditional start); "
                         "use --start coarse, or add them with isingsr.diffusion.train.add_passband_statistics")
    key = f"{float(scale):g}"
    if key not in ck[what]:
        have = ", ".join(sorted(ck[what], key=float))
        raise InputError(f"the checkpoint has no pass-band statistics for scale {key} (it has {have}); "
                         "choose one of those scales")
    return ck[what][key]


def gain_for(ck: dict, scale: float, L: int | None = None, L_coarse: int | None = None) -> torch.Tensor:
    """The pass-band gain stored in a checkpoint for ``scale``, shape ``(L, L)``.

    At a size other than the training one it is carried to ``L`` for coarse
    inputs of size ``L_coarse`` (:func:`~isingsr.diffusion.transfer.gain_at`).
    """
    g = _stored(ck, "gains", scale)
    return g if L is None or L == g.shape[-1] else gain_at(g, ck["process"]["basis"], L, L_coarse)


def corr_for(ck: dict, scale: float, L: int | None = None, L_coarse: int | None = None) -> torch.Tensor:
    """The pass-band correlation of the ``conditional`` start stored for ``scale``, shape ``(L, L)``.

    Carried to another size by :func:`~isingsr.diffusion.transfer.corr_at`
    (see :func:`~isingsr.diffusion.starts.measure_passband` for what it is).
    """
    c = _stored(ck, "passband_corr", scale)
    return c if L is None or L == c.shape[-1] else corr_at(c, Spectrum.from_state_dict(ck["spectrum"]), L, L_coarse)


def particles_supported(sampler: str, variance, restart_blur) -> bool:
    """Whether the particle filter (``particles`` > 1) can run with these sampling options: the ancestral sampler
    with its Gaussian step variance, and no restart."""
    return sampler == "ancestral" and variance in (None, "gaussian") and restart_blur is None


def superresolve_fields(den: Denoiser, ck: dict, coarse: np.ndarray, scale: float, *, start: str = "conditional",
                        fine: np.ndarray | None = None, steps: int | None = None, sampler: str = SAMPLER,
                        seed: int = 0, batch: int | None = None, variance=None, rule: str = "majority",
                        t_start: float | None = None, grid: dict | None = None, consistency: str = CONSISTENCY[0],
                        start_blur: float | None = None, restart_blur: float | None = None,
                        release_blur: float | None = None, lift_a: float = 0.0, tilt_blur: float | None = None,
                        particles: int = 1, twist_a: float = TWIST_A, smc_stats: SMCStats | None = None,
                        progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, float]:
    """Super-resolve coarse configurations ``(N, L', L')`` by ``scale`` to the denoiser's L.

    ``steps``: reverse steps (network evaluations); None: :func:`~isingsr.defaults.superres_steps` of ``scale``.
    ``L' scale`` must be the denoiser's lattice size to within one coarse block: build it there
    (``build_from_checkpoint(ck, L=...)``) to run a checkpoint at another size. ``variance``
    is the step variance of a stochastic sampler (:func:`~isingsr.diffusion.samplers.ancestral_sample`;
    None: the sampler's default).
    ``rule`` is the block rule that made the coarse input; it fixes where each
    coarse site sits on the fine lattice (:func:`~isingsr.coarse.block_centre`).
    ``t_start`` overrides the start time ``process.t_start(scale)`` (an experiment's
    knob: the pass-band statistics are those of ``scale`` either way); ``start_blur`` replaces the
    checkpoint's blur constant c of that time, the state with blur ``c sqrt(S^2 - 1)``. ``grid``: keyword
    arguments of :func:`~isingsr.diffusion.samplers.time_grid` (e.g. ``l_end``). ``consistency``:
    ``none``, ``final`` -- the output is projected (below) --, ``late`` -- the estimates of x_0 below the
    blur length :data:`~isingsr.defaults.LATE_BLUR` and the output -- or ``project`` -- every estimate of
    x_0 and the output are projected onto the fields whose
    block majorities equal the input (:mod:`isingsr.diffusion.consistency`; majority-rule inputs at an
    integer scale dividing L), so the spins coarse-grain to the input, and then, at an even scale, each
    block left tied gets a fair coin that makes it a strict majority
    (:func:`~isingsr.diffusion.consistency.resolve_ties`: the tie rule gives a tie the input's spin only half
    the time, so the posterior holds half as many); ``mean`` -- as ``late``, and
    every estimate's block means held to the input's signs first (:class:`~isingsr.diffusion.consistency.
    MeanConstrainedDenoiser`); ``truncated`` -- as ``mean``, a wrong block's mean moved to its truncated
    Gaussian posterior mean rather than to zero; ``held`` -- as ``truncated``, the other blocks' means held;
    ``conditioned`` -- every block's mean moved to its truncated Gaussian posterior mean; ``joint`` -- every
    block's mean set to its mean under the Gaussian law of all block means truncated together; ``drawn`` --
    as ``conditioned``, and the ancestral step's draw of x_0 has each block mean drawn from its truncated law
    (sampler ``ancestral``, step variance ``gaussian`` only); ``tilted`` -- ``conditioned``'s targets reached
    by tilting each block's spins in their log-odds.
    ``restart_blur``: a restart (Xu et al. 2023): the output's spins (coarse-graining to the input when
    ``consistency`` is not ``none``) are noised by the exact forward process to the time of this blur length
    (lattice spacings, below the start's) and sampled again over the tail of the same grid, with the same
    consistency option; the network evaluations grow by the grid's steps below that time.
    ``release_blur``: with a block-mean ``consistency`` (:data:`~isingsr.diffusion.consistency.MEAN_MODES`),
    the block means are held only down to this blur length (lattice spacings, below the start's); the
    estimates below it are the network's own (the majority projection below ``LATE_BLUR`` and of the
    output still applies).
    ``lift_a``: with ``held``, ``conditioned`` or ``tilted``, the block-mean lift is computed from the estimate with
    the Wiener one in the modes of signal fraction below ``lift_a`` and added to the network's estimate
    (:class:`~isingsr.diffusion.consistency.MeanConstrainedDenoiser`); 0: from the network's estimate.
    ``tilt_blur``: with ``tilted``, the blocks are tilted only below this blur length (lattice spacings),
    with ``conditioned``'s Gaussian shape above it; None: at every time.
    ``particles`` K > 1: twisted sequential Monte Carlo (:mod:`isingsr.diffusion.smc`): K particles per
    configuration from its start state step with the ``consistency`` option's estimate (``none``: the network's
    own) and are weighted and resampled towards the network's reverse chain conditioned on the output's block
    majorities being the input's; K times the network evaluations. Ancestral sampler (step variance
    ``gaussian``), a block-mean option or ``none``, no restart. ``twist_a``: the twist's block means are those
    of the estimate with the Wiener one in the modes of signal fraction below it (0: the network's own;
    :func:`~isingsr.diffusion.smc.wiener_twist`); ``smc_stats`` (:class:`~isingsr.diffusion.smc.SMCStats`)
    collects the effective sample sizes.

    Returns
    -------
    fields : ndarray, shape (N, L, L) float32
    t_start : float
        The start time used, ``process.t_start(scale)``.
    """
    p = den.process
    coarse = np.asarray(coarse)
    if coarse.ndim != 3 or coarse.shape[1] != coarse.shape[2]:
        raise InputError(f"coarse input: expected (N, L', L'), got {coarse.shape}")
    if not scale >= 1:
        raise InputError(f"scale must be >= 1, got {scale}")
    if abs(coarse.shape[-1] * scale - p.L) > scale or coarse.shape[-1] >= p.L:
        raise InputError(f"coarse L' = {coarse.shape[-1]} times scale {scale:g} gives "
                         f"{coarse.shape[-1] * scale:g}, but the model runs at L = {p.L}")
    if start not in START_PROTOCOLS:
        raise InputError(f"unknown start protocol {start!r}; choose one of {', '.join(START_PROTOCOLS)}")
    if start == "forward":
        if fine is None:
            raise InputError("--start forward needs the true fine configurations (--fine FILE.h5)")
        if fine.shape != (coarse.shape[0], p.L, p.L):
            raise InputError(f"fine configurations: expected shape {(coarse.shape[0], p.L, p.L)}, got {fine.shape}")
    if t_start is not None and start_blur is not None:
        raise InputError("give the start time (t_start) or its blur constant (start_blur), not both")
    t_s = float(p.t_start(scale, start_blur))
    if not t_s > 0:
        raise InputError(f"scale {scale:g} is no coarse-graining (t_start = 0)")
    if t_start is not None:
        if not 0 < t_start < 1:
            raise InputError(f"t_start must lie in (0, 1), got {t_start}")
        t_s = float(t_start)
    if consistency not in CONSISTENCY:
        raise InputError(f"unknown consistency {consistency!r}; choose one of {', '.join(CONSISTENCY)}")
    if consistency != "none" and not majority_blocks(rule, p.L, scale):
        raise InputError(f"--consistency {consistency} needs majority-rule inputs at an integer scale dividing "
                         f"L = {p.L}, got rule {rule!r} and scale {scale:g}")
    if consistency == "drawn" and (sampler != "ancestral" or variance not in (None, "gaussian")):
        raise InputError(f"--consistency drawn draws the block means in the ancestral step of variance 'gaussian', "
                         f"not with sampler {sampler!r}" + (f" and variance {variance!r}" if variance else ""))
    if consistency in MEAN_MODES and p.basis.name != "fourier":
        raise InputError(f"--consistency {consistency} needs a checkpoint in the fourier basis (every block alike "
                         f"under the process), not {p.basis.name!r}; use --consistency late")
    if start != "forward":
        gain = gain_for(ck, scale, p.L, coarse.shape[-1]).to(p.S.device)
        corr = corr_for(ck, scale, p.L, coarse.shape[-1]).to(p.S.device) if start == "conditional" else None
        offset = block_centre(p.L, scale, rule)
    times = time_grid(superres_steps(scale) if steps is None else steps, t_s, process=p, **(grid or {}))
    restart_times = None
    if restart_blur is not None:
        t_r = float(p.time_at_blur(restart_blur))
        if not 0 < t_r < t_s:
            raise InputError(f"--restart-blur {restart_blur:g} must lie between 0 and the start's blur "
                             f"{float(p.blur_length(t_s)):.3g}")
        restart_times = torch.cat([torch.tensor([t_r], dtype=times.dtype), times[times < t_r]])
    t_release = 0.0
    if release_blur is not None:
        if consistency not in MEAN_MODES:
            raise InputError(f"release_blur releases held block means: it needs --consistency one of "
                             f"{', '.join(MEAN_MODES)}, not {consistency}")
        t_release = float(p.time_at_blur(release_blur))
        if not 0 < t_release < t_s:
            raise InputError(f"release_blur {release_blur:g} must lie between 0 and the start's blur "
                             f"{float(p.blur_length(t_s)):.3g}")
    if lift_a and (consistency not in LIFT_MODES or not 0 < lift_a <= 1):
        raise InputError(f"lift_a {lift_a:g}: a signal fraction in (0, 1], with --consistency held, conditioned or "
                         f"tilted (got {consistency})")
    if tilt_blur is not None and (consistency != "tilted" or not tilt_blur > 0):
        raise InputError(f"tilt_blur {tilt_blur:g}: a positive blur length, with --consistency tilted "
                         f"(got {consistency})")
    particles = int(particles)
    if particles != 1:
        if particles < 1:
            raise InputError(f"particles must be >= 1, got {particles}")
        if consistency not in ("none",) + MEAN_MODES or consistency == "drawn" \
                or not particles_supported(sampler, variance, restart_blur):
            raise InputError(f"{particles} particles: sequential Monte Carlo runs the ancestral sampler (variance "
                             f"'gaussian') with --consistency none or a block-mean option other than drawn and no "
                             f"restart (got sampler {sampler!r}, consistency {consistency!r})")
        if not 0 <= twist_a <= 1:
            raise InputError(f"twist_a {twist_a:g}: a signal fraction in [0, 1]")
        if not majority_blocks(rule, p.L, scale):
            raise InputError(f"{particles} particles weigh the input's block majorities: they need majority-rule "
                             f"inputs at an integer scale dividing L = {p.L}")
    if (consistency != "none" or particles > 1) and not np.all(np.abs(coarse) == 1):
        raise InputError("consistency projection: coarse inputs must be +-1 spins (majority rule)")
    n = coarse.shape[0]
    out = np.empty((n, p.L, p.L), dtype=np.float32)
    sb = round(scale)

    def constrained(c: np.ndarray):
        """The denoiser the sampler steps with for the coarse inputs ``c`` and the ancestral step's ``draw``."""
        d = MeanConstrainedDenoiser(den, c, sb, consistency, until=t_release, lift_a=lift_a, tilt_blur=tilt_blur) \
            if consistency in MEAN_MODES else den
        draw = d.condition_draw if consistency == "drawn" else None
        if consistency in ("project", "late") + MEAN_MODES:
            d = ProjectedDenoiser(d, majority_projector(c, sb, p.S.device), float("inf") if consistency == "project"
                                  else p.time_at_blur(LATE_BLUR))
        return d, draw

    def keep_input(x: torch.Tensor, c: torch.Tensor, gens) -> torch.Tensor:
        """Fields whose spins coarse-grain to ``c``: the majority projection, then a fair coin per tied block."""
        coins = randn((x.shape[0],) + tuple(c.shape[1:]), gens, x.device) > 0
        return resolve_ties(project_majority(x, c, sb), c, sb, coins)

    def fill(a, b):
        gens = generators(range(seed + a, seed + b), device="cpu")
        if start == "conditional":
            x = conditional_start(p, coarse[a:b].astype(np.float64), t_s, gain, corr, gens, offset=offset)
        elif start == "coarse":
            x = coarse_start(p, coarse[a:b].astype(np.float64), t_s, gain, gens, offset=offset)
        else:
            x = forward_start(p, fine[a:b].astype(np.float64), t_s, generator=gens)
        c = torch.as_tensor(coarse[a:b], device=p.S.device)

        def sample(x, grid):
            d, draw = constrained(coarse[a:b])
            x = _run(d, x, grid, sampler, gens, variance, draw)
            return x if consistency == "none" else keep_input(x, c, gens)

        def weighted(x, grid):
            d, _ = constrained(np.repeat(coarse[a:b], particles, axis=0))
            return twisted_smc_sample(den, (lambda x0, x_t, t: x0) if d is den else d.lift, p, x, grid, c, sb,
                                      particles, gens, twist_estimate=wiener_twist(p, twist_a) if twist_a > 0 else None,
                                      finish=keep_input, stats=smc_stats)
        x = sample(x, times) if particles == 1 else weighted(x, times)
        if restart_times is not None:
            spins = torch.where(x >= 0, 1.0, -1.0).to(torch.float64)
            x = sample(forward_start(p, spins, float(restart_times[0]), generator=gens), restart_times)
        out[a:b] = x[:, 0].cpu().numpy()

    size = auto_batch(p.L) if batch is None else batch
    in_batches(n, max(1, size // particles) if batch is None else size, fill, p.S.device, progress)
    if not math.isfinite(float(np.abs(out).max())):
        raise RuntimeError("sampling produced non-finite values")
    return out, t_s
