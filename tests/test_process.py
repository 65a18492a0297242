"""The SKILD forward process (isingsr.diffusion.process): schedule, marginals, posterior, targets."""

import json
import math

import numpy as np
import pytest
import torch

from isingsr.diffusion.process import SCHEDULES, TARGETS, SpectralProcess
from isingsr.diffusion.rng import randn
from isingsr.diffusion.samplers import gaussian_field
from isingsr.diffusion.spectral import BASES, estimate_spectrum
from isingsr.exceptions import InputError


@pytest.mark.parametrize("basis", BASES)
def test_a_is_one_at_zero_and_zero_at_one_for_every_mode(basis, make_process):
    p = make_process(basis=basis)
    assert torch.equal(p.a(0.0), torch.ones(8, 8, dtype=torch.float64))
    assert torch.equal(p.a(1.0), torch.zeros(8, 8, dtype=torch.float64))  # zero mode included
    assert torch.equal(p.sigma2(0.0), torch.zeros(8, 8, dtype=torch.float64))
    assert torch.equal(p.sigma2(1.0), p.S)
    assert float(p.blur_length(0.0)) == 0.0 and float(p.envelope(1.0)) == 0.0


@pytest.mark.parametrize("basis", BASES)
def test_a_is_monotone_and_sigma2_matches_the_spectrum(basis, make_process):
    p = make_process(L=16, basis=basis)
    t = torch.linspace(0, 1, 2001, dtype=torch.float64)
    a = p.a(t)
    assert a.shape == (2001, 16, 16)
    assert bool(torch.all(a[1:] <= a[:-1])) and bool(torch.all((a >= 0) & (a <= 1)))
    assert torch.allclose(p.sigma2(t), (1 - a**2) * p.S, rtol=1e-12, atol=1e-15)
    # the zero mode keeps a = 1 up to t_env, then fades with the envelope
    assert bool(torch.all(a[t <= p.t_env][:, 0, 0] == 1)) and float(a[-2, 0, 0]) < 1e-4


def test_schedule_formula_and_geometric_cutoff(make_process):
    p = make_process(L=32)
    assert p.config()["schedule"] == "gauss-loguniform-v1"
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    w, l = p.cutoff_length(t), p.blur_length(t)
    assert torch.allclose(w, p.l_min * (p.l_max / p.l_min) ** t, rtol=1e-13)
    assert torch.allclose(l**2, w**2 - p.l_min**2, rtol=1e-10, atol=1e-14)
    ratio = w[1:] / w[:-1]  # exactly geometric: a change of scale is a fixed shift in t
    assert torch.allclose(ratio, ratio[0].expand_as(ratio), rtol=1e-12)
    work = l[:-1] > 3 * p.l_min  # the blur length itself, up to l_min^2 / (2 l^2)
    assert torch.allclose((l[1:] / l[:-1])[work], ratio[work], rtol=p.l_min**2 / (2 * 9 * p.l_min**2))
    k2, tt = p.k2, 0.37
    expected = torch.exp(-0.5 * k2 * float(p.blur_length(tt)) ** 2)
    assert torch.allclose(p.a(tt), expected, rtol=1e-13)
    assert torch.allclose(p.time_at_blur(p.blur_length(t)), t, atol=1e-12)


def test_q_sample_at_zero_is_the_data_exactly(make_process):
    p = make_process()
    x0 = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    xt, eps = p.q_sample(x0, 0.0)
    assert torch.equal(xt, x0) and eps.shape == x0.shape
    xt, _ = p.q_sample(x0, torch.tensor([0.0, 0.5, 0.0, 1.0]))
    assert torch.equal(xt[0], x0[0]) and torch.equal(xt[2], x0[2]) and not torch.equal(xt[1], x0[1])
    x32 = x0.float()
    assert p.q_sample(x32, 0.3)[0].dtype == torch.float32


def test_q_sample_is_the_formula_per_mode(make_process):
    p = make_process(basis="dct")
    B = p.basis
    x0, eps = torch.randn(3, 1, 8, 8, dtype=torch.float64), torch.randn(3, 1, 8, 8, dtype=torch.float64)
    t = torch.tensor([0.2, 0.6, 0.95], dtype=torch.float64)
    xt, e = p.q_sample(x0, t, eps=eps)
    assert e is eps
    expected = p.a(t)[:, None] * B.forward(x0) + torch.sqrt(p.sigma2(t))[:, None] * B.forward(eps)
    assert torch.allclose(B.forward(xt), expected, atol=1e-12)
    xt1, _ = p.q_sample(x0, 1.0, eps=eps)  # t = 1: no trace of the data, zero mode included
    assert torch.allclose(B.forward(xt1), p.S.sqrt() * B.forward(eps), atol=1e-12)


