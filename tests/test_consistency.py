"""The majority constraint: the projection and the sampler that uses it (isingsr.diffusion.consistency)."""

import numpy as np
import pytest
import torch

from isingsr.analysis.compare import block_consistency
from isingsr.coarse import block_spin
from isingsr.diffusion.consistency import (MARGIN, MeanConstrainedDenoiser, ProjectedDenoiser, hold_block_means,
                                          joint_targets, majority_projector, project_block_means, project_majority,
                                          resolve_ties, tilt_block_means, truncated_targets, _truncated_quantile)
from isingsr.exceptions import InputError
from isingsr.mc import sample_configurations


@pytest.mark.parametrize("b", [2, 3, 4])
def test_projection_satisfies_the_constraint_with_the_fewest_smallest_changes(b):
    rng = np.random.default_rng(b)
    L = 4 * b
    x = torch.from_numpy(rng.normal(size=(50, L, L)))
    coarse = torch.from_numpy(rng.choice(np.array([-1, 1], dtype=np.int8), size=(50, L // b, L // b)))
    y = project_majority(x, coarse, b)
    spins = np.where(y.numpy() >= 0, 1, -1).astype(np.int8)
    assert block_consistency(spins, coarse.numpy(), b) == 1.0
    k_min = (b * b + 1) // 2
    sign = coarse.numpy().repeat(b, 1).repeat(b, 2)
    right = (y.numpy() * sign > 0).reshape(50, L // b, b, L // b, b).sum((2, 4))
    assert right.min() >= k_min  # ties allowed for even b (the fair coin may give either sign), never for odd
    changed = (y != x).numpy()
    assert np.all(y.numpy()[changed] * sign[changed] == MARGIN)  # moved sites land on the margin ...
    assert np.all(x.numpy()[changed] * sign[changed] <= 0)  # ... and were of the wrong sign
    before = (x.numpy() * sign > 0).reshape(50, L // b, b, L // b, b).sum((2, 4))
    moved = changed.reshape(50, L // b, b, L // b, b).sum((2, 4))
    np.testing.assert_array_equal(moved, np.maximum(0, k_min - before))  # the fewest sites
    u = (x.numpy() * sign).reshape(50, L // b, b, L // b, b).transpose(0, 1, 3, 2, 4).reshape(50, L // b, L // b, -1)
    c = changed.reshape(50, L // b, b, L // b, b).transpose(0, 1, 3, 2, 4).reshape(50, L // b, L // b, -1)
    for i, j, k in zip(*np.nonzero(moved)):  # the smallest wrong-sign magnitudes
        wrong = u[i, j, k][u[i, j, k] <= 0]
        assert np.sort(-u[i, j, k][c[i, j, k]]).tolist() == np.sort(-wrong)[: moved[i, j, k]].tolist()
    assert torch.equal(project_majority(y, coarse, b), y)  # a projection: idempotent


def test_resolve_ties_moves_one_nearest_wrong_site_of_each_tied_block_whose_coin_is_true():
    """A tied block (b^2 / 2 spins of the input's sign; a 0 counts as +1) whose coin is true becomes a strict
    majority by its wrong-sign site nearest to zero moving to the margin; every other block and site stays."""
    rng = np.random.default_rng(21)
    x = torch.from_numpy(rng.normal(size=(30, 8, 8)))
    x[0, 0, :2] = torch.tensor([0.0, -0.0])  # zeros are +1 spins
    coarse = torch.from_numpy(rng.choice(np.array([-1, 1], dtype=np.int8), size=(30, 4, 4)))
    coins = torch.from_numpy(rng.random((30, 4, 4)) < 0.5)
    got = resolve_ties(x, coarse, 2, coins)
    spins = lambda f: torch.where(f >= 0, 1, -1)  # noqa: E731
    right = (spins(x).reshape(30, 4, 2, 4, 2).sum(dim=(2, 4)) * coarse)
    right_after = (spins(got).reshape(30, 4, 2, 4, 2).sum(dim=(2, 4)) * coarse)
    tied = right == 0
    assert int(tied.sum()) > 50 and int((tied & coins).sum()) > 20
    np.testing.assert_array_equal(right_after, torch.where(tied & coins, 2, right))
    changed = (got != x).reshape(30, 4, 2, 4, 2).sum(dim=(2, 4))
    np.testing.assert_array_equal(changed, (tied & coins).long())
    u = (x * torch.from_numpy(np.kron(coarse.numpy(), np.ones((2, 2))))).reshape(30, 4, 2, 4, 2)
    moved = (got != x).reshape(30, 4, 2, 4, 2)
    wrong = (spins(x).reshape(30, 4, 2, 4, 2) * coarse[:, :, None, :, None]) < 0
    nearest = torch.where(wrong, u, -torch.inf).amax(dim=(2, 4))
    np.testing.assert_array_equal(torch.where(moved, u, 0).sum(dim=(2, 4))[tied & coins], nearest[tied & coins])
    assert torch.equal(resolve_ties(x, coarse, 2, torch.zeros(30, 4, 4, dtype=torch.bool)), x)
    odd = torch.from_numpy(rng.normal(size=(2, 9, 9)))
    assert resolve_ties(odd, torch.ones(2, 3, 3), 3, torch.ones(2, 3, 3, dtype=torch.bool)) is odd
    shaped = resolve_ties(x[:, None], coarse, 2, coins)
    assert shaped.shape == (30, 1, 8, 8) and torch.equal(shaped[:, 0], got)


def test_consistent_fields_are_left_alone_and_shapes_kept():
    spins = sample_configurations(8, 5, seed=1)
    coarse = torch.from_numpy(block_spin(spins, 2, seed=0))
    x = torch.from_numpy(spins.astype(np.float64))[:, None]
    assert torch.equal(project_majority(x, coarse, 2), x)
    assert torch.equal(majority_projector(coarse.numpy(), 2)(x), x)
    with pytest.raises(InputError, match="do not match"):
        project_majority(x, coarse, 4)
    with pytest.raises(InputError, match="spins"):
        majority_projector(np.zeros((5, 4, 4)), 2)


def _oracle_case(p, n: int, seed: int):
    """The Wiener oracle of process ``p`` (L = 16) as a denoiser class, a checkpoint's 4x pass-band statistics,
    and ``n`` critical configurations with their 4x majority-rule inputs."""
    from isingsr.diffusion.denoiser import wiener_denoiser

    class Oracle:
        process = p
        __call__ = staticmethod(wiener_denoiser(p))

    fine = sample_configurations(16, n, seed=seed)
    ones = torch.ones(16, 16, dtype=torch.float64)
    return Oracle, {"gains": {"4": ones}, "passband_corr": {"4": 0.5 * ones}}, fine, block_spin(fine, 4, seed=0)


def test_superresolution_with_projection_returns_spins_that_coarse_grain_to_the_input(make_process):
    from isingsr.diffusion.pipeline import superresolve_fields, to_spins

    Oracle, ck, fine, coarse = _oracle_case(make_process(L=16), 40, seed=2)
    ones = ck["gains"]["4"]
    free, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=8)
    kept, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=8, consistency="project")
    assert block_consistency(to_spins(free), coarse, 4) < 0.95  # a Gaussian oracle does not know the rule ...
    assert block_consistency(to_spins(kept), coarse, 4) == 1.0  # ... the projection imposes it
    # final: the same trajectory as the free run, only its wrong blocks moved (fewest, smallest sites), and
    # then about half the blocks left tied made strict majorities (one site each)
    last, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=8, consistency="final")
    assert block_consistency(to_spins(last), coarse, 4) == 1.0
    projected = project_majority(torch.from_numpy(free[:, None]).double(), torch.from_numpy(coarse), 4)[:, 0]
    tied = block_spin(to_spins(projected.float().numpy()), 4, rule="average") == 0
    moved = (last != projected.float().numpy()).reshape(40, 4, 4, 4, 4).sum(axis=(2, 4))
    assert set(np.unique(moved[tied])) == {0, 1} and not moved[~tied].any()
    assert 0.3 < moved[tied].mean() < 0.7 and tied.sum() > 40
    assert not (block_spin(to_spins(last), 4, rule="average")[moved == 1] == 0).any()
    changed = to_spins(last) != to_spins(free)
    assert 0 < changed.mean() < 0.08
    # late: consistent too, and projected only below LATE_BLUR: it agrees with the free run where the
    # projection never acted (no step below the threshold) and differs from it otherwise
    late, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=8, consistency="late")
    assert block_consistency(to_spins(late), coarse, 4) == 1.0
    assert not np.array_equal(late, last)
    for mode in ("project", "final", "late", "mean", "truncated", "held", "conditioned", "joint", "drawn"):
        with pytest.raises(InputError, match="integer scale"):
            superresolve_fields(Oracle(), {"gains": {"2.5": ones}, "passband_corr": {"2.5": ones}},
                                fine[:, ::3, ::3][:, :6, :6], 2.5, steps=2, consistency=mode)
    with pytest.raises(InputError, match="unknown consistency"):
        superresolve_fields(Oracle(), ck, coarse, 4.0, steps=2, consistency="strict")


def test_restart_keeps_the_input_resamples_below_its_blur_and_refuses_bad_times(make_process):
    """--restart-blur: the output noised forward and sampled again over the grid's tail; with a consistency
    option the spins still coarse-grain to the input; per-sample seeds make it independent of the batch;
    the restart must lie below the start and has no place in generation."""
    from isingsr.diffusion.inference import SkildSuperResolver
    from isingsr.diffusion.pipeline import superresolve_fields, to_spins

    p = make_process(L=16)
    Oracle, ck, fine, coarse = _oracle_case(p, 30, seed=6)
    once, t_s = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=12, consistency="conditioned")
    again, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=12, consistency="conditioned", restart_blur=1.0)
    assert block_consistency(to_spins(again), coarse, 4) == 1.0
    changed = to_spins(again) != to_spins(once)
    assert 0.02 < changed.mean() < 0.5  # the fine scales are drawn again, the blocks' signs are the input's
    batched, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=12, consistency="conditioned",
                                     restart_blur=1.0, batch=7)
    np.testing.assert_array_equal(batched, again)
    free, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=12, restart_blur=1.0)
    assert block_consistency(to_spins(free), coarse, 4) < 1.0
    start_blur = float(p.blur_length(t_s))
    for bad in (start_blur * 1.01, 50.0):
        with pytest.raises(InputError, match="restart-blur .* must lie between 0 and the start's blur"):
            superresolve_fields(Oracle(), ck, coarse, 4.0, steps=4, restart_blur=bad)
    model = SkildSuperResolver(Oracle(), {**ck, "step": 0}, restart_blur=1.0)
    with pytest.raises(InputError, match="generation has no start protocol"):
        model.generate(2)


