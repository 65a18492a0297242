"""Random numbers that make every sample reproducible on its own, whatever the batch it is drawn in.

A sampler takes ``generator``: None, one ``torch.Generator`` for the whole
batch, or one generator per sample (:func:`generators`); with one per sample,
sample i depends only on its own seed (NVlabs/edm's ``StackedRandomGenerator``).
"""

from __future__ import annotations

import torch

from ..exceptions import InputError

__all__ = ["generators", "randn"]


def generators(seeds, device="cpu") -> list[torch.Generator]:
    """One seeded ``torch.Generator`` per sample, e.g. ``generators(range(256))``."""
    return [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]


def randn(shape, generator=None, device=None) -> torch.Tensor:
    """Standard normal float64 noise, reproducible per sample.

    Parameters
    ----------
    shape : tuple of int
        ``(B, ...)``.
    generator : None, torch.Generator or sequence of torch.Generator
        One generator for the whole batch, or one per sample (length B):
        sample i then depends only on its own generator, not on the batch.
        Noise is drawn on each generator's device and moved to ``device``.
    device : torch device, optional
    """
    if generator is None or isinstance(generator, torch.Generator):
        g_dev = generator.device if generator is not None else device
        return torch.randn(shape, generator=generator, dtype=torch.float64, device=g_dev).to(device)
    gens = list(generator)
    if len(gens) != shape[0]:
        raise InputError(f"got {len(gens)} generators for a batch of {shape[0]}")
    return torch.stack([torch.randn(shape[1:], generator=g, dtype=torch.float64, device=g.device).to(device)
                        for g in gens])
