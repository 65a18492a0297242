"""SKILD: a scale-invariant spectral diffusion process, its samplers and start states.

Modules
-------
spectral  Orthonormal real bases (``fourier`` = Hartley, ``dct``) and the data spectrum S(k).
process   :class:`SpectralProcess`: the schedule, ``q_sample``, the per-mode posterior,
          network targets and the scale <-> time map. No trainable parameters.
sampler   Samplers over explicit time grids (ancestral, DDIM), super-resolution start
          states (conditional, coarse and forward protocols), the pass-band gain and
          correlation, and the alignment diagnostic that fixes the constant of ``t_start``.
unet      The periodic U-Net (imported on its own: ``isingsr.diffusion.unet``).

References
----------
Chen et al., "Everything at Every Scale: Scale-Invariant Diffusion with
Continuous Super-Resolution" (2026), the SKILD preprint.
"""

from .process import SCHEDULES, TARGETS, SpectralProcess, randn
from .sampler import (
    alignment,
    ancestral_sample,
    coarse_start,
    conditional_start,
    ddim_sample,
    embed_coarse,
    forward_start,
    gaussian_field,
    generators,
    measure_gain,
    measure_passband,
    select_t_start,
    time_grid,
    wiener_denoiser,
)
from .spectral import BASES, Basis, Spectrum, estimate_spectrum, get_basis

__all__ = [
    "BASES", "Basis", "Spectrum", "estimate_spectrum", "get_basis",
    "SCHEDULES", "TARGETS", "SpectralProcess", "randn",
    "alignment", "ancestral_sample", "coarse_start", "conditional_start", "ddim_sample", "embed_coarse",
    "forward_start", "gaussian_field", "generators", "measure_gain", "measure_passband", "select_t_start",
    "time_grid", "wiener_denoiser",
]
