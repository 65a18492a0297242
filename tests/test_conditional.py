"""Conditional scores against the exact posterior p(fine | coarse)."""

import numpy as np
import pytest

from isingsr.analysis.conditional import conditional_moments, conditional_scores
from isingsr.coarse import block_fill, block_spin
from isingsr.exceptions import InputError
from isingsr.mc import constrained_sample, sample_configurations

Z = 4.0


def test_conditional_moments_trivial():
    s = np.ones((2, 3, 4, 4), dtype=np.int8)
    s[1] = -1
    s[1, 0, :2, :2] = 1  # sample 0 of input 1: one block flipped
    mom = conditional_moments(s, 2)
    assert mom["n_samples"] == 3
    assert mom["energy_mean"][0] == -2.0 and mom["energy_std"][0] == 0.0
    e1 = np.array([-1.0, -2.0, -2.0])  # the flipped 2x2 block breaks 8 of 32 bonds: u = -(24 - 8) / 16
    assert mom["energy_mean"][1] == pytest.approx(e1.mean()) and mom["energy_std"][1] == pytest.approx(e1.std(ddof=1))
    assert mom["block_m_mean"].shape == (2, 2, 2) and np.all(mom["block_m_mean"][0] == 1)
    assert np.all(mom["block_m_std"][0] == 0)
    assert mom["block_m_mean"][1].tolist() == [[-1 / 3, -1.0], [-1.0, -1.0]]
    assert mom["block_m_std"][1, 0, 0] == pytest.approx(np.std([1, -1, -1], ddof=1))
    single = conditional_moments(s[1], 2)
    assert single["energy_mean"] == pytest.approx(e1.mean()) and single["block_m_mean"].shape == (2, 2)
    one = conditional_moments(s[:, :1], 4)
    assert np.all(np.isnan(one["energy_std"])) and one["block_m_mean"].shape == (2, 1, 1)


def test_moments_bad_input():
    with pytest.raises(InputError, match="does not divide"):
        conditional_moments(np.ones((2, 3, 6, 6), np.int8), 4)
    with pytest.raises(InputError, match="shape"):
        conditional_moments(np.ones((6, 6), np.int8), 2)
    with pytest.raises(InputError, match="2 posterior draws"):
        conditional_scores(np.ones((2, 4, 4), np.int8), conditional_moments(np.ones((2, 1, 4, 4), np.int8), 2), 2)


@pytest.fixture(scope="module")
def posterior():
    fine = sample_configurations(16, 300, seed=11)
    coarse = block_spin(fine, 2, seed=2)
    draws = constrained_sample(coarse, 2, n_samples=9, seed=3)
    return fine, coarse, draws


def test_exact_draws_score_one_and_naive_fill_does_not(posterior):
    """The truth and an independent posterior draw are exact draws for their inputs: mse ratio 1, bias 0."""
    fine, coarse, draws = posterior
    ref = conditional_moments(draws[:, 1:], 2)
    for cand in (fine, draws[:, 0]):
        sc = conditional_scores(cand, ref, 2, n_blocks=50)
        for key in ("energy", "block_m"):
            s = sc[key]
            assert abs(s["mse_ratio"] - 1) < Z * s["mse_ratio_err"], (key, s)
            assert abs(s["bias"]) < Z * s["bias_err"], (key, s)
            assert 0 < s["mse_ratio_err"] < 0.2
    # block fill: every block at its coarse spin -- too ordered (energy far below the conditional mean) and
    # collapsed onto the coarse value (block magnetisations closer to the conditional mean than an exact draw)
    naive = conditional_scores(block_fill(coarse, 2), ref, 2, n_blocks=50)
    e, m = naive["energy"], naive["block_m"]
    assert e["bias"] < -10 * e["bias_err"] and e["mse_ratio"] > 4
    assert m["mse_ratio"] < 1 - Z * m["mse_ratio_err"]
