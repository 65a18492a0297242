"""SKILD: a scale-invariant spectral diffusion process, its samplers and start states.

Modules
-------
spectral   Orthonormal real bases (``fourier`` = Hartley, ``dct``, ``pixel``) and the data spectrum S(k).
process    Diagonal Gaussian processes: :class:`SpectralProcess` (SKILD: schedule, ``q_sample``,
           per-mode posterior, network targets, scale <-> time) and :class:`WhiteProcess`
           (the SR3 baseline's white noise). No trainable parameters.
rng        Per-sample random generators (samples independent of the batch).
samplers   Samplers over explicit time grids: ancestral, DDIM, DPM-Solver++(2M) (SDE and ODE).
starts     Super-resolution start states (conditional, coarse, forward) and pass-band statistics.
alignment  The diagnostic that fixes the constant of ``t_start``.
denoiser   The denoiser contract ``D(x_t, t) -> x0_hat`` around a network, and the Wiener oracle.
unet       The periodic U-Net (imported on its own: ``isingsr.diffusion.unet``).

References
----------
Chen et al., "Everything at Every Scale: Scale-Invariant Diffusion with
Continuous Super-Resolution" (2026), the SKILD preprint.
"""

from .alignment import alignment, select_t_start
from .process import SCHEDULES, TARGETS, DiagonalProcess, SpectralProcess, WhiteProcess
from .rng import generators, randn
from .samplers import (SAMPLERS, ancestral_sample, ddim_sample, dpmpp_2m_sample, dpmpp_2m_sde_sample, gaussian_field,
                       get_sampler, time_grid)
from .spectral import BASES, Basis, Spectrum, estimate_spectrum, get_basis
from .starts import coarse_start, conditional_start, embed_coarse, forward_start, measure_gain, measure_passband

__all__ = [
    "BASES", "Basis", "Spectrum", "estimate_spectrum", "get_basis",
    "SCHEDULES", "TARGETS", "DiagonalProcess", "SpectralProcess", "WhiteProcess", "generators", "randn",
    "SAMPLERS", "ancestral_sample", "ddim_sample", "dpmpp_2m_sample", "dpmpp_2m_sde_sample", "gaussian_field",
    "get_sampler", "time_grid",
    "coarse_start", "conditional_start", "embed_coarse", "forward_start", "measure_gain", "measure_passband",
    "alignment", "select_t_start",
]
