"""Correlation estimators against direct sums, symmetry, Wick's theorem and exact values."""

import numpy as np
import pytest

from isingsr.analysis.correlations import (
    collinear_samples,
    correlations_across_scales,
    default_r,
    g2,
    g2_samples,
    g4c_collinear,
    g4c_square,
    power_spectrum,
    square_samples,
)
from isingsr.coarse import block_spin
from isingsr.exceptions import InputError


def random_spins(n, L, seed):
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, L, L))


def d4_images(s):
    """The 8 images of configurations (N, L, L) under the lattice symmetries."""
    out = []
    for k in range(4):
        r = np.rot90(s, k, axes=(1, 2))
        out += [r, r[:, :, ::-1]]
    return [np.ascontiguousarray(x) for x in out]


def gaussian_fields(n, L, seed, mass=0.3):
    """Stationary Gaussian fields on the torus with spectrum 1 / (k^2 + mass^2)."""
    rng = np.random.default_rng(seed)
    k = 2 * np.pi * np.fft.fftfreq(L)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    amp = 1.0 / np.sqrt(k2 + mass**2)
    return np.fft.ifft2(np.fft.fft2(rng.normal(size=(n, L, L))) * amp).real


@pytest.mark.parametrize("L", [5, 6, 8])
def test_g2_fft_equals_direct_double_sum(L):
    s = random_spins(4, L, seed=L)
    got = g2_samples(s)
    assert got.shape == (4, L // 2 + 1)
    for c in range(4):
        for r in range(L // 2 + 1):
            tot = 0
            for y in range(L):
                for x in range(L):
                    tot += int(s[c, y, x]) * (int(s[c, y, (x + r) % L]) + int(s[c, (y + r) % L, x]))
            assert got[c, r] == tot / (2 * L * L)  # exact for integer spins
    f = gaussian_fields(2, L, seed=1)
    direct = [[np.mean(f[c] * (np.roll(f[c], -r, 1) + np.roll(f[c], -r, 0))) / 2 for r in range(L // 2 + 1)]
              for c in range(2)]
    np.testing.assert_allclose(g2_samples(f), direct, atol=1e-12)


def brute_square(s, r):
    """Per-configuration means of the plaquette and all six corner pairs, by plain loops."""
    n, L, _ = s.shape
    out = np.zeros((n, 7))
    for c in range(n):
        for y in range(L):
            for x in range(L):
                s1, s2 = float(s[c, y, x]), float(s[c, y, (x + r) % L])
                s3, s4 = float(s[c, (y + r) % L, x]), float(s[c, (y + r) % L, (x + r) % L])
                out[c] += [s1 * s2 * s3 * s4, s1 * s2, s3 * s4, s1 * s3, s2 * s4, s1 * s4, s2 * s3]
    return out / (L * L)


@pytest.mark.parametrize("L, rs", [(6, [1, 2, 3, 5]), (8, [1, 2, 4, 7])])
def test_square_samples_equal_brute_force(L, rs):
    s = random_spins(5, L, seed=10 + L)
    got = square_samples(s, rs)
    np.testing.assert_array_equal(got.r, rs)
    for j, r in enumerate(rs):
        b = brute_square(s, r)
        np.testing.assert_allclose(got.plaquette[:, j], b[:, 0], atol=1e-15)
        np.testing.assert_allclose(got.side[:, j], (b[:, 1] + b[:, 3]) / 2, atol=1e-15)
        np.testing.assert_allclose(got.side[:, j], (b[:, 2] + b[:, 4]) / 2, atol=1e-15)  # translation
        np.testing.assert_allclose(got.diagonal[:, j], (b[:, 5] + b[:, 6]) / 2, atol=1e-15)


@pytest.mark.parametrize("L", [6, 8])
def test_g4c_equals_textbook_formula_on_symmetrised_ensemble(L):
    """On the D4-symmetrised ensemble the literal formula <P> - G12 G34 - G13 G24 - G14 G23 holds."""
    s = random_spins(6, L, seed=20 + L)
    sym = np.concatenate(d4_images(s))
    rs = [1, 2, 3]
    _, value, _ = g4c_square(s, rs, n_blocks=3)
    for j, r in enumerate(rs):
        m = brute_square(sym, r).mean(axis=0)
        assert value[j] == pytest.approx(m[0] - m[1] * m[2] - m[3] * m[4] - m[5] * m[6], abs=1e-13)


def test_collinear_samples_equal_brute_force():
    L, rs = 8, [1, 2, 3]
    s = random_spins(4, L, seed=3)
    got = collinear_samples(s, rs)
    for j, r in enumerate(rs):
        q = np.zeros(4)
        pairs = np.zeros((4, 3))
        for c in range(4):
            for y in range(L):
                for x in range(L):
                    hx = [float(s[c, y, (x + k * r) % L]) for k in range(4)]
                    vy = [float(s[c, (y + k * r) % L, x]) for k in range(4)]
                    q[c] += np.prod(hx) + np.prod(vy)
                    pairs[c] += [hx[0] * hx[k] + vy[0] * vy[k] for k in (1, 2, 3)]
        norm = 2 * L * L
        np.testing.assert_allclose(got.product[:, j], q / norm, atol=1e-15)
        np.testing.assert_allclose(got.pair1[:, j], pairs[:, 0] / norm, atol=1e-15)
        np.testing.assert_allclose(got.pair2[:, j], pairs[:, 1] / norm, atol=1e-15)
        np.testing.assert_allclose(got.pair3[:, j], pairs[:, 2] / norm, atol=1e-15)


def test_d4_symmetry_leaves_every_estimator_unchanged():
    s = random_spins(7, 12, seed=4)
    ref_g2 = g2_samples(s)
    ref_sq = square_samples(s, [1, 2, 3, 5])
    ref_col = collinear_samples(s, [1, 2, 3])
    for img in d4_images(s)[1:]:
        np.testing.assert_array_equal(g2_samples(img), ref_g2)
        for a, b in zip(square_samples(img, [1, 2, 3, 5]), ref_sq):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(collinear_samples(img, [1, 2, 3]), ref_col):
            np.testing.assert_array_equal(a, b)


def test_gaussian_field_has_zero_connected_four_point_function():
    """Wick's theorem: every connected four-point function of a Gaussian field vanishes."""
    f = gaussian_fields(3000, 16, seed=5, mass=0.15)
    for func in (g4c_square, g4c_collinear):
        r, value, err = func(f, [1, 2, 3, 4])
        assert np.all(np.abs(value) < 3.5 * err), (func.__name__, value / err)
    # ... while the disconnected part it cancels is large: the test has teeth
    r, value, err = g4c_square(f, [1, 2, 3, 4])
    smp = square_samples(f, [1, 2, 3, 4])
    disconnected = 2 * smp.side.mean(0) ** 2 + smp.diagonal.mean(0) ** 2
    assert np.all(disconnected > 20 * err)


def test_power_spectrum_parseval_zero_mode_and_white_noise():
    L = 16
    s = random_spins(400, L, seed=6)
    k, S, S_err = power_spectrum(s)
    assert k[0] == 0.0 and np.all(np.diff(k) > 0)
    m = s.mean(axis=(1, 2))
    assert S[0] == pytest.approx(L * L * np.mean(m * m), rel=1e-12)
    # shell multiplicities from the full spectrum: the mode-average of S is 1 for +-1 spins
    n = np.rint(np.hypot(*np.meshgrid(np.fft.fftfreq(L, 1 / L), np.fft.fftfreq(L, 1 / L)))).astype(int)
    count = np.bincount(n.ravel())
    assert np.sum(count * S) / L**2 == pytest.approx(1.0, abs=1e-12)
    # independent spins: flat spectrum S = 1 within errors
    assert np.all(np.abs(S - 1) < 4 * S_err)
    # against fft2 and an explicit shell average for one configuration
    p = np.abs(np.fft.fft2(s[0].astype(float))) ** 2 / L**2
    _, S0, _ = power_spectrum(s[:2], n_blocks=2)
    p1 = np.abs(np.fft.fft2(s[1].astype(float))) ** 2 / L**2
    expect = [(p[n == i].mean() + p1[n == i].mean()) / 2 for i in range(count.size)]
    np.testing.assert_allclose(S0, expect, rtol=1e-12)


def test_across_scales_equals_block_spin_then_estimators():
    s = random_spins(50, 16, seed=7)
    res = correlations_across_scales(s, scales=(1, 2, 4), seed=3, n_blocks=10)
    assert sorted(res) == [1, 2, 4]
    for b, d in res.items():
        cg = block_spin(s, b, seed=3)
        assert d["L"] == 16 // b
        np.testing.assert_array_equal(d["r2"], np.arange(16 // b // 2 + 1))
        np.testing.assert_allclose(d["g2"], g2(cg, n_blocks=10)[1], atol=1e-15)
        r, v, e = g4c_square(cg, n_blocks=10)
        np.testing.assert_array_equal(d["r"], default_r(16 // b))
        np.testing.assert_allclose(d["g4c"], v, atol=1e-15)
        np.testing.assert_allclose(d["g4c_err"], e, atol=1e-15)


def test_order_permutes_samples_before_the_jackknife():
    s = random_spins(40, 8, seed=8)
    order = np.random.default_rng(0).permutation(40)
    _, v1, e1 = g2(s[order], n_blocks=10)
    _, v2, e2 = g2(s, order=order, n_blocks=10)
    np.testing.assert_allclose(v1, v2, atol=1e-15)
    np.testing.assert_allclose(e1, e2, atol=1e-15)


@pytest.mark.parametrize("r", [[0], [8], [1.5], "abc"])
def test_bad_r_is_input_error(r):
    with pytest.raises(InputError) as excinfo:
        square_samples(random_spins(2, 8, 0), r)
    assert "\n" not in str(excinfo.value)


def test_bad_shape_is_input_error():
    with pytest.raises(InputError, match="square"):
        g2_samples(np.ones((2, 4, 6), np.int8))
    with pytest.raises(InputError, match="empty"):
        g4c_square(np.ones((0, 4, 4), np.int8))


# --- Monte Carlo at beta_c (the other engineer's sampler) -------------------------------------

mc = pytest.importorskip("isingsr.mc")


def test_estimators_reproduce_exact_enumeration_at_L4():
    """<s(0,0)s(1,0)>, <s(0,0)s(1,1)> and the unit plaquette at L = 4 (shared/reference/exact_ising.md)."""
    s = mc.sample_configurations(4, 4000, seed=11)
    _, v, e = g2(s)
    assert abs(v[1] - 0.782811893819) < 4 * e[1]
    smp = square_samples(s, [1])
    for samples, exact in ((smp.diagonal, 0.740520446097), (smp.plaquette, 0.678066914498)):
        from isingsr.analysis.errors import jackknife

        val, err = jackknife(lambda m: m, samples)
        assert abs(val[0] - exact) < 4 * err[0]


def test_lebowitz_inequality_on_monte_carlo():
    """G4c <= 0 for the ferromagnet (Lebowitz 1974), at every r, within errors; clearly < 0 at small r."""
    s = mc.sample_configurations(16, 600, seed=12)
    for func in (g4c_square, g4c_collinear):
        r, value, err = func(s, [1, 2, 3, 4])
        assert np.all(value < 3 * err), (func.__name__, value, err)
        assert value[0] < -5 * err[0]
