"""Training batches of Ising configurations, augmented by the model's exact symmetries.

The critical Ising model on the L x L torus is invariant under the 8 lattice
symmetries (the dihedral group D4), all L^2 translations and the global spin
flip. Every batch draws, per sample, one element of that group (8 x L^2 x 2
choices) from a seeded generator, so training sees the symmetric
distribution and an exact resume replays the same batches.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..exceptions import InputError

__all__ = ["SeededBatches", "SymmetricBatches", "apply_symmetry"]


@functools.lru_cache(maxsize=8)
def _d4_sources(L: int) -> torch.Tensor:
    """``(8, L, L)``: for element ``2 rot + flip`` of D4, the flat index of the site each output site reads."""
    base = torch.arange(L * L).reshape(L, L)
    return torch.stack([torch.rot90(torch.flip(base, dims=(-1,)) if f else base, r, dims=(-2, -1))
                        for r in range(4) for f in (False, True)])


def apply_symmetry(x: torch.Tensor, rot: torch.Tensor, flip: torch.Tensor, shift: torch.Tensor,
                   sign: torch.Tensor) -> torch.Tensor:
    """Apply a per-sample lattice symmetry to a batch.

    One gather for the whole batch (a few operators whatever the mix of symmetries): each output site
    reads the site that the mirror, the quarter turns and the translation bring to it.

    Parameters
    ----------
    x : tensor, shape (B, C, L, L)
    rot : tensor (B,) int
        Quarter turns, 0..3.
    flip : tensor (B,) bool
        Mirror (x -> -x) before rotating.
    shift : tensor (B, 2) int
        Periodic translation (dy, dx).
    sign : tensor (B,)
        +1 or -1 (global spin flip).

    Returns
    -------
    tensor, shape (B, C, L, L)
    """
    B, C, L, _ = x.shape
    ar = torch.arange(L)
    rows = (ar[None, :] + shift[:, 0:1].cpu()) % L  # (B, L): the rotated field's row read by each output row
    cols = (ar[None, :] + shift[:, 1:2].cpu()) % L
    element = (2 * rot.cpu() + flip.cpu().long())[:, None, None]
    src = _d4_sources(L)[element, rows[:, :, None], cols[:, None, :]].reshape(B, 1, L * L).to(x.device)
    out = torch.gather(x.reshape(B, C, L * L), 2, src.expand(B, C, L * L)).reshape(B, C, L, L)
    return out * sign.reshape(B, 1, 1, 1).to(x.dtype)


class SeededBatches:
    """What endless training batches share: the batch size, the augmentation switch and one seeded
    generator, whose state ``state_dict`` / ``load_state_dict`` save and restore, so a resumed training
    run continues the same stream of batches. Subclasses define ``__next__``."""

    def __init__(self, batch: int, seed: int = 0, augment: bool = True):
        if batch < 1:
            raise InputError(f"batch must be >= 1, got {batch}")
        self.batch, self.augment = int(batch), bool(augment)
        self.gen = torch.Generator().manual_seed(int(seed))

    def __iter__(self):
        return self

    def state_dict(self) -> dict:
        return {"generator": self.gen.get_state()}

    def load_state_dict(self, d: dict) -> None:
        self.gen.set_state(d["generator"])


class SymmetricBatches(SeededBatches):
    """Endless random batches of fields ``(B, 1, L, L)`` float32 from spins ``(N, L, L)``.

    Parameters
    ----------
    spins : ndarray or tensor, shape (N, L, L), int8 +-1
    batch : int
    seed : int
        Seeds the generator that picks configurations and symmetries.
    augment : bool
        Apply a random symmetry per sample (default True).

    Notes
    -----
    ``state_dict`` / ``load_state_dict`` save and restore the generator, so a
    resumed training run continues the same stream of batches.
    """

    def __init__(self, spins, batch: int, seed: int = 0, augment: bool = True):
        s = torch.as_tensor(np.asarray(spins))
        if s.ndim != 3 or s.shape[1] != s.shape[2] or s.shape[0] < 1:
            raise InputError(f"training data: expected (N, L, L) spins, got {tuple(s.shape)}")
        super().__init__(batch, seed, augment)
        self.spins = s.to(torch.int8)

    @property
    def L(self) -> int:
        return int(self.spins.shape[-1])

    def __next__(self) -> torch.Tensor:
        B, L, g = self.batch, self.L, self.gen
        idx = torch.randint(0, self.spins.shape[0], (B,), generator=g)
        x = self.spins[idx].unsqueeze(1).to(torch.float32)
        if not self.augment:
            return x
        rot = torch.randint(0, 4, (B,), generator=g)
        flip = torch.randint(0, 2, (B,), generator=g).bool()
        shift = torch.randint(0, L, (B, 2), generator=g)
        sign = torch.randint(0, 2, (B,), generator=g) * 2 - 1
        return apply_symmetry(x, rot, flip, shift, sign)
