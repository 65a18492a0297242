"""Changes of scale for images: the degradation, the SKILD embedding and the bicubic baseline.

Images are ``(N, C, H, W)`` tensors in [-1, 1] with ``H = W``.

* :func:`downsample` is the degradation every method is tested on: the mean
  over each output pixel's footprint (``F.interpolate(mode="area")``),
  i.e. block averages for an integer factor and an antialiased area
  resampling for any other. A scale S maps size L to ``round(L / S)``
  (:func:`coarse_size`).
* :func:`dct_embed` puts a coarse image on the fine grid by zero-padding its
  orthonormal DCT-II: the first ``l x l`` coefficients are kept, scaled by
  ``L / l`` so that a constant image stays the same constant, the rest are 0.
  It is the mirror-boundary counterpart of the Ising lattice's Fourier
  zero-padding (:func:`isingsr.coarse.spectral_resample`), and the
  embedding whose pass-band statistics a SKILD image checkpoint stores.
* :func:`bicubic` is the classical baseline: bicubic interpolation
  (``align_corners=False``, as in image libraries), clipped to [-1, 1].
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..diffusion.spectral import get_basis
from ..exceptions import InputError

__all__ = ["coarse_size", "downsample", "dct_embed", "bicubic"]


def _images(x, what: str = "images") -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.ndim != 4 or x.shape[-1] != x.shape[-2] or x.shape[-1] < 1:
        raise InputError(f"{what}: expected shape (N, C, L, L), got {tuple(x.shape)}")
    if not x.dtype.is_floating_point:
        x = x.to(torch.float32)
    return x


def coarse_size(L: int, scale) -> int:
    """Side of an ``L x L`` image downsampled by ``scale``: ``round(L / scale)``, at least 1.

    Examples
    --------
    >>> coarse_size(32, 4), coarse_size(32, 2.5), coarse_size(32, 8)
    (8, 13, 4)
    """
    s = float(scale)
    if not s >= 1:
        raise InputError(f"scale must be >= 1, got {scale}")
    return max(1, round(L / s))


def downsample(x, size: int) -> torch.Tensor:
    """Area-average ``(N, C, L, L)`` images to ``(N, C, size, size)`` (block means for ``L / size`` integer)."""
    x = _images(x)
    if not 1 <= int(size) <= x.shape[-1]:
        raise InputError(f"size must be in [1, {x.shape[-1]}], got {size}")
    return F.interpolate(x, size=(int(size), int(size)), mode="area")


def dct_embed(y, L: int) -> torch.Tensor:
    """Coarse images ``(N, C, l, l)`` on the ``L x L`` grid by DCT zero-padding, float64.

    Examples
    --------
    >>> y = torch.full((1, 1, 4, 4), 0.25)
    >>> bool(torch.allclose(dct_embed(y, 16), torch.full((1, 1, 16, 16), 0.25, dtype=torch.float64)))
    True
    """
    y = _images(y, "coarse images").to(torch.float64)
    l = y.shape[-1]  # noqa: E741
    if not l <= int(L):
        raise InputError(f"coarse size {l} exceeds the fine size {L}")
    B = get_basis("dct")
    X = torch.zeros(y.shape[:-2] + (int(L), int(L)), dtype=torch.float64, device=y.device)
    X[..., :l, :l] = B.forward(y) * (int(L) / l)
    return B.inverse(X)


def bicubic(y, L: int) -> torch.Tensor:
    """Bicubic upsampling of ``(N, C, l, l)`` to ``(N, C, L, L)``, clipped to [-1, 1], float32."""
    y = _images(y, "coarse images").to(torch.float32)
    return F.interpolate(y, size=(int(L), int(L)), mode="bicubic", align_corners=False).clamp(-1.0, 1.0)
