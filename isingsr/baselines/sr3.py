"""SR3-style conditional diffusion: white-noise DDPM on the fine lattice, conditioned on the coarse one.

The network is the toolkit's periodic U-Net (:mod:`isingsr.diffusion.unet`)
with two input channels -- the noisy fine field ``x_t`` and the upsampled
coarse configuration (:func:`~.conditioning.condition_image`) -- conditioned
on the log signal-to-noise ratio. The forward process is the standard
variance-preserving one with *white* noise at every scale,
``x_t = alpha_t x_0 + sigma_t eps``, ``alpha_t^2 = sigmoid(lambda_t)``,
``sigma_t^2 = sigmoid(-lambda_t)``, with the cosine log-SNR schedule
``lambda_t = -2 ln tan(a t + b)`` running from +20 at t = 0 to -20 at t = 1.
The network predicts eps; sampling runs the shared samplers
(:mod:`isingsr.diffusion.samplers`) on this process -- it is the white-noise,
mode-independent case :class:`~isingsr.diffusion.process.WhiteProcess` of the
diagonal processes -- from white noise at t = 1 on a uniform grid, with the
x0 estimate clipped to the spin range [-1, 1] (Ho et al. 2020; Saharia et
al. 2022), so that SR3 and SKILD compare at equal network evaluations with
any sampler. One network per scale factor: this is the conditional baseline
SKILD is compared with (SPEC §6).

References
----------
C. Saharia et al., "Image super-resolution via iterative refinement",
IEEE TPAMI 45, 4713 (2022) (SR3).
J. Ho, A. Jain and P. Abbeel, "Denoising diffusion probabilistic models",
NeurIPS (2020).
A. Nichol and P. Dhariwal, "Improved denoising diffusion probabilistic
models", ICML (2021) (cosine schedule).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from ..defaults import SAMPLER, auto_batch, superres_steps
from ..device import bf16_autocast, in_batches, precision_name
from ..diffusion.process import LOGSNR_MAX, WhiteProcess, cosine_logsnr
from ..diffusion.rng import generators, randn
from ..coarse import target_size
from ..diffusion.samplers import SAMPLERS as SHARED_SAMPLERS, VARIANCE_SAMPLERS, get_sampler
from ..diffusion.train import Setup
from ..diffusion.unet import UNet, UNetConfig, preset
from ..exceptions import InputError
from ..validate import integer
from .conditioning import check_coarse, check_scale, condition_from_fine, upsampled

__all__ = ["LOGSNR_MAX", "logsnr", "alpha_sigma", "sr3_loss", "sr3_denoiser", "sr3_sample", "sr3_setup", "SR3",
           "SAMPLERS"]

#: Samplers SR3 runs on (the shared ones, :mod:`isingsr.diffusion.samplers`).
SAMPLERS = tuple(SHARED_SAMPLERS)
#: Step variance of SR3's stochastic samplers: the DDPM posterior's (eta = 1), as in Ho et al. and SR3.
SR3_VARIANCE = "posterior"


def logsnr(t: torch.Tensor) -> torch.Tensor:
    """Cosine log-SNR schedule, +20 at t = 0, 0 at 1/2, -20 at 1 (:func:`~isingsr.diffusion.process.cosine_logsnr`).

    Examples
    --------
    >>> [round(float(v), 6) + 0.0 for v in logsnr(torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))]
    [20.0, 0.0, -20.0]
    """
    return cosine_logsnr(t)


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Signal and noise amplitudes, ``alpha^2 + sigma^2 = 1``."""
    lam = logsnr(t)
    return torch.sigmoid(lam).sqrt(), torch.sigmoid(-lam).sqrt()


def _net_cond(t: torch.Tensor) -> torch.Tensor:
    return (logsnr(t) / 4.0).float().reshape(-1, 1)


def _predict(net: nn.Module, x_t: torch.Tensor, cond_img: torch.Tensor, t: torch.Tensor, autocast: bool):
    with bf16_autocast(autocast, x_t.device.type):
        return net(torch.cat([x_t.float(), cond_img.float()], dim=1), _net_cond(t)).float()