@pytest.mark.parametrize("t", [0.1, 0.4, 0.93])
def test_marginal_variance_is_the_spectrum_at_every_t(t, make_process):
    """Var X_t(k) = S(k): spectrum matching, checked with a chi^2 over all modes."""
    L, N = 8, 4000
    p = make_process(L=L)
    g = torch.Generator().manual_seed(int(100 * t))
    x0 = gaussian_field(p, N, g)
    xt, _ = p.q_sample(x0, t, generator=g)
    r = (p.basis.forward(xt)[:, 0] ** 2).mean(0) / p.S  # per mode ~ chi^2_N / N
    z = (r - 1) / math.sqrt(2 / N)
    assert float(z.abs().max()) < 4.5
    chi2 = float((z**2).sum())
    assert abs(chi2 - L * L) < 5 * math.sqrt(2 * L * L)


def brute_force_posterior(a_t, a_p, S):
    """Condition the joint Gaussian of (X_prev, X_t) given X_0 = 1 numerically (numpy, one mode)."""
    alpha = a_t / a_p if a_p > 0 else 0.0
    s2_p = (1 - a_p**2) * S
    beta = (1 - alpha**2) * S
    mu = np.array([a_p, a_t])  # means given X_0 = 1: the X_0 coefficient is read off at X_t = 0
    cov = np.array([[s2_p, alpha * s2_p], [alpha * s2_p, alpha**2 * s2_p + beta]])
    gain = cov[0, 1] / cov[1, 1]
    c_t = gain
    c_0 = mu[0] - gain * mu[1]
    var = cov[0, 0] - gain * cov[0, 1]
    return c_t, c_0, var


@pytest.mark.parametrize("t, t_prev", [(0.3, 0.25), (0.6, 0.1), (0.95, 0.92), (1.0, 0.5), (0.2, 0.0)])
def test_posterior_equals_brute_force_conditioning(t, t_prev, make_process):
    p = make_process(L=4, l_min=0.5)
    c_t, c_0, v = p.posterior_coefficients(t, t_prev)
    a_t, a_p = p.a(t), p.a(t_prev)
    for i in range(4):
        for j in range(4):
            S = float(p.S[i, j])
            if float(1 - a_t[i, j] ** 2) == 0:  # noiseless mode: carried over exactly
                assert (float(c_t[i, j]), float(c_0[i, j]), float(v[i, j])) == (1.0, 0.0, 0.0)
                continue
            ref = brute_force_posterior(float(a_t[i, j]), float(a_p[i, j]), S)
            got = (float(c_t[i, j]), float(c_0[i, j]), float(v[i, j]) * S)
            np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


def test_posterior_limits_and_mean(make_process):
    p = make_process()
    c_t, c_0, v = p.posterior_coefficients(0.3, 0.0)  # last step: the estimate of x0 itself
    assert torch.allclose(c_t[1:], torch.zeros_like(c_t[1:])) and torch.allclose(c_0[1:], torch.ones_like(c_0[1:]))
    assert float(v.abs().max()) == 0.0
    c_t, c_0, v = p.posterior_coefficients(1.0, 0.97)  # from pure noise: alpha = 0, the marginal at t_prev
    assert float(c_t.abs().max()) == 0.0
    assert torch.allclose(c_0, p.a(0.97)) and torch.allclose(v * p.S, p.sigma2(0.97))
    x_t, x0 = torch.randn(2, 1, 8, 8, dtype=torch.float64), torch.randn(2, 1, 8, 8, dtype=torch.float64)
    mean, var = p.posterior(x_t, x0, torch.tensor([0.5, 0.5]), torch.tensor([0.4, 0.4]))
    c_t, c_0, v = p.posterior_coefficients(0.5, 0.4)
    B = p.basis
    assert torch.allclose(B.forward(mean), c_t * B.forward(x_t) + c_0 * B.forward(x0), atol=1e-12)
    assert torch.allclose(var, (v * p.S).expand_as(var))
    with pytest.raises(InputError, match="t_prev <= t"):
        p.posterior_coefficients(0.3, 0.4)


@pytest.mark.parametrize("basis", BASES)
def test_target_conversions_round_trip(basis, make_process):
    p = make_process(basis=basis)
    g = torch.Generator().manual_seed(5)
    x0 = gaussian_field(p, 3, g)
    t = torch.tensor([0.02, 0.3, 0.7], dtype=torch.float64)
    xt, eps = p.q_sample(x0, t, generator=g)
    v = p.target("v", x0, eps, t)
    assert torch.allclose(p.x0_from_target("v", v, xt, t), x0, atol=1e-10)
    assert torch.equal(p.target("eps", x0, eps, t), eps) and torch.equal(p.target("x0", x0, eps, t), x0)
    assert torch.equal(p.x0_from_target("x0", x0, xt, t), x0)
    # eps -> x0 is exact where a >= a_min; eps from x0 is exact where sigma > 0 (all but the zero mode here)
    x0_back = p.basis.forward(p.x0_from_target("eps", eps, xt, t))
    ok = p.a(t)[:, None] >= 1e-3
    assert torch.allclose(x0_back[ok.expand_as(x0_back)], p.basis.forward(x0)[ok.expand_as(x0_back)], atol=1e-8)
    E = p.basis.forward(p.eps_from_x0(xt, x0, t))
    E_true = p.basis.forward(eps)
    E, E_true = E.flatten(-2), E_true.flatten(-2)  # mode (0, 0) first
    assert torch.allclose(E[..., 1:], E_true[..., 1:], atol=1e-9) and float(E[..., 0].abs().max()) < 1e-12
    assert set(TARGETS) == {"eps", "x0", "v"}
    with pytest.raises(InputError, match="unknown target"):
        p.target("score", x0, eps, t)


