"""Block-spin rules, spectral resampling and upsampling (isingsr.coarse)."""

import numpy as np
import pytest

from isingsr.coarse import (
    block_centre,
    block_fill,
    block_spin,
    coarse_grain,
    is_block_scale,
    sign_random_ties,
    spectral_resample,
    target_size,
    upsample,
)
from isingsr.exceptions import InputError


def checkerboard(L):
    y, x = np.indices((L, L))
    return np.where((x + y) % 2 == 0, 1, -1).astype(np.int8)


def one_line_error(excinfo):
    msg = str(excinfo.value)
    assert msg and "\n" not in msg
    return msg


@pytest.mark.parametrize("rule", ["majority", "average", "decimation"])
@pytest.mark.parametrize("b", [1, 2, 3, 6])
def test_constant_lattice_stays_constant(rule, b):
    for sign in (1, -1):
        s = np.full((3, 6, 6), sign, dtype=np.int8)
        c = block_spin(s, b, rule=rule)
        assert c.shape == (3, 6 // b, 6 // b)
        assert np.all(c == sign)


def test_majority_matches_loops_for_odd_blocks():
    rng = np.random.default_rng(1)
    s = rng.choice(np.array([-1, 1], dtype=np.int8), size=(4, 9, 9))
    c = block_spin(s, 3)
    assert c.dtype == np.int8
    for n in range(4):
        for i in range(3):
            for j in range(3):
                assert c[n, i, j] == np.sign(s[n, 3 * i : 3 * i + 3, 3 * j : 3 * j + 3].sum())
    avg = block_spin(s, 3, rule="average")
    assert avg[2, 1, 2] == pytest.approx(s[2, 3:6, 6:9].mean(), abs=1e-15)
    np.testing.assert_array_equal(block_spin(s, 3, rule="decimation"), s[:, ::3, ::3])


def test_checkerboard_even_blocks_are_ties():
    s = np.broadcast_to(checkerboard(8), (200, 8, 8))
    maj = block_spin(s, 2, seed=5)
    # every block is a tie: 200 * 16 fair coins, mean 0 with sd 1/sqrt(3200)
    assert abs(maj.mean()) < 3 / np.sqrt(maj.size)
    assert np.all(block_spin(s, 2, rule="average") == 0.0)
    assert np.all(block_spin(s, 2, rule="decimation") == 1)  # top-left corners of a checkerboard
    assert np.all(block_spin(s, 4, rule="decimation") == 1)


def test_checkerboard_odd_blocks_give_checkerboard():
    s = checkerboard(6)
    np.testing.assert_array_equal(block_spin(s, 3), checkerboard(2))
    np.testing.assert_array_equal(block_spin(s, 3, rule="decimation"), checkerboard(2))


def test_tie_breaking_is_unbiased_and_seeded():
    n = 40_000
    x = np.zeros(n)
    s = sign_random_ties(x, seed=123)
    k = int((s == 1).sum())
    assert abs(k - n / 2) < 3 * np.sqrt(n / 4)  # binomial(n, 1/2), 3 sigma
    np.testing.assert_array_equal(s, sign_random_ties(x, seed=123))
    assert not np.array_equal(s, sign_random_ties(x, seed=124))
    # non-ties are untouched by the seed
    np.testing.assert_array_equal(sign_random_ties(np.array([3.0, -0.25]), seed=9), [1, -1])


def test_block_fill_inverts_block_spin():
    rng = np.random.default_rng(2)
    c = rng.choice(np.array([-1, 1], dtype=np.int8), size=(5, 4, 4))
    f = block_fill(c, 4)
    assert f.shape == (5, 16, 16) and f.dtype == np.int8
    assert np.all(f[:, 4:8, 8:12] == c[:, 1:2, 2:3])
    for rule in ("majority", "average", "decimation"):
        np.testing.assert_array_equal(block_spin(f, 4, rule=rule), c)


def band_limited_field(L, kmax, rng):
    """Real periodic field with Fourier modes only at |kx|, |ky| <= kmax."""
    X = np.zeros((L, L), dtype=complex)
    for kx in range(-kmax, kmax + 1):
        for ky in range(-kmax, kmax + 1):
            X[ky % L, kx % L] = rng.normal() + 1j * rng.normal()
    return np.fft.ifft2(X).real  # the real part is again band-limited


@pytest.mark.parametrize("L, L_small", [(32, 12), (32, 11), (27, 10), (16, 8)])
def test_spectral_round_trip_recovers_band_limited_field(L, L_small):
    rng = np.random.default_rng(3)
    x = band_limited_field(L, (L_small - 1) // 2, rng)
    down = spectral_resample(x, L_small)
    np.testing.assert_allclose(spectral_resample(down, L), x, atol=1e-12)


def test_spectral_single_mode_is_sampled_on_the_new_grid():
    L, k = 24, 3
    x = np.cos(2 * np.pi * k * np.arange(L) / L)[None, :] * np.ones((L, 1))
    for L_new in (8, 10, 37):
        y = spectral_resample(x, L_new)
        expect = np.cos(2 * np.pi * k * np.arange(L_new) / L_new)[None, :] * np.ones((L_new, 1))
        np.testing.assert_allclose(y, expect, atol=1e-12)


def test_spectral_nyquist_is_split_symmetrically():
    x = np.broadcast_to(np.array([1.0, -1.0] * 4), (8, 8))  # the Nyquist mode of L = 8 along x
    y = spectral_resample(x, 16)
    np.testing.assert_allclose(y[0], np.cos(np.pi * np.arange(16) / 2), atol=1e-12)
    np.testing.assert_allclose(spectral_resample(y, 8), x, atol=1e-12)  # up then down: identity


def test_spectral_shift_is_a_translation():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 6, 6))
    np.testing.assert_array_equal(spectral_resample(x, 18, shift=0.0), spectral_resample(x, 18))
    up = spectral_resample(x, 18)
    np.testing.assert_allclose(spectral_resample(x, 18, shift=2), np.roll(up, (2, 2), axis=(-2, -1)), atol=1e-12)
    # a coarse delta embedded over its block's centre is mirror symmetric about that centre (b = 4: 1.5)
    d = np.zeros((8, 8))
    d[0, 0] = 1.0
    e = spectral_resample(d, 32, shift=block_centre(32, 4))
    j = np.arange(-6, 9)
    np.testing.assert_allclose(e[0, j % 32], e[0, (3 - j) % 32], atol=1e-12)
    np.testing.assert_allclose(e[j % 32, 0], e[(3 - j) % 32, 0], atol=1e-12)
    assert np.isrealobj(e) and abs(e.mean() - d.mean()) < 1e-15  # the zero mode is untouched


