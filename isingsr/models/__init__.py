"""Checkpoints shipped with isingsr (see README.md in this folder for how each was trained).

A checkpoint serves its own lattice size and, carried by critical finite-size scaling
(:mod:`isingsr.diffusion.transfer`; SR3 and the CNN are fully convolutional), every larger one: for a lattice
of size L the default is the checkpoint trained at the largest size not above L (the nearest scale it has
seen; carrying a model to a smaller lattice is not measured, so it is never a default).
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["SHIPPED", "SHIPPED_IMAGES", "shipped_checkpoint", "shipped_baseline", "nearest_below"]

_HERE = Path(__file__).parent

#: Shipped SKILD checkpoints by training lattice size.
SHIPPED = {32: _HERE / "skild_L32.pt", 64: _HERE / "skild_L64.pt"}
#: Shipped image checkpoints (32 x 32 RGB patches of the bundled photographs, ``isingsr images``):
#: SKILD (every scale) and SR3 by training scale.
SHIPPED_IMAGES = {"skild": _HERE / "skild_photos32.pt", "sr3": {4.0: _HERE / "sr3_photos32_s4.pt"}}


def nearest_below(by_L: dict[int, Path], L: int) -> Path | None:
    """The existing path in ``by_L`` (training size -> file) of the largest training size <= L; None if none."""
    sizes = [k for k, p in by_L.items() if k <= int(L) and p.exists()]
    return by_L[max(sizes)] if sizes else None


def shipped_checkpoint(L: int = 32) -> Path:
    """The shipped SKILD checkpoint for lattice size L: trained at L, else at the largest size below L."""
    from ..exceptions import InputError

    p = nearest_below(SHIPPED, L)
    if p is None:
        have = ", ".join(str(k) for k, v in SHIPPED.items() if v.exists()) or "none"
        raise InputError(f"no shipped SKILD checkpoint for L = {L} (trained at L = {have}; a model serves its "
                         "own size and larger ones); pass --ckpt")
    return p


def shipped_baseline(method: str, L: int, scale: float) -> Path | None:
    """The shipped ``sr3`` or ``cnn`` checkpoint for scale ``scale`` and lattice size L,
    ``{method}_L{size}_s{scale:g}.pt`` of the largest training size <= L; None if there is none."""
    pattern = re.compile(rf"{re.escape(method)}_L(\d+)_s{re.escape(f'{float(scale):g}')}\.pt")
    by_L = {int(m.group(1)): p for p in _HERE.glob(f"{method}_L*.pt") if (m := pattern.fullmatch(p.name))}
    return nearest_below(by_L, L)
