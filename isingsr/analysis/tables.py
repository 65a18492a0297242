"""Markdown tables of results: one renderer and the number formats the experiment scripts share.

Every results table in ``docs/`` is written to a file by the script that
computes it (``results/*/table.md``) with :func:`markdown`, and the docs
quote that file verbatim (``tests/test_docs.py`` checks it).

Examples
--------
>>> print(markdown(["S", "p"], [[4, pval(0.0123)], [8, pval(1e-9)]]))
| S | p |
|---|---|
| 4 | 0.012 |
| 8 | < 1e-6 |
"""

from __future__ import annotations

__all__ = ["markdown", "pval", "value_err", "signed_z"]


def _line(cells) -> str:
    return "|" + "|".join(f" {c} " if str(c) else " " for c in cells) + "|"


def markdown(header, rows) -> str:
    """A GitHub-flavoured markdown table; cells are converted with ``str``, an empty cell is ``| |``."""
    return "\n".join([_line(header), "|" + "---|" * len(header)] + [_line(r) for r in rows])


def pval(p) -> str:
    """A p-value to two significant digits, ``< 1e-6`` below that, ``—`` when undefined."""
    return "—" if p is None else ("< 1e-6" if p < 1e-6 else f"{p:.2g}")


def value_err(v, e=None, digits: int = 3) -> str:
    """``v ± e`` with ``digits`` decimals, ``—`` when undefined."""
    if v is None:
        return "—"
    return f"{v:.{digits}f}" if e is None else f"{v:.{digits}f} ± {e:.{digits}f}"


def signed_z(diff, z, digits: int = 4) -> str:
    """``+0.0012 (+1.3)``: a difference and its z-score."""
    return f"{diff:+.{digits}f} ({z:+.1f})"