def test_release_holds_the_block_means_only_above_its_blur_and_refuses_bad_input(make_process):
    """--release-blur: the block-mean constraint acts at times at or above the release time and passes the
    network's estimate through below it; the output still coarse-grains to the input (late and final
    projections), and differs both from the fully held run and from the projections alone."""
    from isingsr.diffusion.inference import SkildSuperResolver
    from isingsr.diffusion.pipeline import superresolve_fields, to_spins

    p = make_process(L=16)
    Oracle, ck, _, coarse = _oracle_case(p, 30, seed=7)
    den = MeanConstrainedDenoiser(Oracle(), coarse[:2], 4, "conditioned", until=0.3)
    x_t = torch.from_numpy(np.random.default_rng(8).normal(size=(2, 1, 16, 16)))
    raw = Oracle()(x_t, torch.tensor([0.2, 0.2]))
    assert torch.equal(den(x_t, torch.tensor([0.2, 0.2])), raw)  # released: the estimate as it is
    held_early = den(x_t, torch.tensor([0.4, 0.4]))
    assert not torch.allclose(held_early, Oracle()(x_t, torch.tensor([0.4, 0.4])))  # held above it
    held, t_s = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=12, consistency="conditioned")
    late, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=12, consistency="late")
    start_blur = float(p.blur_length(t_s))
    released, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=12, consistency="conditioned",
                                      release_blur=0.6 * start_blur)
    assert block_consistency(to_spins(released), coarse, 4) == 1.0
    assert not np.array_equal(released, held) and not np.array_equal(released, late)
    with pytest.raises(InputError, match="release_blur .* needs --consistency one of"):
        superresolve_fields(Oracle(), ck, coarse, 4.0, steps=4, consistency="late", release_blur=1.0)
    for bad in (start_blur * 1.01, 50.0):
        with pytest.raises(InputError, match="release_blur .* must lie between 0 and the start's blur"):
            superresolve_fields(Oracle(), ck, coarse, 4.0, steps=4, consistency="conditioned", release_blur=bad)
    model = SkildSuperResolver(Oracle(), {**ck, "step": 0}, consistency="conditioned", release_blur=1.0)
    assert model.options["release_blur"] == 1.0
    with pytest.raises(InputError, match="generation has no start protocol"):
        model.generate(2)


