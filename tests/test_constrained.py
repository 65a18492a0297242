"""Constrained Monte Carlo for p(fine | coarse) against exact enumeration, with honest statistics.

Every test has fixed seeds. Samples are spaced by 5 sweeps on the 3x3 and
4x4 tori, where tau_int(E) is 0.6 - 1.2 sweeps, so they are independent to
rho(5) < 1e-2; the tests check this on the samples themselves
(tau_int in units of samples ~ 1/2) before using i.i.d. statistics. Moments
carry blocked-jackknife errors (blocks of hundreds of samples) and pass
within 4 standard errors; chi^2 tests pass at p > 1e-3.
"""

import numpy as np
import pytest
from scipy import stats

from isingsr.analysis.errors import chain_autocorrelation, integrated_autocorrelation_time, jackknife
from isingsr.analysis.scalars import energy_magnetization
from isingsr.coarse import block_fill, block_spin
from isingsr.constants import BETA_C
from isingsr.exceptions import InputError
from isingsr.mc import constrained_sample, exact_posterior, sample_configurations
from isingsr.mc.constrained import (DEFAULT_SWEEPS_BETWEEN, DEFAULT_THERM_SWEEPS, acceptance_thresholds,
                                    posterior_autocorrelation, posterior_trace)
from isingsr.mc.exact import enumerate_exact

Z = 4.0  # tolerance in standard errors
P_MIN = 1e-3  # smallest accepted chi^2 p-value
CHAINS, PER_CHAIN, SPACING = 8, 2500, 5  # small-lattice runs: 20 000 samples 5 sweeps apart


