"""Baselines: SR3 conditional diffusion and the probabilistic CNN (training, sampling, CLI)."""

import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from isingsr.baselines import condition_image
from isingsr.superres import load_superresolver
from isingsr.baselines.cnn import CNNConfig, PeriodicCNN
from isingsr.baselines.sr3 import alpha_sigma, logsnr, sr3_loss, sr3_sample
from isingsr.cli import cli
from isingsr.coarse import block_spin
from isingsr.constants import BETA_C
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.train import TrainConfig, train
from isingsr.exceptions import InputError
from isingsr.io.checkpoint import load_checkpoint
from isingsr.io.hdf5 import load_ensemble, write_ensemble
from isingsr.mc import sample_configurations


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("base")
    fine = sample_configurations(16, 300, seed=7)
    write_ensemble(d / "fine.h5", fine, {"source": "test", "beta": BETA_C})
    return d, fine


@pytest.fixture(scope="module")
def cnn_ckpt(data):
    d, _ = data
    return train(TrainConfig(data=str(d / "fine.h5"), out=str(d / "cnn"), method="cnn", scale=2, steps=150,
                             batch=32, lr=3e-3, warmup=10, seed=0, log_every=50), log=lambda s: None)


@pytest.fixture(scope="module")
def sr3_ckpt(data):
    d, _ = data
    return train(TrainConfig(data=str(d / "fine.h5"), out=str(d / "sr3"), method="sr3", scale=2, steps=3, batch=8,
                             warmup=1, seed=0), log=lambda s: None)


# ----------------------------------------------------------------------------------------- SR3 process
def test_logsnr_schedule_endpoints_and_variance_preservation():
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    lam = logsnr(t)
    assert lam[0].item() == pytest.approx(20.0) and lam[-1].item() == pytest.approx(-20.0)
    assert bool((lam[1:] < lam[:-1]).all())
    a, s = alpha_sigma(t)
    torch.testing.assert_close(a**2 + s**2, torch.ones_like(t))


class _PointMassOracle(torch.nn.Module):
    """Exact eps predictor when p(x0 | coarse) is a point mass at the conditioning image."""

    def forward(self, x, cond):
        x_t, img = x[:, :1].double(), x[:, 1:].double()
        lam = cond.double().reshape(-1, 1, 1, 1) * 4.0
        a, s = torch.sigmoid(lam).sqrt(), torch.sigmoid(-lam).sqrt()
        return ((x_t - a * img) / s).float()


class _GaussianOracle(torch.nn.Module):
    """Exact eps predictor for white Gaussian x0 of variance v: E[eps | x_t] = s x_t / (a^2 v + s^2)."""

    def __init__(self, v):
        super().__init__()
        self.v = v

    def forward(self, x, cond):
        lam = cond.double().reshape(-1, 1, 1, 1) * 4.0
        a2, s2 = torch.sigmoid(lam), torch.sigmoid(-lam)
        return (s2.sqrt() * x[:, :1].double() / (a2 * self.v + s2)).float()


@pytest.mark.parametrize("sampler", ["ancestral", "ddim"])
def test_sr3_sampler_returns_a_point_mass_exactly(sampler):
    img = torch.from_numpy(np.where(np.random.default_rng(0).random((3, 1, 8, 8)) < 0.5, 1.0, -1.0))
    gens = [torch.Generator().manual_seed(i) for i in range(3)]
    x = sr3_sample(_PointMassOracle(), img, steps=20, sampler=sampler, generator=gens)
    torch.testing.assert_close(x, img, atol=1e-3, rtol=0)


def _linear_gaussian_variance(v, steps, eta):
    """Variance the SR3 update produces for white Gaussian x0 of variance v, propagated exactly (it is linear)."""
    ts = torch.linspace(1, 0, steps + 1, dtype=torch.float64)
    var = 1.0
    for i in range(steps):
        (a_t, s_t), (a_s, s_s) = alpha_sigma(ts[i]), alpha_sigma(ts[i + 1])
        k = float(a_t * v / (a_t**2 * v + s_t**2))  # x0_hat = k x_t
        if i == steps - 1:
            return k**2 * var
        e = float((1 - a_t * k) / s_t)  # eps_hat = e x_t
        sig = eta * float(s_s / s_t) * math.sqrt(max(0.0, 1 - float(a_t / a_s) ** 2))
        var = (float(a_s) * k + math.sqrt(max(0.0, float(s_s) ** 2 - sig**2)) * e) ** 2 * var + sig**2