def test_t_start_and_scale_at(make_process):
    L = 32
    p = make_process(L=L)
    assert p.t_start(1.0) == 0.0 and p.scale_at(0.0) == 1.0
    s = torch.tensor([1.0, 1.5, 2.0, 4.0, 8.0, 16.0], dtype=torch.float64)
    t = p.t_start(s)
    assert bool(torch.all(t[1:] > t[:-1]))
    assert torch.allclose(p.scale_at(t), s, rtol=1e-12)
    # default c = l_min, l_max = l_min L: t = ln s / ln L, so doubling the scale is a fixed shift
    assert torch.allclose(t, torch.log(s) / math.log(L), atol=1e-14)
    assert p.t_start(float(L)) == pytest.approx(1.0)
    # with another c the map stays invertible, t_start(1) = 0, and l(t_s) = c sqrt(s^2 - 1)
    q = make_process(L=L, blur_per_block=0.6)
    ts = q.t_start(4.0)
    assert float(q.blur_length(ts)) == pytest.approx(0.6 * math.sqrt(15), rel=1e-12)
    assert q.scale_at(ts) == pytest.approx(4.0, rel=1e-12) and q.t_start(1.0) == 0.0
    with pytest.raises(InputError, match="scale must lie in"):
        p.t_start(0.5)
    with pytest.raises(InputError, match="scale must lie in"):
        p.t_start(2.0 * L)


def test_config_round_trip_and_json():
    sp = estimate_spectrum(np.random.default_rng(0).choice(np.array([-1, 1], np.int8), size=(20, 8, 8)), "dct")
    p = SpectralProcess(8, "dct", sp, l_min=0.7, l_max=9.0, t_env=0.85, blur_per_block=0.8)
    cfg = json.loads(json.dumps(p.config()))
    q = SpectralProcess.from_config(cfg, sp)
    assert q.config() == p.config()
    t = torch.linspace(0, 1, 17, dtype=torch.float64)
    assert torch.equal(q.a(t), p.a(t)) and torch.equal(q.S, p.S)
    assert SCHEDULES[0] == "gauss-loguniform-v1"
    with pytest.raises(InputError, match="unknown schedule"):
        SpectralProcess.from_config({**cfg, "schedule": "gauss-loguniform-v0"}, sp)
    with pytest.raises(InputError, match="spectrum is for L = 8"):
        SpectralProcess(8, "fourier", sp)


def test_randn_per_sample_generators_do_not_depend_on_the_batch():
    gens = [torch.Generator().manual_seed(s) for s in (7, 8, 9)]
    full = randn((3, 1, 4, 4), gens)
    alone = randn((1, 1, 4, 4), [torch.Generator().manual_seed(8)])
    assert torch.equal(full[1], alone[0]) and full.dtype == torch.float64
    with pytest.raises(InputError, match="2 generators for a batch of 3"):
        randn((3, 4), gens[:2])


def test_bad_input(make_process):
    S = make_process().S
    with pytest.raises(InputError, match="unknown basis"):
        SpectralProcess(8, "haar", S)
    with pytest.raises(InputError, match="L must be an integer"):
        SpectralProcess(8.0, "fourier", S)
    with pytest.raises(InputError, match="positive"):
        SpectralProcess(8, "fourier", S - 1)
    with pytest.raises(InputError, match=r"\(L, L\)"):
        SpectralProcess(8, "fourier", S[:4])
    with pytest.raises(InputError, match="t_env"):
        SpectralProcess(8, "fourier", S, t_env=1.0)
    with pytest.raises(InputError, match="l_max"):
        SpectralProcess(8, "fourier", S, l_min=2.0, l_max=1.0)
    p = SpectralProcess(8, "fourier", S)
    x = torch.zeros(2, 1, 8, 8)
    for bad_t in (-0.1, 1.5, float("nan")):
        with pytest.raises(InputError, match=r"t must lie in \[0, 1\]"):
            p.q_sample(x, bad_t)
    with pytest.raises(InputError, match="expected a number or"):
        p.q_sample(x, torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(InputError, match=r"shape \(B, 1, 8, 8\)"):
        p.q_sample(torch.zeros(2, 1, 6, 6), 0.5)
    with pytest.raises(InputError, match="floating"):
        p.q_sample(torch.zeros(2, 1, 8, 8, dtype=torch.int8), 0.5)
