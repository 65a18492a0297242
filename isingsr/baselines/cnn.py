"""Supervised probabilistic CNN (Efthymiou, Beach and Melko 2019): fine-spin probabilities from the coarse lattice.

A periodic convolutional network reads the coarse configuration ``(B, 1, l, l)``
and emits, per coarse site, ``s^2`` logits -- one per fine spin of its block --
arranged on the fine lattice by a pixel shuffle. Training minimises the
binary cross-entropy of the true fine spins given the majority-rule coarse
configuration, so the network learns the single-site marginals
``p(sigma_i = +1 | coarse)``. Super-resolution draws every fine spin
independently from its probability: correlations between fine spins beyond
what the coarse configuration fixes are not modelled, which is exactly the
weakness this baseline exists to expose (SPEC §6). Defined for integer
scales s dividing L; one network per scale.

References
----------
S. Efthymiou, M. J. S. Beach and R. G. Melko, "Super-resolving the Ising
model with convolutional neural networks", Phys. Rev. B 99, 075113 (2019).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..coarse import coarse_grain, is_block_scale
from ..diffusion.rng import generators
from ..diffusion.train import Setup
from ..diffusion.unet import CircularConv2d
from ..exceptions import InputError
from .conditioning import check_coarse, check_scale

__all__ = ["CNNConfig", "PeriodicCNN", "cnn_loss", "cnn_setup", "CNN_PRESETS", "ProbabilisticCNN"]


@dataclass(frozen=True)
class CNNConfig:
    """Architecture: ``depth`` circular k x k convolutions of ``width`` channels on the coarse lattice."""

    scale: int
    width: int = 64
    depth: int = 5
    kernel: int = 3

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CNNConfig":
        return cls(**d)


class PeriodicCNN(nn.Module):
    """Coarse ``(B, 1, l, l)`` -> fine logits ``(B, 1, s l, s l)``.

    Examples
    --------
    >>> PeriodicCNN(CNNConfig(scale=4, width=8, depth=2))(torch.zeros(3, 1, 8, 8)).shape
    torch.Size([3, 1, 32, 32])
    """

    def __init__(self, config: CNNConfig):
        super().__init__()
        self.config = c = config
        if c.scale < 2 or c.depth < 1 or c.width < 1 or c.kernel < 1 or c.kernel % 2 == 0:
            raise InputError("CNN: need scale >= 2, depth >= 1, width >= 1 and an odd kernel")
        layers, ch = [], 1
        for _ in range(c.depth):
            layers += [CircularConv2d(ch, c.width, c.kernel), nn.SiLU()]
            ch = c.width
        layers.append(nn.Conv2d(ch, c.scale**2, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, coarse: torch.Tensor, cond=None) -> torch.Tensor:
        return F.pixel_shuffle(self.body(coarse), self.config.scale)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _check_scale(L: int, scale) -> int:
    if not is_block_scale(L, scale) or int(scale) < 2:
        raise InputError(f"the CNN baseline needs an integer scale >= 2 dividing L = {L}, got {scale:g}")
    return int(scale)


def cnn_loss(net: nn.Module, x0: torch.Tensor, scale: int, gen: torch.Generator, autocast: bool = False):
    """Binary cross-entropy of the fine spins ``x0`` (B, 1, L, L) given their majority-rule coarse configuration."""
    spins = np.where(x0[:, 0].detach().cpu().numpy() >= 0, 1, -1).astype(np.int8)
    seed = int(torch.randint(0, 2**62, (1,), generator=gen))
    coarse = torch.from_numpy(coarse_grain(spins, scale, rule="majority", seed=seed).astype(np.float32))
    logits = net(coarse.unsqueeze(1).to(x0.device))
    return F.binary_cross_entropy_with_logits(logits.float(), (x0 > 0).float())


#: Width and depth of the CNN baseline per preset.
CNN_PRESETS = {"tiny": (32, 5), "small": (64, 5), "base": (128, 8)}


def cnn_setup(cfg, ens, device, ck, log) -> Setup:
    """The CNN baseline's network, loss and checkpoint description for the training loop."""
    scale = _check_scale(ens.L, cfg.scale)
    width, depth = CNN_PRESETS[cfg.preset]
    ccfg = CNNConfig(scale=scale, width=width, depth=depth)
    return Setup(PeriodicCNN(ccfg).to(device), lambda model, x0, gen: cnn_loss(model, x0, scale, gen),
                  {"kind": "cnn", "cnn": ccfg.to_dict()}, f"probabilistic CNN ({depth} x {width}), scale {scale}")



class ProbabilisticCNN:
    """A trained CNN baseline as a super-resolver (:mod:`isingsr.superres`): its training scale, any L it fits."""

    method = "cnn"
    resumable = True  # sample i depends on seed + i only (isingsr.superres.superresolve_to_file)

    def __init__(self, net: PeriodicCNN, L: int, device="cpu", *, checkpoint: str | None = None,
                 provenance: dict | None = None):
        self.net, self.L = net, int(L)
        self.scale = float(net.config.scale)
        self.device = torch.device(device)
        self._provenance = {"checkpoint": checkpoint, **(provenance or {})}

    @classmethod
    def from_checkpoint(cls, ck: dict, device="cpu", L: int | None = None, *, path=None) -> "ProbabilisticCNN":
        """The EMA network of ``ck``, run at ``L`` (default: the training size)."""
        net = PeriodicCNN(CNNConfig.from_dict(ck["cnn"]))
        net.load_state_dict(ck["ema"])
        net.to(device).eval()
        prov = {"checkpoint_step": int(ck["step"]), "trained_L": int(ck["data"]["L"]),
                "training_data": ck["data"].get("path")}
        return cls(net, int(ck["data"]["L"]) if L is None else int(L), device,
                   checkpoint=None if path is None else str(path), provenance=prov)

    def provenance(self) -> dict:
        """What made the output: method and checkpoint (HDF5 attributes)."""
        return {"method": "cnn", "protocol": "coarse", **{k: v for k, v in self._provenance.items() if v is not None}}

    @torch.no_grad()
    def probabilities(self, coarse: np.ndarray) -> np.ndarray:
        """``p(sigma_i = +1 | coarse)``, shape (N, L, L) float32."""
        coarse = check_coarse(coarse, self.L, self.scale)
        x = torch.from_numpy(coarse.astype(np.float32)).unsqueeze(1).to(self.device)
        return torch.sigmoid(self.net(x))[:, 0].float().cpu().numpy()

    def superresolve(self, coarse: np.ndarray, scale: float | None = None, *, seed: int = 0, batch: int | None = None,
                     progress: Callable[[int, int], None] | None = None, rule: str = "majority") -> np.ndarray:
        """Spins drawn independently from :meth:`probabilities`, as float32 +-1 fields; sample i seeded ``seed + i``."""
        check_scale(self, scale)
        coarse = check_coarse(coarse, self.L, self.scale)
        n = coarse.shape[0]
        out = np.empty((n, self.L, self.L), dtype=np.float32)
        batch = 256 if batch is None else batch
        for a in range(0, n, batch):
            b = min(n, a + batch)
            p = torch.from_numpy(self.probabilities(coarse[a:b]))
            u = torch.stack([torch.rand(p.shape[1:], generator=g) for g in generators(range(seed + a, seed + b))])
            out[a:b] = torch.where(u < p, 1.0, -1.0).numpy()
            if progress:
                progress(b, n)
        return out