def test_lift_from_the_wiener_filtered_estimate_adds_its_change_to_the_networks(make_process):
    """lift_a: the Wiener oracle is its own filtered estimate, so nothing changes; a denoiser with noise in
    its low-signal modes gets exactly the lift of its filtered estimate added, its noise passed through."""
    p = make_process(L=16)
    Oracle, _, _, coarse = _oracle_case(p, 4, seed=9)
    x_t = torch.from_numpy(np.random.default_rng(10).normal(size=(4, 1, 16, 16)))
    t = torch.tensor([0.4] * 4)
    for mode in ("held", "conditioned"):
        plain = MeanConstrainedDenoiser(Oracle(), coarse, 4, mode)(x_t, t)
        np.testing.assert_allclose(MeanConstrainedDenoiser(Oracle(), coarse, 4, mode, lift_a=0.1)(x_t, t), plain,
                                   atol=1e-12)
    a = p.a(torch.tensor(0.4, dtype=torch.float64))
    low = a < 0.1
    assert 0 < int(low.sum()) < low.numel()
    noise = p.basis.inverse(torch.where(low, 5.0, 0.0) * torch.from_numpy(
        np.random.default_rng(11).normal(size=(4, 1, 16, 16))))

    class Noisy:
        process = p

        def __call__(self, x, tt):
            return Oracle()(x, tt) + noise
    lifted = MeanConstrainedDenoiser(Noisy(), coarse, 4, "conditioned", lift_a=0.1)(x_t, t)
    np.testing.assert_allclose(lifted, plain + noise, atol=1e-10)
    direct = MeanConstrainedDenoiser(Noisy(), coarse, 4, "conditioned")(x_t, t)
    assert float((direct - lifted).abs().max()) > 1e-3  # the truncation of the noisy estimate differs
    from isingsr.diffusion.inference import SkildSuperResolver
    from isingsr.diffusion.pipeline import superresolve_fields, to_spins

    Oracle, ck, _, coarse = _oracle_case(p, 12, seed=12)
    out, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=6, consistency="conditioned", lift_a=0.1)
    assert block_consistency(to_spins(out), coarse, 4) == 1.0
    for mode, bad in (("none", 0.1), ("mean", 0.1), ("conditioned", 1.5), ("held", -0.1)):
        with pytest.raises(InputError, match="lift_a .* signal fraction"):
            superresolve_fields(Oracle(), ck, coarse, 4.0, steps=2, consistency=mode, lift_a=bad)
    model = SkildSuperResolver(Oracle(), {**ck, "step": 0}, consistency="held", lift_a=0.1)
    with pytest.raises(InputError, match="generation has no start protocol"):
        model.generate(2)