@pytest.mark.parametrize("sampler,eta", [("ancestral", 1.0), ("ddim", 0.0)])
def test_sr3_sampler_variance_on_a_gaussian_matches_exact_propagation(sampler, eta):
    v, steps = 0.04, 100
    img = torch.zeros(16, 1, 32, 32, dtype=torch.float64)
    x = sr3_sample(_GaussianOracle(v), img, steps=steps, sampler=sampler, generator=torch.Generator().manual_seed(1))
    expect = _linear_gaussian_variance(v, steps, eta)
    var, n = float(x.var()), x.numel()
    assert abs(var - expect) < 4 * expect * math.sqrt(2 / n), (var, expect)
    assert abs(float(x.mean())) < 4 * math.sqrt(expect / n)
    # and the discretisation converges to the data variance (mean-only reverse steps shrink it at few steps)
    assert 0.85 * v < expect < v and abs(_linear_gaussian_variance(v, 2000, eta) - v) < 0.01 * v


def test_sr3_loss_is_reproducible_and_makes_coarse_inputs_by_majority(data):
    _, fine = data
    x0 = torch.from_numpy(fine[:4].astype(np.float32)).unsqueeze(1)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.seen = None
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x, cond):
            self.seen = x[:, 1:].clone()
            return x[:, :1] * self.w

    n1, n2 = Net(), Net()
    l1 = sr3_loss(n1, x0, 2.0, torch.Generator().manual_seed(3))
    l2 = sr3_loss(n2, x0, 2.0, torch.Generator().manual_seed(3))
    assert float(l1.detach()) == float(l2.detach())
    expect = condition_image(block_spin(fine[:4], 2, seed=0), 16, 2.0)
    untied = (np.abs(fine[:4].reshape(4, 8, 2, 8, 2).sum(axis=(2, 4))) > 0)
    mask = torch.from_numpy(np.repeat(np.repeat(untied, 2, 1), 2, 2)).unsqueeze(1)
    torch.testing.assert_close(n1.seen[mask], expect[mask])


# ----------------------------------------------------------------------------------------- CNN
def test_cnn_maps_coarse_to_fine_and_commutes_with_coarse_translations():
    torch.manual_seed(0)
    net = PeriodicCNN(CNNConfig(scale=4, width=8, depth=3)).eval()
    c = torch.from_numpy(np.where(np.random.default_rng(1).random((2, 1, 6, 6)) < 0.5, 1.0, -1.0)).float()
    y = net(c)
    assert y.shape == (2, 1, 24, 24)
    y2 = net(torch.roll(c, (1, 2), dims=(-2, -1)))
    torch.testing.assert_close(y2, torch.roll(y, (4, 8), dims=(-2, -1)), atol=1e-5, rtol=1e-5)


