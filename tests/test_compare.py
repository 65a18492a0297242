"""Comparison of ensembles: residuals, chi^2, scalar differences, block consistency."""

import numpy as np
import pytest

from isingsr.analysis.compare import block_consistency, compare, compare_curves, compare_scalars, measure
from isingsr.analysis.correlations import g2, g4c_collinear, g4c_square
from isingsr.coarse import block_fill, block_spin, coarse_grain
from isingsr.exceptions import InputError

Z = 4.0  # tolerance in standard errors


def random_spins(n, L, seed):
    return np.random.default_rng(seed).choice(np.array([-1, 1], dtype=np.int8), size=(n, L, L))


def test_compare_curves_exact_numbers():
    c = compare_curves([1.0, 0.5, 0.2, 0.1], [0.0, 0.3, 0.0, 0.1], [1.0, 0.1, 0.25, 0.1], [0.0, 0.4, 0.0, 0.0])
    np.testing.assert_allclose(c["residual"], [0.0, -0.4, 0.05, 0.0], atol=1e-15)
    np.testing.assert_allclose(c["err"], [0.0, 0.5, 0.0, 0.1], atol=1e-15)
    assert c["z"][1] == pytest.approx(-0.8) and c["z"][2] == np.inf and c["z"][0] == 0.0
    assert c["n_dof"] == 3  # the exact point (0 +- 0 residual) is left out
    assert c["chi2_dof"] == np.inf
    assert c["max_abs_dev"] == pytest.approx(0.4)
    assert c["max_rel_dev"] == pytest.approx(0.8)
    c = compare_curves([0.5, 0.2], [0.3, 0.1], [0.1, 0.3], [0.4, 0.0])
    assert c["chi2_dof"] == pytest.approx((0.8**2 + 1.0**2) / 2)
    with pytest.raises(InputError):
        compare_curves([1.0], [0.1], [1.0, 2.0], [0.1, 0.1])


def test_compare_scalars_exact_numbers():
    t = {"energy": -1.4, "energy_err": 0.03}
    c = {"energy": -1.5, "energy_err": 0.04}
    out = compare_scalars(t, c, keys=("energy",))
    assert out["energy"]["diff"] == pytest.approx(-0.1)
    assert out["energy"]["err"] == pytest.approx(0.05)
    assert out["energy"]["z"] == pytest.approx(-2.0)


def test_block_consistency_of_truth_naive_flipped_and_random():
    s = random_spins(40, 16, seed=1)
    coarse = block_spin(s, 2, seed=3)  # b = 2: many ties
    assert block_consistency(s, coarse) == 1.0  # a tie never contradicts its random majority
    assert block_consistency(block_fill(coarse, 2), coarse) == 1.0
    tie_fraction = np.mean(block_spin(s, 2, rule="average") == 0)
    assert 0.2 < tie_fraction < 0.6
    assert block_consistency(-s, coarse) == pytest.approx(tie_fraction, abs=1e-15)
    # independent candidate, odd blocks (no ties): Binomial(n_blocks, 1/2)
    coarse3 = block_spin(random_spins(400, 15, seed=2), 3)
    frac = block_consistency(random_spins(400, 15, seed=4), coarse3)
    assert abs(frac - 0.5) < 3 * 0.5 / np.sqrt(coarse3.size)


def test_block_consistency_non_integer_scale():
    s = random_spins(10, 20, seed=5)
    coarse = coarse_grain(s, 2.5, seed=6)  # L' = 8 by the spectral route
    assert coarse.shape == (10, 8, 8)
    assert block_consistency(s, coarse) == 1.0
    assert block_consistency(-s, coarse) < 0.05
    coarse = coarse_grain(s, 2.1, seed=6)  # round(20 / 2.1) = 10 as for 2 x 2 blocks, but spectral
    assert coarse.shape == (10, 10, 10)
    assert block_consistency(s, coarse, scale=2.1) == 1.0


def test_block_consistency_bad_input():
    with pytest.raises(InputError):
        block_consistency(np.ones((3, 8, 8), np.int8), np.ones((2, 4, 4), np.int8))
    with pytest.raises(InputError):
        block_consistency(np.ones((8, 8), np.int8), np.ones((4, 4), np.int8))


def test_measure_and_self_comparison():
    s = random_spins(60, 8, seed=7)
    order = np.arange(60)[::-1]
    m = measure(s, r=[1, 2], order=order, n_blocks=10)
    for key in ("n", "L", "r2", "g2", "g2_err", "r", "g4c", "g4c_err", "energy", "energy_err", "abs_m",
                "abs_m_err", "chi", "chi_err", "binder", "binder_err"):
        assert key in m
    np.testing.assert_allclose(m["g2"], g2(s, order, 10)[1], atol=1e-15)
    np.testing.assert_allclose(m["g4c_err"], g4c_square(s, [1, 2], order, 10)[2], atol=1e-15)
    c = compare(m, m, consistency=1.0)
    assert c["g2_chi2_dof"] == 0.0 and c["g4c_max_abs_dev"] == 0.0 and c["consistency"] == 1.0
    assert all(v["diff"] == 0.0 for v in c["scalars"].values())
    with pytest.raises(InputError, match="L = 8 and L = 16"):
        compare(m, measure(random_spins(20, 16, 8), n_blocks=5))
    assert "g4c_col" not in m and "g4c_col_p_value" not in c  # only when asked for


