"""The zero mode's exact posterior mean in the envelope (isingsr.diffusion.zero_mode)."""

import math

import numpy as np
import pytest
import torch

from isingsr.diffusion.denoiser import Denoiser
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.diffusion.process import SpectralProcess
from isingsr.diffusion.spectral import estimate_spectrum
from isingsr.diffusion.zero_mode import ZeroModePrior, zero_mode_histogram
from isingsr.exceptions import InputError
from isingsr.io.checkpoint import load_checkpoint
from isingsr.mc import sample_configurations
from isingsr.models import SHIPPED as SHIPPED_SKILD


def test_histogram_is_symmetric_and_counts_every_configuration():
    spins = np.ones((3, 4, 4), np.int8)
    spins[1, 0, :] = -1  # sum 8
    spins[2] = -1  # sum -16
    h = zero_mode_histogram(spins)
    assert h["L"] == 4
    assert dict(zip(h["sums"].tolist(), h["counts"].tolist())) == {-16: 2, -8: 1, 8: 1, 16: 2}
    with pytest.raises(InputError):
        zero_mode_histogram(np.ones((0, 4, 4), np.int8))


def test_two_point_prior_gives_tanh():
    """M = +-M0 with equal weight: E[M | a M + N(0, s2) = y] = M0 tanh(a M0 y / s2), exactly."""
    prior = ZeroModePrior({"L": 4, "sums": torch.tensor([-8, 8]), "counts": torch.tensor([5, 5])}, 1.0, 0.25, 1.0)
    y = torch.linspace(-3, 3, 13, dtype=torch.float64)
    a, s2 = torch.full_like(y, 0.6), torch.full_like(y, 0.64)
    m0 = 8 * 0.25
    torch.testing.assert_close(prior.posterior_mean(y, a, s2), m0 * torch.tanh(a * m0 * y / s2))
    assert torch.all(prior.posterior_mean(y, torch.zeros_like(y), torch.ones_like(y)) == 0)  # t = 1: prior mean


def test_gaussian_prior_gives_the_wiener_estimate():
    """A prior drawn from N(0, S0) makes the posterior mean a y (spectrum matching: s2 = (1 - a^2) S0)."""
    rng = np.random.default_rng(0)
    S0 = 9.0
    sums = np.round(rng.normal(0, 3, 400_000) * 100).astype(np.int64)  # coefficient = sum / 100
    vals, counts = np.unique(np.concatenate([sums, -sums]), return_counts=True)
    prior = ZeroModePrior({"L": 4, "sums": torch.from_numpy(vals), "counts": torch.from_numpy(counts)}, S0, 0.01, S0)
    for a in (0.2, 0.6, 0.95):
        y = torch.linspace(-6, 6, 9, dtype=torch.float64)
        est = prior.posterior_mean(y, torch.full_like(y, a), torch.full_like(y, (1 - a * a) * S0))
        torch.testing.assert_close(est, a * y, atol=0.03, rtol=0.02)


def test_transfer_rescales_by_the_zero_mode_standard_deviation():
    h = {"L": 4, "sums": torch.tensor([-16, 16]), "counts": torch.tensor([1, 1])}
    same = ZeroModePrior(h, 4.0, 0.25, 4.0)
    bigger = ZeroModePrior(h, 4.0, 0.25, 16.0)
    torch.testing.assert_close(bigger.values, 2 * same.values)


@pytest.fixture(scope="module")
def process_and_prior():
    spins = sample_configurations(8, 400, seed=3)
    process = SpectralProcess(8, "fourier", estimate_spectrum(spins, "fourier"))
    return process, ZeroModePrior.for_process(zero_mode_histogram(spins), process, process)


class _ZeroEps(torch.nn.Module):
    def forward(self, x, cond):
        return torch.zeros_like(x)


