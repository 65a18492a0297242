"""Which shipped checkpoint serves which lattice size."""

import pytest

from isingsr.exceptions import InputError
from isingsr.models import SHIPPED, nearest_below, shipped_baseline, shipped_checkpoint


def test_nearest_below_takes_the_largest_existing_training_size_not_above_L(tmp_path):
    files = {k: tmp_path / f"m{k}.pt" for k in (32, 64, 256)}
    for k in (32, 64):  # 256 is registered but absent
        files[k].touch()
    assert nearest_below(files, 32) == files[32]
    assert nearest_below(files, 48) == files[32]
    assert nearest_below(files, 64) == files[64]
    assert nearest_below(files, 128) == files[64]
    assert nearest_below(files, 512) == files[64]  # never the absent file
    assert nearest_below(files, 16) is None  # never carried to a smaller lattice
    assert nearest_below({}, 32) is None


def test_shipped_skild_checkpoint_by_lattice_size():
    assert shipped_checkpoint(32) == SHIPPED[32]
    larger = max(k for k, p in SHIPPED.items() if p.exists())
    assert shipped_checkpoint(4 * larger) == SHIPPED[larger]
    with pytest.raises(InputError, match="no shipped SKILD checkpoint for L = 16") as e:
        shipped_checkpoint(16)
    assert "\n" not in str(e.value)


def test_shipped_baselines_by_lattice_size_and_scale():
    for s in (2, 4, 8):
        assert shipped_baseline("sr3", 32, s).name == f"sr3_L32_s{s}_tiny.pt"
        assert shipped_baseline("sr3", 48, s).name == f"sr3_L32_s{s}_tiny.pt"
        assert shipped_baseline("sr3", 64, s).name == f"sr3_L32_s{s}.pt"  # SKILD's default there is small too
        assert shipped_baseline("sr3", 128, s).name == f"sr3_L32_s{s}.pt"
        assert shipped_baseline("cnn", 32, s) == shipped_baseline("cnn", 128, s)
        assert shipped_baseline("cnn", 32, s).name == f"cnn_L32_s{s}.pt"
    assert shipped_baseline("sr3", 16, 4) is None  # never carried to a smaller lattice
    assert shipped_baseline("sr3", 32, 2.5) is None  # no network for this scale
    assert shipped_baseline("naive", 32, 4) is None


@pytest.mark.parametrize("L", [32, 64])
def test_default_skild_and_sr3_share_one_network_size(L):
    """A default comparison holds the network size of SKILD and SR3 equal at every lattice size."""
    from isingsr.io.checkpoint import load_checkpoint

    width = load_checkpoint(shipped_checkpoint(L))["unet"]["channels"]
    for s in (2, 4, 8):
        assert load_checkpoint(shipped_baseline("sr3", L, s))["unet"]["channels"] == width


def test_shipped_tiny_checkpoint_is_the_tiny_preset_and_describes_its_training():
    """skild_L32_tiny.pt: the tiny U-Net, its two training runs on record, ready to sample."""
    import torch

    from isingsr.diffusion.denoiser import COND_DIM
    from isingsr.diffusion.inference import build_from_checkpoint
    from isingsr.diffusion.unet import UNetConfig, preset
    from isingsr.io.checkpoint import load_checkpoint

    ck = load_checkpoint(SHIPPED[32])
    assert SHIPPED[32].name == "skild_L32_tiny.pt"
    assert UNetConfig.from_dict(ck["unet"]) == preset("tiny", cond_dim=COND_DIM)
    assert ck["process"]["L"] == ck["data"]["L"] == 32 and ck["data"]["seed"] == 2
    assert ck["init_from"]["step"] == 5000 and ck["step"] == 5000 and ck["config"]["lr_schedule"] == "cosine"
    assert set(ck["gains"]) >= {"2", "4", "8"} and "zero_mode" in ck
    den = build_from_checkpoint(ck)
    x0 = den(torch.zeros(2, 1, 32, 32, dtype=torch.float64), torch.tensor([0.3, 0.9], dtype=torch.float64))
    assert x0.shape == (2, 1, 32, 32) and torch.isfinite(x0).all()


def test_tiny_long_checkpoint_continues_the_tiny_one_and_describes_its_training():
    """skild_L32_tiny_long.pt: skild_L32_tiny.pt trained on for 15,000 steps on fresh data (seed 3), ready to sample."""
    import torch

    from isingsr.diffusion.denoiser import COND_DIM
    from isingsr.diffusion.inference import build_from_checkpoint
    from isingsr.diffusion.unet import UNetConfig, preset
    from isingsr.io.checkpoint import load_checkpoint

    ck = load_checkpoint(SHIPPED[32].with_name("skild_L32_tiny_long.pt"))
    assert UNetConfig.from_dict(ck["unet"]) == preset("tiny", cond_dim=COND_DIM)
    assert ck["data"]["seed"] == 3 and ck["data"]["n"] == 100_000 and ck["process"]["L"] == 32
    assert ck["init_from"]["path"].endswith("skild_L32_tiny.pt") and ck["init_from"]["step"] == 5000
    assert ck["step"] == 15000 and ck["config"]["lr_schedule"] == "cosine"
    assert set(ck["gains"]) >= {"2", "4", "8"} and "zero_mode" in ck
    x0 = build_from_checkpoint(ck)(torch.zeros(2, 1, 32, 32, dtype=torch.float64),
                                   torch.tensor([0.3, 0.9], dtype=torch.float64))
    assert x0.shape == (2, 1, 32, 32) and torch.isfinite(x0).all()


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_shipped_tiny_sr3_is_the_tiny_preset_and_describes_its_training(scale):
    """sr3_L32_s{S}_tiny.pt: the tiny U-Net with SR3's two input channels, skild_L32_tiny.pt's two runs."""
    from isingsr.diffusion.unet import UNetConfig, preset
    from isingsr.io.checkpoint import load_checkpoint

    ck = load_checkpoint(shipped_baseline("sr3", 32, scale))
    assert ck["kind"] == "sr3" and ck["config"]["scale"] == float(scale)
    assert ck["init_from"]["step"] == 5000 and ck["step"] == 5000 and ck["config"]["lr_schedule"] == "cosine"
    assert ck["data"]["seed"] == 2
    assert UNetConfig.from_dict(ck["unet"]) == preset("tiny", in_channels=2, cond_dim=1)
