"""Checkpoints shipped with isingsr (see README.md in this folder for how each was trained).

A checkpoint serves its own lattice size and, carried by critical finite-size scaling
(:mod:`isingsr.diffusion.transfer`; SR3 and the CNN are fully convolutional), every larger one: for a lattice
of size L the default SKILD checkpoint is the one trained at the largest size not above L (the nearest scale it
has seen; carrying a model to a smaller lattice is not measured, so it is never a default), and the default SR3
has that checkpoint's network size (:data:`SHIPPED_BASELINES`).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SHIPPED", "SHIPPED_BASELINES", "SHIPPED_IMAGES", "shipped_checkpoint", "shipped_baseline",
           "nearest_below"]

_HERE = Path(__file__).parent

#: Shipped SKILD checkpoints by the smallest lattice size they serve (their training size). At L = 32 the
#: ``tiny`` U-Net: it matches Monte Carlo at 2x, 4x and 8x as well as the ``small`` ``skild_L32.pt`` at a third
#: of its time (docs/sampling.md#a-network-with-a-quarter-of-the-arithmetic); from L = 64 the ``small``
#: ``skild_L64.pt``, fine-tuned at 64.
SHIPPED = {32: _HERE / "skild_L32_tiny.pt", 64: _HERE / "skild_L64.pt"}
#: Shipped baselines: method -> smallest lattice size served -> scale -> file. Each comparison holds one network
#: size on both sides: SR3 is the ``tiny`` U-Net where SKILD's default is (L = 32 to 63) and the ``small`` one
#: from L = 64, where SKILD's is ``skild_L64.pt``; both SR3 sizes were trained at L = 32 and are carried to
#: larger lattices (fully convolutional). The CNN costs one evaluation; one size serves every L.
SHIPPED_BASELINES = {
    "sr3": {32: {s: _HERE / f"sr3_L32_s{s:g}_tiny.pt" for s in (2.0, 4.0, 8.0)},
            64: {s: _HERE / f"sr3_L32_s{s:g}.pt" for s in (2.0, 4.0, 8.0)}},
    "cnn": {32: {s: _HERE / f"cnn_L32_s{s:g}.pt" for s in (2.0, 4.0, 8.0)}},
}
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
    """The shipped ``sr3`` or ``cnn`` checkpoint for scale ``scale`` and lattice size L (:data:`SHIPPED_BASELINES`,
    the entry of the largest size <= L that has this scale); None if there is none."""
    by_L = {k: by_scale[float(scale)] for k, by_scale in SHIPPED_BASELINES.get(method, {}).items()
            if float(scale) in by_scale}
    return nearest_below(by_L, L)
