"""Defaults shared by the commands and the library (no heavy imports: ``isingsr --help`` reads them).

Reverse steps (network evaluations) of SKILD and of the SR3 baseline wherever
none are given: :func:`superres_steps` for super-resolution by S (``isingsr
superres``, ``correlate``), ``GENERATION_STEPS`` for generation from t = 1
(``isingsr sample``; with ``skild_L32.pt`` the energy and U4 of 1,000 generated
configurations are 2.2 sigma off at 100 steps, within 1.5 sigma at 200; with the default
``skild_L32_tiny.pt`` U4 is -1.96 sigma at 200 and -1.0 at 400: ``experiments/generation.py``,
docs/generation.md). Chosen by measurement (docs/sampling.md;
``experiments/sampler_accuracy.py``, L = 32, the ``small`` network ``skild_L32.pt``, the same
1,000 inputs and seeds, ancestral sampler on the default time grid): the fewest
steps at which the result matches the converged one, configuration by
configuration -- 35 at 2x (25 do not: paired G4c p = 0.038) and 150 at 8x, on
two independent ensembles at L = 32 and at L = 128 (``experiments/paired_check.py``;
at L = 128 150 steps leave G2 about 0.2% larger at long range than 200). At 4x
85 steps match 100 paired on two ensembles and at L = 128 (70 do not: energy +2.2 sigma),
but the default stays 100: ``make run``'s truth test reads G4c p = 0.0031 at 85 (0.19 at 100),
a p-value at its edge that does not rank the two (docs/sampling.md#the-default-step-counts).
The second-order ``dpmpp-2m-sde`` is too ordered at 25-50 evaluations at 4x, and
at 8x its 100 fail against the truth. The default ``tiny`` network ``skild_L32_tiny.pt`` matches Monte Carlo at
these counts (G4c p 0.20-0.45 at 2x, 4x, 8x; results/tiny_L32_s2, _s4, _s8) and not with fewer at 4x
(50 ancestral steps: G4c p = 0.01; results/tiny_L32_sampler_s4). ``dpmpp-2m-sde-half`` matches the converged
run at 35 (4x) and 50 (8x) evaluations with it, on two ensembles, by a cancellation of errors: its own limit is
2.3 sigma too disordered, it fails at 2x and is too ordered at those counts at L = 128
(docs/sampling.md#half-the-noise), so it is not the default.
"""

import math

#: Reverse steps of generation from t = 1 (SKILD) when none are given.
GENERATION_STEPS = 200
#: Reverse steps of super-resolution by 2, 4 and 8 when none are given (:func:`superres_steps`).
SUPERRES_STEPS = {2: 35, 4: 100, 8: 150}
#: What ``--help`` shows as the default of super-resolution's ``--steps``.
SUPERRES_STEPS_HELP = "35 at 2x, 100 at 4x, 150 at 8x, interpolated in log scale"


def superres_steps(scale: float) -> int:
    """Reverse steps of super-resolution by ``scale`` when none are given.

    :data:`SUPERRES_STEPS` at 2x, 4x and 8x; between them linear in log2(scale) (2.5x: 56); below 2x
    the 2x count (finer steps are not needed: the process covers less blur); above 8x, where nothing is
    measured, growing as the scale, 150 scale / 8 (16x: 300).
    """
    scale = float(scale)
    (s0, n0), (s1, n1), (s2, n2) = sorted(SUPERRES_STEPS.items())
    if scale <= s0:
        return n0
    if scale >= s2:
        return int(round(n2 * scale / s2))
    (a, na), (b, nb) = ((s0, n0), (s1, n1)) if scale <= s1 else ((s1, n1), (s2, n2))
    w = math.log(scale / a) / math.log(b / a)
    return int(round(na + w * (nb - na)))


#: Every super-resolution method (:func:`isingsr.superres.load_superresolver`, ``isingsr correlate --methods``).
METHODS = ("skild", "sr3", "cnn", "naive", "posterior")
#: Sampler of SKILD and SR3 when none is given (a key of :data:`isingsr.diffusion.samplers.SAMPLERS`).
SAMPLER = "ancestral"
#: Every sampler's name, for the command line without importing torch (checked against the library by a test).
SAMPLER_NAMES = ("ancestral", "ddim", "dpmpp-2m-sde", "dpmpp-2m-sde-half", "dpmpp-2m", "ancestral-2m", "heun-sde",
                 "heun")

#: Choices of ``--consistency`` (:mod:`isingsr.diffusion.consistency`): ``none`` (the plain sampler), ``final``
#: (the output only), ``project`` (every estimate of x_0 and the output) and ``late`` (the estimates below the
#: blur length ``LATE_BLUR``, and the output) and ``mean`` (every estimate's block means held to the input's signs in
#: the metric of its posterior covariance, the majorities themselves below ``LATE_BLUR``, and the output) and
#: ``truncated`` (as ``mean``, each wrong block's mean moved to its truncated Gaussian posterior mean, not to 0),
#: ``held`` (as ``truncated``, the other blocks' means held exactly) and ``conditioned`` (every block's mean moved to
#: its truncated Gaussian posterior mean, the right blocks' too) and ``joint`` (every block's mean set to its mean
#: under the Gaussian law of all block means truncated together to the input's signs) and ``drawn`` (as
#: ``conditioned``, and the ancestral step's draw of x_0 given each block mean's truncated law) and ``tilted``
#: (``conditioned``'s block means reached by tilting each block's spins in their log-odds).
CONSISTENCY = ("none", "final", "project", "late", "mean", "truncated", "held", "conditioned", "joint", "drawn",
               "tilted")
