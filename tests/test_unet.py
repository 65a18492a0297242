"""Periodic U-Net: shapes, translation equivariance on the torus, any L, presets."""

import pytest
import torch

from isingsr.diffusion.unet import PRESETS, UNet, UNetConfig, preset
from isingsr.exceptions import InputError


def randomised(cfg: UNetConfig, seed: int = 0) -> UNet:
    """A network with every weight random (zero-initialised output layers would make tests vacuous)."""
    torch.manual_seed(seed)
    net = UNet(cfg).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return net


@pytest.mark.parametrize("L", [8, 16, 24, 32])
def test_fully_convolutional_shapes(L):
    net = randomised(UNetConfig(channels=8, mults=(1, 2, 2), blocks=1))
    y = net(torch.randn(3, 1, L, L, dtype=torch.float64), torch.randn(3, dtype=torch.float64))
    assert y.shape == (3, 1, L, L) and torch.isfinite(y).all()


@pytest.mark.parametrize("attention", [False, True])
def test_translation_equivariance_on_the_torus(attention):
    cfg = UNetConfig(channels=8, mults=(1, 2, 2), blocks=1, attention=attention)
    net = randomised(cfg, seed=1)
    x = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    c = torch.tensor([0.3, 1.7], dtype=torch.float64)
    y = net(x, c)
    for dy, dx in [(4, 0), (0, 8), (12, 4)]:  # multiples of the pooling grid, wrapping around
        ys = net(torch.roll(x, (dy, dx), dims=(-2, -1)), c)
        torch.testing.assert_close(ys, torch.roll(y, (dy, dx), dims=(-2, -1)), rtol=1e-10, atol=1e-10)
    # a one-site shift is not an exact symmetry of the pooling grid, but the output must still change
    assert not torch.allclose(net(torch.roll(x, 1, dims=-1), c), y)


def test_conditioning_matters_and_batch_independence():
    net = randomised(UNetConfig(channels=8, mults=(1, 2), blocks=1), seed=2)
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    c = torch.linspace(-1, 1, 4, dtype=torch.float64)
    y = net(x, c)
    assert not torch.allclose(y, net(x, c + 0.5))
    torch.testing.assert_close(net(x[2:3], c[2:3]), y[2:3])  # no mixing across the batch


def test_fresh_network_outputs_zero():
    # the output convolution starts at zero: an untrained denoiser predicts eps = 0
    net = UNet(preset("small"))
    assert torch.count_nonzero(net(torch.randn(1, 1, 16, 16), torch.zeros(1))) == 0


def test_circular_conv_equals_torch_circular_padding():
    from isingsr.diffusion.unet import CircularConv2d

    torch.manual_seed(0)
    ours = CircularConv2d(3, 5).double()
    ref = torch.nn.Conv2d(3, 5, 3, padding=1, padding_mode="circular").double()
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 3, 7, 9, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-12, atol=1e-12)


def test_presets_sizes():
    tiny, small, base = (UNet(PRESETS[k]).n_parameters() for k in ("tiny", "small", "base"))
    assert 1e5 < tiny < 1e6 and 1e6 < small < 5e6  # CPU presets
    assert 1e7 < base < 1e8  # GPU preset: tens of M


def test_tiny_preset_costs_a_quarter_of_small():
    """Half the channels at every level: about a quarter of the floating-point work per evaluation."""
    from torch.utils.flop_counter import FlopCounterMode

    def flops(name):
        net = UNet(PRESETS[name]).eval()
        with torch.inference_mode(), FlopCounterMode(display=False) as fc:
            net(torch.zeros(2, 1, 32, 32), torch.zeros(2))
        return fc.get_total_flops()

    assert 3.5 < flops("small") / flops("tiny") < 4.5


def test_config_round_trip_and_bad_input():
    cfg = preset("small", channels=16)
    assert UNetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(InputError, match="unknown preset"):
        preset("huge")
    net = UNet(UNetConfig(channels=8, mults=(1, 2, 2), blocks=1))
    with pytest.raises(InputError, match="multiple of 4"):
        net(torch.zeros(1, 1, 10, 10), torch.zeros(1))
    with pytest.raises(InputError, match="expected input"):
        net(torch.zeros(1, 2, 8, 8), torch.zeros(1))


def test_several_conditioning_scalars():
    net = randomised(UNetConfig(channels=8, mults=(1, 2), blocks=1, cond_dim=2), seed=3)
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    c = torch.tensor([[0.1, 1.0], [0.1, 0.0]], dtype=torch.float64)
    y = net(x, c)
    assert y.shape == (2, 1, 8, 8)
    c2 = c.clone()
    c2[:, 1] += 0.5  # the second scalar is used
    assert not torch.allclose(net(x, c2), y)
