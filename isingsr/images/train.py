"""Training data and method set-ups for images: the shared loop of :mod:`isingsr.train` on image patches.

The loop, checkpoints, resume, EMA and DDP are the Ising ones; what differs
is here. :func:`load_image_data` gives the training patches (the bundled
photographs' training split, or CIFAR-10 from a local copy);
:func:`image_skild_setup` is SKILD on RGB images: the same
:class:`~isingsr.diffusion.process.SpectralProcess` in the DCT basis (mirror
boundaries, the SKILD paper's choice for images), one data spectrum shared
by the three channels, a U-Net with reflective padding, and the pass-band
statistics of the DCT embedding (:func:`image_passband`) for every coarse
size, so one checkpoint super-resolves by any real factor, and the training
patches' mean colours, the zero mode's prior in generation
(:class:`~isingsr.diffusion.zero_mode.EmpiricalZeroMode`).
:func:`image_sr3_setup` is the SR3 baseline on the same data, conditioned on
the bicubic upsampling of the area-downsampled patch, one network per scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..baselines.sr3 import LOGSNR_MAX, sr3_loss
from ..diffusion.denoiser import COND_DIM, Denoiser, training_loss
from ..diffusion.process import SpectralProcess
from ..diffusion.spectral import Spectrum, estimate_spectrum, get_basis, mode_powers
from ..diffusion.starts import passband_from_powers
from ..diffusion.train import Setup
from ..diffusion.unet import UNet, preset
from ..diffusion.zero_mode import zero_mode_samples
from ..exceptions import InputError
from .data import TRAIN_PHOTOGRAPHS, PatchBatches, convert_range, load_cifar10, photo_patches
from .resize import bicubic, coarse_size, dct_embed, downsample

__all__ = ["DATASETS", "IMAGE_BASIS", "ImageData", "load_image_data", "image_passband", "image_skild_setup",
           "image_sr3_setup", "PHOTO_PATCHES"]

#: Image training sets of ``isingsr train --dataset``.
DATASETS = ("photos", "cifar10")
#: The basis of SKILD on images (mirror boundaries).
IMAGE_BASIS = "dct"
#: Random training patches drawn from the training photographs (an equal share from each).
PHOTO_PATCHES = 12000
#: Smallest coarse side whose pass-band statistics a checkpoint stores.
MIN_COARSE = 2


@dataclass
class ImageData:
    """Training images ``(N, C, L, L)`` float32 in [-1, 1] and where they came from."""

    fields: np.ndarray
    source: str

    @property
    def n(self) -> int:
        return int(self.fields.shape[0])

    @property
    def L(self) -> int:
        return int(self.fields.shape[-1])

    @property
    def channels(self) -> int:
        return int(self.fields.shape[1])

    def batches(self, batch: int, seed: int) -> PatchBatches:
        """Endless flip-augmented batches (the images' only exact symmetry is the mirror)."""
        return PatchBatches(self.fields, batch, seed=seed)

    def describe(self) -> dict:
        return {"path": self.source, "n": self.n, "L": self.L, "channels": self.channels}


def load_image_data(dataset: str, data: str, patch: int = 32, seed: int = 0,
                    max_samples: int | None = None) -> ImageData:
    """The training images of ``dataset``.

    ``photos``: :data:`PHOTO_PATCHES` random ``patch x patch`` patches of the
    training photographs, the same number from each (:func:`~isingsr.images.data.photo_patches`,
    seeded by ``seed``; ``data`` is ignored): drawn by area, the largest
    photograph (retina, a fundus image with a black border) would give half. ``cifar10``: the training batches of the
    CIFAR-10 python folder at ``data`` (32 x 32; ``patch`` must be 32).
    """
    if dataset == "photos":
        n = PHOTO_PATCHES if max_samples is None else min(PHOTO_PATCHES, int(max_samples))
        each = -(-n // len(TRAIN_PHOTOGRAPHS))
        fields = np.concatenate([photo_patches("train", size=int(patch), n=each, seed=seed + i, photographs=[name])
                                 for i, name in enumerate(TRAIN_PHOTOGRAPHS)])[:n]
        return ImageData(fields, f"bundled photographs, train split, {each} random {patch}x{patch} patches of each "
                                 f"(seeds {seed}..{seed + len(TRAIN_PHOTOGRAPHS) - 1}), first {n}")
    if dataset == "cifar10":
        if int(patch) != 32:
            raise InputError(f"CIFAR-10 images are 32 x 32; --patch {patch} does not apply")
        images, _ = load_cifar10(data, "train", limit=max_samples)
        return ImageData(convert_range(images, "uint8", "signed").astype(np.float32), str(data))
    raise InputError(f"unknown image dataset {dataset!r}; choose one of {', '.join(DATASETS)}")


def image_passband(fields, sizes) -> tuple[dict, dict]:
    """Per-mode gain and correlation of the DCT embedding of area-downsampled images, per coarse size.

    For each coarse side ``l`` in ``sizes``: ``X = DCT(x)``, ``Y = DCT(dct_embed(downsample(x, l), L))``
    over the training images (all channels pooled), gain ``sqrt(E[X^2] / E[Y^2])`` and correlation
    ``E[XY] / sqrt(E[X^2] E[Y^2])`` (clipped to [0, 1]) on the ``l x l`` pass band, 0 outside it, as
    :func:`~isingsr.diffusion.starts.measure_passband` for the Ising lattice. Returns two dicts keyed
    ``str(l)`` of float32 ``(L, L)`` tensors.
    """
    x = torch.as_tensor(np.asarray(fields))
    L = x.shape[-1]
    gains, corrs = {}, {}
    for l in sizes:  # noqa: E741
        emb = dct_embed(downsample(x, l), L)
        band = torch.zeros(L, L, dtype=torch.bool)
        band[:l, :l] = True
        g, c = passband_from_powers(*mode_powers(x.reshape(-1, L, L), emb.reshape(-1, L, L), IMAGE_BASIS), band)
        gains[str(l)], corrs[str(l)] = g.float(), c.float()
    return gains, corrs


def _check_L(L: int, multiple: int, name: str) -> None:
    if L % multiple:
        raise InputError(f"patch size {L} must be a multiple of {multiple} for preset {name!r}")


def image_skild_setup(cfg, data: ImageData, device, ck, log) -> Setup:
    """SKILD's unconditional image network, its loss and the checkpoint's description (see the module)."""
    L, C = data.L, data.channels
    ucfg = preset(cfg.preset, in_channels=C, out_channels=C, cond_dim=COND_DIM, padding="reflect")
    _check_L(L, ucfg.multiple, cfg.preset)
    if ck is None:
        log(f"estimating the data spectrum and pass-band statistics on {data.n} images ({IMAGE_BASIS} basis)")
        spectrum = estimate_spectrum(torch.as_tensor(data.fields).reshape(-1, L, L), IMAGE_BASIS)
        gains, corrs = image_passband(data.fields, range(MIN_COARSE, L // 2 + 1))
        zero = zero_mode_samples(data.fields, get_basis(IMAGE_BASIS))
    else:
        spectrum, gains, corrs = Spectrum.from_state_dict(ck["spectrum"]), ck["gains"], ck["passband_corr"]
        zero = ck.get("zero_mode_samples")
    process = SpectralProcess(L, IMAGE_BASIS, spectrum, device=device)
    autocast = device.type == "cuda"

    def loss(model, x0, gen):
        t = torch.rand(x0.shape[0], generator=gen, dtype=torch.float64).to(device)
        eps = torch.randn(x0.shape, generator=gen).to(device)
        return training_loss(Denoiser(model, process, cfg.target, autocast=autocast), x0, t, eps)

    meta = {"kind": "skild", "domain": "images", "channels": C, "unet": ucfg.to_dict(), "process": process.config(),
            "spectrum": spectrum.state_dict(), "gains": gains, "passband_corr": corrs, "passband_key": "coarse_size",
            **({} if zero is None else {"zero_mode_samples": zero})}
    return Setup(UNet(ucfg).to(device), loss, meta, f"{cfg.preset} image U-Net ({C} channels, reflective padding)")


def sr3_image_condition(x0: torch.Tensor, scale: float) -> torch.Tensor:
    """SR3's conditioning image of a fine batch: bicubic upsampling of its area-downsampled version."""
    L = x0.shape[-1]
    return bicubic(downsample(x0.detach().float().cpu(), coarse_size(L, scale)), L).to(x0.device)


def image_sr3_setup(cfg, data: ImageData, device, ck, log) -> Setup:
    """SR3 on images: the U-Net with ``2 C`` input channels (noisy image, bicubic condition), one scale."""
    L, C = data.L, data.channels
    coarse_size(L, cfg.scale)
    ucfg = preset(cfg.preset, in_channels=2 * C, out_channels=C, cond_dim=1, padding="reflect")
    _check_L(L, ucfg.multiple, cfg.preset)
    autocast = device.type == "cuda"
    meta = {"kind": "sr3", "domain": "images", "channels": C, "unet": ucfg.to_dict(),
            "schedule": f"cosine-logsnr-{LOGSNR_MAX:g}, white noise", "condition": "bicubic of area downsampling"}

    def loss(model, x0, gen):
        return sr3_loss(model, x0, cfg.scale, gen, autocast,
                        condition=lambda x, seed: sr3_image_condition(x, cfg.scale))

    return Setup(UNet(ucfg).to(device), loss, meta,
                 f"SR3 {cfg.preset} image U-Net ({2 * C} input channels), scale {cfg.scale:g}")