def test_sr3_with_one_batch_per_core_at_once_is_the_same_bit_for_bit(sr3_ckpt, data):
    """SR3's batches through isingsr.device.in_batches: on 3 threads at once as on one, and per-sample seeds."""
    _, fine = data
    model = load_superresolver(None, load_checkpoint(sr3_ckpt), steps=3)
    coarse = block_spin(fine[:10], 2, seed=1)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = model.superresolve(coarse, seed=2, batch=3)
        torch.set_num_threads(3)
        many = model.superresolve(coarse, seed=2, batch=3)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(one, many)
    again = model.superresolve(coarse[4:7], seed=6, batch=2)  # another batch size: equal to float32 rounding
    np.testing.assert_allclose(again, one[4:7], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("which", ["sr3", "cnn"])
def test_baselines_run_in_pieces_as_in_one_call(which, sr3_ckpt, cnn_ckpt, data):
    """Their ``resumable`` claim (isingsr.superres.superresolve_to_file): rows a..b-1 of one call are the call on
    inputs a..b-1 with seed + a, for a batch-aligned a, bit for bit."""
    _, fine = data
    model = load_superresolver(None, load_checkpoint(sr3_ckpt if which == "sr3" else cnn_ckpt), steps=3)
    coarse = block_spin(fine[:10], 2, seed=1)
    whole = model.superresolve(coarse, seed=2, batch=2)
    pieces = [model.superresolve(coarse[a:a + 4], seed=2 + a, batch=2) for a in (0, 4, 8)]
    assert model.resumable and np.array_equal(whole, np.concatenate(pieces))


def test_trained_cnn_learns_that_fine_spins_follow_their_block(cnn_ckpt, data):
    d, fine = data
    ck = load_checkpoint(cnn_ckpt)
    assert ck["kind"] == "cnn" and ck["config"]["scale"] == 2
    model = load_superresolver(None, ck)
    coarse = block_spin(fine[:50], 2, seed=1)
    p = model.probabilities(coarse)
    agree = np.where(np.repeat(np.repeat(coarse, 2, 1), 2, 2) > 0, p, 1 - p)
    # P(fine spin = its block's coarse spin) in critical data is 0.91 for b = 2 (measured on 5000 L = 32
    # configurations); the Bayes-optimal single-site predictor reaches at least that, one ignoring its input 0.5
    truth = (np.repeat(np.repeat(coarse, 2, 1), 2, 2) == fine[:50]).mean()
    assert 0.85 < truth < 0.97
    assert agree.mean() > 0.8
    out = model.superresolve(coarse, seed=4, batch=7)
    assert set(np.unique(out)) <= {-1.0, 1.0}
    np.testing.assert_array_equal(model.superresolve(coarse[3:9], seed=7), out[3:9])  # sample i: seed + i


# ----------------------------------------------------------------------------------------- training and CLI
def test_sr3_training_resumes_exactly(data, tmp_path):
    d, _ = data
    base = dict(data=str(d / "fine.h5"), method="sr3", scale=2.0, batch=4, warmup=1, seed=2, ckpt_every=2)
    a = train(TrainConfig(out=str(tmp_path / "a"), steps=4, **base), log=lambda s: None)
    train(TrainConfig(out=str(tmp_path / "b"), steps=2, **base), log=lambda s: None)
    b = train(TrainConfig(out=str(tmp_path / "b"), steps=4, **base), resume=True, log=lambda s: None)
    wa, wb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0)


def test_superres_cli_dispatches_on_checkpoint_kind(data, sr3_ckpt, cnn_ckpt, tmp_path):
    d, fine = data
    write_ensemble(tmp_path / "coarse.h5", block_spin(fine[:6], 2, seed=0), {"rule": "majority"})
    for name, ck in (("sr3", sr3_ckpt), ("cnn", cnn_ckpt)):
        r = invoke("superres", "--ckpt", ck, "--input", tmp_path / "coarse.h5", "--scale", 2, "--out",
                   tmp_path / f"{name}.h5", "--steps", 3, "-q")
        assert r.exit_code == 0, r.output
        ens = load_ensemble(tmp_path / f"{name}.h5")
        assert ens.spins.shape == (6, 16, 16) and ens.attrs["method"] == name
    r = invoke("superres", "--ckpt", cnn_ckpt, "--input", tmp_path / "coarse.h5", "--scale", 4, "--out",
               tmp_path / "x.h5", "-q")
    assert r.exit_code == 2 and "trained for scale 2" in r.output


