"""Baselines for super-resolution (SPEC §6): what SKILD's result is measured against.

* :mod:`.sr3` -- SR3-style conditional diffusion: the same U-Net family with
  the upsampled coarse configuration as an extra input channel, white-noise
  DDPM, one network per scale factor;
* :mod:`.cnn` -- a supervised probabilistic CNN (Efthymiou, Beach and Melko
  2019): fine-spin probabilities from the coarse configuration, spins drawn
  independently from them;
* the naive block fill lives in :func:`isingsr.coarse.upsample`, and the
  exact posterior p(fine | coarse) in :mod:`isingsr.mc.constrained`.

Both trained baselines see the coarse configuration through one function,
:func:`.conditioning.condition_image`, built by the same coarse-graining the
analysis uses (:func:`isingsr.coarse.coarse_grain`, majority rule). Both are
super-resolvers in the sense of :mod:`isingsr.superres`.
"""

from .conditioning import condition_image

__all__ = ["condition_image"]