def test_late_projection_acts_only_below_its_time():
    calls = []

    class Den:
        process = "p"

        def __call__(self, x, t):
            return x

    def project(x):
        calls.append(1)
        return -x
    late = ProjectedDenoiser(Den(), project, 0.3)
    x = torch.ones(2, 1, 4, 4)
    assert torch.equal(late(x, torch.tensor([0.5, 0.5])), x) and not calls
    assert torch.equal(late(x, torch.tensor([0.2, 0.2])), -x) and calls == [1]
    assert late.process == "p"


def _block_means(x, b):
    n, L = x.shape[0], x.shape[-1]
    return x.reshape(n, L // b, b, L // b, b).mean((2, 4))


def _random_case(seed, n=20, L=8, b=2):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.normal(size=(n, L, L)))
    coarse = torch.from_numpy(rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, L // b, L // b)))
    return x, coarse


@pytest.mark.parametrize("margin", [0.0, 0.1])
def test_euclidean_block_mean_projection_shifts_only_the_wrong_blocks_uniformly(margin):
    x, coarse = _random_case(0, L=12, b=3)
    y = project_block_means(x, coarse, 3, margin=margin)
    s = coarse.double()
    before, after = s * _block_means(x, 3), s * _block_means(y, 3)
    assert float(after.min()) >= margin - 1e-12
    wrong = before < margin
    assert bool(wrong.any()) and bool((~wrong).any())
    np.testing.assert_allclose(after[wrong].numpy(), margin, atol=1e-12)  # moved exactly onto the boundary
    shift = (y - x).reshape(20, 4, 3, 4, 3)
    assert float((shift - shift[:, :, :1, :, :1]).abs().max()) < 1e-12  # uniformly within a block
    moved = shift.abs().amax(dim=(2, 4)) > 0
    assert torch.equal(moved, wrong)  # and only the wrong blocks
    np.testing.assert_allclose(project_block_means(y, coarse, 3, margin=margin), y, atol=1e-12)  # idempotent


def test_block_helpers_are_the_packages_coarse_graining_on_tensors():
    from isingsr.coarse import block_fill
    from isingsr.diffusion.consistency import _block_means as means, _fill as fill

    spins = sample_configurations(12, 3, seed=6)
    np.testing.assert_allclose(means(torch.from_numpy(spins.astype(np.float64)), 3).numpy(),
                               block_spin(spins, 3, rule="average"))
    coarse = block_spin(spins, 3, seed=0)
    np.testing.assert_array_equal(fill(torch.from_numpy(coarse), 3).numpy(), block_fill(coarse, 3))


def test_metric_projection_with_white_variance_is_the_euclidean_one(make_process):
    p = make_process(L=8)
    x, coarse = _random_case(1)
    white = torch.full((8, 8), 0.7, dtype=torch.float64)
    np.testing.assert_allclose(project_block_means(x, coarse, 2, white, p.basis, tol=1e-12, iters=2000),
                               project_block_means(x, coarse, 2), atol=1e-8)


def test_metric_projection_meets_its_optimality_conditions(make_process):
    """KKT: x' = x + Sigma A^T (lambda y) with lambda >= 0, every constraint met, active where lambda > 0."""
    p = make_process(L=8)
    x, coarse = _random_case(2)
    t = 0.3
    var = p.sigma2(t)
    y = project_block_means(x, coarse, 2, var, p.basis, tol=1e-12, iters=5000)
    s = coarse.double()
    c = s * _block_means(y, 2)
    assert float(c.min()) > -1e-7
    # solve x' - x = Sigma A^T (lambda s) for lambda, per configuration, by least squares
    eye = torch.eye(16, dtype=torch.float64).reshape(16, 4, 4)
    cols = p.basis.inverse(var * p.basis.forward(eye.repeat_interleave(2, -1).repeat_interleave(2, -2) / 4))
    M = cols.reshape(16, 64).T
    for i in range(len(x)):  # multipliers only on the active (boundary) blocks, none negative
        active = (c[i] < 1e-6).reshape(16)
        Ma = M[:, active] * s[i].reshape(16)[active]
        lam = torch.linalg.lstsq(Ma, (y[i] - x[i]).reshape(64, 1)).solution
        np.testing.assert_allclose((Ma @ lam).reshape(8, 8), y[i] - x[i], atol=1e-6)
        assert len(lam) == 0 or float(lam.min()) > -1e-6
    np.testing.assert_allclose(project_block_means(y, coarse, 2, var, p.basis), y, atol=1e-6)  # idempotent
    consistent = torch.where(s.repeat_interleave(2, -1).repeat_interleave(2, -2) > 0, x.abs(), -x.abs())
    assert torch.equal(project_block_means(consistent, coarse, 2, var, p.basis), consistent)  # nothing to do


def test_mean_constraint_keeps_the_gaussian_oracles_fine_modes_and_the_input(make_process):
    """--consistency mean: the spins coarse-grain to the input, yet the detail the sampler adds below the
    block size has the power of the unconstrained run (the constraint moves block means, not the noise)."""
    from isingsr.diffusion.pipeline import superresolve_fields, to_spins
    from isingsr.diffusion.spectral import mode_power

    p = make_process(L=16)
    Oracle, ck, _, coarse = _oracle_case(p, 200, seed=3)
    free, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=10)
    held, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=10, consistency="mean")
    assert block_consistency(to_spins(held), coarse, 4) == 1.0
    assert block_consistency(to_spins(free), coarse, 4) < 0.95
    k = p.basis.wavenumber(16)
    high = k > np.pi / 2  # finer than the 4-site blocks
    ratio = float(mode_power(held)[high].sum() / mode_power(free)[high].sum())
    assert abs(ratio - 1) < 0.05, ratio
    den = MeanConstrainedDenoiser(Oracle(), coarse[:2], 4)
    x_t = torch.from_numpy(np.random.default_rng(4).normal(size=(2, 1, 16, 16)))
    for t in (0.5, 0.3):  # each call starts from the last one's multipliers: it converges to the same projection
        cold = project_block_means(Oracle()(x_t, torch.tensor([t, t])), torch.from_numpy(coarse[:2]), 4, p.sigma2(t),
                                   p.basis, iters=10000)
        for _ in range(20):
            warm = den(x_t, torch.tensor([t, t]))
        np.testing.assert_allclose(warm, cold, atol=1e-4)
    assert float((torch.from_numpy(coarse[:2]).double() * _block_means(cold[:, 0], 4)).min()) > -1e-7
    q = make_process(L=16, basis="dct")
    Dct, ck, _, coarse = _oracle_case(q, 2, seed=5)
    for mode in ("mean", "truncated", "held", "conditioned"):
        with pytest.raises(InputError, match="fourier"):
            superresolve_fields(Dct(), ck, coarse, 4.0, steps=2, consistency=mode)


