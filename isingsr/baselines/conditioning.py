"""The coarse configuration as a network input, and one loader for every trained super-resolver.

A conditional baseline never sees the coarse lattice directly: it sees
``upsample(coarse, L)`` (block fill for an integer scale dividing L,
spectral zero-padding + sign otherwise; :func:`isingsr.coarse.upsample`), a
(B, 1, L, L) image of +-1 on the fine lattice. During training the coarse
configuration is made from each augmented fine batch by
:func:`isingsr.coarse.coarse_grain` with the majority rule -- exactly the
call that makes the inputs at evaluation time -- with tie-breaking coins
drawn from the training generator.
"""

from __future__ import annotations

import numpy as np
import torch

from ..coarse import coarse_grain, is_block_scale, target_size, upsample
from ..exceptions import InputError

__all__ = ["METHODS", "upsampled", "condition_image", "condition_from_fine", "check_coarse", "load_superresolver"]

#: Trainable methods (``isingsr train --method``).
METHODS = ("skild", "sr3", "cnn")


def upsampled(coarse: np.ndarray, L: int, scale: float, seed=0) -> np.ndarray:
    """Coarse configurations ``(N, l, l)`` on the fine lattice, ``(N, L, L)`` int8, by the naive route.

    Block fill when ``scale`` is an integer dividing L, spectral zero-padding +
    sign otherwise: the inverse route of :func:`isingsr.coarse.coarse_grain`.
    """
    return upsample(np.asarray(coarse), L, seed=seed, spectral=not is_block_scale(L, scale))


def condition_image(coarse: np.ndarray, L: int, scale: float, seed=0) -> torch.Tensor:
    """Coarse configurations ``(N, l, l)`` -> conditioning images ``(N, 1, L, L)`` float32.

    Examples
    --------
    >>> condition_image(np.array([[[1, -1], [-1, 1]]], dtype=np.int8), 4, 2.0)[0, 0, 0].tolist()
    [1.0, 1.0, -1.0, -1.0]
    """
    return torch.from_numpy(upsampled(coarse, L, scale, seed).astype(np.float32)).unsqueeze(1)


def condition_from_fine(x0: torch.Tensor, scale: float, seed: int) -> torch.Tensor:
    """Majority-rule coarse-graining of a fine batch ``(B, 1, L, L)`` and its conditioning image."""
    spins = np.where(x0[:, 0].detach().cpu().numpy() >= 0, 1, -1).astype(np.int8)
    coarse = coarse_grain(spins, scale, rule="majority", seed=seed)
    return condition_image(coarse, spins.shape[-1], scale, seed=seed + 1).to(x0.device)


def check_coarse(coarse: np.ndarray, L: int, scale: float) -> np.ndarray:
    """Validate coarse inputs for a model trained at L and scale; returns the array."""
    coarse = np.asarray(coarse)
    if coarse.ndim != 3 or coarse.shape[1] != coarse.shape[2]:
        raise InputError(f"coarse input: expected (N, L', L'), got {coarse.shape}")
    if target_size(L, scale) != coarse.shape[-1]:
        raise InputError(f"coarse L' = {coarse.shape[-1]}: a model trained at L = {L}, scale {scale:g} "
                         f"expects L' = {target_size(L, scale)}")
    return coarse


def load_superresolver(ck: dict, device="cpu", L: int | None = None):
    """The baseline stored in a checkpoint (``kind`` ``sr3`` or ``cnn``), ready to super-resolve.

    Returns an object with ``L``, ``scale`` and
    ``superresolve(coarse, steps=..., sampler=..., seed=..., batch=..., progress=...) -> fields``.
    Both networks are fully convolutional on the torus and use no statistics of the
    training L, so ``L`` (default: the training size) may be any size they fit.
    """
    kind = ck.get("kind")
    if kind == "sr3":
        from .sr3 import SR3

        return SR3.from_checkpoint(ck, device, L)
    if kind == "cnn":
        from .cnn import ProbabilisticCNN

        return ProbabilisticCNN.from_checkpoint(ck, device, L)
    raise InputError(f"checkpoint kind {kind!r} is not a baseline (sr3, cnn)")
