"""Wolff sampler against exact results, with honest statistics.

Every test uses a fixed seed, so it is deterministic; the tolerances (4 sigma
with jackknife errors over blocks much longer than tau_int, or a chi^2 test
on samples thinned by tau_int) are what an independent rerun would also pass.
"""

import math

import numpy as np
import pytest
from scipy import stats

from isingsr.analysis.errors import chain_autocorrelation
from isingsr.analysis.scalars import energy_magnetization, scalar_observables
from isingsr.constants import BETA_C
from isingsr.exceptions import InputError
from isingsr.mc import WolffChains, sample_configurations
from isingsr.mc.exact import enumerate_exact, kaufman_energy
from isingsr.mc.wolff import bond_threshold, neighbour_table

Z = 4.0  # tolerance in standard errors


def run(L, per_chain, chains=8, beta=BETA_C, seed=0, sweeps_between=2.0):
    """Samples in (chain, time) order plus the chain index, as the jackknife wants them."""
    mc = WolffChains(L, beta=beta, chains=chains, seed=seed, workers=2)
    therm = mc.thermalize(sweeps=100, sweeps_between=sweeps_between)
    res = mc.sample(per_chain, therm["updates_between"])
    chain = np.repeat(np.arange(chains), per_chain)
    return res, chain, therm


def observables(res, L, beta):
    e, m = res.energy.ravel(), res.magnetization.ravel()
    return scalar_observables(e, m, L, beta=beta)


def test_neighbour_table_and_threshold():
    nbr = neighbour_table(4)
    assert nbr.shape == (16, 4)
    assert list(nbr[0]) == [1, 4, 3, 12]  # +x, +y, -x, -y of site (0, 0)
    assert sorted(nbr[:, 0]) == list(range(16))
    p = 1 - math.exp(-2 * BETA_C)
    assert int(bond_threshold(BETA_C)) / 2**53 == pytest.approx(p, abs=2**-52)


def test_exact_enumeration_L4_moments():
    L = 4
    res, _, _ = run(L, per_chain=4000)
    got = observables(res, L, BETA_C)
    exact = enumerate_exact(L).observables()
    for key in ("energy", "abs_m", "m2", "binder", "specific_heat"):
        assert abs(got[key] - exact[key]) < Z * got[key + "_err"], key


def test_exact_enumeration_L4_histogram_chi2():
    """chi^2 test of the joint (E, |M|) distribution on samples thinned by tau_int."""
    L = 4
    res, chain, _ = run(L, per_chain=6000, seed=3)
    e, m = res.energy.ravel(), res.magnetization.ravel()
    taus = chain_autocorrelation(e, m, chain)
    thin = max(1, math.ceil(2 * max(taus["tau_int_E"], taus["tau_int_absm"])))
    E = np.rint(res.energy[:, ::thin].ravel() * L * L).astype(int)
    M = np.rint(np.abs(res.magnetization[:, ::thin].ravel()) * L * L).astype(int)
    ex = enumerate_exact(L)
    p = {}
    for ee, mm, pp in zip(ex.energy, np.abs(ex.magnetization), ex.prob):
        p[(ee, mm)] = p.get((ee, mm), 0.0) + pp
    keys = sorted(p)
    expected = np.array([p[k] for k in keys]) * len(E)
    index = {k: i for i, k in enumerate(keys)}
    observed = np.bincount([index[(a, b)] for a, b in zip(E, M)], minlength=len(keys)).astype(float)
    # pool classes with small expectation into one bin, as the chi^2 approximation needs
    big = expected >= 5
    obs = np.append(observed[big], observed[~big].sum())
    exp_ = np.append(expected[big], expected[~big].sum())
    chi2, pval = stats.chisquare(obs, exp_)
    assert pval > 1e-3, (chi2, len(obs))


@pytest.mark.parametrize("L", [8, 16, 32])
def test_kaufman_energy_at_beta_c(L):
    res, _, _ = run(L, per_chain=5000)
    got = observables(res, L, BETA_C)
    u, c = kaufman_energy(L)
    assert abs(got["energy"] - u) < Z * got["energy_err"]
    assert abs(got["specific_heat"] - c) < Z * got["specific_heat_err"]
    assert got["energy_err"] < 2e-3  # the test has teeth: u(L) - u(2L) is 10-40 times larger


