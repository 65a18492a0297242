"""Super-resolution that honours its input: the majority constraint imposed on the sampler's estimates.

The coarse input y of a majority-rule coarse-graining by an integer factor b
fixes, for every b x b block B, the sign of the block sum: a fine
configuration is consistent with y when at least ``k_min = ceil(b^2 / 2)`` of
its spins in B have the sign y_B (for even b, exactly half is a tie, which
the fair-coin tie rule resolves either way, so a tie never contradicts the
input; :func:`isingsr.analysis.compare.block_consistency` counts it so).

:func:`project_majority` is the Euclidean projection of a real field onto the
fields whose signs satisfy that constraint in every block: in a block where
too few sites have the right sign, the wrong-sign sites nearest to zero --
the fewest and smallest changes -- are moved to ``margin`` on the right side;
all other sites are left alone. The sampler applies it to every estimate of
x_0 (predict, project, re-noise: the DDNM / Predict-Project-Renoise idea;
the model stays unconditional and nothing is retrained) and to the final
field, so the returned spins coarse-grain to the input; or (``final``) to
the final field only, which leaves the sampler's trajectory alone; or
(``late``, :class:`ProjectedDenoiser`) to the estimates below a blur length of
about one lattice spacing and to the final field, so that the coarse
structure is drawn freely and the last steps, which still add noise, can
smooth the sites the projection moves into their neighbourhood.

References
----------
Y. Wang, J. Yu and J. Zhang, "Zero-shot image restoration using denoising
diffusion null-space model", ICLR (2023) (DDNM).
"""

from __future__ import annotations

import numpy as np
import torch

from ..defaults import CONSISTENCY
from ..exceptions import InputError

__all__ = ["CONSISTENCY", "MARGIN", "project_majority", "majority_projector", "ProjectedDenoiser"]
#: Value on the right side of zero given to a site the projection moves (fields are spins of magnitude ~1).
MARGIN = 1e-3


def project_majority(x: torch.Tensor, coarse: torch.Tensor, b: int, margin: float = MARGIN) -> torch.Tensor:
    """Euclidean projection of fields onto those whose block-sign majorities equal ``coarse``.

    Parameters
    ----------
    x : tensor, shape (N, L, L) or (N, 1, L, L), real
    coarse : tensor, shape (N, L/b, L/b), +-1
    b : int
        Block size; ``b`` divides L.
    margin : float
        Where a moved site lands, on the right side of 0.

    Returns
    -------
    tensor of the shape and dtype of ``x``

    Examples
    --------
    >>> x = torch.tensor([[[0.9, -0.2], [-0.5, -0.1]]], dtype=torch.float64)
    >>> project_majority(x, torch.tensor([[[1]]]), 2).tolist()  # 2 of 4 sites must be positive
    [[[0.9, -0.2], [-0.5, 0.001]]]
    """
    shape = x.shape
    y = x.reshape(shape[0], shape[-2], shape[-1])
    n, L = y.shape[0], y.shape[-1]
    if L % b or tuple(coarse.shape) != (n, L // b, L // b):
        raise InputError(f"consistency projection: fields {tuple(shape)} and coarse inputs {tuple(coarse.shape)} "
                         f"do not match blocks of {b}")
    l = L // b
    k_min = (b * b + 1) // 2
    sign = coarse.to(y.dtype).reshape(n, l, 1, l, 1)
    u = (y.reshape(n, l, b, l, b) * sign).permute(0, 1, 3, 2, 4).reshape(n, l, l, b * b)
    order = torch.argsort(u, dim=-1, descending=True)
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(b * b, device=u.device).expand_as(order))
    u = torch.where((rank < k_min) & (u <= 0), torch.full_like(u, margin), u)
    y = (u.reshape(n, l, l, b, b).permute(0, 1, 3, 2, 4).reshape(n, l, b, l, b) * sign).reshape(n, L, L)
    return y.reshape(shape)


def majority_projector(coarse, b: int, device=None):
    """``project(x)`` for the sampler: :func:`project_majority` onto fixed coarse inputs ``(N, l, l)``."""
    c = torch.as_tensor(np.asarray(coarse), device=device)
    if not bool(torch.all((c == 1) | (c == -1))):
        raise InputError("consistency projection: coarse inputs must be +-1 spins (majority rule)")

    def project(x: torch.Tensor) -> torch.Tensor:
        return project_majority(x, c.to(x.device), b)
    return project


class ProjectedDenoiser:
    """A denoiser whose estimates are projected at times ``t < below`` (every time by default).

    ``--consistency project`` projects every estimate, ``late`` only those below the blur length
    :data:`~isingsr.defaults.LATE_BLUR`. Wraps ``den`` (``den(x_t, t) -> x0_hat`` with a ``process``);
    every sample of a batch shares its time.
    """

    def __init__(self, den, project, below: float = float("inf")):
        self.den, self.project, self.below, self.process = den, project, float(below), den.process

    def __call__(self, x_t: torch.Tensor, t) -> torch.Tensor:
        x0 = self.den(x_t, t)
        return self.project(x0) if float(torch.as_tensor(t).reshape(-1)[0]) < self.below else x0