def codes(spins):
    """Integer with bit k = (s_k + 1) / 2 for row-major site k (the order of exact_posterior)."""
    s = np.asarray(spins).reshape(len(spins), -1)
    return (((s.astype(np.int64) + 1) // 2) << np.arange(s.shape[1])).sum(axis=1)


def site_energy(spins):
    return energy_magnetization(np.asarray(spins))[0]


def pooled_chi2(observed, expected, min_expected=5.0):
    """chi^2 p-value with the bins of expected count < min_expected pooled into one."""
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    small = expected < min_expected
    obs = np.append(observed[~small], observed[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    if exp[-1] < min_expected:  # the pooled bin itself too small: fold it into the smallest kept bin
        k = np.argmin(exp[:-1])
        obs[k] += obs[-1]
        exp[k] += exp[-1]
        obs, exp = obs[:-1], exp[:-1]
    return stats.chisquare(obs, exp).pvalue, len(obs)


def run_small(coarse, b, seed):
    """CHAINS independent chains on one coarse input: samples (CHAINS, PER_CHAIN, L, L), chain-major."""
    batch = np.broadcast_to(np.asarray(coarse, dtype=np.int8), (CHAINS,) + np.shape(coarse))
    s = constrained_sample(batch, b, n_samples=PER_CHAIN, therm_sweeps=50, sweeps_between=SPACING, seed=seed,
                           workers=2)
    e = site_energy(s.reshape(-1, b * batch.shape[-1], b * batch.shape[-1])).reshape(CHAINS, PER_CHAIN)
    tau, err, _ = integrated_autocorrelation_time(e - e.mean(axis=1, keepdims=True))
    assert tau < 0.5 + 0.1 + 4 * err, f"samples not independent: tau_int = {tau:.3f} samples"
    return s


# --------------------------------------------------------------------------- exact enumeration
def test_acceptance_thresholds():
    thr = acceptance_thresholds(BETA_C).astype(float) / 2.0**53
    for k in range(5):
        for wo in (1, 2):
            for wn in (0, 1, 2):
                p = min(1.0, np.exp(-BETA_C * 4 * (k - 2)) * wn / wo)
                assert thr[k, wo, wn] == pytest.approx(p, abs=2.0**-52)


def test_exact_posterior_counts_and_symmetric_mixture_is_boltzmann():
    configs, probs = exact_posterior(np.array([[1]], dtype=np.int8), 3)
    assert configs.shape == (256, 3, 3) and configs.dtype == np.int8  # 9 spins, majority up
    assert np.all(configs.sum(axis=(1, 2)) > 0) and probs.sum() == pytest.approx(1.0, abs=1e-12)
    # b = L (one block): p(c = +1) = 1/2 by symmetry, so (p(s|+) + p(s|-)) / 2 is the Boltzmann distribution
    # and <E>_{s|+} equals the unconstrained <E> -- for L = 4 only with weight 1/2 on the tied (M = 0) states.
    for L in (3, 4):
        configs, probs = exact_posterior(np.array([[1]], dtype=np.int8), L)
        u = float(probs @ site_energy(configs))
        assert u == pytest.approx(enumerate_exact(L).observables()["energy"], abs=1e-12)
    configs, probs = exact_posterior(np.array([[1]], dtype=np.int8), 4)
    tied = configs.sum(axis=(1, 2)) == 0
    w_wrong = np.where(tied, 2 * probs, probs)  # what tie weight 1 would give
    u_wrong = float((w_wrong / w_wrong.sum()) @ site_energy(configs))
    assert abs(u_wrong - enumerate_exact(4).observables()["energy"]) > 5e-3


def test_exact_posterior_L4_b2_mixed_support():
    c = np.array([[1, -1], [1, 1]], dtype=np.int8)
    configs, probs = exact_posterior(c, 2)
    sums = configs.reshape(-1, 2, 2, 2, 2).sum(axis=(2, 4))
    assert np.all(sums * c >= 0)  # every kept configuration is compatible with c
    assert len(configs) == 11**4  # per 2x2 block: 1 + 4 (sum +-2 side) + 6 ties
    assert probs.min() > 0 and probs.sum() == pytest.approx(1.0, abs=1e-12)


# --------------------------------------------------------------------------- sampler vs exact
@pytest.mark.parametrize("c, seed", [(1, 11), (-1, 12)])
def test_L3_b3_full_histogram_chi2(c, seed):
    """All 256 configurations of the 3x3 torus with one block: chi^2 of the sampled histogram."""
    coarse = np.array([[c]], dtype=np.int8)
    configs, probs = exact_posterior(coarse, 3)
    s = run_small(coarse, 3, seed).reshape(-1, 3, 3)
    idx = np.searchsorted(codes(configs), codes(s))
    assert np.all(codes(configs)[idx] == codes(s))  # every sample is in the support
    observed = np.bincount(idx, minlength=len(configs))
    p, n_bins = pooled_chi2(observed, probs * len(s))
    assert n_bins > 100
    assert p > P_MIN, f"chi^2 p = {p:.2e} over {n_bins} bins"


@pytest.mark.parametrize("coarse, seed", [
    (np.array([[1, 1], [1, 1]], dtype=np.int8), 21),
    (np.array([[1, -1], [-1, -1]], dtype=np.int8), 22),
])
def test_L4_b2_moments_and_energy_histogram(coarse, seed):
    """Mean energy, block magnetisations, tie probabilities (the 1/2 weight) and the energy histogram."""
    b, l = 2, 2
    configs, probs = exact_posterior(coarse, b)
    e_ex = site_energy(configs)
    bsum_ex = configs.reshape(-1, l, b, l, b).sum(axis=(2, 4)).reshape(-1, l * l)
    s = run_small(coarse, b, seed).reshape(-1, 4, 4)  # chain-major: jackknife blocks stay within a chain
    e = site_energy(s)
    bsum = s.reshape(-1, l, b, l, b).sum(axis=(2, 4)).reshape(-1, l * l)

    exact = {"energy": probs @ e_ex, "block_m": probs @ (bsum_ex / b**2), "tie": probs @ (bsum_ex == 0)}
    sampled = {"energy": e, "block_m": bsum / b**2, "tie": (bsum == 0).astype(float)}
    for key, x in sampled.items():
        val, err = jackknife(lambda m: m, x)
        assert np.all(np.abs(val - exact[key]) < Z * err), (key, val, exact[key], err)

    # the tie probabilities distinguish weight 1/2 from weight 1 by far more than their error
    w1 = probs * 2.0 ** (bsum_ex == 0).sum(axis=1)
    tie_w1 = (w1 / w1.sum()) @ (bsum_ex == 0)
    _, tie_err = jackknife(lambda m: m, sampled["tie"])
    assert np.all(np.abs(tie_w1 - exact["tie"]) > 10 * tie_err)

    levels, inv = np.unique(np.round(e_ex * 16).astype(int), return_inverse=True)
    expected = np.bincount(inv, weights=probs) * len(e)
    observed = np.array([np.sum(np.round(e * 16).astype(int) == v) for v in levels])
    assert observed.sum() == len(e)
    p, n_bins = pooled_chi2(observed, expected)
    assert n_bins >= 4
    assert p > P_MIN, f"energy chi^2 p = {p:.2e} over {n_bins} bins"


# --------------------------------------------------------------------------- constraint, determinism, input
def test_every_sample_satisfies_the_constraint():
    fine = sample_configurations(16, 20, seed=2, workers=1)
    b = 4
    coarse = block_spin(fine, b, seed=2)
    s = constrained_sample(coarse, b, n_samples=5, therm_sweeps=20, sweeps_between=4, seed=3)
    assert s.shape == (20, 5, 16, 16) and s.dtype == np.int8
    assert set(np.unique(s).tolist()) == {-1, 1}
    sums = s.reshape(20, 5, 4, b, 4, b).sum(axis=(3, 5), dtype=np.int64)
    assert np.all(sums * coarse[:, None] >= 0)  # every non-tied block has the coarse sign
    assert np.any(sums == 0)  # ties occur (b = 4), so the tie branch is exercised
    # odd b: no ties, so the majority rule reproduces the coarse input exactly
    coarse = block_spin(sample_configurations(15, 10, seed=2, workers=1), 3, seed=2)
    s = constrained_sample(coarse, 3, n_samples=4, therm_sweeps=20, sweeps_between=4, seed=4)
    assert np.all(block_spin(s.reshape(-1, 15, 15), 3).reshape(10, 4, 5, 5) == coarse[:, None])


def test_bit_identical_across_workers_and_batches():
    coarse = block_spin(sample_configurations(8, 20, seed=5, workers=1), 2, seed=5)
    kw = dict(n_samples=3, therm_sweeps=10, sweeps_between=3, seed=7)
    calls = []
    one = constrained_sample(coarse, 2, workers=1, **kw)
    two = constrained_sample(coarse, 2, workers=2, progress=lambda d, t: calls.append((d, t)), **kw)
    assert np.array_equal(one, two)
    assert calls[-1] == (20, 20) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert np.array_equal(constrained_sample(coarse[:5], 2, workers=2, **kw), one[:5])
    assert np.array_equal(constrained_sample(coarse[13], 2, index_offset=13, **kw), one[13:14])
    assert np.array_equal(constrained_sample(coarse[11:17], 2, index_offset=11, workers=2, **kw), one[11:17])
    assert np.array_equal(constrained_sample(coarse[0], 2, **kw), one[:1])
    assert not np.array_equal(constrained_sample(coarse, 2, workers=1, **{**kw, "seed": 8}), one)
    assert not np.array_equal(one[0], one[1])  # different inputs, different streams


@pytest.mark.parametrize("call, match", [
    (lambda: constrained_sample(np.ones((2, 2), np.int8), 0), "block size"),
    (lambda: constrained_sample(np.ones((2, 2), np.int8), 2.5), "block size"),
    (lambda: constrained_sample(np.ones((2, 2), np.int8), True), "block size"),
    (lambda: constrained_sample(np.array([[1, 0], [1, 1]]), 2), "spins must be"),
    (lambda: constrained_sample(np.array([[1, 2], [1, 1]]), 2), "spins must be"),
    (lambda: constrained_sample(np.full((2, 2), 0.5), 2), "spins must be"),
    (lambda: constrained_sample(np.ones((2, 3), np.int8), 2), "square"),
    (lambda: constrained_sample(np.ones(4, np.int8), 2), "shape"),
    (lambda: constrained_sample(np.ones((2, 2), np.int8), 2, n_samples=0), "n_samples"),
    (lambda: constrained_sample(np.ones((2, 2), np.int8), 2, therm_sweeps=-1), "therm_sweeps"),
    (lambda: constrained_sample(np.ones((2, 2), np.int8), 2, sweeps_between=-1), "sweeps_between"),
    (lambda: constrained_sample(np.ones((2, 2), np.int8), 2, beta=0.0), "beta"),
    (lambda: constrained_sample(np.ones((2, 2), np.int8), 2, beta=float("nan")), "beta"),
    (lambda: constrained_sample(np.ones((2, 2), np.int8), 2, seed=-1), "seed"),
    (lambda: constrained_sample(np.ones((2, 2), np.int8), 2, workers=0), "workers"),
    (lambda: exact_posterior(np.ones((1, 1), np.int8), 5), "L\\^2"),
    (lambda: exact_posterior(np.ones((2, 2), np.int8), 3), "L\\^2"),
    (lambda: exact_posterior(np.ones((2, 1, 1), np.int8), 2), "one coarse"),
    (lambda: posterior_autocorrelation(np.ones((1, 1), np.int8), 2, observable="m"), "observable"),
])
def test_bad_input(call, match):
    with pytest.raises(InputError, match=match) as excinfo:
        call()
    assert "\n" not in str(excinfo.value)


# --------------------------------------------------------------------------- marginal consistency
def test_marginal_consistency_with_critical_configurations():
    """truth ~ p(s), c ~ p(c|s), sample ~ p(s|c): the sample has the same marginal as the truth.

    Paired test on d = u(sample) - u(truth) (energy per site) and on |m|: blocked jackknife over
    chain-major order, blocks of 20 saves of one chain, far longer than the measured tau_int of the truth.
    """
    chains, n = 4, 400  # sample_configurations uses n // 100 chains, saved in (save, chain) order
    fine = sample_configurations(16, n, seed=3, workers=2)
    cm = np.arange(n).reshape(-1, chains).T.ravel()  # chain-major permutation
    e_t, m_t = energy_magnetization(fine)
    tau = chain_autocorrelation(e_t[cm], m_t[cm], np.repeat(np.arange(chains), n // chains))
    assert tau["tau_int_E"] < 2 and tau["tau_int_absm"] < 4, tau  # in saves; jackknife blocks are 20 saves
    coarse = block_spin(fine, 2, seed=4)
    post = constrained_sample(coarse, 2, seed=5, workers=2)[:, 0]
    e_p, m_p = energy_magnetization(post)
    for name, d, truth in (("energy", e_p - e_t, e_t), ("abs_m", np.abs(m_p) - np.abs(m_t), np.abs(m_t))):
        val, err = jackknife(lambda m: m, d[cm], n_blocks=20)
        _, err_t = jackknife(lambda m: m, truth[cm], n_blocks=20)
        assert abs(val) < Z * err, (name, val, err)
        assert err < err_t  # pairing helps: the posterior sample is close to its truth
    assert abs(e_p.mean() - e_t.mean()) < Z * np.hypot(*(jackknife(lambda m: m, x[cm], n_blocks=20)[1]
                                                         for x in (e_p, e_t)))


# --------------------------------------------------------------------------- defaults
def test_defaults_cover_measured_autocorrelation():
    """The defaults against a short measurement of tau_int(E) at b = 4 (the module docstring has b = 8)."""
    coarse = block_spin(sample_configurations(16, 4, seed=1, workers=1), 4, seed=1)
    tau, err, _ = posterior_autocorrelation(coarse, 4, sweeps=3000, burn_in=100, seed=0, workers=2)
    assert 1.0 < tau < 1.8, (tau, err)  # 1.34 at L = 32 (tau depends on b, not on L)
    assert DEFAULT_SWEEPS_BETWEEN >= 2 * 4.43 and DEFAULT_THERM_SWEEPS >= 20 * 4.43  # worst of b <= 8 (tau_m, b = 8)


def test_trace_matches_samples():
    """The incrementally tracked energy and magnetisation equal those recomputed from the configuration."""
    coarse = block_spin(sample_configurations(8, 3, seed=6, workers=1), 2, seed=6)
    tr = posterior_trace(coarse, 2, sweeps=7, seed=9, index_offset=2)
    s = constrained_sample(coarse, 2, therm_sweeps=7, seed=9, index_offset=2)[:, 0]
    e, m = energy_magnetization(s)
    assert tr.shape == (3, 7, 2)
    np.testing.assert_allclose(tr[:, -1, 0], e, atol=1e-12)
    np.testing.assert_allclose(tr[:, -1, 1], m, atol=1e-12)


def test_chains_can_start_from_given_consistent_configurations():
    """The exact polish starts the constrained chain from a super-resolver's output: the block fill as init
    reproduces the default chain draw for draw, zero sweeps return the start itself, and a start that some
    block's majority contradicts is refused in one line."""
    fine = sample_configurations(8, 6, seed=3)
    coarse = block_spin(fine, 2, seed=1)
    default = constrained_sample(coarse, 2, therm_sweeps=5, seed=4, workers=1)
    same = constrained_sample(coarse, 2, therm_sweeps=5, seed=4, workers=1, init=block_fill(coarse, 2))
    np.testing.assert_array_equal(default, same)
    np.testing.assert_array_equal(constrained_sample(coarse, 2, therm_sweeps=0, init=fine)[:, 0], fine)
    moved = constrained_sample(coarse, 2, therm_sweeps=3, seed=4, init=fine)[:, 0]
    assert np.all(block_spin(moved, 2, rule="average") * coarse >= 0)  # the chain never leaves the constraint
    with pytest.raises(InputError, match="opposite"):
        constrained_sample(coarse, 2, init=-fine)
    with pytest.raises(InputError, match="shape"):
        constrained_sample(coarse, 2, init=fine[:, :4, :4])
