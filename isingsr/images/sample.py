"""Super-resolution and generation of images from one SKILD checkpoint, and the SR3 image baseline.

SKILD does on images exactly what it does on spins (:mod:`isingsr.diffusion.pipeline`):
super-resolution by S starts at ``process.t_start(S)`` from the
conditional start drawn around the DCT embedding of the coarse image
(:func:`~isingsr.diffusion.starts.conditional_start_from_embedding`, with the
pass-band statistics the checkpoint stores for that coarse size), generation
starts at t = 1 from spectrum-matched noise, with the mean colour of the
training patches as the zero mode's prior in the envelope
(:class:`~isingsr.diffusion.zero_mode.EmpiricalZeroMode`); both run the shared
samplers, with the estimate of x0 bounded mode by mode (:class:`_Bounded`),
and the output is clipped to the pixel range.
Any real scale works whose coarse size ``round(L / S)`` has stored
statistics (2 .. L/2). SR3 runs its own training scale only, from white noise,
conditioned on the bicubic upsampling of the input.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..baselines.sr3 import SR3, sr3_sample
from ..defaults import GENERATION_STEPS, SAMPLER, superres_steps
from ..device import in_batches
from ..diffusion.denoiser import Denoiser
from ..diffusion.inference import build_from_checkpoint
from ..diffusion.rng import generators
from ..diffusion.samplers import gaussian_field, get_sampler, time_grid
from ..diffusion.starts import conditional_start_from_embedding
from ..exceptions import InputError
from ..validate import integer
from .resize import bicubic, dct_embed

__all__ = ["IMAGE_BATCH", "MODE_BOUND", "load_image_model", "skild_superresolve", "skild_generate", "sr3_superresolve"]

#: Images per network batch at inference (32 x 32 RGB patches).
IMAGE_BATCH = 32


def load_image_model(ck: dict, device="cpu"):
    """The network of an image checkpoint: a :class:`Denoiser` (SKILD) or the SR3 U-Net, EMA weights."""
    if ck.get("domain") != "images":
        raise InputError("this checkpoint was trained on Ising configurations, not images")
    if ck.get("kind") == "skild":
        return build_from_checkpoint(ck, device=device)
    if ck.get("kind") == "sr3":
        return SR3.from_checkpoint(ck, device).net
    raise InputError(f"unknown image checkpoint kind {ck.get('kind')!r}")


#: Bound of the x0 estimate per mode, in units of the data's standard deviation sqrt(S(k)) (:class:`_Bounded`).
MODE_BOUND = 6.0


class _Bounded:
    """The denoiser with each mode of its x0 estimate bounded by ``MODE_BOUND sqrt(S(k))``.

    Where the attenuation a_t(k) of a mode is small the network's estimate of
    it is its noise prediction divided by a_t(k): an under-trained network's
    errors there, fed back through the steps, drove the state off the data
    (an early checkpoint of the shipped model's training run). Bounding the
    estimate mode by mode stops that and leaves the modes the data occupy
    alone. Clipping the estimate to the pixel range, as DDPM does, also
    stops it but erases the mean colour: at high t the clipped field is the
    sign of the noise-mode garbage, and generation came out in flat grey
    patches (channel means uncorrelated, a sixth of their spread;
    ``experiments/images_generation.py``, docs/images.md).
    """

    def __init__(self, den: Denoiser):
        self.den, self.process = den, den.process
        self.bound = MODE_BOUND * den.process.S.sqrt()

    def __call__(self, x_t: torch.Tensor, t) -> torch.Tensor:
        B = self.process.basis
        X = B.forward(self.den(x_t, t).to(torch.float64))
        return B.inverse(torch.maximum(torch.minimum(X, self.bound), -self.bound))


def _run(den: Denoiser, x: torch.Tensor, times, sampler: str, gens) -> torch.Tensor:
    return get_sampler(sampler)(_Bounded(den), den.process, x, times, generator=gens)


def _in_batches(n: int, shape: tuple, batch: int, seed: int, sample, progress, device) -> np.ndarray:
    """``out[a:b] = sample(a, b, generators of seeds seed + a .. seed + b - 1)`` clipped to [-1, 1], batch by
    batch into an ``(n, *shape)`` float32 array: image i is seeded ``seed + i`` whatever the batch
    (:func:`isingsr.device.in_batches`: on a CPU, one batch per core at once)."""
    out = np.empty((n, *shape), dtype=np.float32)

    def fill(a, b):
        out[a:b] = sample(a, b, generators(range(seed + a, seed + b))).clamp(-1, 1).float().cpu().numpy()
    in_batches(n, batch, fill, device, progress)
    return out


def _check_coarse(coarse, L: int) -> torch.Tensor:
    y = torch.as_tensor(np.asarray(coarse), dtype=torch.float64)
    if y.ndim != 4 or y.shape[-1] != y.shape[-2] or not 1 <= y.shape[-1] < L:
        raise InputError(f"coarse images: expected (N, C, l, l) with l < {L}, got {tuple(y.shape)}")
    return y


def skild_superresolve(den: Denoiser, ck: dict, coarse, scale: float, *, steps: int | None = None,
                       sampler: str = SAMPLER, seed: int = 0, batch: int = IMAGE_BATCH, t_start: float | None = None,
                       progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Super-resolve coarse images ``(N, C, l, l)`` in [-1, 1] by ``scale`` to the checkpoint's L.

    ``scale`` sets the start time ``process.t_start(scale)`` (``t_start``
    overrides it); the coarse size ``l`` picks the stored pass-band
    statistics. Image i is seeded ``seed + i``. Returns ``(N, C, L, L)``
    float32 clipped to [-1, 1].
    """
    p = den.process
    y = _check_coarse(coarse, p.L)
    key = str(y.shape[-1])
    if key not in ck["gains"]:
        raise InputError(f"the checkpoint has no pass-band statistics for coarse size {key} "
                         f"(it has {', '.join(sorted(ck['gains'], key=int))})")
    gain, corr = ck["gains"][key].to(p.S.device), ck["passband_corr"][key].to(p.S.device)
    t_s = float(p.t_start(float(scale))) if t_start is None else float(t_start)
    if not 0 < t_s < 1:
        raise InputError(f"t_start must lie in (0, 1), got {t_s}")
    times = time_grid(superres_steps(scale) if steps is None else integer(steps, "steps", minimum=1), t_s, process=p)
    def sample(a, b, gens):
        return _run(den, conditional_start_from_embedding(p, dct_embed(y[a:b], p.L), t_s, gain, corr, gens),
                    times, sampler, gens)

    return _in_batches(y.shape[0], (y.shape[1], p.L, p.L), batch, seed, sample, progress, p.S.device)


def skild_generate(den: Denoiser, n: int, *, channels: int = 3, steps: int = GENERATION_STEPS,
                   sampler: str = SAMPLER, seed: int = 0, batch: int = IMAGE_BATCH,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """``n`` images ``(n, C, L, L)`` generated from t = 1 (spectrum-matched noise), float32 in [-1, 1]."""
    p = den.process
    times = time_grid(integer(steps, "steps", minimum=1), 1.0, process=p)

    def sample(a, b, gens):
        return _run(den, torch.cat([gaussian_field(p, 1, g, channels=channels) for g in gens]), times, sampler, gens)

    return _in_batches(n, (channels, p.L, p.L), batch, seed, sample, progress, p.S.device)


def sr3_superresolve(net, coarse, L: int, *, steps: int, sampler: str = SAMPLER, seed: int = 0,
                     batch: int = IMAGE_BATCH, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """SR3 super-resolution of ``(N, C, l, l)`` to ``L`` (its training scale): ``(N, C, L, L)`` float32."""
    y = _check_coarse(coarse, L)
    return _in_batches(y.shape[0], (y.shape[1], L, L), batch, seed,
                       lambda a, b, gens: sr3_sample(net, bicubic(y[a:b], L), steps, sampler, gens), progress,
                       next(net.parameters()).device)
