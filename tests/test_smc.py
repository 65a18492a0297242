"""Twisted sequential Monte Carlo for super-resolution consistent with its input (isingsr.diffusion.smc)."""

import math

import numpy as np
import pytest
import torch

from isingsr.analysis.compare import block_consistency
from isingsr.diffusion.consistency import MeanConstrainedDenoiser, project_majority
from isingsr.diffusion.denoiser import wiener_denoiser
from isingsr.diffusion.rng import generators
from isingsr.diffusion.samplers import ancestral_sample, time_grid
from isingsr.diffusion.smc import (SMCStats, log_likelihood, log_twist, systematic_resample, twisted_smc_sample,
                                  wiener_twist)
from isingsr.exceptions import InputError


def test_systematic_resampling_copies_each_particle_about_k_w_times():
    w = torch.tensor([[0.5, 0.25, 0.125, 0.125], [1.0, 0.0, 0.0, 0.0], [0.25] * 4], dtype=torch.float64)
    u = torch.tensor([0.3, 0.9, 0.5], dtype=torch.float64)
    idx = systematic_resample(w.log(), u)
    assert idx[0].tolist() == [0, 0, 1, 2]  # points (0.3 + j) / 4 = 0.075, 0.325, 0.575, 0.825; cdf 0.5, 0.75, 0.875
    assert idx[1].tolist() == [0, 0, 0, 0]  # a particle of weight 0 is never drawn
    assert idx[2].tolist() == [0, 1, 2, 3]  # even weights keep every particle once
    rng = np.random.default_rng(3)
    logw = torch.from_numpy(rng.normal(size=(200, 8)) * 2)
    counts = torch.nn.functional.one_hot(systematic_resample(logw, torch.from_numpy(rng.random(200))), 8).sum(1)
    expected = 8 * torch.softmax(logw, 1)
    assert bool(torch.all((counts >= expected.floor()) & (counts <= expected.ceil())))


def test_likelihood_is_the_majority_rule_with_fair_coin_ties():
    coarse = torch.tensor([[[1, -1], [-1, 1]]])
    x = torch.tensor([[[0.5, 0.2, -0.1, -0.3],
                       [0.3, -0.4, -0.2, -0.9],
                       [-0.5, -0.2, 0.1, 0.3],
                       [-0.3, 0.4, 0.2, 0.9]]], dtype=torch.float64)  # 3 of 4 spins of the input's sign per block
    assert log_likelihood(x, coarse, 2).tolist() == [0.0]
    tied = x.clone()
    tied[0, 1, 0] = -0.3  # the first block now 2 of 4
    assert log_likelihood(tied, coarse, 2).tolist() == [-math.log(2)]
    tied[0, 2, 2], tied[0, 3, 2] = -0.1, -0.2  # and the last
    assert log_likelihood(tied[:, None], coarse, 2).tolist() == [-2 * math.log(2)]
    wrong = tied.clone()
    wrong[0, 0, 1] = -0.2  # 1 of 4
    assert log_likelihood(wrong, coarse, 2).tolist() == [-math.inf]
    zeros = torch.zeros(1, 4, 4, dtype=torch.float64)  # a 0 is a +1 spin
    assert log_likelihood(zeros, torch.ones(1, 2, 2), 2).tolist() == [0.0]
    assert log_likelihood(zeros, coarse, 2).tolist() == [-math.inf]


def test_twist_is_the_gaussian_block_mean_probability_and_its_zero_width_limit():
    coarse = torch.tensor([[[1, -1], [1, 1]]])
    x = torch.zeros(1, 4, 4, dtype=torch.float64)
    x[0, :2, :2], x[0, :2, 2:], x[0, 2:, :2], x[0, 2:, 2:] = 0.2, -0.1, 0.05, -0.03  # block means
    phi = lambda z: 0.5 * math.erfc(-z / math.sqrt(2))  # noqa: E731
    want = sum(math.log(phi(m / 0.1)) for m in (0.2, 0.1, 0.05, -0.03))
    assert log_twist(x, coarse, 2, 0.1).item() == pytest.approx(want, rel=1e-12)
    assert log_twist(x, coarse, 2, 0.0).item() == -math.inf  # the last block's mean is against its input
    x[0, 2:, 2:] = 0.03
    assert log_twist(x[:, None], coarse, 2, 0.0).item() == 0.0


