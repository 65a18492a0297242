"""Checkpoints shipped with isingsr (see README.md in this folder for how each was trained)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SHIPPED", "shipped_checkpoint"]

_HERE = Path(__file__).parent

#: Shipped SKILD checkpoints by lattice size.
SHIPPED = {32: _HERE / "skild_L32.pt"}


def shipped_checkpoint(L: int = 32) -> Path:
    """Path of the shipped SKILD checkpoint for lattice size L."""
    from ..exceptions import InputError

    p = SHIPPED.get(int(L))
    if p is None or not p.exists():
        have = ", ".join(str(k) for k, v in SHIPPED.items() if v.exists()) or "none"
        raise InputError(f"no shipped SKILD checkpoint for L = {L} (shipped: {have}); pass --ckpt")
    return p
