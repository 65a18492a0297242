"""What SKILD brings to the shared training loop (:mod:`isingsr.train`), and the pass-band statistics.

:func:`skild_setup` builds the unconditional U-Net, its loss (the target of
:meth:`~isingsr.diffusion.process.SpectralProcess.target` at uniform times)
and the checkpoint's self-description (process config, data spectrum,
pass-band gains and correlations for the conditional start).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..exceptions import InputError
from ..io.checkpoint import load_checkpoint, save_checkpoint
from ..io.hdf5 import load_ensemble
from .denoiser import COND_DIM, Denoiser, training_loss
from .process import SpectralProcess
from .spectral import Spectrum, estimate_spectrum
from .starts import measure_passband
from .zero_mode import zero_mode_histogram
from .unet import UNet, preset

__all__ = ["Setup", "skild_setup", "passband_statistics", "add_passband_statistics", "GAIN_SCALES"]

#: Scales whose pass-band gain is measured on the training data and stored (those with L/s >= 4).
GAIN_SCALES = (2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)


@dataclass
class Setup:
    """What a method contributes to the shared loop: a network, its loss and the checkpoint's description."""

    net: nn.Module
    loss: Callable  # loss(model, x0 (B, 1, L, L), generator) -> scalar tensor
    meta: dict
    describe: str


def skild_setup(cfg, ens, device, ck, log) -> Setup:
    """SKILD's network, loss and checkpoint description for the training loop (:mod:`isingsr.train`).

    ``cfg`` is the run's :class:`~isingsr.train.TrainConfig` (``preset``,
    ``basis``, ``target``, ``seed`` are read), ``ens`` the training ensemble,
    ``ck`` the checkpoint being resumed (None for a new run): a resumed run
    keeps its stored spectrum and pass-band statistics.
    """
    L = ens.L
    ucfg = preset(cfg.preset, cond_dim=COND_DIM)
    if L % ucfg.multiple:
        raise InputError(f"L = {L} must be a multiple of {ucfg.multiple} for preset {cfg.preset!r}")
    if ck is None:
        log(f"estimating the data spectrum and pass-band statistics on {ens.n} configurations ({cfg.basis} basis)")
        spectrum = estimate_spectrum(ens.spins, cfg.basis)
        gains, corrs = passband_statistics(ens.spins, cfg.basis, cfg.seed)
        zero = zero_mode_histogram(ens.spins)
    else:
        spectrum, gains, corrs = Spectrum.from_state_dict(ck["spectrum"]), ck["gains"], ck.get("passband_corr")
        zero = ck.get("zero_mode")
    process = SpectralProcess(L, cfg.basis, spectrum, device=device)
    autocast = device.type == "cuda"

    def loss(model, x0, gen):
        t = torch.rand(x0.shape[0], generator=gen, dtype=torch.float64).to(device)
        eps = torch.randn(x0.shape, generator=gen).to(device)
        return training_loss(Denoiser(model, process, cfg.target, autocast=autocast), x0, t, eps)

    meta = {"kind": "skild", "unet": ucfg.to_dict(), "process": process.config(), "spectrum": spectrum.state_dict(),
            "gains": gains, **({} if corrs is None else {"passband_corr": corrs}),
            **({} if zero is None else {"zero_mode": zero})}
    return Setup(UNet(ucfg).to(device), loss, meta, f"{cfg.preset} U-Net")


def passband_statistics(spins, basis: str, seed: int) -> tuple[dict, dict]:
    """Pass-band gains and correlations for every scale of ``GAIN_SCALES`` with ``L / s >= 4``.

    Returns ``({"2": gain, ...}, {"2": corr, ...})``, float32 ``(L, L)``
    tensors (:func:`~isingsr.diffusion.starts.measure_passband`, majority rule,
    ties broken with ``seed``), as stored in a checkpoint.
    """
    L = np.asarray(spins).shape[-1]
    gains, corrs = {}, {}
    for s in GAIN_SCALES:
        if L / s >= 4:
            g, c = measure_passband(spins, s, basis=basis, seed=seed)
            gains[f"{s:g}"], corrs[f"{s:g}"] = g.float(), c.float()
    return gains, corrs


def add_passband_statistics(ckpt, data, out=None, rtol: float = 1e-5) -> Path:
    """Add the statistics of the training data that a SKILD checkpoint made before them lacks: the pass-band
    correlations of the ``conditional`` start and the zero-mode histogram (:mod:`isingsr.diffusion.zero_mode`).

    They are measured on ``data``, which must be the checkpoint's training
    data: the pass-band gains are measured again alongside and must equal the
    stored ones to ``rtol`` (otherwise :class:`InputError`). Writes ``out``
    (default: ``ckpt`` itself) and returns its path.
    """
    ck = load_checkpoint(ckpt)
    if ck.get("kind", "skild") != "skild":
        raise InputError(f"{ckpt}: a {ck['kind']} checkpoint has no pass-band statistics")
    ens = load_ensemble(data)
    if ens.L != int(ck["process"]["L"]):
        raise InputError(f"{data}: L = {ens.L}, but the checkpoint was trained at L = {ck['process']['L']}")
    gains, corrs = passband_statistics(ens.spins, ck["process"]["basis"], int(ck["config"]["seed"]))
    for key, g in ck["gains"].items():
        if key not in gains:
            raise InputError(f"{data}: cannot measure the gain of scale {key} at L = {ens.L}")
        dev = float((gains[key] - g).abs().max() / g.abs().max())
        if dev > rtol:
            raise InputError(f"{data} is not the checkpoint's training data: the pass-band gain at scale {key} "
                             f"differs by {dev:.2g} (relative)")
    ck["passband_corr"] = {key: corrs[key] for key in ck["gains"]}
    ck["zero_mode"] = zero_mode_histogram(ens.spins)
    return save_checkpoint(out or ckpt, ck)
