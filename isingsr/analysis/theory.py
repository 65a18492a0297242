"""Theory curves for the critical 2D Ising model: two- and four-point functions.

Numbers and formulas from ``shared/reference/exact_ising.md`` (sections 4, 5).

* Infinite lattice, large r: ``G2(r) ~ A0 r^{-1/4}``,
  ``A0 = 2^{5/24} e^{3 zeta'(-1)} = 0.7033801577`` (Wu 1966; McCoy & Wu 1973).
* Finite L x L torus (conformal field theory; Di Francesco, Saleur & Zuber
  1987): ``G2(r) ~ A0 L^{-1/4} g2(r / L)`` with, for ``w = (x, y)`` in units of
  L, ``u = pi (x + i y)`` and Jacobi thetas at nome ``q = e^{-pi}``::

      g2(w) = pi^{1/4} |theta1'(0) / theta1(u)|^{1/4}
              * (sum_{nu=1..4} |theta_nu(u/2)|) / (sum_{nu=2..4} |theta_nu(0)|)

* Plane four-point function of the spin field, cross-ratio
  ``x = z12 z34 / (z13 z24)``::

      <s1 s2 s3 s4> = A0^2 |z12 z34|^{-1/4} |1 - x|^{-1/4} sqrt((1 + |x| + |1 - x|) / 2)

  For the corners of a square (x = 1/2) the ratio
  ``R = G4c / G2(r)^2 = 2^{1/4} - 2 - 2^{-1/4}`` is independent of r.
* Torus ratio ``R(r/L)`` for square corners: the tabulated values, joined by
  a monotone cubic (PCHIP) through ``R(0) = R_PLANE`` (the plane limit), folded
  to ``r/L`` in [0, 1/2] by periodicity. The torus overlay used for G4c is
  ``R(r/L) * G2_torus(r)^2`` (side-length two-point function along an axis).

These are continuum results: lattice artefacts are ~2% at r = 1 and below
0.3% for r >= 4.

References
----------
T. T. Wu, Phys. Rev. 149, 380 (1966); B. M. McCoy and T. T. Wu, "The
Two-Dimensional Ising Model" (Harvard, 1973).
P. Di Francesco, H. Saleur and J.-B. Zuber, Nucl. Phys. B 290, 527 (1987).
A. A. Belavin, A. M. Polyakov and A. B. Zamolodchikov, Nucl. Phys. B 241, 333 (1984).
"""

from __future__ import annotations

import functools

import mpmath
import numpy as np
from scipy.interpolate import PchipInterpolator

__all__ = [
    "A0",
    "R_PLANE",
    "R_TORUS_W",
    "R_TORUS",
    "g2_plane",
    "g2_torus_scaling",
    "g2_torus",
    "four_point_plane",
    "g4c_plane",
    "ratio_torus",
    "g4c_torus_square",
]

#: Amplitude of <s_0 s_r> ~ A0 r^{-1/4}: 2^{5/24} e^{3 zeta'(-1)}.
A0 = float(mpmath.mpf(2) ** (mpmath.mpf(5) / 24) * mpmath.exp(3 * mpmath.zeta(-1, derivative=1)))
#: G4c / G2(r)^2 for the corners of a square on the plane: 2^{1/4} - 2 - 2^{-1/4}.
R_PLANE = 2**0.25 - 2.0 - 2**-0.25
#: r / L of the tabulated torus ratio (exact_ising.md, section 5).
R_TORUS_W = np.array([1 / 64, 1 / 32, 1 / 16, 1 / 8, 3 / 16, 1 / 4, 3 / 8, 1 / 2])
#: Torus ratio R(r/L) = G4c / G2(r)^2 for square corners at R_TORUS_W.
R_TORUS = np.array([-1.66229, -1.67280, -1.69352, -1.73352, -1.77075, -1.80396, -1.85277, -1.87036])

_ratio_interp = PchipInterpolator(np.concatenate([[0.0], R_TORUS_W]), np.concatenate([[R_PLANE], R_TORUS]))


