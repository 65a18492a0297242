"""Defaults shared by the commands and the library (no heavy imports: ``isingsr --help`` reads them).

``REVERSE_STEPS`` is the number of reverse steps (network evaluations) of
SKILD and of the SR3 baseline wherever none is given: ``isingsr sample``,
``superres``, ``correlate``, :mod:`isingsr.workflow` and
:mod:`isingsr.diffusion.pipeline`. Chosen by measurement (docs/sampling.md;
``experiments/sampler_accuracy.py``, L = 32, 4x, shipped checkpoint, the same
1,000 inputs and seeds): on the default time grid the ancestral sampler at 100
steps matches the converged 400-step result (paired G4c p = 0.92, energy
-0.4 sigma) and the Monte Carlo truth (G4c p = 0.19, energy +0.3 sigma); at 50
steps it still matches the converged result (p = 0.23, energy +2.2 sigma) but
the truth rejects its G4c curve (p = 0.0007). The second-order
``dpmpp-2m-sde`` is too ordered at every count measured (energy -3.2 sigma
at 50).
"""

#: Reverse steps of SKILD and SR3 when none are given.
REVERSE_STEPS = 100

#: Every super-resolution method (:func:`isingsr.superres.load_superresolver`, ``isingsr correlate --methods``).
METHODS = ("skild", "sr3", "cnn", "naive", "posterior")
#: Sampler of SKILD and SR3 when none is given (a key of :data:`isingsr.diffusion.samplers.SAMPLERS`).
SAMPLER = "ancestral"
#: Every sampler's name, for the command line without importing torch (checked against the library by a test).
SAMPLER_NAMES = ("ancestral", "ddim", "dpmpp-2m-sde", "dpmpp-2m", "ancestral-2m")

#: Lattice sites per network batch at inference: the CPU's caches favour small batches (L = 32:
#: 674 evaluations/s at 32 configurations against 601 at 128; L = 128: 49/s at 2 against 42/s at 8;
#: ``experiments/bench_sampling.py``, results/bench_sampling).
SITES_PER_BATCH = 32768


def auto_batch(L: int) -> int:
    """Configurations per network batch at lattice size L when none is given: ``max(1, 32768 // L^2)``."""
    return max(1, SITES_PER_BATCH // (int(L) * int(L)))