#: What ``--consistency auto`` (the default of ``superres`` and ``correlate``) becomes where the input has block
#: majorities to keep (majority rule, an integer scale dividing L), the scale is at least
#: :data:`CONSISTENCY_MIN_SCALE` and the input has at most :data:`CONSISTENCY_MAX_BLOCKS` blocks; elsewhere it is
#: ``none``.
CONSISTENCY_DEFAULT = "conditioned"
#: The smallest scale at which ``auto`` holds the input: at 2x ``conditioned``'s proposal is so hot (energy +21
#: sigma) that 4 particles leave it +7 sigma, where the free sampler passes (docs/consistency.md).
CONSISTENCY_MIN_SCALE = 4
#: The most blocks (sites of the coarse input, (L / S)^2) at which ``auto`` holds the input. The particles'
#: log-weights add up over the blocks, so a fixed number of particles corrects ``conditioned``'s hot proposal on a
#: small input and not on a large one: 4 particles pass with 64 blocks (L = 32 at 4x on three ensembles, L = 64 at
#: 8x) and 16 (L = 32 at 8x), and with 1,024 (L = 128 at 4x, 200 inputs) the weights collapse (final effective
#: sample size 0.35 of the particles against 0.7, 11 inputs without a consistent particle) and the output is the
#: proposal's: energy +6.0 sigma, G4c 8.5 sigma off, where the free sampler passes (results/smc4_L128_s4).
#: Between 64 and 1,024 nothing is measured; the free sampler is, at every size (docs/consistency.md).
CONSISTENCY_MAX_BLOCKS = 64
#: Particles per configuration (``--particles``) with ``conditioned`` when none are given, where the sampler is the
#: ancestral one and there is no restart (the particle filter's conditions); 1 otherwise. With 4 the marginals pass
#: at 4x on three ensembles (L = 32; energy +0.2, -0.0, +2.1 sigma), 2 leave the energy 4 sigma high, 8 (twice the
#: cost) measured +0.2, -0.2, +1.1 sigma (docs/consistency.md#how-many-particles-and-steps).
PARTICLES = 4
#: Signal fraction a_t(k) below which the particle filter of ``--particles`` (:mod:`isingsr.diffusion.smc`) takes the
#: Wiener estimate a_t X_t instead of the network's, for its twist and for its proposal's block-mean lift: the
#: network's block means err about 12 times the Gaussian model's variance early on, these 0.87 times
#: (results/block_mean_errors_tiny_L32), and the weights of 8 particles stay even (docs/consistency.md).
TWIST_A = 0.1
#: The ``--consistency`` options whose block-mean lift can be computed from that estimate (``lift_a``).
LIFT_MODES = ("held", "conditioned", "tilted")
#: Learning-rate schedules of training after the linear warm-up (``isingsr train --lr-schedule``): constant, or a
#: cosine decay to zero at the last step (a run of known length ends with small steps, so its last weights settle).
LR_SCHEDULES = ("constant", "cosine")
#: Network precisions of SKILD's and SR3's sampling (``--precision``, :func:`isingsr.device.use_bf16`).
PRECISIONS = ("float32", "bf16")
#: The default on every device: bf16 biases the output (energy +0.0011 per site at 4x, L = 128;
#: docs/sampling.md#precision), so it is an explicit choice for quick looks.
PRECISION = "float32"
#: Blur length (lattice units) below which ``--consistency late`` and ``mean`` project the block majorities of the
#: estimates of x_0.
LATE_BLUR = 1.0

#: Lattice sites per network batch at inference: the CPU's caches favour small batches (L = 32:
#: 674 evaluations/s at 32 configurations against 601 at 128; L = 128: 49/s at 2 against 42/s at 8;
#: ``experiments/bench_sampling.py``, results/bench_sampling).
SITES_PER_BATCH = 32768


def resolve_consistency(consistency: str, particles: int | None, lift_a: float | None, *, scale: float,
                        block: bool, blocks: int, smc_ok: bool) -> tuple[str, int, float]:
    """``--consistency``, ``--particles`` and the lift's signal fraction with their automatic values resolved.

    ``consistency`` ``auto``: :data:`CONSISTENCY_DEFAULT` where ``block`` (+-1 spins coarse-grained by the
    majority rule at an integer scale dividing L, and a checkpoint in the fourier basis), ``scale`` is at
    least :data:`CONSISTENCY_MIN_SCALE` and the input's ``blocks`` (its number of sites) are at most
    :data:`CONSISTENCY_MAX_BLOCKS`, else ``none``.
    ``particles`` None: :data:`PARTICLES` with ``conditioned`` where ``smc_ok`` (ancestral sampler, Gaussian step
    variance, no restart), else 1. ``lift_a`` None: with K > 1 particles and a block-mean lift
    (:data:`LIFT_MODES`) :data:`TWIST_A` -- the proposal's lift from the estimate the twist uses, the measured
    pairing (docs/consistency.md) --, else 0 (the network's own estimate).
    """
    if consistency == "auto":
        held = block and float(scale) >= CONSISTENCY_MIN_SCALE and int(blocks) <= CONSISTENCY_MAX_BLOCKS
        consistency = CONSISTENCY_DEFAULT if held else "none"
    if particles is None:
        particles = PARTICLES if consistency == CONSISTENCY_DEFAULT and smc_ok else 1
    if lift_a is None:
        lift_a = TWIST_A if int(particles) > 1 and consistency in LIFT_MODES else 0.0
    return consistency, int(particles), float(lift_a)


def auto_batch(L: int) -> int:
    """Configurations per network batch at lattice size L when none is given: ``max(1, 32768 // L^2)``."""
    return max(1, SITES_PER_BATCH // (int(L) * int(L)))