def test_baselines_run_at_another_size(data, sr3_ckpt, cnn_ckpt, tmp_path):
    """Trained at L = 16, both run at L = 32; a periodically tiled input gives the tiled CNN probabilities."""
    d, fine = data
    write_ensemble(tmp_path / "c16.h5", fine[:3], {"rule": "majority"})
    for name, ck in (("sr3", sr3_ckpt), ("cnn", cnn_ckpt)):
        r = invoke("superres", "--ckpt", ck, "--input", tmp_path / "c16.h5", "--scale", 2, "--out",
                   tmp_path / f"{name}32.h5", "--steps", 2, "-q")
        assert r.exit_code == 0, r.output
        ens = load_ensemble(tmp_path / f"{name}32.h5")
        assert ens.spins.shape == (3, 32, 32) and ens.attrs["trained_L"] == 16
    ck = load_checkpoint(cnn_ckpt)
    coarse = block_spin(fine[:3], 2, seed=0)
    p16 = load_superresolver("cnn", ck).probabilities(coarse)
    p32 = load_superresolver("cnn", ck, L=32).probabilities(np.tile(coarse, (1, 2, 2)))
    np.testing.assert_allclose(p32, np.tile(p16, (1, 2, 2)), rtol=1e-5, atol=1e-6)


def test_bad_method_options_are_one_line_errors(data, tmp_path, sr3_ckpt):
    d, _ = data
    common = ["train", "--data", d / "fine.h5", "--steps", 1, "-q"]
    r = invoke(*common, "--out", tmp_path / "a", "--method", "sr3")
    assert r.exit_code == 2 and "--scale" in r.output
    r = invoke(*common, "--out", tmp_path / "b", "--scale", 4)
    assert r.exit_code == 2 and "every scale" in r.output
    r = invoke(*common, "--out", tmp_path / "c", "--method", "cnn", "--scale", 3)
    assert r.exit_code == 2 and "integer scale" in r.output
    with pytest.raises(InputError, match="not SKILD"):
        build_from_checkpoint(load_checkpoint(sr3_ckpt))
    r = invoke("sample", "--ckpt", sr3_ckpt, "-n", 2, "--out", tmp_path / "g.h5", "-q")
    assert r.exit_code == 2 and "not SKILD" in r.output


# ----------------------------------------------------------------------------------------- correlate --methods
def test_correlate_compares_every_method_and_scores_them_against_the_exact_posterior(data, sr3_ckpt, cnn_ckpt,
                                                                                      tmp_path):
    import json

    d, _ = data
    out = tmp_path / "figs"
    r = invoke("correlate", "--truth", d / "fine.h5", "--scale", 2, "--out", out, "--methods",
               "sr3,cnn,naive,posterior", "--sr3-ckpt", sr3_ckpt, "--cnn-ckpt", cnn_ckpt, "--steps", 3, "--r", "1,2",
               "--blocks", 30, "-q")
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert list(s["ensembles"]) == ["truth", "naive", "sr3", "cnn", "posterior"]
    assert s["ensembles"]["sr3"]["provenance"]["method"] == "sr3"
    cond = s["conditional"]
    assert cond["b"] == 2 and cond["draws"] == 8 and set(cond["scores"]) == set(s["ensembles"])
    for name in ("truth", "posterior"):  # exact draws for their inputs
        for key in ("energy", "block_m"):
            c = cond["scores"][name][key]
            assert abs(c["mse_ratio"] - 1) < 4 * c["mse_ratio_err"], (name, key, c)
    # the posterior agrees with the truth on marginal observables, as it must
    assert abs(s["comparison"]["posterior"]["scalars"]["energy"]["z"]) < 4
    assert s["comparison"]["posterior"]["consistency"] > 0.99  # ties may be resolved either way
    assert "E|c ratio" in r.output


def test_correlate_methods_without_checkpoints(data, tmp_path):
    d, _ = data
    base = ["correlate", "--truth", d / "fine.h5", "--out", tmp_path / "f", "-q", "--r", "1"]
    r = invoke(*base, "--scale", 2, "--methods", "sr3,naive")
    assert r.exit_code == 2 and "sr3: no checkpoint for L = 16, scale 2" in r.output
    r = invoke(*base, "--scale", 2.5, "--methods", "posterior")
    assert r.exit_code == 2 and "integer scale" in r.output
    r = invoke(*base, "--scale", 2, "--methods", "naive,bogus")
    assert r.exit_code == 2 and "bogus" in r.output
