"""Checkpoints shipped with isingsr (see README.md in this folder for how each was trained)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SHIPPED", "SHIPPED_IMAGES", "shipped_checkpoint", "shipped_baseline"]

_HERE = Path(__file__).parent

#: Shipped SKILD checkpoints by lattice size.
SHIPPED = {32: _HERE / "skild_L32.pt"}
#: Shipped image checkpoints (32 x 32 RGB patches of the bundled photographs, ``isingsr images``):
#: SKILD (every scale) and SR3 by training scale.
SHIPPED_IMAGES = {"skild": _HERE / "skild_photos32.pt", "sr3": {4.0: _HERE / "sr3_photos32_s4.pt"}}


def shipped_checkpoint(L: int = 32) -> Path:
    """Path of the shipped SKILD checkpoint for lattice size L."""
    from ..exceptions import InputError

    p = SHIPPED.get(int(L))
    if p is None or not p.exists():
        have = ", ".join(str(k) for k, v in SHIPPED.items() if v.exists()) or "none"
        raise InputError(f"no shipped SKILD checkpoint for L = {L} (shipped: {have}); pass --ckpt")
    return p


def shipped_baseline(method: str, L: int, scale: float) -> Path | None:
    """The shipped ``sr3`` or ``cnn`` checkpoint for (L, scale), ``{method}_L{L}_s{scale:g}.pt``; None if absent."""
    p = _HERE / f"{method}_L{int(L)}_s{float(scale):g}.pt"
    return p if p.exists() else None