def g2_plane(r) -> np.ndarray:
    """Infinite-lattice asymptotics ``A0 r^{-1/4}`` (any direction, r > 0).

    Parameters
    ----------
    r : float or ndarray
        Distance in lattice spacings.

    Returns
    -------
    ndarray, float64
        Same shape as ``r``; ``inf`` at r = 0.

    Examples
    --------
    >>> round(float(g2_plane(16.0)), 6)
    0.35169
    """
    r = np.asarray(r, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return A0 * r**-0.25


@functools.lru_cache(maxsize=4096)
def _g2_scaling(x: float, y: float) -> float:
    q = mpmath.exp(-mpmath.pi)
    u = mpmath.pi * mpmath.mpc(x, y)
    th1 = mpmath.jtheta(1, u, q)
    if th1 == 0:
        return float("inf")
    num = sum(abs(mpmath.jtheta(nu, u / 2, q)) for nu in (1, 2, 3, 4))
    den = sum(abs(mpmath.jtheta(nu, 0, q)) for nu in (2, 3, 4))
    return float(mpmath.pi**0.25 * abs(mpmath.jtheta(1, 0, q, 1) / th1) ** 0.25 * num / den)


def g2_torus_scaling(x, y=0.0) -> np.ndarray:
    """Scaling function g2(w) of the torus two-point function, ``w = (x, y)`` in units of L.

    Parameters
    ----------
    x, y : float or ndarray
        Separation in units of L (broadcast together); periodic with period 1.

    Returns
    -------
    ndarray, float64
        ``g2(w)``; ``inf`` at w = 0.

    Examples
    --------
    >>> [round(float(g2_torus_scaling(w)), 6) for w in (1 / 16, 1 / 4, 1 / 2)]
    [2.061114, 1.588325, 1.499228]
    """
    xb, yb = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    out = np.array([_g2_scaling(float(a), float(b)) for a, b in zip(xb.ravel(), yb.ravel())])
    return out.reshape(xb.shape)


def g2_torus(r, L: int, direction: str = "axis") -> np.ndarray:
    """CFT two-point function on the L x L torus, ``A0 L^{-1/4} g2(r / L)``.

    Parameters
    ----------
    r : float or ndarray
        Separation in lattice spacings: along an axis, or ``(r, r)`` for
        ``direction='diagonal'``.
    L : int
        Linear size.
    direction : {'axis', 'diagonal'}

    Returns
    -------
    ndarray, float64
        Same shape as ``r``; ``nan`` at r = 0 (where the lattice value is 1).
    """
    if direction not in ("axis", "diagonal"):
        raise ValueError(f"direction must be 'axis' or 'diagonal', got {direction!r}")
    w = np.asarray(r, dtype=np.float64) / L
    g = g2_torus_scaling(w, w if direction == "diagonal" else 0.0)
    return np.where(w == 0, np.nan, A0 * L**-0.25 * g)


def four_point_plane(z1, z2, z3, z4) -> np.ndarray:
    """Plane spin four-point function <s1 s2 s3 s4> at complex positions (lattice units).

    Examples
    --------
    >>> r = 4.0
    >>> bool(np.isclose(four_point_plane(0, r, r + r * 1j, r * 1j), A0**2 * r**-0.5 * 2**0.25))
    True
    """
    z1, z2, z3, z4 = (np.asarray(z, dtype=np.complex128) for z in (z1, z2, z3, z4))
    x = (z1 - z2) * (z3 - z4) / ((z1 - z3) * (z2 - z4))
    amp = A0**2 * np.abs((z1 - z2) * (z3 - z4)) ** -0.25
    return amp * np.abs(1 - x) ** -0.25 * np.sqrt((1 + np.abs(x) + np.abs(1 - x)) / 2)


def g4c_plane(z1, z2, z3, z4) -> np.ndarray:
    """Connected plane four-point function ``<s1s2s3s4> - G12 G34 - G13 G24 - G14 G23``."""
    g = lambda a, b: g2_plane(np.abs(np.asarray(a, dtype=np.complex128) - b))  # noqa: E731
    return four_point_plane(z1, z2, z3, z4) - g(z1, z2) * g(z3, z4) - g(z1, z3) * g(z2, z4) - g(z1, z4) * g(z2, z3)


def ratio_torus(w) -> np.ndarray:
    """Torus ratio R(r/L) = G4c / G2(r)^2 for square corners (interpolated table).

    Parameters
    ----------
    w : float or ndarray
        Square side in units of L; folded into [0, 1/2] by periodicity.

    Returns
    -------
    ndarray, float64
        Tabulated values at the table points, a monotone cubic in between,
        ``R_PLANE`` at w = 0.
    """
    w = np.mod(np.asarray(w, dtype=np.float64), 1.0)
    return _ratio_interp(np.minimum(w, 1.0 - w))


def g4c_torus_square(r, L: int) -> np.ndarray:
    """Square-corner G4c overlay on the torus: ``R(r/L) * G2_torus(r)^2``."""
    r = np.asarray(r, dtype=np.float64)
    return ratio_torus(r / L) * g2_torus(r, L) ** 2
