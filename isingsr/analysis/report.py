"""``isingsr correlate``: compare super-resolved ensembles with the Monte Carlo truth.

:func:`run_correlate` loads the truth, coarse-grains it by ``scale``, builds
the built-in ``naive`` baseline from the coarse configurations, loads any
named candidate files, measures every ensemble (G2, square-corner G4c, with
``collinear`` the collinear G4c of points 0, r, 2r, 3r, and the scalar
observables, jackknife errors in each ensemble's Monte Carlo time order) and
writes into ``out_dir``:

``summary.json`` (a contract; NaN and infinities are written as ``null``)::

    {
      "L": int, "scale": float, "L_coarse": int, "seed": int, "n_blocks": int,
      "truth_path": str,
      "ensembles": {NAME: {
          "n": int,
          "r":  [...],  "g4c": [...], "g4c_err": [...],   # square sides r = 1..L/4 (or as asked)
          "g4c_col": [...], "g4c_col_err": [...],         # with collinear=True: points 0, r, 2r, 3r
          "r2": [...],  "g2": [...],  "g2_err": [...],    # G2 distances r = 0..L/2
          "energy", "energy_err", "abs_m", "abs_m_err", "m2", "m2_err",
          "chi", "chi_err", "binder", "binder_err": float,
          "provenance": {...}}},                           # protocol, method, source ...
      "comparison": {NAME: {                               # every NAME except "truth"
          "errors": "paired" | "independent",              # how residual errors were taken
          "g2_p_value", "g4c_p_value": float or null,     # Hotelling test of residual = 0, full covariance
          "g2_p_dof", "g4c_p_dof": int,
          "g2_chi2_dof", "g4c_chi2_dof", "g2_max_abs_dev", "g4c_max_abs_dev",
          "g2_max_rel_dev", "g4c_max_rel_dev": float,
          "consistency": float or null,
          "g2_residual", "g2_residual_err", "g2_z", "g4c_residual", ...: [...],
          "g4c_col_p_value", ...,                         # with collinear=True, as for g4c
          "scalars": {KEY: {"diff", "err", "z"}}}},
      "conditional": null or {"b": int, "draws": int,      # with exact posterior draws
          "scores": {NAME: {"energy" | "block_m": {"bias", "bias_err", "mse_ratio", "mse_ratio_err"}}}},
      "theory": {"r2", "g2", "r", "g4c"},                  # torus CFT overlays
      "files": [...],                                      # paths relative to the working directory
      "run": {"command", "git_revision", "isingsr_version", "wall_s"}   # as far as the caller says
    }

The truth is stored under the name ``truth``, the baseline under ``naive``
(unless ``naive=False``). ``conditional`` scores each configuration against
the exact posterior of its own coarse input
(:mod:`isingsr.analysis.conditional`; the truth itself is an exact draw and
scores mse_ratio 1 within errors).
Residual errors are *paired* (``errors: "paired"``,
:func:`isingsr.analysis.compare.paired_errors`) for every candidate with one
configuration per truth configuration and no Monte Carlo chains of its own
(the naive baseline, super-resolved files, exact posterior draws): candidate
i is paired with truth configuration i, both in the truth's Monte Carlo
time order, and the jackknife deletes the same blocks of pairs from both.
A super-resolved configuration inherits the large scales of the truth
configuration it came from, so the residual is known far better than the
two ensembles' errors added in quadrature. Other candidates (different
length, or a Monte Carlo file with chains) get ``errors: "independent"``.
Note that ``r`` are the G4c square sides and G2 has its own distances
``r2``. Definitions of every number: :mod:`isingsr.analysis.correlations`,
:mod:`isingsr.analysis.compare`, :mod:`isingsr.analysis.scalars`.

``correlations.csv``: one row per ensemble, observable (``g2``, ``g4c``, ``g4c_col``) and
r, columns ``ensemble, observable, r, value, err, residual, residual_err, z``
(residuals against the truth; empty for the truth).

Figures ``g2.{png,pdf}``, ``g4c.{png,pdf}`` and with ``collinear`` ``g4c_col.{png,pdf}``
(:mod:`isingsr.analysis.figures`).

Coarse inputs and consistency: the truth, in file order, is coarse-grained
with ``coarse_grain(spins, scale, rule='majority', seed=seed)``. ``naive`` is
``upsample(coarse, L)`` by the same route: each block filled with its coarse
spin for an integer scale dividing L, spectral zero-padding followed by the
sign otherwise (ties from ``default_rng([seed, 1])``). A candidate's
``consistency`` (:func:`isingsr.analysis.compare.block_consistency`) assumes
that its configuration i was super-resolved from coarse configuration i made
exactly this way; it is ``null`` when the candidate has a different number
of configurations.
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..coarse import coarse_grain, is_block_scale, target_size, upsample
from ..exceptions import InputError
from ..io.hdf5 import load_ensemble
from ..io.paths import ensure_space, portable_path
from .compare import block_consistency, compare, measure
from .conditional import conditional_scores
from .errors import DEFAULT_BLOCKS
from .figures import OBSERVABLES, correlation_figure
from .theory import g2_torus, g4c_torus_square

__all__ = ["run_correlate", "PROVENANCE_KEYS", "has_collinear", "correlation_figures", "figure_title"]

#: File attributes copied into each ensemble's ``provenance``.
PROVENANCE_KEYS = ("algorithm", "protocol", "method", "checkpoint", "sampler", "steps", "rule", "scale",
                   "source", "seed", "beta", "basis", "t_start", "consistency", "particles", "lift_a", "twist_a",
                   "smc_final_ess", "smc_no_consistent", "variance", "grid_l_soft", "grid_l_end", "polish_sweeps",
                   "wall_s", "isingsr_version")
_RESERVED = ("truth", "naive")


def has_collinear(summary: dict) -> bool:
    """Whether a ``summary.json`` compares the collinear G4c (``run_correlate(..., collinear=True)``)."""
    return any("g4c_col_p_value" in c for c in summary["comparison"].values())


def figure_title(L: int, scale: float, L_coarse: int) -> str:
    """The title of :func:`run_correlate`'s figures."""
    return f"L = {L}, scale {scale:g} (coarse L' = {L_coarse})"