def test_truncated_targets_are_the_truncated_normal_means_of_the_wrong_blocks(make_process):
    """With a white posterior variance v, a 2 x 2 block mean has variance s^2 = v / 4; a wrong block's target is
    the mean of N(mu, s^2) truncated to positive values (scipy), a right block's is 0."""
    from scipy.stats import truncnorm

    p = make_process(L=8)
    x, coarse = _random_case(3, n=4)
    v = 0.36
    white = torch.full((8, 8), v, dtype=torch.float64)
    got = truncated_targets(x[:, None], coarse, 2, white, p.basis)
    assert got.shape == (4, 4, 4)
    mu = (coarse.double() * _block_means(x, 2)).numpy()
    s = np.sqrt(v / 4)
    want = np.where(mu < 0, truncnorm.mean((0 - mu) / s, np.inf, loc=mu, scale=s), 0.0)
    assert (mu < 0).sum() > 10
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-12)
    every = truncated_targets(x[:, None], coarse, 2, white, p.basis, every_block=True)  # right blocks too
    np.testing.assert_allclose(every.numpy(), truncnorm.mean((0 - mu) / s, np.inf, loc=mu, scale=s), rtol=1e-9)
    assert bool((every.numpy() >= mu - 1e-12).all())  # conditioning on the input's sign never lowers a block
    far = truncated_targets(torch.full((1, 8, 8), -3.0), torch.ones(1, 4, 4), 2, white, p.basis)
    np.testing.assert_allclose(far.numpy(), s * s / 3.0, rtol=0.03)  # far on the wrong side: about s^2 / |mu|
    assert torch.equal(truncated_targets(x, coarse, 2, torch.zeros(8, 8, dtype=torch.float64), p.basis),
                       torch.zeros(4, 4, 4, dtype=torch.float64))  # a known field: the plain constraint


@pytest.mark.parametrize("mu", [-2.0, 0.0, 0.7, 3.0])
def test_truncated_quantile_maps_a_normal_draw_to_the_truncated_normal(mu):
    """_truncated_quantile(mu, s, z) with z ~ N(0, 1) is a draw of N(mu, s^2) truncated to positive values
    (Kolmogorov-Smirnov against scipy), increasing in z, the untruncated mu + s z far on the right side,
    finite and just above 0 far on the wrong side."""
    from scipy.stats import kstest, truncnorm

    s = 0.3
    z = torch.from_numpy(np.random.default_rng(5).normal(size=20_000))
    got = _truncated_quantile(torch.full_like(z, mu), s, z).numpy()
    assert kstest(got, truncnorm(-mu / s, np.inf, loc=mu, scale=s).cdf).pvalue > 1e-3
    order = np.argsort(z.numpy())
    assert bool((np.diff(got[order]) >= 0).all()) and bool((got >= 0).all())
    far = _truncated_quantile(torch.full_like(z, 10 * s), s, z)
    np.testing.assert_allclose(far.numpy(), 10 * s + s * z.numpy(), atol=1e-9)
    wrong = _truncated_quantile(torch.full_like(z, -60 * s), s, z)
    assert bool(torch.isfinite(wrong).all()) and float(wrong.max()) < 0.1 * s


