"""Defaults shared by the commands and the library (no heavy imports: ``isingsr --help`` reads them).

Reverse steps (network evaluations) of SKILD and of the SR3 baseline wherever
none are given: :func:`superres_steps` for super-resolution by S (``isingsr
superres``, ``correlate``), ``GENERATION_STEPS`` for generation from t = 1
(``isingsr sample``; at 100 steps the energy and U4 of 1,000 generated
configurations are 2.2 sigma off, at 200 within 1.5 sigma:
``experiments/generation.py``, docs/generation.md). Chosen by measurement (docs/sampling.md;
``experiments/sampler_accuracy.py``, L = 32, shipped checkpoint, the same
1,000 inputs and seeds, ancestral sampler on the default time grid): the step
count at which the result stops moving grows with the scale -- 2x is
converged at 50 steps, 4x at 100 (paired G4c p = 0.92 against 400 steps,
energy -0.4 sigma; truth: p = 0.19, +0.3 sigma; at 50 the truth rejects G4c,
p = 0.0007), 8x at 200 (truth p = 0.58; at 100, p = 0.017) -- so about 25 S.
35 steps at 2x and 150 at 8x match as well (70 at 4x do not); they are not the default while the tables made
with 25 S at those scales (L = 128 included) stand. The second-order ``dpmpp-2m-sde`` is too ordered at 25-50
evaluations at 4x, and at 8x its 100 fail against the truth.
"""

#: Reverse steps of generation from t = 1 (SKILD) when none are given.
GENERATION_STEPS = 200
#: Super-resolution by S takes ``max(MIN_SUPERRES_STEPS, round(STEPS_PER_SCALE * S))`` steps when none are given.
STEPS_PER_SCALE = 25
MIN_SUPERRES_STEPS = 50
#: What ``--help`` shows as the default of super-resolution's ``--steps``.
SUPERRES_STEPS_HELP = f"{STEPS_PER_SCALE} x scale, at least {MIN_SUPERRES_STEPS}"


def superres_steps(scale: float) -> int:
    """Reverse steps of super-resolution by ``scale`` when none are given: 50 at 2x, 100 at 4x, 200 at 8x."""
    return max(MIN_SUPERRES_STEPS, int(round(STEPS_PER_SCALE * float(scale))))


#: Every super-resolution method (:func:`isingsr.superres.load_superresolver`, ``isingsr correlate --methods``).
METHODS = ("skild", "sr3", "cnn", "naive", "posterior")
#: Sampler of SKILD and SR3 when none is given (a key of :data:`isingsr.diffusion.samplers.SAMPLERS`).
SAMPLER = "ancestral"
#: Every sampler's name, for the command line without importing torch (checked against the library by a test).
SAMPLER_NAMES = ("ancestral", "ddim", "dpmpp-2m-sde", "dpmpp-2m", "ancestral-2m", "heun-sde", "heun")

#: Choices of ``--consistency`` (:mod:`isingsr.diffusion.consistency`): ``none`` (the plain sampler), ``final``
#: (the output only), ``project`` (every estimate of x_0 and the output) and ``late`` (the estimates below the
#: blur length ``LATE_BLUR``, and the output) and ``mean`` (every estimate's block means held to the input's signs in
#: the metric of its posterior covariance, the majorities themselves below ``LATE_BLUR``, and the output) and
#: ``truncated`` (as ``mean``, each wrong block's mean moved to its truncated Gaussian posterior mean, not to 0),
#: ``held`` (as ``truncated``, the other blocks' means held exactly) and ``conditioned`` (every block's mean moved to
#: its truncated Gaussian posterior mean, the right blocks' too) and ``joint`` (every block's mean set to its mean
#: under the Gaussian law of all block means truncated together to the input's signs).
CONSISTENCY = ("none", "final", "project", "late", "mean", "truncated", "held", "conditioned", "joint")
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


def auto_batch(L: int) -> int:
    """Configurations per network batch at lattice size L when none is given: ``max(1, 32768 // L^2)``."""
    return max(1, SITES_PER_BATCH // (int(L) * int(L)))