def test_wiener_twist_replaces_only_the_noisiest_modes(make_process):
    p = make_process(L=8)
    gen = torch.Generator().manual_seed(2)
    x_t = torch.randn(3, 1, 8, 8, generator=gen, dtype=torch.float64)
    t = torch.full((3,), 0.3, dtype=torch.float64)
    oracle = wiener_denoiser(p)(x_t, t)
    assert torch.allclose(wiener_twist(p, 0.5)(oracle, x_t, t), oracle, atol=1e-12)  # the oracle is Wiener's
    x0 = torch.randn(3, 1, 8, 8, generator=gen, dtype=torch.float64)
    assert torch.allclose(wiener_twist(p, 0.0)(x0, x_t, t), x0, atol=1e-12)  # no mode has a < 0
    a = p.a(torch.tensor(0.3, dtype=torch.float64))
    noisy = (a < 0.5) & (a > 0)
    assert bool(noisy.any()) and bool((~noisy).any())
    got = p.basis.forward(wiener_twist(p, 0.5)(x0, x_t, t))
    assert torch.allclose(got[..., noisy], (a * p.basis.forward(x_t))[..., noisy], atol=1e-12)
    assert torch.allclose(got[..., ~noisy & (a > 0)], p.basis.forward(x0)[..., ~noisy & (a > 0)], atol=1e-12)


def _gaussian_case(make_process, n_start: int):
    """Process L = 8 with blocks of 4 (four blocks), the Wiener oracle (exact for Gaussian data), one start state
    at a blur of 2 sites drawn for Gaussian data, its four block signs as the input, and a 12-step grid."""
    p = make_process(L=8)
    den = wiener_denoiser(p)
    gen = torch.Generator().manual_seed(5)
    x0 = p.basis.inverse(p.S.sqrt() * p.basis.forward(torch.randn(1, 1, 8, 8, generator=gen, dtype=torch.float64)))
    t_s = float(p.time_at_blur(2.0))
    x_t = p.q_sample(x0, t_s, generator=gen)[0]
    coarse = torch.where(x0[:, 0].reshape(1, 2, 4, 2, 4).sum((2, 4)) >= 0, 1, -1)
    return p, den, x_t.repeat(n_start, 1, 1, 1), coarse.repeat(n_start, 1, 1), time_grid(12, t_s, process=p)


def _along(x, coarse):
    """Each block's mean spin along its input, (N, 4)."""
    spins = torch.where(x[:, 0] >= 0, 1.0, -1.0).to(torch.float64)
    return (spins.reshape(-1, 2, 4, 2, 4).mean((2, 4)) * coarse).reshape(-1, 4)


def test_particles_draw_the_models_chain_conditioned_on_the_input(make_process):
    """With the Gaussian oracle the ancestral chain from a start state is exact, so the target -- that chain
    given that its output's majorities are the input's -- is sampled exactly by running it free and weighting
    each output by the majority rule's likelihood (rejection). The particle filter, stepping with the
    ``conditioned`` estimate (a different law), matches it within errors; the free outputs made consistent by
    the majority projection do not."""
    p, den, x_t, coarse, times = _gaussian_case(make_process, 3000)
    free = ancestral_sample(den, p, x_t, times, generators(range(3000)))
    w = log_likelihood(free, coarse, 4).exp()
    assert 0.1 < float((w > 0).double().mean()) < 0.9  # the input is informative: many free outputs disagree
    exact = (_along(free, coarse) * w[:, None]).sum(0) / w.sum()
    exact_err = torch.sqrt(((_along(free, coarse) - exact) ** 2 * (w[:, None] / w.sum()) ** 2).sum(0))

    n = 600
    class_lift = MeanConstrainedDenoiser(type("Den", (), {"process": p, "__call__": staticmethod(den)})(),
                                         coarse[:n].repeat_interleave(16, 0), 4, "conditioned")
    stats = SMCStats()
    out = twisted_smc_sample(den, class_lift.lift, p, x_t[:n], times, coarse[:n], 4, 16,
                             generators(range(10_000, 10_000 + n)), stats=stats)
    assert out.shape == (n, 1, 8, 8) and stats.no_consistent == 0
    assert bool(torch.isfinite(log_likelihood(out, coarse[:n], 4)).all())  # every output keeps the input
    got = _along(out, coarse[:n])
    z = (got.mean(0) - exact) / torch.sqrt(got.var(0) / n + exact_err ** 2)
    assert float(z.abs().max()) < 4.0, z

    projected = _along(project_majority(free[:n], coarse[:n], 4), coarse[:n])  # consistent, another law
    z_proj = (projected.mean(0) - exact) / torch.sqrt(projected.var(0) / n + exact_err ** 2)
    assert float(z_proj.abs().max()) > 8.0, z_proj