def test_denoiser_changes_only_the_zero_mode_and_only_in_the_envelope(process_and_prior):
    process, prior = process_and_prior
    plain = Denoiser(_ZeroEps(), process)
    fixed = Denoiser(_ZeroEps(), process, zero_mode=prior)
    x = torch.randn(6, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 3
    t_below = process.t_env - 0.01
    torch.testing.assert_close(fixed(x, t_below), plain(x, t_below))
    t = torch.tensor([0.5, 0.95, 0.99, 1.0, 0.3, 0.93], dtype=torch.float64)  # a batch across t_env
    a, b = process.basis.forward(plain(x, t)), process.basis.forward(fixed(x, t))
    inside = t > process.t_env
    torch.testing.assert_close(b[~inside], a[~inside])
    torch.testing.assert_close(b[:, :, 1:], a[:, :, 1:])
    torch.testing.assert_close(b[:, :, 0, 1:], a[:, :, 0, 1:])
    la = process.log_a(t[inside])[:, 0, 0]
    y = process.basis.forward(x)[inside, 0, 0, 0]
    want = prior.posterior_mean(y, la.exp(), -torch.expm1(2 * la) * process.S[0, 0])
    torch.testing.assert_close(b[inside, 0, 0, 0], want)
    assert float(b[3, 0, 0, 0]) == pytest.approx(0.0, abs=1e-12)  # t = 1: the prior mean


def test_prior_values_are_the_zero_mode_coefficients():
    """At the training size each value is the zero-mode coefficient the basis gives a configuration of that sum."""
    spins = sample_configurations(8, 50, seed=5)
    process = SpectralProcess(8, "fourier", estimate_spectrum(spins, "fourier"))
    prior = ZeroModePrior.for_process(zero_mode_histogram(spins), process, process)
    coefficients = process.basis.forward(torch.from_numpy(spins[:, None].astype(np.float64)))[:, 0, 0, 0]
    sums = spins.reshape(50, -1).sum(1)
    for c, s in zip(coefficients.tolist(), sums.tolist()):
        assert min(abs(v - c) for v in prior.values.tolist()) < 1e-12
        assert math.isclose(c, s / 8, rel_tol=1e-12, abs_tol=1e-12)  # orthonormal: sum / L


@pytest.mark.parametrize("L", sorted(SHIPPED_SKILD))
def test_shipped_checkpoint_carries_its_training_histogram(L):
    ck = load_checkpoint(SHIPPED_SKILD[L])
    h = ck["zero_mode"]
    assert h["L"] == L == ck["data"]["L"] and int(h["counts"].sum()) == 2 * ck["data"]["n"]
    assert torch.equal(h["sums"], -h["sums"].flip(0))  # symmetric
    assert build_from_checkpoint(ck).zero_mode is not None
    assert build_from_checkpoint(ck, zero_mode=False).zero_mode is None
    at2L = build_from_checkpoint(ck, L=2 * L).zero_mode
    atL = build_from_checkpoint(ck).zero_mode
    ratio = float(at2L.values.max() / atL.values.max())
    assert 1.5 < ratio < 2 ** (7 / 8) * 1.1  # <|L m|> grows like L^(7/8)


def test_empirical_vector_prior_is_the_joint_posterior_mean():
    """Two equally likely colour vectors +-v: the posterior mean is tanh(a y.v / s2) v, along v whatever y is
    across it (the channels move together), and a single sample is returned exactly."""
    from isingsr.diffusion.zero_mode import EmpiricalZeroMode

    v = torch.tensor([1.0, 2.0, -0.5], dtype=torch.float64)
    prior = EmpiricalZeroMode(torch.stack([v, -v]))
    y = torch.tensor([[0.3, -0.1, 0.7], [2.0, 1.0, 0.0]], dtype=torch.float64)
    a, s2 = torch.tensor([0.8, 0.5], dtype=torch.float64), torch.tensor([0.5, 2.0], dtype=torch.float64)
    expected = torch.tanh(a * (y @ v) / s2)[:, None] * v
    torch.testing.assert_close(prior.posterior_mean(y, a, s2), expected, rtol=1e-12, atol=1e-12)
    one = EmpiricalZeroMode(v[None])
    torch.testing.assert_close(one.posterior_mean(y, a, s2), v.expand(2, 3), rtol=0, atol=0)
    with pytest.raises(InputError):
        EmpiricalZeroMode(torch.zeros(0, 3))


def test_empirical_samples_are_the_zero_mode_coefficients():
    from isingsr.diffusion.spectral import get_basis
    from isingsr.diffusion.zero_mode import zero_mode_samples

    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    B = get_basis("dct")
    torch.testing.assert_close(zero_mode_samples(x, B).double(), B.forward(x)[:, :, 0, 0], rtol=1e-6, atol=1e-6)


def test_shipped_image_checkpoint_carries_its_training_mean_colours():
    from isingsr.diffusion.zero_mode import EmpiricalZeroMode

    ck = load_checkpoint("isingsr/models/skild_photos32.pt")
    assert tuple(ck["zero_mode_samples"].shape) == (ck["data"]["n"], 3)
    assert isinstance(build_from_checkpoint(ck).zero_mode, EmpiricalZeroMode)
