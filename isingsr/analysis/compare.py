"""Truth vs candidate ensembles: correlation residuals, scalar differences, block consistency.

A *measurement* (:func:`measure`) of an ensemble is a dict of G2 (r = 0..L/2,
key ``r2``), square-corner G4c (key ``r``), optionally the collinear G4c of
points 0, r, 2r, 3r (key ``g4c_col``, same r) and the scalar observables of
:func:`isingsr.analysis.scalars.scalar_observables`, all with jackknife
errors. :func:`compare` sets a candidate's measurement against the truth's:

* per point ``residual = candidate - truth`` and its error ``err``, ``z =
  residual / err``. When both measurements keep their per-configuration
  samples (``measure(..., keep_samples=True)``) and have the same length,
  configuration i of the candidate is paired with configuration i of the
  truth and ``err`` is the paired jackknife error of the difference
  (:func:`isingsr.analysis.errors.jackknife_difference`; ``errors =
  "paired"``). A candidate super-resolved from the truth's own coarse
  configurations shares its large scales, so its residual fluctuates far
  less than either ensemble: ``sqrt(e_c^2 + e_t^2)`` (``errors =
  "independent"``, used otherwise) overstates the error of such a residual
  two- to four-fold and lets real misses pass as noise;
* ``chi2_dof = mean(z^2)`` over the points (a diagonal chi^2: the
  correlations between distances are ignored, so it is a summary). Points
  with ``err = 0`` are left out when the residual is 0 too (e.g. G2(0) = 1
  for every spin ensemble) and give ``z = +-inf`` otherwise;
* ``p_value``: Hotelling's test of "residual = 0 at every r" with the full
  jackknife covariance between distances
  (:func:`isingsr.analysis.errors.hotelling_p_value`; paired covariance, or
  the sum of the two ensembles' covariances with the smaller number of
  blocks when independent), ``p_dof`` the number of points it used;
* ``max_abs_dev = max |residual|``, ``max_rel_dev = max |residual / truth|``;
* for each scalar (energy, |m|, m^2, chi, Binder U4): difference, error, z.

:func:`block_consistency` measures how well a super-resolved candidate
respects the coarse configuration it was produced from.
"""

from __future__ import annotations

import numpy as np

from ..coarse import TIE_ATOL, coarse_grain
from ..exceptions import InputError
from .correlations import (
    collinear_samples,
    g2_samples,
    g4c_collinear_estimator,
    g4c_square_estimator,
    square_samples,
)
from .errors import DEFAULT_BLOCKS, hotelling_p_value, jackknife, jackknife_difference
from .scalars import SCALAR_KEYS, energy_magnetization, scalar_observables, scalar_terms

__all__ = ["measure", "compare_curves", "compare_scalars", "paired_errors", "block_consistency", "compare",
           "CURVES"]

#: Correlation curves of a measurement: key -> estimator of the value from the means of its samples.
CURVES = {"g2": lambda x: x, "g4c": g4c_square_estimator, "g4c_col": g4c_collinear_estimator}