@pytest.mark.parametrize("beta", [0.3, 0.6])
def test_kaufman_energy_off_criticality(beta):
    L = 8
    res, _, _ = run(L, per_chain=2000, beta=beta, seed=5)
    got = observables(res, L, beta)
    u, _ = kaufman_energy(L, beta)
    assert abs(got["energy"] - u) < Z * got["energy_err"]


def test_binder_cumulant_universal_value():
    # U4* = 0.61069 (Salas & Sokal); Monte Carlo 0.6114(2) at L = 16: allow 1e-3 finite size
    L = 16
    res, _, _ = run(L, per_chain=3000, seed=11)
    got = observables(res, L, BETA_C)
    assert abs(got["binder"] - 0.61069) < Z * got["binder_err"] + 1e-3
    assert got["binder_err"] < 3e-3
    # a biased sampler (flip-count saves) gives 0.62-0.64: outside this window
    assert not (abs(0.625 - 0.61069) < Z * got["binder_err"] + 1e-3)


def test_mean_cluster_size_is_improved_estimator_of_chi():
    # Wolff: <|C|> = N <m^2> exactly (improved estimator)
    L = 16
    res, _, therm = run(L, per_chain=2000, seed=2)
    got = observables(res, L, BETA_C)
    assert abs(therm["mean_cluster_size"] - got["chi"]) < Z * math.hypot(therm["mean_cluster_size_err"] * 3,
                                                                          got["chi_err"])


def test_energy_and_magnetization_recorded_match_spins():
    res, _, _ = run(8, per_chain=50, chains=2)
    e, m = energy_magnetization(res.spins.reshape(-1, 8, 8))
    np.testing.assert_allclose(e, res.energy.ravel())
    np.testing.assert_allclose(m, res.magnetization.ravel())


def test_spacing_is_fixed_number_of_updates():
    mc = WolffChains(8, chains=3, seed=4, workers=1)
    therm = mc.thermalize(sweeps=20)
    k = therm["updates_between"]
    start = mc.updates.copy()
    res = mc.sample(5, k)
    np.testing.assert_array_equal(res.update - start[:, None], np.broadcast_to(k * np.arange(1, 6), (3, 5)))
    np.testing.assert_array_equal(mc.updates - start, 5 * k)


def test_same_seed_same_configurations_whatever_the_workers():
    a = sample_configurations(16, 64, seed=7, chains=4, workers=1)
    b = sample_configurations(16, 64, seed=7, chains=4, workers=2)
    c = sample_configurations(16, 64, seed=8, chains=4, workers=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.int8 and set(np.unique(a)) == {-1, 1}


def test_chain_stream_depends_only_on_seed_and_index():
    one = WolffChains(8, chains=2, seed=9, workers=1)
    two = WolffChains(8, chains=5, seed=9, workers=2)
    for mc in (one, two):
        mc.sample(3, 4)
    np.testing.assert_array_equal(one.spins[:2], two.spins[:2])


def test_split_runs_equal_one_run_and_resume_from_state():
    a = WolffChains(8, chains=2, seed=1, workers=1)
    ra = a.sample(20, 3)
    b = WolffChains(8, chains=2, seed=1, workers=1)
    first = b.sample(8, 3)
    c = WolffChains.from_state(8, BETA_C, b.spins, b.rng, b.updates, seed=1, workers=2)
    second = c.sample(12, 3)
    np.testing.assert_array_equal(ra.spins, np.concatenate([first.spins, second.spins], axis=1))


@pytest.mark.parametrize("kwargs", [dict(L=3), dict(L=8.5), dict(L=8, beta=0.0), dict(L=8, beta=-1),
                                    dict(L=8, chains=0), dict(L=8, workers=0), dict(L=8, seed=-1),
                                    dict(L=8, beta=float("nan"))])
def test_bad_parameters(kwargs):
    with pytest.raises(InputError):
        WolffChains(**kwargs)