def test_one_particle_is_the_proposal_and_runs_are_reproducible_per_configuration(make_process):
    p, den, x_t, coarse, times = _gaussian_case(make_process, 6)
    ident = lambda d, x, t: d  # noqa: E731
    a = twisted_smc_sample(den, ident, p, x_t, times, coarse, 4, 4, generators(range(6)))
    b = twisted_smc_sample(den, ident, p, x_t[2:4], times, coarse[2:4], 4, 4, generators(range(2, 4)))
    assert torch.equal(a[2:4], b)  # configuration i depends only on its own generator
    stats = SMCStats()
    finish = lambda x, c, g: torch.full_like(x, 7.0)  # noqa: E731
    one = twisted_smc_sample(den, ident, p, x_t, times, coarse, 4, 1, generators(range(6)), finish=finish,
                             stats=stats)
    consistent = torch.isfinite(log_likelihood(one, coarse, 4))
    assert stats.no_consistent == int((one == 7.0).all(dim=(1, 2, 3)).sum()) == int((~consistent).sum()) > 0
    assert all(e == 1.0 for e in stats.ess[0]) and stats.resampled[0] == [0] * 12  # one particle: no weights
    with pytest.raises(InputError, match="particles"):
        twisted_smc_sample(den, ident, p, x_t, times, coarse, 4, 0, generators(range(6)))
    with pytest.raises(InputError, match="generators"):
        twisted_smc_sample(den, ident, p, x_t, times, coarse, 4, 2, generators(range(5)))


def test_spread_says_which_steps_make_the_weights_uneven(make_process):
    """``SMCStats.spread`` has one entry per step: zero for the network's own steps under a flat twist (block
    means far on the input's side), so only the final likelihood can make the weights uneven; positive where a
    proposal other than the network's moves the particles."""
    p, den, x_t, coarse, times = _gaussian_case(make_process, 6)
    k = 4
    far = 100.0 * coarse.repeat_interleave(4, 1).repeat_interleave(4, 2).repeat_interleave(k, 0)[:, None]
    stats = SMCStats()
    twisted_smc_sample(den, lambda d, x, t: d, p, x_t, times, coarse, 4, k, generators(range(6)),
                       twist_estimate=lambda d, x, t: far.to(d.dtype), stats=stats)
    assert len(stats.spread[0]) == len(times) - 1 and stats.spread[0][:-1] == [0.0] * (len(times) - 2)
    assert stats.times[0] == times.tolist()  # the grid the spreads belong to
    lift = MeanConstrainedDenoiser(type("Den", (), {"process": p, "__call__": staticmethod(den)})(),
                                   coarse.repeat_interleave(k, 0), 4, "conditioned")
    stats = SMCStats()
    twisted_smc_sample(den, lift.lift, p, x_t, times, coarse, 4, k, generators(range(6)), stats=stats)
    assert len(stats.spread[0]) == len(times) - 1 and min(stats.spread[0]) >= 0 and max(stats.spread[0][:-1]) > 0


def test_superresolution_with_particles_keeps_the_input_and_rejects_what_it_cannot_run(make_process):
    from isingsr.diffusion.pipeline import superresolve_fields, to_spins
    from isingsr.coarse import block_spin
    from isingsr.mc import sample_configurations

    p = make_process(L=16)

    class Oracle:
        process = p
        __call__ = staticmethod(wiener_denoiser(p))

    fine = sample_configurations(16, 12, seed=4)
    coarse = block_spin(fine, 4, seed=0)
    ones = torch.ones(16, 16, dtype=torch.float64)
    ck = {"gains": {"4": ones}, "passband_corr": {"4": 0.5 * ones}}
    stats = SMCStats()
    out, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=10, consistency="conditioned", particles=4,
                                 smc_stats=stats)
    assert block_consistency(to_spins(out), coarse, 4) == 1.0
    assert len(stats.final_ess) == 12 and all(0 <= e <= 1 for e in stats.final_ess)
    again, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=10, consistency="conditioned", particles=4,
                                   batch=5)
    np.testing.assert_array_equal(out, again)  # independent of the batching
    own, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=10, consistency="conditioned", particles=4,
                                 twist_a=0.0)  # the twist from the oracle's own estimate, which is Wiener's
    np.testing.assert_array_equal(own, out)
    for bad in (dict(particles=0), dict(particles=2, sampler="ddim"), dict(particles=2, consistency="drawn"),
                dict(particles=2, consistency="project"), dict(particles=2, restart_blur=0.5),
                dict(particles=2, twist_a=1.5)):
        with pytest.raises(InputError, match="particles|twist_a"):
            superresolve_fields(Oracle(), ck, coarse, 4.0, steps=4, **{"consistency": "conditioned", **bad})