def correlation_figures(measurements: dict, comparison: dict, theory: dict, out: Path, title: str,
                        keys=("g2", "g4c"), suffix: str = "") -> list[Path]:
    """The figures of :func:`run_correlate`: ``out/KEY{suffix}.png`` and ``.pdf`` for each observable of ``keys``
    (``g2``, ``g4c``, ``g4c_col``), every ensemble of ``measurements`` with its residual error from
    ``comparison`` and, for G2 and the square G4c, the torus theory curve of ``theory``."""
    curves = {"g2": (theory["r2"], theory["g2"], "CFT torus"),
              "g4c": (theory["r"], theory["g4c"], r"$R(r/L)\,G_2^{\rm CFT}(r)^2$")}
    files = []
    for key in keys:
        files += correlation_figure(measurements, key, out / f"{key}{suffix}", theory=curves.get(key), title=title,
                                    residual_err={n: c[f"{key}_residual_err"] for n, c in comparison.items()})
    return files


def _jsonable(x):
    """numpy -> plain Python, non-finite floats -> None (strict JSON)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in (x.tolist() if isinstance(x, np.ndarray) else x)]
    if isinstance(x, (np.integer, np.bool_)):
        return x.item()
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x


def _provenance(attrs: dict, **extra) -> dict:
    out = {k: attrs[k] for k in PROVENANCE_KEYS if k in attrs}
    for key in ("checkpoint", "source"):  # files written elsewhere may record machine paths
        if isinstance(out.get(key), str) and out[key].startswith("/"):
            out[key] = portable_path(out[key])
    out.update(extra)
    return out


def _write_csv(path: Path, measurements: dict, comparison: dict) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ensemble", "observable", "r", "value", "err", "residual", "residual_err", "z"])
        for name, m in measurements.items():
            cmp_ = comparison.get(name)
            for key, (rkey, *_) in OBSERVABLES.items():
                if key not in m:
                    continue
                for i, r in enumerate(m[rkey]):
                    row = [name, key, int(r), repr(float(m[key][i])), repr(float(m[key + "_err"][i]))]
                    if cmp_ is not None:
                        row += [repr(float(cmp_[f"{key}_{c}"][i])) for c in ("residual", "residual_err", "z")]
                    else:
                        row += ["", "", ""]
                    w.writerow(row)


def run_correlate(
    truth_path,
    scale,
    out_dir,
    candidates: dict[str, str] | None = None,
    r=None,
    n_blocks: int = DEFAULT_BLOCKS,
    seed: int = 0,
    progress: bool = True,
    naive: bool = True,
    posterior_reference: dict | None = None,
    run: dict | None = None,
    collinear: bool = False,
) -> dict:
    """Measure and compare the truth, the naive baseline and candidate ensembles.

    Parameters
    ----------
    truth_path : path-like
        Monte Carlo ensemble (``isingsr.io.hdf5`` format), shape (N, L, L).
    scale : float
        Coarse-graining factor ``s >= 1`` (integer dividing L: majority block
        spin; otherwise spectral resampling to ``round(L / s)``).
    out_dir : path-like
        Output folder (created if missing).
    candidates : dict of str -> path-like, optional
        Named candidate ensembles (super-resolved by the same scale), each
        with the truth's L. Names ``truth`` and ``naive`` are reserved.
    r : sequence of int, optional
        G4c square sides (default 1 .. L/4).
    n_blocks : int
        Jackknife blocks.
    seed : int
        Seed of the coarse-graining's tie breaking (see the module docstring).
    progress : bool
        Show progress bars (stderr).
    naive : bool
        Include the built-in naive baseline.
    posterior_reference : dict, optional
        :func:`isingsr.analysis.conditional.conditional_moments` of exact
        posterior draws for these coarse inputs (integer scale dividing L);
        adds the ``conditional`` scores of the truth and of every candidate
        with one configuration per input.
    run : dict, optional
        How this comparison was made (command line, git revision, ...); stored
        as ``run`` with ``wall_s``, the seconds since ``run["started"]``
        (``time.perf_counter()``; default: this call's start).
    collinear : bool
        Also measure and compare the collinear G4c (points 0, r, 2r, 3r along either axis).

    Returns
    -------
    dict
        The content of ``summary.json``.

    Raises
    ------
    InputError
        Unreadable or invalid ensemble files, a candidate whose L differs
        from the truth's, a reserved or empty candidate name, a bad scale or r.
    """
    t_start = time.perf_counter() if run is None or "started" not in run else run["started"]
    candidates = dict(candidates or {})
    for name in candidates:
        if not name or name in _RESERVED:
            raise InputError(f"candidate name {name!r} is empty or reserved ({', '.join(_RESERVED)})")
    truth = load_ensemble(truth_path)
    L = truth.L
    L_coarse = target_size(L, scale)
    loaded = {}
    for name, path in candidates.items():
        ens = load_ensemble(path)
        if ens.L != L:
            raise InputError(f"{path}: candidate {name!r} has L = {ens.L}, the truth {truth_path} has L = {L}")
        loaded[name] = ens
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create output folder ({exc.strerror or exc})") from None
    ensure_space(out, 4 << 20)  # summary, table and figures: a few MiB at most

    coarse = coarse_grain(truth.spins, scale, rule="majority", seed=seed)
    spectral = not is_block_scale(L, scale)
    route = "spectral zero-padding + sign" if spectral else "block fill"
    t_order = truth.time_order()
    # (spins, time order, paired with the truth, provenance); see the module docstring for the pairing rule
    ensembles = {"truth": (truth.spins, t_order, True, _provenance(truth.attrs, path=portable_path(truth_path)))}
    if naive:
        ensembles["naive"] = (upsample(coarse, L, seed=np.random.default_rng([seed, 1]), spectral=spectral),
                              t_order, True,
                              {"protocol": "coarse", "method": f"naive: {route}", "source": portable_path(truth_path)})
    for name, ens in loaded.items():
        paired = ens.n == truth.n and ens.chain is None
        ensembles[name] = (ens.spins, t_order if paired else ens.time_order(), paired,
                           _provenance(ens.attrs, path=portable_path(ens.path)))

    measurements, provenance, consistency = {}, {}, {}
    for name, (spins, order, paired, prov) in tqdm(ensembles.items(), disable=not progress, desc="ensembles",
                                                   unit="ens"):
        measurements[name] = measure(spins, r=r, order=order, n_blocks=n_blocks, progress=progress,
                                     keep_samples=paired, collinear=collinear)
        provenance[name] = prov
        if name != "truth":
            consistency[name] = block_consistency(spins, coarse, scale) if len(spins) == len(coarse) else None

    comparison = {
        name: compare(measurements["truth"], m, consistency[name])
        for name, m in measurements.items() if name != "truth"
    }
    for m in measurements.values():  # per-configuration samples and covariances stay out of summary.json
        m.pop("samples", None)
        m.pop("cov", None)
    conditional = None
    if posterior_reference is not None:
        if spectral:
            raise InputError("conditional scores need an integer scale dividing L (majority-rule posterior)")
        b = int(scale)
        k = posterior_reference["n_samples"]
        scores = {name: conditional_scores(spins, posterior_reference, b, n_blocks=n_blocks)
                  for name, (spins, _, _, _) in ensembles.items() if len(spins) == len(coarse)}
        conditional = {"b": b, "draws": int(k), "scores": scores}
    tm = measurements["truth"]
    theory = {"r2": tm["r2"], "g2": g2_torus(tm["r2"], L), "r": tm["r"], "g4c": g4c_torus_square(tm["r"], L)}
    files = [out / "summary.json", out / "correlations.csv"]
    _write_csv(files[1], measurements, comparison)
    files += correlation_figures(measurements, comparison, theory, out, figure_title(L, scale, L_coarse),
                                 keys=("g2", "g4c", "g4c_col") if collinear else ("g2", "g4c"))
    summary = {
        "L": L, "scale": float(scale), "L_coarse": L_coarse, "seed": int(seed), "n_blocks": int(n_blocks),
        "truth_path": portable_path(truth_path),
        "ensembles": {name: {**m, "provenance": provenance[name]} for name, m in measurements.items()},
        "comparison": comparison,
        "conditional": conditional,
        "theory": theory,
        "files": [portable_path(p) for p in files],
        "run": {**{k: v for k, v in (run or {}).items() if k != "started"},
                "wall_s": round(time.perf_counter() - t_start, 1)},
    }
    summary = _jsonable(summary)
    files[0].write_text(json.dumps(summary, indent=1, allow_nan=False) + "\n")
    return summary
