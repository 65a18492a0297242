"""Argument checks shared by the library: one clear :class:`~isingsr.exceptions.InputError` per bad value.

Booleans are refused where numbers are expected (``True`` is an ``int`` in Python).

Examples
--------
>>> integer(3, "steps", minimum=1)
3
>>> real(0.5, "t", low=0, high=1)
0.5
"""

from __future__ import annotations

import math
from numbers import Real

from .exceptions import InputError

__all__ = ["integer", "real"]


def integer(value, name: str, minimum: int | None = None) -> int:
    """``value`` as an int (a float with an integer value is accepted), at least ``minimum``."""
    ok = not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(value) and float(value) == int(value)
    if not ok or (minimum is not None and int(value) < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise InputError(f"{name} must be an integer{bound}, got {value!r}")
    return int(value)


def real(value, name: str, *, low: float | None = None, high: float | None = None, low_open: bool = False,
         high_open: bool = False) -> float:
    """``value`` as a finite float in the interval ``[low, high]`` (ends excluded where ``*_open``)."""
    ok = not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(value)
    if ok:
        v = float(value)
        above = low is None or (v > low if low_open else v >= low)
        ok = above and (high is None or (v < high if high_open else v <= high))
    if not ok:
        if low is not None and high is None:
            op = ">" if low_open else ">="
            what = "a positive number" if (low == 0 and low_open) else f"a real number {op} {low:g}"
            raise InputError(f"{name} must be {what}, got {value!r}")
        if high is not None and low is None:
            raise InputError(f"{name} must be a real number {'<' if high_open else '<='} {high:g}, got {value!r}")
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise InputError(f"{name} must lie in {interval}, got {value!r}")
    return float(value)
