"""Jackknife and autocorrelation-time estimators against exact answers."""

import numpy as np
import pytest

from scipy import stats

from isingsr.analysis.errors import (chain_autocorrelation, hotelling_p_value, integrated_autocorrelation_time,
                                     jackknife, jackknife_difference)


def test_jackknife_of_mean_equals_standard_error(rng):
    x = rng.normal(size=1003)
    v, e = jackknife(lambda m: m, x, n_blocks=len(x))  # delete-one: exact identity
    assert v == pytest.approx(x.mean(), abs=1e-14)
    assert e == pytest.approx(x.std(ddof=1) / np.sqrt(len(x)), rel=1e-12)


def test_jackknife_blocked_error_close_to_standard_error(rng):
    x = rng.normal(size=20000)
    _, e = jackknife(lambda m: m, x, n_blocks=100)
    # the blocked estimate of the error itself fluctuates by ~1/sqrt(2*99) = 7%
    assert e == pytest.approx(x.std(ddof=1) / np.sqrt(len(x)), rel=0.25)


def test_jackknife_propagates_nonlinear_function(rng):
    # Var of f(mean) by the delta method: f = mean^2 -> (2 mu)^2 sigma^2 / n
    mu, sigma, n = 3.0, 1.0, 40000
    x = rng.normal(mu, sigma, size=n)
    v, e = jackknife(lambda m: m * m, x, n_blocks=200)
    assert v == pytest.approx(x.mean() ** 2)
    assert e == pytest.approx(2 * mu * sigma / np.sqrt(n), rel=0.25)


def test_jackknife_vector_estimator_and_bad_input(rng):
    x = rng.normal(size=(500, 3))
    v, e = jackknife(lambda m: m, x)
    assert v.shape == e.shape == (3,)
    with pytest.raises(ValueError):
        jackknife(lambda a, b: a, np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError):
        jackknife(lambda a: a, np.zeros(1))


def ar1(rng, phi, chains, T):
    x = np.zeros((chains, T))
    x[:, 0] = rng.normal(size=chains) / np.sqrt(1 - phi**2)
    noise = rng.normal(size=(chains, T))
    for t in range(1, T):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.8])
def test_tau_int_of_ar1_process(rng, phi):
    # exact: tau_int = 1/2 + sum_{t>=1} phi^t = (1 + phi) / (2 (1 - phi))
    tau, err, window = integrated_autocorrelation_time(ar1(rng, phi, 16, 5000))
    exact = (1 + phi) / (2 * (1 - phi))
    assert abs(tau - exact) < 4 * err + 0.02 * exact  # small windowing bias allowed
    assert window >= 1


def test_chain_autocorrelation_pools_chains_of_unequal_length(rng):
    x = ar1(rng, 0.5, 4, 2001)
    chain = np.repeat(np.arange(4), 2001)
    keep = np.ones(chain.size, bool)
    keep[-1] = False  # chain 3 one sample shorter
    out = chain_autocorrelation(x.ravel()[keep], x.ravel()[keep], chain[keep])
    assert abs(out["tau_int_E"] - 1.5) < 4 * out["tau_int_E_err"] + 0.03
    short = chain_autocorrelation(np.arange(6.0), np.arange(6.0), None)
    assert np.isnan(short["tau_int_E"])  # too short to say


# --------------------------------------------------------------------------- paired differences
def test_jackknife_difference_of_means_equals_paired_standard_error(rng):
    x = rng.normal(size=801)
    y = x + 0.2 * rng.normal(size=801)
    d, e = jackknife_difference(lambda m: m, [x], [y], n_blocks=len(x))  # delete-one: exact identity
    assert d == pytest.approx(y.mean() - x.mean(), abs=1e-14)
    assert e == pytest.approx((y - x).std(ddof=1) / np.sqrt(len(x)), rel=1e-12)


def test_jackknife_difference_of_independent_samples_is_the_quadrature_sum(rng):
    x, y = rng.normal(size=(2, 20000))
    _, e = jackknife_difference(lambda m: m, [x], [y], n_blocks=100)
    assert e == pytest.approx(np.hypot(jackknife(lambda m: m, x)[1], jackknife(lambda m: m, y)[1]), rel=0.25)