def test_drawn_mode_draws_each_block_mean_from_its_truncated_law_and_nothing_else(make_process):
    """condition_draw: after a ``drawn`` estimate at time t, the draw e of x_0 - x0_hat gets block means
    (along the input) of the truncated quantile of its own ones, minus the estimate's target -- up to one
    shift per sample, the field mean the process does not move -- through the Gaussian model's conditional
    mean (hold_block_means), but in the block patterns of (almost) no posterior variance; another time,
    another mode, or blocks far on the right side leave e alone."""
    p = make_process(L=16)
    Oracle, _, _, coarse = _oracle_case(p, 6, seed=13)
    rng = np.random.default_rng(14)
    x_t = torch.from_numpy(rng.normal(size=(6, 1, 16, 16)))
    t = 0.4
    tt = torch.full((6,), t, dtype=torch.float64)
    var = p.sigma2(torch.tensor(t, dtype=torch.float64))
    e = p.basis.inverse(var.sqrt() * p.basis.forward(torch.from_numpy(rng.normal(size=(6, 1, 16, 16)))))
    plain = MeanConstrainedDenoiser(Oracle(), coarse, 4, "conditioned")
    den = MeanConstrainedDenoiser(Oracle(), coarse, 4, "drawn")
    x0 = den(x_t, tt)
    np.testing.assert_allclose(x0, plain(x_t, tt), atol=1e-12)  # the estimate is conditioned's
    assert plain.condition_draw(e, t) is e and den.condition_draw(e, 0.39) is e
    got = den.condition_draw(e, t)
    sign = torch.from_numpy(coarse).double()
    s = float(truncated_targets(torch.zeros(1, 16, 16), torch.ones(1, 4, 4), 4, var, p.basis, True)[0, 0, 0]) \
        / np.sqrt(2 / np.pi)  # the mean of N(0, s^2) truncated is s sqrt(2 / pi)
    est = Oracle()(x_t, tt)
    pre = sign * _block_means(est.reshape(6, 16, 16).double(), 4)
    target = truncated_targets(est, torch.from_numpy(coarse), 4, var, p.basis, every_block=True)
    want = _truncated_quantile(pre, s, sign * _block_means(e.reshape(6, 16, 16), 4) / s) - target
    off = sign * _block_means(got.reshape(6, 16, 16), 4) - want
    assert float(want.abs().max()) > 0.1 * s
    dev = (off - off.mean(dim=(1, 2), keepdim=True)).abs()
    assert float(dev.median()) < 1e-9  # exact, but for the block patterns the Gaussian model deems known at t
    assert float(dev.max()) < 0.1 * s and float(off.abs().max()) < 0.5 * s
    right = MeanConstrainedDenoiser(Oracle(), torch.ones(6, 4, 4), 4, "drawn")
    right(x_t + 200.0, tt)  # every block far on the side of its (positive) input
    np.testing.assert_allclose(right.condition_draw(e, t), e, atol=1e-6)


def test_drawn_superresolution_keeps_the_input_and_needs_the_gaussian_ancestral_step(make_process):
    """--consistency drawn: consistent output, independent of the batch; the draw lives in the ancestral step of
    variance 'gaussian', so any other sampler or step variance is one line."""
    from isingsr.diffusion.pipeline import superresolve_fields, to_spins

    Oracle, ck, _, coarse = _oracle_case(make_process(L=16), 10, seed=15)
    out, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=8, consistency="drawn")
    assert block_consistency(to_spins(out), coarse, 4) == 1.0
    np.testing.assert_array_equal(superresolve_fields(Oracle(), ck, coarse, 4.0, steps=8, consistency="drawn",
                                                      batch=3)[0], out)
    assert not np.array_equal(superresolve_fields(Oracle(), ck, coarse, 4.0, steps=8, consistency="conditioned")[0],
                              out)
    for bad in (dict(sampler="ddim"), dict(sampler="dpmpp-2m-sde"), dict(variance="posterior")):
        with pytest.raises(InputError, match="consistency drawn draws the block means"):
            superresolve_fields(Oracle(), ck, coarse, 4.0, steps=2, consistency="drawn", **bad)


def test_truncated_mode_keeps_the_input_and_leaves_its_blocks_stronger_than_mean(make_process):
    """--consistency truncated: the spins coarse-grain to the input, each estimate's wrong blocks reach their
    targets, and the output's blocks are more magnetised along the input than under mean (the weak corrected
    blocks mean leaves are what it is for)."""
    from isingsr.diffusion.pipeline import superresolve_fields, to_spins

    p = make_process(L=16)
    Oracle, ck, fine, coarse = _oracle_case(p, 200, seed=3)
    held, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=10, consistency="mean")
    trunc, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=10, consistency="truncated")
    assert block_consistency(to_spins(trunc), coarse, 4) == 1.0
    for mode in ("held", "conditioned", "joint"):
        kept, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=10, consistency=mode)
        assert block_consistency(to_spins(kept), coarse, 4) == 1.0
    with pytest.raises(InputError, match="unknown mode"):
        MeanConstrainedDenoiser(Oracle(), coarse[:2], 4, "strict")

    def along(fields):
        return float((block_spin(to_spins(fields), 4, rule="average") * coarse).mean())
    assert along(trunc) > along(held) + 0.005, (along(trunc), along(held))
    den = MeanConstrainedDenoiser(Oracle(), coarse[:2], 4, "truncated")
    t = 0.5  # a state of the forward process (its zero mode, which the correction cannot move, is the truth's)
    x_0 = torch.from_numpy(fine[:2, None].astype(np.float64))
    x_t = p.q_sample(x_0, t, generator=torch.Generator().manual_seed(4))[0]
    raw = Oracle()(x_t, torch.tensor([t, t]))
    target = truncated_targets(raw, torch.from_numpy(coarse[:2]), 4, p.sigma2(t), p.basis)
    assert float(target.max()) > 0
    for _ in range(20):
        out = den(x_t, torch.tensor([t, t]))
    reached = torch.from_numpy(coarse[:2]).double() * _block_means(out[:, 0], 4) - target
    assert float(reached.min()) > -1e-4


