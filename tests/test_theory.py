"""Theory overlays against the numbers of shared/reference/exact_ising.md."""

import numpy as np
import pytest

from isingsr.analysis.theory import (
    A0,
    R_PLANE,
    R_TORUS,
    R_TORUS_W,
    four_point_plane,
    g2_plane,
    g2_torus,
    g2_torus_scaling,
    g4c_plane,
    g4c_torus_square,
    ratio_torus,
)


def test_constants():
    assert A0 == pytest.approx(0.7033801577, abs=1e-10)
    assert R_PLANE == pytest.approx(-1.6516893, abs=1e-7)


def test_plane_two_point_matches_exact_lattice_values_at_large_r():
    # exact axis values at r = 16, 32 (Wu); the asymptotic form is within 0.01%
    np.testing.assert_allclose(g2_plane([16, 32]), [0.351711823, 0.295739454], rtol=1e-4)
    assert g2_plane(0.0) == np.inf


@pytest.mark.parametrize("w, g", [(1 / 16, 2.061114), (1 / 4, 1.588325), (1 / 2, 1.499228)])
def test_torus_scaling_function_reference_values(w, g):
    assert g2_torus_scaling(w) == pytest.approx(g, abs=2e-6)
    assert g2_torus_scaling(0.0, w) == pytest.approx(g, abs=2e-6)  # the square torus: x <-> y
    assert g2_torus_scaling(1 - w) == pytest.approx(g, abs=2e-6)  # periodic


def test_torus_two_point_reference_and_plane_limit():
    assert g2_torus(32, 128) == pytest.approx(0.33214, abs=1e-5)  # exact_ising.md: L = 128, r = 32
    assert np.isnan(g2_torus(0, 16))
    # small r / L: the torus function approaches the plane law
    assert g2_torus(4, 4096) == pytest.approx(g2_plane(4), rel=1e-3)
    assert g2_torus(4, 4096, direction="diagonal") == pytest.approx(g2_plane(4 * np.sqrt(2)), rel=1e-3)


def test_plane_four_point_square_ratio_is_universal():
    for r in (1.0, 3.0, 17.0):
        z = (0, r, r + 1j * r, 1j * r)  # cyclic order: cross-ratio 1/2
        assert four_point_plane(*z) == pytest.approx(A0**2 * r**-0.5 * 2**0.25, rel=1e-12)
        assert g4c_plane(*z) / g2_plane(r) ** 2 == pytest.approx(R_PLANE, rel=1e-12)
    # collinear 0, r, 2r, 3r: ratio (4/3)^{1/4} - 1 - 2^{-1/2} - 3^{-1/4}, also r-independent
    for r in (2.0, 9.0):
        ratio = g4c_plane(0, r, 2 * r, 3 * r) / g2_plane(r) ** 2
        assert ratio == pytest.approx((4 / 3) ** 0.25 - 1 - 2**-0.5 - 3**-0.25, rel=1e-12)
    # clustering: two far-apart pairs factorise, <s1 s2 s3 s4> -> G12 G34
    assert four_point_plane(0, 1, 1e4, 1e4 + 1) == pytest.approx(g2_plane(1.0) ** 2, rel=1e-6)


def test_torus_ratio_table_and_interpolation():
    np.testing.assert_allclose(ratio_torus(R_TORUS_W), R_TORUS, atol=1e-12)
    assert ratio_torus(0.0) == pytest.approx(R_PLANE)
    mid = ratio_torus(0.3)
    assert R_TORUS[6] < mid < R_TORUS[5]
    assert ratio_torus(0.75) == pytest.approx(ratio_torus(0.25))  # r and L - r: the same square


def test_torus_g4c_overlay_matches_monte_carlo_at_L128():
    """exact_ising.md: square-corner G4c at L = 128 from Monte Carlo (r = 2, 4, 8; artefacts < 1%)."""
    np.testing.assert_allclose(g4c_torus_square([2, 4, 8], 128), [-0.591, -0.428, -0.317], rtol=0.01)