def test_block_centre_follows_the_rule():
    assert block_centre(32, 4) == block_centre(32, 4, "average") == 1.5
    assert block_centre(32, 2) == 0.5 and block_centre(32, 8) == 3.5
    assert block_centre(32, 4, "decimation") == 0.0 and block_centre(32, 2.5) == 0.0 and block_centre(30, 4) == 0.0
    with pytest.raises(InputError, match="unknown block-spin rule"):
        block_centre(32, 4, "median")
    # majority blocks of b = 4 correlate best with the fine lattice when embedded over their centres
    s = np.sign(np.random.default_rng(8).normal(size=(1, 32, 32)) + np.repeat(np.repeat(
        np.random.default_rng(9).normal(size=(1, 8, 8)), 4, axis=-2), 4, axis=-1)).astype(np.int8)
    c = coarse_grain(s, 4, seed=0)
    cross = lambda shift: float((spectral_resample(c, 32, shift=shift) * s).sum())  # noqa: E731
    assert cross(1.5) > cross(0.0) and cross(1.5) > cross(3.0)


def test_spectral_up_then_down_is_identity_and_constant_stays_constant():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 10, 10))
    np.testing.assert_allclose(spectral_resample(spectral_resample(x, 25), 10), x, atol=1e-12)
    for L_new in (1, 4, 7, 10, 33):
        np.testing.assert_allclose(spectral_resample(np.full((10, 10), -0.7), L_new), -0.7, atol=1e-13)