def measure(spins: np.ndarray, r=None, order=None, n_blocks: int = DEFAULT_BLOCKS, progress: bool = False,
            keep_samples: bool = False, collinear: bool = False) -> dict:
    """G2, square (and optionally collinear) G4c and scalar observables of an ensemble, with jackknife errors.

    Parameters
    ----------
    spins : ndarray, shape (N, L, L), int8 +-1
    r : sequence of int, optional
        G4c square sides (default 1 .. L/4).
    order : ndarray of int, optional
        Permutation into Monte Carlo time order (``Ensemble.time_order()``).
    n_blocks : int
        Jackknife blocks.
    progress : bool
        Show progress bars.
    keep_samples : bool
        Also return the per-configuration samples (in ``order``) under
        ``samples``, for paired comparisons (:func:`compare`).
    collinear : bool
        Also the collinear G4c of points 0, r, 2r, 3r along either axis (same r as the squares).

    Returns
    -------
    dict
        ``n, L, r2, g2, g2_err`` (r2 = 0..L/2), ``r, g4c, g4c_err`` and
        ``energy, abs_m, m2, chi, binder`` with ``_err``; arrays as ndarray.
        ``cov = {"g2", "g4c": jackknife covariance between distances,
        "n_blocks": blocks used}``. With ``collinear`` also ``g4c_col, g4c_col_err`` and
        ``cov["g4c_col"]``. With ``keep_samples``: ``samples =
        {"g2": (G2 samples,), "g4c": (plaquette, side, diagonal), ["g4c_col": (product, pairs 1-3),]
        "scalars": (energy, magnetization), "n_blocks"}``.
    """
    s = np.asarray(spins)
    L = int(s.shape[-1])
    take = (lambda a: a) if order is None else (lambda a: a[order])
    s2 = take(g2_samples(s, progress))
    sq = square_samples(s, r, progress)
    s4 = tuple(take(a) for a in sq[1:])
    e, m = (take(a) for a in energy_magnetization(s))
    v2, e2, c2 = jackknife(CURVES["g2"], s2, n_blocks=n_blocks, covariance=True)
    v4, e4, c4 = jackknife(CURVES["g4c"], *s4, n_blocks=n_blocks, covariance=True)
    out = {"n": int(s.shape[0]), "L": L, "r2": np.arange(s2.shape[1]), "g2": v2, "g2_err": e2,
           "r": sq.r, "g4c": v4, "g4c_err": e4, "cov": {"g2": c2, "g4c": c4, "n_blocks": min(n_blocks, len(e))}}
    out.update(scalar_observables(e, m, L, n_blocks=n_blocks))
    samples = {"g2": (s2,), "g4c": s4}
    if collinear:
        samples["g4c_col"] = tuple(take(a) for a in collinear_samples(s, r, progress)[1:])
        out["g4c_col"], out["g4c_col_err"], out["cov"]["g4c_col"] = jackknife(
            CURVES["g4c_col"], *samples["g4c_col"], n_blocks=n_blocks, covariance=True)
    if keep_samples:
        out["samples"] = {**samples, "scalars": (e, m), "n_blocks": n_blocks}
    return out


def _curves(truth: dict, cand: dict) -> list[str]:
    """The correlation curves (keys of :data:`CURVES`) measured in both ``truth`` and ``cand``."""
    return [k for k in CURVES if k in truth and k in cand]


