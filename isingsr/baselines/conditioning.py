"""The coarse configuration as a network input of the conditional baselines.

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

__all__ = ["upsampled", "condition_image", "condition_from_fine", "check_coarse", "check_scale"]


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


def check_scale(model, scale) -> None:
    """A baseline super-resolves at its training scale only: one line otherwise."""
    if scale is not None and abs(float(scale) - model.scale) > 1e-9:
        raise InputError(f"this {model.method} model was trained for scale {model.scale:g}, not {float(scale):g}")
