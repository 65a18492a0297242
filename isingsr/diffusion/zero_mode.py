"""The zero mode in the envelope: its exact posterior mean, from the training data's magnetisation histogram.

For t > t_env the process has erased every mode but the zero mode (at the
shipped schedule a_t(k) < 3e-4 for every k != 0 once t > 0.905), so
``X_t(0) = a M + sigma eps`` is all there is to know about the zero-mode
coefficient M of the clean field, and the Bayes-optimal estimate of it is
the one-dimensional posterior mean

    E[M | X_t(0) = y] = sum_j w_j M_j N(y; a M_j, sigma^2) / sum_j w_j N(y; a M_j, sigma^2)

over the distribution of M in the training data. That distribution is
stored in the checkpoint as the histogram of the spin sum (exact integers,
symmetrised under the global spin flip). The network's own estimate of this
single number is poor -- at t >= 0.96 worse than the Gaussian one -- and it
alone sets the magnetisation distribution, hence U4, of generated samples
(``docs/generation.md``). Super-resolution starts below t_env and never uses
it.

At another lattice size the histogram is carried in units of the zero
mode's standard deviation, sqrt(S(0)): the distribution of m / <m^2>^(1/2)
at criticality is universal (finite-size scaling), and the spectrum
carries S(0) itself (:mod:`isingsr.diffusion.transfer`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..exceptions import InputError

__all__ = ["ZeroModePrior", "EmpiricalZeroMode", "zero_mode_histogram", "zero_mode_samples"]


def zero_mode_histogram(spins) -> dict:
    """The spin-sum histogram of an ensemble, symmetrised under s -> -s, as a checkpoint stores it.

    Returns ``{"L": L, "sums": (K,) int64 tensor, "counts": (K,) int64 tensor}``.
    """
    spins = np.asarray(spins)
    if spins.ndim != 3 or spins.shape[0] < 1:
        raise InputError(f"expected configurations (N, L, L), got shape {spins.shape}")
    sums = spins.reshape(len(spins), -1).sum(axis=1, dtype=np.int64)
    values, counts = np.unique(np.concatenate([sums, -sums]), return_counts=True)
    return {"L": int(spins.shape[-1]), "sums": torch.from_numpy(values), "counts": torch.from_numpy(counts)}


class ZeroModePrior:
    """The distribution of the zero-mode coefficient at a process's lattice size, and its posterior mean.

    Parameters
    ----------
    histogram : dict
        :func:`zero_mode_histogram` of the training data (at the training size).
    S0_trained : float
        The training process's zero-mode variance S(0) (spectrum matching: the
        second moment of the coefficient).
    basis_norm : float
        Zero-mode coefficient of one unit of spin sum in the training basis
        (``1 / L`` for the orthonormal bases).
    S0 : float
        S(0) of the process the prior is used with (the same, or transferred).
    """

    def __init__(self, histogram: dict, S0_trained: float, basis_norm: float, S0: float):
        counts = torch.as_tensor(histogram["counts"], dtype=torch.float64)
        sums = torch.as_tensor(histogram["sums"], dtype=torch.float64)
        if counts.numel() < 1 or bool((counts <= 0).any()) or not (S0_trained > 0 and S0 > 0):
            raise InputError("the checkpoint's zero-mode histogram is empty or malformed")
        self.values = sums * basis_norm * (S0 / S0_trained) ** 0.5  # coefficient values at this lattice size
        self.log_w = torch.log(counts / counts.sum())

    @classmethod
    def for_process(cls, histogram: dict, trained, process) -> "ZeroModePrior":
        """The prior of a checkpoint trained with process ``trained``, for ``process`` (the same or transferred)."""
        L = trained.L
        ones = torch.ones(1, 1, L, L, dtype=torch.float64, device=trained.S.device)
        norm = float(trained.basis.forward(ones)[0, 0, 0, 0]) / L**2
        if int(histogram["L"]) != L:
            raise InputError(f"the zero-mode histogram is of L = {histogram['L']}, the checkpoint's L = {L}")
        return cls(histogram, float(trained.S[0, 0]), norm, float(process.S[0, 0]))

    def posterior_mean(self, y: torch.Tensor, a: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
        """``E[M | a M + N(0, s2) = y]`` per sample; ``y`` of shape (B,) or (B, 1), ``a``, ``s2`` (B,), float64."""
        if y.ndim == 2:
            return self.posterior_mean(y[:, 0], a, s2)[:, None]
        v = self.values.to(y.device)
        logp = self.log_w.to(y.device) - (y[:, None] - a[:, None] * v) ** 2 / (2 * s2[:, None])
        return torch.softmax(logp, dim=1) @ v


def zero_mode_samples(fields, basis) -> torch.Tensor:
    """The zero-mode coefficients of training fields ``(N, C, L, L)``, one vector of C per field, float32.

    What an image checkpoint stores for :class:`EmpiricalZeroMode` (the mean colour of each training
    patch, in the units of the basis: ``L`` times the mean for the orthonormal DCT).
    """
    x = torch.as_tensor(np.asarray(fields), dtype=torch.float64)
    if x.ndim != 4 or x.shape[0] < 1:
        raise InputError(f"expected fields (N, C, L, L), got shape {tuple(x.shape)}")
    ones = torch.ones(1, 1, x.shape[-1], x.shape[-1], dtype=torch.float64)
    return (x.sum((-1, -2)) * float(basis.forward(ones)[0, 0, 0, 0]) / x.shape[-1] ** 2).float()


class EmpiricalZeroMode:
    """The joint distribution of a C-channel zero mode (an image's mean colour) as training samples.

    The counterpart of :class:`ZeroModePrior` for images: in the envelope the
    channels' zero modes are noised together, and the Bayes estimate is the
    posterior mean over the empirical distribution of the training data's
    vectors, ``sum_j v_j N(y; a v_j, s2 I) / sum_j N(y; a v_j, s2 I)``, which
    keeps their correlations (R, G and B means of natural images correlate
    at 0.6-0.95).

    Parameters
    ----------
    samples : tensor, shape (K, C)
        :func:`zero_mode_samples` of the training data.
    """

    def __init__(self, samples):
        v = torch.as_tensor(samples, dtype=torch.float64)
        if v.ndim != 2 or v.shape[0] < 1 or not bool(torch.isfinite(v).all()):
            raise InputError("the checkpoint's zero-mode samples are empty or malformed")
        self.values = v

    def posterior_mean(self, y: torch.Tensor, a: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
        """``E[M | a M + N(0, s2 I) = y]`` per sample; ``y`` (B, C), ``a``, ``s2`` (B,), float64 -> (B, C)."""
        v = self.values.to(y.device)
        d2 = ((y[:, None, :] - a[:, None, None] * v[None]) ** 2).sum(-1)
        return torch.softmax(-d2 / (2 * s2[:, None]), dim=1) @ v
