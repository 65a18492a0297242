"""Shared fixtures and helpers. Every random thing in the tests has a fixed seed."""

import math

import numpy as np
import pytest
import torch

from isingsr.diffusion.process import SpectralProcess
from isingsr.diffusion.spectral import get_basis, radial_bins, shell_sums


def critical_spectrum(L, basis="fourier"):
    """A critical-Ising-like spectrum S ~ (k^2 + k_min^2)^(-7/8), mean 1."""
    k = get_basis(basis).wavenumber(L)
    S = (k**2 + (2 * math.pi / L) ** 2) ** (-0.875)
    return S / S.mean()


def _make_process(L=8, basis="fourier", **kw):
    return SpectralProcess(L, basis, critical_spectrum(L, basis), **kw)


@pytest.fixture
def make_process():
    """``make_process(L=8, basis='fourier', **kw)``: a SKILD process with a critical-like spectrum."""
    return _make_process


def _radial_z(P, expected, N, basis, L):
    bins, nb = radial_bins(basis, L)
    var = shell_sums(2 * expected**2 / N, bins, nb)  # Var of a mean of N squares of independent Gaussians
    return (shell_sums(P, bins, nb) - shell_sums(expected, bins, nb)) / torch.sqrt(var)


@pytest.fixture
def radial_z():
    """``radial_z(P, expected, N, basis, L)``: per-shell z-scores of an empirical per-mode power P of N
    Gaussian samples against its expectation."""
    return _radial_z


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def zscore(value, expected, error):
    """Deviation in units of the error bar."""
    return abs(value - expected) / error