def test_held_projection_moves_the_wrong_blocks_to_their_targets_and_holds_the_others(make_process):
    """--consistency held: the block means change by exactly delta (wrong blocks up to their targets, others 0)
    less its average (the frozen zero mode keeps the field's mean), through a correction Sigma A^T lambda,
    the least one in the posterior metric; a field with no wrong block is left alone."""
    p = make_process(L=8)
    x, coarse = _random_case(6)
    var = p.sigma2(0.3)
    assert float(var[0, 0]) == 0.0  # the process never moves the field's mean
    target = truncated_targets(x, coarse, 2, var, p.basis)
    y = hold_block_means(x, coarse, 2, var, p.basis, target)
    s = coarse.double()
    delta = s * torch.clamp(target - s * _block_means(x, 2), min=0)
    assert int((delta != 0).sum()) > 10
    np.testing.assert_allclose(_block_means(y, 2) - _block_means(x, 2), delta - delta.mean((1, 2), keepdim=True),
                               atol=1e-9)
    np.testing.assert_allclose(y.mean((1, 2)), x.mean((1, 2)), atol=1e-12)
    eye = torch.eye(16, dtype=torch.float64).reshape(16, 4, 4)
    M = p.basis.inverse(var * p.basis.forward(eye.repeat_interleave(2, -1).repeat_interleave(2, -2) / 4))
    M = M.reshape(16, 64).T
    lam = torch.linalg.lstsq(M, (y - x).reshape(-1, 64).T).solution
    np.testing.assert_allclose(M @ lam, (y - x).reshape(-1, 64).T, atol=1e-8)  # y - x is in Sigma A^T's range
    white = torch.full((8, 8), 0.7, dtype=torch.float64)  # every mode free: the means reach the targets exactly
    w = hold_block_means(x, coarse, 2, white, p.basis, target)
    np.testing.assert_allclose(_block_means(w, 2) - _block_means(x, 2), delta, atol=1e-9)
    consistent = torch.where(s.repeat_interleave(2, -1).repeat_interleave(2, -2) > 0, x.abs(), -x.abs())
    np.testing.assert_allclose(hold_block_means(consistent, coarse, 2, var, p.basis, torch.zeros_like(s)),
                               consistent, atol=1e-12)


def test_tilt_reaches_each_blocks_target_moving_its_unsure_sites_most_and_nothing_outside_it():
    """tilt_block_means: every block mean along the input meets its target (the part of the estimate beyond
    +-TILT_CLIP kept); a block whose target is its own mean keeps its sites; within a block the change is
    lambda-shaped, larger where |x| is smaller (d tanh = (1 - tanh^2) dh); other blocks are not touched."""
    x, coarse = _random_case(7, n=12, L=8, b=4)
    x = 0.6 * x
    s = coarse.double()
    own = s * _block_means(x, 4)
    target = torch.clamp(own + 0.3 * torch.from_numpy(np.random.default_rng(8).normal(size=own.shape)), min=0.0)
    y = tilt_block_means(x, coarse, 4, target)
    np.testing.assert_allclose(s * _block_means(y, 4), target, atol=1e-9)
    np.testing.assert_allclose(tilt_block_means(x, coarse, 4, own), x, atol=1e-9)
    keep = torch.zeros_like(own, dtype=torch.bool)
    keep[:, 0, 1] = True  # block (0, 1) at its own mean: only the other blocks move
    z = tilt_block_means(x, coarse, 4, torch.where(keep, own, target))
    np.testing.assert_allclose(z[:, :4, 4:], x[:, :4, 4:], atol=1e-9)
    np.testing.assert_allclose(z[:, 4:], y[:, 4:], atol=1e-12)
    inside = (x.abs() < 0.999)[0, :4, :4]
    change = (y - x)[0, :4, :4][inside]
    assert bool((torch.sign(change) == torch.sign(change[0])).all())  # one field, one direction per block
    lam = torch.atanh(y[0, :4, :4][inside]) - torch.atanh(x[0, :4, :4][inside])
    np.testing.assert_allclose(lam, lam[0].expand_as(lam), atol=1e-9)


