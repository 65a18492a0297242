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
    sr3 = shipped_baseline("sr3", 32, 4)
    assert sr3 is not None and sr3.name == "sr3_L32_s4.pt"
    assert shipped_baseline("sr3", 128, 4) == sr3  # carried to larger lattices
    assert shipped_baseline("sr3", 16, 4) is None
    assert shipped_baseline("sr3", 32, 2.5) is None  # no network for this scale
    assert shipped_baseline("cnn", 32, 4).name == "cnn_L32_s4.pt"


def test_shipped_tiny_checkpoint_is_the_tiny_preset_and_describes_its_training():
    """skild_L32_tiny.pt: the tiny U-Net, its two training runs on record, ready to sample."""
    import torch

    from isingsr.diffusion.denoiser import COND_DIM
    from isingsr.diffusion.inference import build_from_checkpoint
    from isingsr.diffusion.unet import UNetConfig, preset
    from isingsr.io.checkpoint import load_checkpoint

    ck = load_checkpoint(SHIPPED[32].parent / "skild_L32_tiny.pt")
    assert UNetConfig.from_dict(ck["unet"]) == preset("tiny", cond_dim=COND_DIM)
    assert ck["process"]["L"] == ck["data"]["L"] == 32 and ck["data"]["seed"] == 2
    assert ck["init_from"]["step"] == 5000 and ck["step"] == 5000 and ck["config"]["lr_schedule"] == "cosine"
    assert set(ck["gains"]) >= {"2", "4", "8"} and "zero_mode" in ck
    den = build_from_checkpoint(ck)
    x0 = den(torch.zeros(2, 1, 32, 32, dtype=torch.float64), torch.tensor([0.3, 0.9], dtype=torch.float64))
    assert x0.shape == (2, 1, 32, 32) and torch.isfinite(x0).all()


def test_shipped_tiny_sr3_is_never_the_default_baseline():
    """sr3_L32_s4_tiny.pt: the tiny U-Net with SR3's two input channels at 4x, chosen only by --sr3-ckpt."""
    from isingsr.diffusion.unet import UNetConfig, preset
    from isingsr.io.checkpoint import load_checkpoint

    path = SHIPPED[32].parent / "sr3_L32_s4_tiny.pt"
    ck = load_checkpoint(path)
    assert ck["kind"] == "sr3" and ck["config"]["scale"] == 4.0 and ck["init_from"]["step"] == 5000
    assert UNetConfig.from_dict(ck["unet"]) == preset("tiny", in_channels=2, cond_dim=1)
    assert shipped_baseline("sr3", 32, 4) != path
