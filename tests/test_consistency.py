"""The majority constraint: the projection and the sampler that uses it (isingsr.diffusion.consistency)."""

import numpy as np
import pytest
import torch

from isingsr.analysis.compare import block_consistency
from isingsr.coarse import block_spin
from isingsr.diffusion.consistency import MARGIN, ProjectedDenoiser, majority_projector, project_majority
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


def test_superresolution_with_projection_returns_spins_that_coarse_grain_to_the_input(make_process):
    from isingsr.diffusion.denoiser import wiener_denoiser
    from isingsr.diffusion.pipeline import superresolve_fields, to_spins

    p = make_process(L=16)

    class Oracle:
        process = p
        __call__ = staticmethod(wiener_denoiser(p))

    fine = sample_configurations(16, 40, seed=2)
    coarse = block_spin(fine, 4, seed=0)
    ones = torch.ones(16, 16, dtype=torch.float64)
    ck = {"gains": {"4": ones}, "passband_corr": {"4": 0.5 * ones}}
    free, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=8)
    kept, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=8, consistency="project")
    assert block_consistency(to_spins(free), coarse, 4) < 0.95  # a Gaussian oracle does not know the rule ...
    assert block_consistency(to_spins(kept), coarse, 4) == 1.0  # ... the projection imposes it
    # final: the same trajectory as the free run, only its wrong blocks moved (fewest, smallest sites)
    last, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=8, consistency="final")
    assert block_consistency(to_spins(last), coarse, 4) == 1.0
    projected = project_majority(torch.from_numpy(free[:, None]).double(), torch.from_numpy(coarse), 4)[:, 0]
    np.testing.assert_array_equal(last, projected.float().numpy())
    changed = to_spins(last) != to_spins(free)
    assert 0 < changed.mean() < 0.05
    # late: consistent too, and projected only below LATE_BLUR: it agrees with the free run where the
    # projection never acted (no step below the threshold) and differs from it otherwise
    late, _ = superresolve_fields(Oracle(), ck, coarse, 4.0, steps=8, consistency="late")
    assert block_consistency(to_spins(late), coarse, 4) == 1.0
    assert not np.array_equal(late, last)
    for mode in ("project", "final", "late"):
        with pytest.raises(InputError, match="integer scale"):
            superresolve_fields(Oracle(), {"gains": {"2.5": ones}, "passband_corr": {"2.5": ones}},
                                fine[:, ::3, ::3][:, :6, :6], 2.5, steps=2, consistency=mode)
    with pytest.raises(InputError, match="unknown consistency"):
        superresolve_fields(Oracle(), ck, coarse, 4.0, steps=2, consistency="strict")


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