def test_collinear_four_point_function_in_measure_and_compare():
    s = random_spins(60, 8, seed=8)
    order = np.arange(60)[::-1]
    m = measure(s, r=[1, 2], order=order, n_blocks=10, collinear=True, keep_samples=True)
    _, v, e = g4c_collinear(s, [1, 2], order, 10)
    np.testing.assert_allclose(m["g4c_col"], v, atol=1e-15)
    np.testing.assert_allclose(m["g4c_col_err"], e, atol=1e-15)
    assert m["cov"]["g4c_col"].shape == (2, 2) and len(m["samples"]["g4c_col"]) == 4
    c = compare(m, m)
    assert c["g4c_col_max_abs_dev"] == 0.0 and c["errors"] == "paired"
    assert "g4c_col_p_value" not in compare(m, measure(s, r=[1, 2], n_blocks=10))  # only when both have it


mc = pytest.importorskip("isingsr.mc")


def test_naive_baseline_fails_and_an_independent_truth_passes():
    """Monte Carlo at beta_c, L = 32: a second independent ensemble agrees with the truth,
    the naive block-filled super-resolution (scale 4) visibly does not."""
    truth = mc.sample_configurations(32, 500, seed=21)
    other = mc.sample_configurations(32, 500, seed=22)
    naive = block_fill(block_spin(truth, 4, seed=0), 4)
    mt, mo, mn = (measure(x, n_blocks=50) for x in (truth, other, naive))
    agree, naive_cmp = compare(mt, mo), compare(mt, mn)
    assert agree["g2_chi2_dof"] < 4 and agree["g4c_chi2_dof"] < 4
    assert agree["errors"] == "independent" and agree["g2_p_value"] > 1e-3 and agree["g4c_p_value"] > 1e-3
    assert naive_cmp["g4c_p_value"] < 1e-6
    assert all(abs(v["z"]) < 4 for v in agree["scalars"].values())
    assert naive_cmp["g4c_chi2_dof"] > 100 and naive_cmp["g2_chi2_dof"] > 100
    assert np.max(np.abs(naive_cmp["g4c_z"])) > 10
    assert naive_cmp["scalars"]["energy"]["z"] < -10  # blocks of aligned spins: far too low an energy


def test_exact_posterior_draws_pass_the_paired_comparison_with_tighter_errors():
    """truth ~ p(s) at beta_c (L = 16), c = majority blocks (b = 2), candidate ~ p(s | c) exactly: the
    candidate has the truth's marginal, so every paired z is a standard normal draw (|z| < 4), and
    because each draw shares its truth configuration's large scales the paired errors are well below
    the quadrature sum of the two ensembles' errors."""
    from isingsr.mc import constrained_sample

    chains, n = 4, 400  # sample_configurations saves in (save, chain) order
    fine = mc.sample_configurations(16, n, seed=3, workers=2)
    order = np.arange(n).reshape(-1, chains).T.ravel()  # chain-major: Monte Carlo time order
    post = constrained_sample(block_spin(fine, 2, seed=4), 2, seed=5, workers=2)[:, 0]
    mt, mp = (measure(x, order=order, n_blocks=20, keep_samples=True, collinear=True) for x in (fine, post))
    paired = compare(mt, mp)
    mt.pop("samples"), mp.pop("samples")
    indep = compare(mt, mp)
    assert (paired["errors"], indep["errors"]) == ("paired", "independent")
    for key in ("g2", "g4c", "g4c_col"):
        np.testing.assert_allclose(paired[f"{key}_residual"], indep[f"{key}_residual"])
        z = paired[f"{key}_z"][1:] if key == "g2" else paired[f"{key}_z"]  # G2(0) = 1 exactly
        assert np.all(np.abs(z) < Z), (key, z)
        gain = indep[f"{key}_residual_err"][-3:] / paired[f"{key}_residual_err"][-3:]
        assert np.all(gain > 2), (key, gain)  # the largest distances, 3.2-5.4 here: the shared large scales
        assert paired[f"{key}_p_value"] > 1e-3, key  # the full-covariance test agrees
    for k, v in paired["scalars"].items():
        assert abs(v["z"]) < Z, (k, v)
    assert paired["scalars"]["energy"]["err"] < indep["scalars"]["energy"]["err"]
