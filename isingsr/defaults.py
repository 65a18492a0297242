"""Defaults shared by the commands and the library (no heavy imports: ``isingsr --help`` reads them).

``REVERSE_STEPS`` is the number of reverse steps (network evaluations) of
SKILD and of the SR3 baseline wherever none is given: ``isingsr sample``,
``superres``, ``correlate``, :mod:`isingsr.workflow` and
:mod:`isingsr.diffusion.pipeline`. Measured at L = 32 with the shipped
checkpoints (README, "Baselines and the headline comparison"): SKILD's
ancestral sampler converges roughly like 1/steps (its G4c residual at r = 1
at 4x: 0.0066 at 100 steps, 0.0022 at 200; energy +1.8 and +0.7 sigma),
while at 100 steps SR3's discretisation bias partly cancels its network's
(at 2x: r = 1 residual -0.027, -0.0035, +0.010 at 40, 100, 200 steps; at
4x +0.011, +0.021, +0.024 at 100, 200, 400). 200 is the smallest count
measured at which SKILD's G4c passes at 4x and 8x; fewer is faster, not
more accurate.
"""

#: Reverse steps of SKILD and SR3 when none are given.
REVERSE_STEPS = 200

#: Every super-resolution method (:func:`isingsr.superres.load_superresolver`, ``isingsr correlate --methods``).
METHODS = ("skild", "sr3", "cnn", "naive", "posterior")
#: Sampler of SKILD and SR3 when none is given (a key of :data:`isingsr.diffusion.samplers.SAMPLERS`).
SAMPLER = "ancestral"
#: Every sampler's name, for the command line without importing torch (checked against the library by a test).
SAMPLER_NAMES = ("ancestral", "ddim", "dpmpp-2m-sde", "dpmpp-2m", "ancestral-2m")

#: Lattice sites per network batch at inference: the CPU's caches favour small batches (L = 32:
#: 430-470 evaluations/s at 32 configurations against 250-300 at 128; L = 128: 48/s at 2 against
#: 25/s at 8; ``experiments/bench_sampling.py``).
SITES_PER_BATCH = 32768


def auto_batch(L: int) -> int:
    """Configurations per network batch at lattice size L when none is given: ``max(1, 32768 // L^2)``."""
    return max(1, SITES_PER_BATCH // (int(L) * int(L)))