def test_coarse_grain_routes():
    rng = np.random.default_rng(5)
    s = rng.choice(np.array([-1, 1], dtype=np.int8), size=(6, 32, 32))
    np.testing.assert_array_equal(coarse_grain(s, 4, seed=7), block_spin(s, 4, seed=7))
    np.testing.assert_array_equal(coarse_grain(s, 4.0, rule="average"), block_spin(s, 4, rule="average"))
    np.testing.assert_array_equal(coarse_grain(s, 1), s)
    c = coarse_grain(s, 2.5, seed=1)
    assert c.shape == (6, 13, 13) and c.dtype == np.int8 and set(np.unique(c)) <= {-1, 1}
    np.testing.assert_array_equal(c, sign_random_ties(spectral_resample(s, 13), seed=1))
    assert coarse_grain(s, 3).shape == (6, 11, 11)  # 3 does not divide 32: spectral route
    assert np.all(coarse_grain(-np.ones((16, 16), np.int8), 1.7) == -1)
    assert target_size(128, 4 / 3) == 96


def test_upsample_routes():
    c = np.array([[1, -1], [-1, 1]], dtype=np.int8)
    np.testing.assert_array_equal(upsample(c, 6), block_fill(c, 3))
    up = upsample(c, 5)
    assert up.shape == (5, 5) and up.dtype == np.int8
    assert np.all(upsample(np.ones((3, 4, 4), np.int8), 10) == 1)
    forced = upsample(c, 6, spectral=True)  # the spectral route even where blocks would fit
    np.testing.assert_array_equal(forced, np.sign(spectral_resample(c, 6)).astype(np.int8))
    assert not np.array_equal(forced, block_fill(c, 3))
    with pytest.raises(InputError, match="does not divide"):
        upsample(c, 5, spectral=False)


def test_is_block_scale_decides_the_route():
    assert is_block_scale(32, 4) and is_block_scale(32, 4.0) and is_block_scale(32, 1)
    assert not is_block_scale(32, 3) and not is_block_scale(16, 2.1)
    s = np.random.default_rng(8).choice(np.array([-1, 1], dtype=np.int8), size=(2, 16, 16))
    # 2.1 reaches L' = 8 like a factor 2, but by the spectral route
    np.testing.assert_array_equal(coarse_grain(s, 2.1, rule="average"), spectral_resample(s, 8))


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda s: block_spin(s, 3), "does not divide"),
        (lambda s: block_spin(s, 0), ">= 1"),
        (lambda s: block_spin(s, 1.5), "integer"),
        (lambda s: block_spin(s, 2, rule="median"), "unknown block-spin rule"),
        (lambda s: block_spin(s[None], 2), "ndim 4"),
        (lambda s: block_spin(s[:, :, :4], 2), "square"),
        (lambda s: coarse_grain(s, 0.5), ">= 1"),
        (lambda s: coarse_grain(s, 1.01), "L_new = 8 >= L"),
        (lambda s: coarse_grain(s, 1.5, rule="decimation"), "integer scale"),
        (lambda s: coarse_grain(s, "2"), "real number"),
        (lambda s: spectral_resample(s, 0), ">= 1"),
        (lambda s: upsample(s, 4), "smaller"),
    ],
)
def test_bad_input_is_one_line_input_error(call, words):
    s = np.ones((2, 8, 8), dtype=np.int8)
    with pytest.raises(InputError) as excinfo:
        call(s)
    assert words in one_line_error(excinfo)