def sr3_loss(net: nn.Module, x0: torch.Tensor, scale: float, gen: torch.Generator, autocast: bool = False,
             condition: Callable[[torch.Tensor, int], torch.Tensor] | None = None):
    """Eps-prediction MSE on a fine batch ``(B, C, L, L)``.

    ``condition(x0, seed)`` makes the conditioning images from the fine batch;
    default: majority-rule coarse-graining by ``scale`` and its naive
    upsampling (:func:`~.conditioning.condition_from_fine`, Ising spins).
    ``gen`` (CPU) draws the tie-breaking seed, the times and the noise, so an
    exact resume replays the same losses.
    """
    B = x0.shape[0]
    seed = int(torch.randint(0, 2**62, (1,), generator=gen))
    cond_img = (condition or (lambda x, sd: condition_from_fine(x, scale, sd)))(x0, seed)
    t = torch.rand(B, generator=gen, dtype=torch.float64).to(x0.device)
    eps = torch.randn(x0.shape, generator=gen).to(x0.device)
    a, s = (v.reshape(B, 1, 1, 1).float() for v in alpha_sigma(t))
    x_t = a * x0 + s * eps
    return torch.mean((_predict(net, x_t, cond_img, t, autocast) - eps) ** 2)


def sr3_denoiser(net: nn.Module, cond_img: torch.Tensor, autocast: bool = False):
    """The denoiser contract ``D(x_t, t) -> x0_hat`` of an SR3 network for fixed conditioning images.

    ``x0_hat = (x_t - sigma_t eps_hat) / alpha_t``, clipped to the spin range [-1, 1] (Ho et al. 2020).
    """
    @torch.no_grad()
    def denoise(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, s = (v.reshape(-1, 1, 1, 1) for v in alpha_sigma(t))
        eps = _predict(net, x_t, cond_img, t, autocast).double()
        return ((x_t - s * eps) / a).clamp(-1.0, 1.0)
    return denoise


@torch.no_grad()
def sr3_sample(net: nn.Module, cond_img: torch.Tensor, steps: int, sampler: str = SAMPLER,
               generator=None, autocast: bool = False) -> torch.Tensor:
    """Reverse process from white noise at t = 1 to t = 0 on a uniform grid of ``steps`` steps.

    Runs the shared samplers on the :class:`~isingsr.diffusion.process.WhiteProcess`
    with :func:`sr3_denoiser`; stochastic samplers use the DDPM posterior
    variance (``ancestral`` is then Ho et al.'s sampler, ``ddim`` Song et al.'s).

    Parameters
    ----------
    net : the SR3 U-Net
    cond_img : tensor (B, 1, L, L)
        Conditioning images (:func:`~.conditioning.condition_image`).
    steps : int
    sampler : str
        One of :data:`SAMPLERS`.
    generator : None, torch.Generator or one per sample

    Returns
    -------
    tensor (B, 1, L, L) float64: the last x0 estimate, in [-1, 1].
    """
    f = get_sampler(sampler)
    steps = integer(steps, "steps", minimum=1)
    dev = cond_img.device
    process = WhiteProcess(cond_img.shape[-1], device=dev)
    x = randn(tuple(cond_img.shape), generator, dev)
    times = torch.linspace(1.0, 0.0, int(steps) + 1, dtype=torch.float64)
    kw = {"variance": SR3_VARIANCE} if sampler in VARIANCE_SAMPLERS else {}
    return f(sr3_denoiser(net, cond_img, autocast), process, x, times, generator=generator, **kw)


def sr3_setup(cfg, ens, device, ck, log) -> Setup:
    """SR3's network (the U-Net with 2 input channels), loss and checkpoint description for the training loop."""
    target_size(ens.L, cfg.scale)  # validates the scale against L
    ucfg = preset(cfg.preset, in_channels=2, cond_dim=1)
    if ens.L % ucfg.multiple:
        raise InputError(f"L = {ens.L} must be a multiple of {ucfg.multiple} for preset {cfg.preset!r}")
    autocast = device.type == "cuda"
    meta = {"kind": "sr3", "unet": ucfg.to_dict(), "schedule": f"cosine-logsnr-{LOGSNR_MAX:g}, white noise"}
    return Setup(UNet(ucfg).to(device), lambda model, x0, gen: sr3_loss(model, x0, cfg.scale, gen, autocast),
                  meta, f"SR3 {cfg.preset} U-Net (2 input channels), scale {cfg.scale:g}")



class SR3:
    """A trained SR3 baseline as a super-resolver (:mod:`isingsr.superres`): its training scale, any L it fits.

    Parameters
    ----------
    net : the SR3 U-Net (2 input channels)
    L : int
        Fine lattice size it produces.
    scale : float
        The training scale, the only one it super-resolves.
    steps, sampler :
        Reverse steps and sampler (:data:`SAMPLERS`) of every call.
    checkpoint : str, optional
        Where the network came from (provenance).
    bf16 : bool, optional
        Run the network under bf16 autocast (faster, biased; :func:`isingsr.device.use_bf16`).
    """

    method = "sr3"
    resumable = True  # sample i depends on seed + i only (isingsr.superres.superresolve_to_file)

    def __init__(self, net: nn.Module, L: int, scale: float, device="cpu", *, steps: int | None = None,
                 sampler: str = SAMPLER, checkpoint: str | None = None, provenance: dict | None = None,
                 bf16: bool = False):
        get_sampler(sampler)
        steps = superres_steps(scale) if steps is None else integer(steps, "steps", minimum=1)
        self.net, self.L, self.scale = net, int(L), float(scale)
        self.steps, self.sampler = int(steps), sampler
        self.device = torch.device(device)
        self.autocast = bool(bf16)
        self._provenance = {"checkpoint": checkpoint, **(provenance or {})}

    @classmethod
    def from_checkpoint(cls, ck: dict, device="cpu", L: int | None = None, *, path=None, **options) -> "SR3":
        """The EMA network of ``ck``, run at ``L`` (default: the training size; the U-Net checks it fits)."""
        net = UNet(UNetConfig.from_dict(ck["unet"]))
        net.load_state_dict(ck["ema"])
        net.for_inference(device)
        prov = {"checkpoint_step": int(ck["step"]), "trained_L": int(ck["data"]["L"]),
                "training_data": ck["data"].get("path")}
        return cls(net, int(ck["data"]["L"]) if L is None else int(L), ck["config"]["scale"], device,
                   checkpoint=None if path is None else str(path), provenance=prov, **options)

    def provenance(self) -> dict:
        """What made the output: method, checkpoint, sampler, steps (HDF5 attributes)."""
        return {"method": "sr3", "protocol": "coarse", "sampler": self.sampler, "steps": self.steps,
                "precision": precision_name(self.autocast),
                **{k: v for k, v in self._provenance.items() if v is not None}}

    def superresolve(self, coarse: np.ndarray, scale: float | None = None, *, seed: int = 0, batch: int | None = None,
                     progress: Callable[[int, int], None] | None = None, rule: str = "majority") -> np.ndarray:
        """Fields ``(N, L, L)`` float32 (sign gives spins); sample i seeded ``seed + i``.

        ``scale`` (default: the training scale) must be the training scale; ``rule`` is accepted for the
        common contract (SR3 was trained on majority-rule inputs).
        """
        check_scale(self, scale)
        coarse = check_coarse(coarse, self.L, self.scale)
        n = coarse.shape[0]
        up = upsampled(coarse, self.L, self.scale, seed=seed)  # int8, once: ties do not depend on the batch
        out = np.empty((n, self.L, self.L), dtype=np.float32)

        def fill(a, b):
            cond = torch.from_numpy(up[a:b].astype(np.float32)).unsqueeze(1).to(self.device)
            gens = generators(range(seed + a, seed + b))
            x = sr3_sample(self.net, cond, self.steps, self.sampler, gens, self.autocast)
            out[a:b] = x[:, 0].float().cpu().numpy()
        in_batches(n, auto_batch(self.L) if batch is None else batch, fill, self.device, progress)
        return out