def test_tilted_mode_keeps_the_input_and_tilts_only_below_its_blur(make_process):
    """--consistency tilted: consistent output, not conditioned's; with a tilt_blur below every grid time it is
    conditioned exactly; tilt_blur with another mode or not positive is one line."""
    from isingsr.diffusion.pipeline import superresolve_fields, to_spins

    Oracle, ck, _, coarse = _oracle_case(make_process(L=16), 10, seed=16)
    tilted, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=8, consistency="tilted")
    assert block_consistency(to_spins(tilted), coarse, 4) == 1.0
    conditioned, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=8, consistency="conditioned")
    assert not np.array_equal(tilted, conditioned)
    np.testing.assert_array_equal(superresolve_fields(Oracle(), ck, coarse, 4.0, steps=8, consistency="tilted",
                                                      tilt_blur=1e-9)[0], conditioned)
    for bad in (dict(consistency="conditioned", tilt_blur=1.0), dict(consistency="tilted", tilt_blur=0.0)):
        with pytest.raises(InputError, match="tilt_blur"):
            superresolve_fields(Oracle(), ck, coarse, 4.0, steps=2, **bad)


def _correlated_case(seed: int, L: int = 8, b: int = 4):
    """A field, an input and a posterior variance whose block means are strongly correlated (red spectrum)."""
    from isingsr.diffusion.spectral import get_basis

    k = torch.fft.fftfreq(L, dtype=torch.float64) * 2 * np.pi
    var = 1.0 / (0.05 + k[:, None] ** 2 + k[None, :] ** 2)
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(0.3 * rng.normal(size=(1, L, L)))
    coarse = torch.from_numpy(rng.choice(np.array([-1.0, 1.0]), size=(1, L // b, L // b)))
    return x, coarse, var, get_basis("fourier")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_joint_targets_approach_the_jointly_truncated_normal_mean(seed):
    """Block means m ~ N(mu, G) truncated to the input's signs in all four blocks at once: the mean-field
    targets come within 6% of the exact mean (rejection sampling, 2e6 draws), where truncating each block's
    marginal alone overshoots by up to a factor 2 (correlated neighbours cannot all go their own way)."""
    from isingsr.diffusion.consistency import _block_spectrum

    x, coarse, var, basis = _correlated_case(seed)
    ev = _block_spectrum(var, basis, 4, 8)
    mu = _block_means(x, 4)[0]
    z = torch.randn(2_000_000, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    m = mu + torch.fft.ifft2(torch.fft.fft2(z) * ev.clamp(min=0).sqrt()).real
    ok = (m * coarse[0] > 0).all(-1).all(-1)
    assert int(ok.sum()) > 5000
    exact = (m[ok] * coarse[0]).mean(0)
    joint = joint_targets(x, coarse, 4, var, basis)[0]
    alone = truncated_targets(x, coarse, 4, var, basis, every_block=True)[0]
    np.testing.assert_allclose(joint, exact, rtol=0.06)
    assert float(((alone - exact) / exact).abs().max()) > 0.2


def test_joint_targets_with_independent_blocks_are_the_truncated_means_and_are_met_exactly(make_process):
    """A white variance makes the block means independent: the joint targets are each block's own truncated
    mean; hold_block_means(lower_only=False) then sets every block mean to its target, lowering blocks too."""
    p = make_process(L=8)
    x, coarse = _random_case(7, n=4)
    white = torch.full((8, 8), 0.36, dtype=torch.float64)
    joint = joint_targets(x, coarse, 2, white, p.basis)
    np.testing.assert_allclose(joint, truncated_targets(x, coarse, 2, white, p.basis, every_block=True), atol=1e-12)
    lowered = joint - 0.05
    y = hold_block_means(x, coarse, 2, white, p.basis, lowered, lower_only=False)
    np.testing.assert_allclose(coarse.double() * _block_means(y, 2), lowered, atol=1e-9)
    assert torch.equal(joint_targets(x, coarse, 2, torch.zeros(8, 8, dtype=torch.float64), p.basis),
                       torch.zeros(4, 4, 4, dtype=torch.float64))


def test_joint_targets_are_a_mean_field_fixed_point():
    """Each converged target is the truncated mean of its block's conditional normal given the others' targets
    (precision Lambda = G^+), and every target has the input's sign."""
    from isingsr.diffusion.consistency import _block_spectrum

    x, coarse, var, basis = _correlated_case(3, L=16, b=4)
    joint = joint_targets(x, coarse, 4, var, basis)
    ev = _block_spectrum(var, basis, 4, 16)
    eye = torch.eye(16, dtype=torch.float64).reshape(16, 4, 4)
    lam = torch.fft.ifft2(torch.fft.fft2(eye) / ev).real.reshape(16, 16)  # G^-1 (var[0, 0] > 0: G is regular)
    s = coarse[0].reshape(-1)
    nu = s * joint[0].reshape(-1)
    mu = _block_means(x, 4)[0].reshape(-1)
    from scipy.stats import truncnorm
    for i in range(16):
        centre = mu[i] - (lam[i] @ (nu - mu) - lam[i, i] * (nu[i] - mu[i])) / lam[i, i]
        sd = float(lam[i, i]) ** -0.5
        a = float(-s[i] * centre / sd)
        want = truncnorm.mean(a, np.inf, loc=float(s[i] * centre), scale=sd)
        assert abs(float(s[i] * nu[i]) - want) < 1e-6
    assert bool((joint >= 0).all())
