"""Spectral bases (Hartley 'fourier', DCT-II) and the data spectrum (isingsr.diffusion.spectral)."""

import io
import math

import numpy as np
import pytest
import scipy.fft
import torch

from isingsr.diffusion.spectral import (BASES, Spectrum, estimate_spectrum, get_basis, mode_power, mode_powers,
                                       radial_bins)
from isingsr.exceptions import InputError


def matrix(basis, L):
    """The basis as an (L*L, L*L) matrix: column j is the transform of the j-th unit field."""
    eye = torch.eye(L * L, dtype=torch.float64).reshape(L * L, L, L)
    return get_basis(basis).forward(eye).reshape(L * L, L * L).T


@pytest.mark.parametrize("basis", BASES)
@pytest.mark.parametrize("L", [8, 9])
def test_round_trip_and_parseval(basis, L):
    B = get_basis(basis)
    x = torch.randn(3, 1, L, L, dtype=torch.float64, generator=torch.Generator().manual_seed(L))
    X = B.forward(x)
    assert X.shape == x.shape and X.dtype == torch.float64
    assert torch.allclose(B.inverse(X), x, rtol=0, atol=1e-12)
    assert torch.allclose(B.forward(B.inverse(x)), x, rtol=0, atol=1e-12)
    assert torch.allclose((X**2).sum((-2, -1)), (x**2).sum((-2, -1)), rtol=1e-13, atol=0)
    M = matrix(basis, L)
    assert torch.allclose(M @ M.T, torch.eye(L * L, dtype=torch.float64), atol=1e-12)  # orthonormal


@pytest.mark.parametrize("basis", BASES)
def test_float32_and_single_field(basis):
    B = get_basis(basis)
    x = torch.randn(6, 6)
    X = B.forward(x)
    assert X.dtype == torch.float32 and X.shape == (6, 6)
    assert torch.allclose(B.inverse(X), x, atol=1e-5)


def test_hartley_is_its_own_inverse():
    B = get_basis("fourier")
    x = torch.randn(2, 5, 5, dtype=torch.float64)
    assert torch.allclose(B.forward(B.forward(x)), x, atol=1e-13)
    F = torch.fft.fft2(x, norm="ortho")
    assert torch.allclose(B.forward(x), F.real - F.imag, atol=0)


