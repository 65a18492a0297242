"""How close a super-resolver comes to the exact posterior p(fine | coarse), input by input.

Marginal observables (G2, G4c, energy over the ensemble) can be right while
every individual super-resolution is wrong for its input. The exact
posterior, sampled by constrained Monte Carlo
(:func:`isingsr.mc.constrained.constrained_sample`) and summarised by
:func:`conditional_moments`, gives for each coarse
input i the conditional mean ``mu_i`` and variance ``v_i`` of an observable
x: the energy per site, and the fine magnetisation of each coarse block.
A candidate's super-resolution of input i gives one value ``x_i``. Then

* ``bias = mean_i (x_i - mu_i)``: systematic conditional error (ideal 0);
* ``mse_ratio = mean_i (x_i - mu_i)^2 / mean_i v_i``: 1 for an exact
  posterior draw, whatever the input; below 1 the method collapses towards
  the conditional mean (too little diversity), above 1 it is biased or
  over-dispersed. The posterior's mean and variance are estimated from K
  draws per input, and the squared deviation of an independent exact draw
  from the K-sample mean has expectation ``v (1 + 1/K)``; the denominator
  carries that factor, so ``mse_ratio`` is unbiased at 1 for an exact
  sampler (the true fine configuration itself is such a draw, and is
  reported as a check).

Errors are jackknife errors over inputs (inputs are independent when the
truth ensemble is).
"""

from __future__ import annotations

import numpy as np

from ..coarse import block_spin
from ..exceptions import InputError
from .errors import DEFAULT_BLOCKS, jackknife
from .scalars import energy_magnetization

__all__ = ["conditional_moments", "conditional_scores", "CONDITIONAL_KEYS"]

#: Observables scored per input.
CONDITIONAL_KEYS = ("energy", "block_m")


def conditional_moments(samples: np.ndarray, b: int) -> dict:
    """Per-input moments of posterior samples: energy per site and block magnetisations.

    Parameters
    ----------
    samples : ndarray, shape (N, n, L, L) or (n, L, L), int8 +-1
        ``n`` samples of each of ``N`` inputs (as returned by
        :func:`isingsr.mc.constrained.constrained_sample`; 3-d means a single input).
    b : int
        Block size (divides L).

    Returns
    -------
    dict
        ``energy_mean``, ``energy_std`` : shape (N,)
            Mean and standard deviation (ddof = 1; NaN if n = 1) over the
            samples of the energy per site.
        ``block_m_mean``, ``block_m_std`` : shape (N, l, l)
            The same for each block's fine magnetisation, sum_{i in B} s_i / b^2.
        ``n_samples`` : int
        A 3-d input gives these without the leading N axis.

    Examples
    --------
    >>> s = np.ones((1, 2, 4, 4), dtype=np.int8)
    >>> s[0, 1, :2, :2] = -1
    >>> mom = conditional_moments(s, 2)
    >>> mom["energy_mean"].tolist(), mom["block_m_mean"][0].tolist()
    ([-1.5], [[0.0, 1.0], [1.0, 1.0]])
    """
    a = np.asarray(samples)
    if a.ndim not in (3, 4):
        raise InputError(f"samples: expected shape (N, n, L, L) or (n, L, L), got {a.shape} (ndim {a.ndim})")
    single = a.ndim == 3
    if single:
        a = a[None]
    N, n = a.shape[:2]
    if n < 1 or N < 1:
        raise InputError(f"samples: empty input, shape {a.shape}")
    flat = a.reshape((N * n,) + a.shape[2:])
    bm = block_spin(flat, b, rule="average")  # validates b and the lattice
    bm = bm.reshape((N, n) + bm.shape[1:])
    e = energy_magnetization(flat)[0].reshape(N, n)

    def std(x):
        return x.std(axis=1, ddof=1) if n > 1 else np.full(x.shape[:1] + x.shape[2:], np.nan)

    out = {"energy_mean": e.mean(axis=1), "energy_std": std(e), "block_m_mean": bm.mean(axis=1), "block_m_std": std(bm)}
    if single:
        out = {k: v[0] for k, v in out.items()}
    out["n_samples"] = n
    return out


def conditional_scores(candidate: np.ndarray, reference: dict, b: int, n_blocks: int = DEFAULT_BLOCKS) -> dict:
    """``bias`` and ``mse_ratio`` (with jackknife errors) of one draw per input against the posterior.

    Parameters
    ----------
    candidate : ndarray (N, L, L)
        Configuration i super-resolved from coarse input i.
    reference : dict
        :func:`conditional_moments` of K >= 2 posterior draws per input, for the same inputs.
    b : int
        Block size of the coarse-graining.

    Returns
    -------
    dict
        ``{key: {"bias", "bias_err", "mse_ratio", "mse_ratio_err"}}`` for each
        of :data:`CONDITIONAL_KEYS`.
    """
    k = int(reference["n_samples"])
    if k < 2:
        raise InputError("conditional scores need at least 2 posterior draws per input")
    obs = conditional_moments(np.asarray(candidate)[:, None], b)
    out = {}
    for key in CONDITIONAL_KEYS:
        mu, var = reference[f"{key}_mean"], reference[f"{key}_std"] ** 2
        n = len(mu)
        diff = obs[f"{key}_mean"] - mu
        dev = diff.reshape(n, -1).mean(axis=1)  # mean over blocks per input
        sq = (diff**2).reshape(n, -1).mean(axis=1)
        v = (var * (1 + 1 / k)).reshape(n, -1).mean(axis=1)
        bias, bias_err = jackknife(lambda d: d, dev, n_blocks=n_blocks)
        ratio, ratio_err = jackknife(lambda s, w: s / w, sq, v, n_blocks=n_blocks)
        out[key] = {"bias": float(bias), "bias_err": float(bias_err), "mse_ratio": float(ratio),
                    "mse_ratio_err": float(ratio_err)}
    return out