def test_paired_z_scores_are_standard_normal_and_quadrature_ones_are_not(rng):
    """Replicas of a candidate with the reference's distribution that shares its fluctuations (correlation
    0.95), non-linear estimator (a Binder-like ratio of two means): the paired z is standard normal; adding
    the two errors in quadrature gives a spread of about sqrt(1 - 0.95) = 0.22."""
    est = lambda a, b: b / (a * a)  # noqa: E731
    z_pair, z_quad = [], []
    for _ in range(300):
        x = rng.normal(2.0, 1.0, size=400)
        y = 2.0 + 0.95 * (x - 2.0) + np.sqrt(1 - 0.95**2) * rng.normal(size=400)
        ref, cand = [x, x * x], [y, y * y]
        d, e = jackknife_difference(est, ref, cand, n_blocks=40)
        e_q = np.hypot(jackknife(est, *ref, n_blocks=40)[1], jackknife(est, *cand, n_blocks=40)[1])
        z_pair.append(d / e)
        z_quad.append(d / e_q)
    # the mean of 300 standard normal z's is 0 +- 0.06, their sample sd 1 +- 0.04
    assert abs(np.mean(z_pair)) < 0.25
    assert np.std(z_pair) == pytest.approx(1.0, abs=0.15)
    assert np.std(z_quad) < 0.5


def test_jackknife_difference_bad_input(rng):
    x = rng.normal(size=10)
    with pytest.raises(ValueError, match="same, non-zero number"):
        jackknife_difference(lambda m: m, [x], [x, x])
    with pytest.raises(ValueError, match="equal lengths"):
        jackknife_difference(lambda m: m, [x], [x[:5]])


# --------------------------------------------------------------------------- covariance and Hotelling test
def test_jackknife_covariance_diagonal_is_the_variance_and_matches_the_sample_covariance(rng):
    a = rng.normal(size=(5000, 3)) @ np.array([[1.0, 0.8, 0.0], [0.0, 0.6, 0.5], [0.0, 0.0, 0.5]])
    v, e, c = jackknife(lambda m: m, a, n_blocks=len(a), covariance=True)
    np.testing.assert_allclose(np.diag(c), e**2, rtol=1e-12)
    np.testing.assert_allclose(c, np.cov(a.T) / len(a), rtol=1e-10)  # delete-one: exact identity
    with pytest.raises(ValueError, match="1-d estimator"):
        jackknife(lambda m: m.sum(), a, covariance=True)


def _correlated_curves(rng, n, p=8, rho=0.9, shift=0.0):
    """n samples of a p-point 'curve' with AR(1) correlation rho between neighbouring points."""
    x = np.empty((n, p))
    x[:, 0] = rng.normal(size=n)
    for j in range(1, p):
        x[:, j] = rho * x[:, j - 1] + np.sqrt(1 - rho**2) * rng.normal(size=n)
    return x + shift


def test_hotelling_p_values_are_uniform_under_the_null_and_small_under_a_shift(rng):
    """Paired difference of two curve ensembles sharing most of their fluctuations, 300 replicas, 100 blocks:
    p-values uniform (KS) and 5% below 0.05 (binomial sd 1.3%); a shift of 0.15 sd at every r is detected."""
    p_null, p_alt = [], []
    for _ in range(300):
        x = _correlated_curves(rng, 1000)
        y = 0.9 * x + np.sqrt(1 - 0.81) * _correlated_curves(rng, 1000)
        for y_, out in ((y, p_null), (y + 0.15, p_alt)):
            d, _, c = jackknife_difference(lambda m: m, [x], [y_], n_blocks=100, covariance=True)
            out.append(hotelling_p_value(d, c, 100)[0])
    assert stats.kstest(p_null, "uniform").pvalue > 1e-3
    assert abs(np.mean(np.array(p_null) < 0.05) - 0.05) < 0.04
    assert np.mean(np.array(p_alt) < 0.01) > 0.9


def test_hotelling_edge_cases():
    cov = np.diag([0.0, 0.01, 0.01])
    assert hotelling_p_value(np.array([0.0, 0.0, 0.0]), np.zeros((3, 3)), 50) == (1.0, 0)
    assert hotelling_p_value(np.array([0.1, 0.0, 0.0]), cov, 50) == (0.0, 3)  # exact point missed
    p, dof = hotelling_p_value(np.array([0.0, 0.0, 0.0]), cov, 50)  # exact point (G2(0)) left out
    assert dof == 2 and p == pytest.approx(1.0)
    p, dof = hotelling_p_value(np.ones(4), np.eye(4), 4)
    assert np.isnan(p) and dof == 4  # as many blocks as points: no test