def compare_curves(truth, truth_err, cand, cand_err, residual_err=None, residual_cov=None, n_blocks=None) -> dict:
    """Residuals of a candidate curve against the truth, point by point.

    Parameters
    ----------
    truth, truth_err, cand, cand_err : array_like, shape (n,)
        Values and standard errors on the same abscissa.
    residual_err : array_like, shape (n,), optional
        Error of ``cand - truth`` when known (paired jackknife); default
        ``hypot(truth_err, cand_err)``, right for independent ensembles.
    residual_cov : array_like, shape (n, n), optional
        Jackknife covariance of ``cand - truth`` from ``n_blocks`` blocks;
        gives ``p_value`` (NaN without it).
    n_blocks : int, optional
        Blocks behind ``residual_cov``.

    Returns
    -------
    dict
        ``residual, err, z`` (ndarray, shape (n,)), ``chi2_dof``, ``n_dof``,
        ``max_abs_dev``, ``max_rel_dev`` (floats; NaN when no point counts),
        ``p_value`` and ``p_dof`` (see the module docstring).

    Examples
    --------
    >>> c = compare_curves([1.0, 0.5], [0.0, 0.1], [1.0, 0.8], [0.0, 0.1])
    >>> c["n_dof"], round(c["chi2_dof"], 6), round(c["max_abs_dev"], 6)
    (1, 4.5, 0.3)
    """
    t, c = np.asarray(truth, dtype=np.float64), np.asarray(cand, dtype=np.float64)
    if t.shape != c.shape:
        raise InputError(f"cannot compare curves of shapes {t.shape} and {c.shape}")
    res = c - t
    if residual_err is None:
        err = np.hypot(np.asarray(truth_err, dtype=np.float64), np.asarray(cand_err, dtype=np.float64))
    else:
        err = np.asarray(residual_err, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(err > 0, res / err, np.where(res == 0, 0.0, np.sign(res) * np.inf))
        rel = np.abs(res / t)[t != 0]
    used = (err > 0) | (res != 0)
    n_dof = int(used.sum())
    p_value, p_dof = float("nan"), 0
    if residual_cov is not None:
        p_value, p_dof = hotelling_p_value(res, residual_cov, n_blocks)
    return {
        "p_value": p_value,
        "p_dof": p_dof,
        "residual": res,
        "err": err,
        "z": z,
        "n_dof": n_dof,
        "chi2_dof": float(np.sum(z[used] ** 2) / n_dof) if n_dof else float("nan"),
        "max_abs_dev": float(np.max(np.abs(res))) if res.size else float("nan"),
        "max_rel_dev": float(np.max(rel)) if rel.size else float("nan"),
    }


def compare_scalars(truth: dict, cand: dict, keys=SCALAR_KEYS, errors: dict | None = None) -> dict:
    """Differences candidate - truth of scalar observables with combined errors.

    Parameters
    ----------
    truth, cand : dict
        Outputs of :func:`measure` (or ``scalar_observables``) with ``key`` and ``key_err``.
    keys : sequence of str
    errors : dict, optional
        ``{key: error of the difference}`` when known (paired jackknife);
        default ``hypot`` of the two errors (independent ensembles).

    Returns
    -------
    dict
        ``{key: {"diff", "err", "z"}}``.
    """
    out = {}
    for k in keys:
        d = cand[k] - truth[k]
        e = float(np.hypot(cand[k + "_err"], truth[k + "_err"]) if errors is None else errors[k])
        z = float(d / e) if e > 0 else (0.0 if d == 0 else float(np.copysign(np.inf, d)))
        out[k] = {"diff": float(d), "err": e, "z": z}
    return out


def block_consistency(candidate: np.ndarray, coarse: np.ndarray, scale=None) -> float:
    """Fraction of blocks of a candidate whose coarse-grained spin equals the coarse input.

    The candidate is coarse-grained to the coarse size ``l`` with
    :func:`isingsr.coarse.coarse_grain` at ``scale`` (default ``L / l``) and
    ``rule='average'`` (block mean on the block route, spectral field
    otherwise: pass the scale the coarse inputs were made with, so that both
    take the same route); a block is consistent when that value has the sign of the
    coarse spin. A tie (block mean 0, ``|value| <= TIE_ATOL``) counts as
    consistent: the majority rule may break it either way, so a tie never
    contradicts the input. Hence the truth and the naive block-filled
    baseline score exactly 1 against their own majority coarse-graining.

    Parameters
    ----------
    candidate : ndarray, shape (N, L, L), int8 +-1
        Super-resolved configurations, candidate[i] made from coarse[i].
    coarse : ndarray, shape (N, l, l), int8 +-1
        The coarse inputs.
    scale : float, optional
        Scale of the coarse-graining that made ``coarse``.

    Returns
    -------
    float
        Consistent blocks / all blocks, in [0, 1].
    """
    cand, crs = np.asarray(candidate), np.asarray(coarse)
    if cand.ndim != 3 or crs.ndim != 3 or cand.shape[0] != crs.shape[0]:
        raise InputError(
            "block consistency needs (N, L, L) candidates and (N, l, l) coarse inputs, "
            f"got {cand.shape} and {crs.shape}"
        )
    L, l = cand.shape[-1], crs.shape[-1]
    if scale is None:
        scale = L / l if L % l else L // l
    field = coarse_grain(cand, scale, rule="average")
    if field.shape != crs.shape:
        raise InputError(f"coarse size {l} is not reached from L = {L} at scale {scale} (got {field.shape[-1]})")
    ok = (field * crs > 0) | (np.abs(field) <= TIE_ATOL)
    return float(ok.mean())


def paired_errors(truth: dict, cand: dict) -> dict | None:
    """Paired jackknife errors of candidate - truth, or None when the two cannot be paired.

    Parameters
    ----------
    truth, cand : dict
        Outputs of :func:`measure` with ``keep_samples=True``, both in the
        truth's time order, configuration i of each paired.

    Returns
    -------
    dict or None
        ``{"g2": err, "g4c": err, "g2_cov": cov, "g4c_cov": cov, "scalars":
        {key: float}, "n_blocks": int}`` (and ``g4c_col``, ``g4c_col_cov`` when both have it); None when
        either lacks samples or the lengths differ.
    """
    ts, cs = truth.get("samples"), cand.get("samples")
    if ts is None or cs is None or truth["n"] != cand["n"]:
        return None
    nb = ts["n_blocks"]
    out: dict = {"scalars": {}, "n_blocks": min(nb, truth["n"])}
    for key in _curves(ts, cs):
        _, out[key], out[key + "_cov"] = jackknife_difference(CURVES[key], ts[key], cs[key], nb, covariance=True)
    tt, ct = scalar_terms(*ts["scalars"], truth["L"]), scalar_terms(*cs["scalars"], cand["L"])
    for k in SCALAR_KEYS:
        out["scalars"][k] = float(jackknife_difference(tt[k][0], tt[k][1], ct[k][1], nb)[1])
    return out


def compare(truth: dict, cand: dict, consistency: float | None = None) -> dict:
    """Full comparison of a candidate measurement with the truth's.

    Parameters
    ----------
    truth, cand : dict
        Outputs of :func:`measure` on the same L and the same r. When both
        kept their samples and have the same length, the errors of the
        residuals are paired (see the module docstring).
    consistency : float, optional
        Result of :func:`block_consistency`, passed through.

    Returns
    -------
    dict
        ``errors`` ("paired" or "independent"), ``g2_p_value, g4c_p_value,
        g2_p_dof, g4c_p_dof, g2_chi2_dof, g4c_chi2_dof, g2_max_abs_dev,
        g4c_max_abs_dev, g2_max_rel_dev, g4c_max_rel_dev, consistency``, per-point arrays ``g2_residual,
        g2_residual_err, g2_z`` (and ``g4c_...``; ``g4c_col_...`` when both have the collinear
        G4c), and ``scalars`` (see :func:`compare_scalars`).
    """
    if truth["L"] != cand["L"] or not np.array_equal(truth["r"], cand["r"]):
        raise InputError(f"cannot compare ensembles with L = {truth['L']} and L = {cand['L']} (or different r)")
    paired = paired_errors(truth, cand)
    out: dict = {"errors": "independent" if paired is None else "paired"}
    for key in _curves(truth, cand):
        if paired is not None:
            err, cov, nb = paired[key], paired[key + "_cov"], paired["n_blocks"]
        elif "cov" in truth and "cov" in cand:
            err, cov = None, truth["cov"][key] + cand["cov"][key]
            nb = min(truth["cov"]["n_blocks"], cand["cov"]["n_blocks"])
        else:
            err, cov, nb = None, None, None
        c = compare_curves(truth[key], truth[key + "_err"], cand[key], cand[key + "_err"], err, cov, nb)
        out.update({f"{key}_p_value": c["p_value"], f"{key}_p_dof": c["p_dof"],
                    f"{key}_chi2_dof": c["chi2_dof"], f"{key}_max_abs_dev": c["max_abs_dev"],
                    f"{key}_max_rel_dev": c["max_rel_dev"], f"{key}_residual": c["residual"],
                    f"{key}_residual_err": c["err"], f"{key}_z": c["z"]})
    out["consistency"] = consistency
    out["scalars"] = compare_scalars(truth, cand, errors=None if paired is None else paired["scalars"])
    return out