def test_dct_matches_scipy():
    x = np.random.default_rng(0).normal(size=(4, 7, 7))
    ours = get_basis("dct").forward(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, scipy.fft.dctn(x, type=2, norm="ortho", axes=(-2, -1)), atol=1e-13)
    back = get_basis("dct").inverse(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(back, scipy.fft.idctn(x, type=2, norm="ortho", axes=(-2, -1)), atol=1e-13)


def test_hartley_diagonalises_a_stationary_covariance():
    L = 6
    f = np.random.default_rng(1).normal(size=(L, L))
    # C(x, y) = sum_r f(r) f(r + x - y): an arbitrary stationary (circulant) covariance on the torus
    c = np.real(np.fft.ifft2(np.abs(np.fft.fft2(f)) ** 2))
    idx = np.indices((L, L)).reshape(2, -1)
    C = c[(idx[0][:, None] - idx[0][None]) % L, (idx[1][:, None] - idx[1][None]) % L]
    for basis, diagonal in (("fourier", True), ("dct", False)):
        M = matrix(basis, L).numpy()
        D = M @ C @ M.T
        off = np.abs(D - np.diag(np.diag(D))).max()
        assert (off < 1e-12 * np.abs(D).max()) == diagonal, (basis, off)
    # and its diagonal is the structure factor E|F x(k)|^2 (in Hartley order)
    D = matrix("fourier", L).numpy() @ C @ matrix("fourier", L).numpy().T
    np.testing.assert_allclose(np.diag(D).reshape(L, L), np.abs(np.fft.fft2(f)) ** 2, rtol=1e-10)


def test_wavenumbers():
    k = get_basis("fourier").wavenumber(4)
    n = np.array([0, 1, 2, 1])  # |signed frequency| of fftfreq(4) * 4
    np.testing.assert_allclose(k.numpy(), 2 * np.pi / 4 * np.hypot(n[:, None], n[None, :]))
    k = get_basis("dct").wavenumber(5)
    i = np.arange(5)
    np.testing.assert_allclose(k.numpy(), np.pi / 5 * np.hypot(i[:, None], i[None, :]))
    assert float(k[0, 0]) == 0.0


def test_get_basis_errors():
    assert get_basis(get_basis("dct")) is get_basis("dct")
    with pytest.raises(InputError, match="unknown basis 'wavelet'"):
        get_basis("wavelet")
    with pytest.raises(InputError, match=r"\(\.\.\., L, L\)"):
        get_basis("fourier").forward(torch.zeros(3, 4, 5))
    with pytest.raises(InputError, match="floating"):
        get_basis("dct").forward(torch.zeros(4, 4, dtype=torch.int64))


@pytest.mark.parametrize("basis", BASES)
def test_white_spins_have_flat_spectrum(basis):
    N, L = 400, 8
    spins = np.random.default_rng(2).choice(np.array([-1, 1], dtype=np.int8), size=(N, L, L))
    sp = estimate_spectrum(spins, basis)
    assert sp.per_mode.shape == (L, L) and sp.per_mode.dtype == torch.float64
    assert sp.n_samples == N and sp.basis == basis
    # each mode of independent +-1 spins: E X^2 = 1, Var X^2 = 2 - 2/L^2 (nearly Gaussian)
    count = torch.bincount(sp.bins.ravel()).double()
    z = (sp.S_bins - 1) / torch.sqrt(2 / (N * count))
    assert float(z.abs().max()) < 4.5
    assert torch.equal(sp.per_mode, sp.S_bins[sp.bins])


def test_spectrum_is_radial_and_floored():
    L = 8
    x = np.zeros((3, L, L))
    x[:, :, :] = np.cos(2 * np.pi * np.arange(L) / L)[None, None, :]  # power only at |n| = 1
    sp = estimate_spectrum(x, "fourier", floor=1e-3)
    bins, nb = radial_bins("fourier", L)
    assert nb == len(sp.k) and torch.equal(bins, sp.bins)
    p_mean = float(mode_power(x).mean())
    assert float(sp.per_mode.min()) == pytest.approx(1e-3 * p_mean)
    assert float(sp.S_bins[1]) > 1e-3 * p_mean
    # modes in one shell share the value; shell k is their mean |k|
    shell1 = sp.bins == 1
    assert torch.all(sp.per_mode[shell1] == sp.per_mode[shell1][0])
    assert float(sp.k[1]) == pytest.approx(float(get_basis("fourier").wavenumber(L)[shell1].mean()))
    assert float(sp.k[0]) == 0.0


def test_n_bins_and_zero_mode_own_bin():
    sp = estimate_spectrum(np.random.default_rng(0).normal(size=(10, 8, 8)), "dct", n_bins=4)
    assert len(sp.S_bins) <= 4 and int(sp.bins[0, 0]) == 0 and int((sp.bins == 0).sum()) == 1


def test_spectrum_state_dict_loads_with_weights_only():
    sp = estimate_spectrum(np.random.default_rng(3).normal(size=(5, 8, 8)), "fourier")
    buf = io.BytesIO()
    torch.save(sp.state_dict(), buf)
    buf.seek(0)
    back = Spectrum.from_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(back.per_mode, sp.per_mode) and back.floor == sp.floor and back.L == 8


def test_symmetrized_power_is_d4_symmetric():
    x = np.random.default_rng(4).normal(size=(3, 6, 6))
    for basis in BASES:
        P = mode_power(x, basis, symmetrize=True)
        assert torch.allclose(P, P.T, atol=1e-12)
    P = mode_power(x, "fourier", symmetrize=True)
    assert torch.allclose(P, torch.roll(torch.flip(P, (0,)), 1, 0), atol=1e-12)  # n_y -> -n_y


def test_cross_power():
    rng = np.random.default_rng(5)
    x, z = rng.normal(size=(2, 50, 8, 8))
    for basis in BASES:
        assert torch.allclose(mode_powers(x, x, basis)[2], mode_power(x, basis), atol=1e-12)
        assert torch.allclose(mode_powers(x, -x, basis)[2], -mode_power(x, basis), atol=1e-12)
        B = get_basis(basis)
        X, Z = B.forward(torch.from_numpy(x)), B.forward(torch.from_numpy(z))
        Pxx, Pzz, Pxz = mode_powers(x, z, basis)
        assert torch.allclose(Pxz, (X * Z).mean(0), atol=1e-12)
        assert torch.allclose(Pxx, mode_power(x, basis)) and torch.allclose(Pzz, mode_power(z, basis))
        P = mode_powers(x, z, basis, symmetrize=True)[2]
        assert torch.allclose(P, P.T, atol=1e-12)
    with pytest.raises(InputError, match="other: expected the shape"):
        mode_powers(x, z[:10], "fourier")


def test_estimate_spectrum_bad_input():
    with pytest.raises(InputError, match="expected shape"):
        estimate_spectrum(np.zeros((4, 5)), "fourier")
    with pytest.raises(InputError, match="all configurations are zero"):
        estimate_spectrum(np.zeros((2, 4, 4)), "fourier")
    with pytest.raises(InputError, match="floor"):
        estimate_spectrum(np.ones((2, 4, 4)), "fourier", floor=0)
    with pytest.raises(InputError, match="n_bins"):
        estimate_spectrum(np.ones((2, 4, 4)), "fourier", n_bins=1)
    assert math.isfinite(float(estimate_spectrum(torch.ones(2, 1, 4, 4), "dct").per_mode.sum()))
