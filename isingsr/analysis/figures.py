"""Publication figures: a correlation function vs r for truth and candidates, and residuals.

Two panels sharing a logarithmic r axis: on top, the values of every
ensemble with jackknife error bars and an optional theory curve; below, the
residual ``candidate - truth`` of each candidate with the error of the
residual (paired where :mod:`isingsr.analysis.compare` paired it), over the
truth's own +-1 sigma band, on a symmetric-log axis that is linear within
three truth sigmas (so a method missing by 0.5 does not flatten one missing
by 0.005). Figures are drawn on a :class:`matplotlib.figure.Figure`
(Agg for PNG, the PDF backend for PDF), never through pyplot, so no global
backend state is touched and nothing needs a display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

__all__ = ["correlation_figure", "OBSERVABLES"]

#: How each observable of a measurement (``isingsr.analysis.compare.measure``) is plotted:
#: key -> (distance key, y label, logarithmic y axis).
OBSERVABLES = {
    "g2": ("r2", r"$G_2(r)$", True),
    "g4c": ("r", r"$G_4^c(r)$ (square corners)", False),
    "g4c_col": ("r", r"$G_4^c(r)$ (collinear: 0, r, 2r, 3r)", False),
}
_MARKERS = "osD^v<>ph*"


def correlation_figure(
    measurements: dict[str, dict],
    key: str,
    stem,
    truth: str = "truth",
    theory: tuple[np.ndarray, np.ndarray, str] | None = None,
    title: str | None = None,
    residual_err: dict[str, np.ndarray] | None = None,
) -> list[Path]:
    """Draw and save the two-panel figure of one observable.

    Parameters
    ----------
    measurements : dict of str -> dict
        Per ensemble name, a measurement with ``key``, ``key + '_err'`` and
        the distances (``r2`` for G2, ``r`` for G4c). Must contain ``truth``;
        all ensembles share the truth's distances.
    key : {'g2', 'g4c', 'g4c_col'}
        Observable to plot.
    stem : path-like
        Output path without suffix; ``stem.png`` (200 dpi) and ``stem.pdf``
        are written.
    truth : str
        Name of the reference ensemble.
    theory : (r, y, label), optional
        A theory curve for the top panel (NaN/inf points are skipped).
    title : str, optional
        Figure title.
    residual_err : dict of str -> ndarray, optional
        Error bars of each candidate's residual (``<key>_residual_err`` of
        :func:`isingsr.analysis.compare.compare`); a candidate not in it
        gets its own error bars.

    Returns
    -------
    list of Path
        The PNG and the PDF.
    """
    rkey, ylabel, logy = OBSERVABLES[key]
    ref = measurements[truth]
    r = np.asarray(ref[rkey], dtype=np.float64)
    pos = r > 0  # log axis: r = 0 is not drawn
    fig = Figure(figsize=(6.4, 6.4), constrained_layout=True)
    top, bot = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 1]})
    for i, (name, m) in enumerate(measurements.items()):
        y, e = np.asarray(m[key]), np.asarray(m[key + "_err"])
        style = dict(marker=_MARKERS[i % len(_MARKERS)], ms=4, capsize=2, lw=1, label=f"{name} (N={m.get('n', '?')})")
        if name == truth:
            style.update(color="k", zorder=5)
        top.errorbar(r[pos], y[pos], yerr=e[pos], **style)
        if name != truth:
            de = np.asarray((residual_err or {}).get(name, e))
            bot.errorbar(r[pos], (y - ref[key])[pos], yerr=de[pos], **style)
    if theory is not None:
        tr, ty, label = (np.asarray(theory[0], dtype=np.float64), np.asarray(theory[1]), theory[2])
        ok = np.isfinite(ty) & (tr > 0)
        top.plot(tr[ok], ty[ok], "--", color="0.4", lw=1.2, label=label, zorder=1)
    te = np.asarray(ref[key + "_err"])[pos]
    bot.fill_between(r[pos], -te, te, color="0.8", label=rf"{truth}'s own $\pm 1\sigma$", zorder=0)
    bot.axhline(0.0, color="k", lw=0.8)
    if te.size and np.isfinite(te).all() and te.max() > 0:  # small residuals stay readable beside large ones
        bot.set_yscale("symlog", linthresh=float(3 * te.max()), linscale=1.5)
    top.set_xscale("log")
    ticks = [2.0**k for k in range(0, 12) if r[pos].min() <= 2.0**k <= r[pos].max()]
    if ticks:  # plain lattice distances 1, 2, 4, ... rather than 2 x 10^0
        bot.set_xticks(ticks, [f"{t:g}" for t in ticks])
        bot.xaxis.set_minor_formatter(NullFormatter())
    if logy:
        top.set_yscale("log")
    top.set_ylabel(ylabel)
    bot.set_ylabel(f"candidate $-$ {truth}")
    bot.set_xlabel(r"$r$ (lattice spacings)")
    top.legend(fontsize=8, frameon=False)
    if len(measurements) > 1:
        bot.legend(fontsize=7, frameon=False, ncol=2)
    if title:
        top.set_title(title, fontsize=10)
    stem = Path(stem)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    fig.savefig(paths[0], dpi=200)
    fig.savefig(paths[1])
    return paths
