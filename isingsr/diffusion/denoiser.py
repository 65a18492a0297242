"""The denoiser contract ``D(x_t, t) -> x0_hat`` around a network, and the training loss.

The network never sees the raw time. It is conditioned on the *physical*
state of the process: the log of the cutoff length w(t) in lattice units
and the envelope e(t) that removes the zero mode near t = 1. A model trained
at one L therefore means the same thing at another L.
"""

from __future__ import annotations

import torch
from torch import nn

from ..defaults import auto_batch
from ..device import bf16_autocast
from .process import DiagonalProcess, SpectralProcess
from .zero_mode import EmpiricalZeroMode, ZeroModePrior

__all__ = ["conditioning", "Denoiser", "wiener_denoiser", "with_wiener", "training_loss", "COND_DIM"]

#: Number of conditioning scalars :func:`conditioning` produces.
COND_DIM = 2


def conditioning(process: SpectralProcess, t, batch: int) -> torch.Tensor:
    """Network conditioning ``[ln w(t), e(t)]``, shape (batch, 2), float32."""
    t = torch.as_tensor(t, dtype=torch.float64, device=process.S.device).reshape(-1).expand(batch)
    return torch.stack([torch.log(process.cutoff_length(t)), process.envelope(t)], dim=1).float()


class Denoiser:
    """``D(x_t, t) -> x0_hat`` from a network predicting ``target`` ('eps', 'x0' or 'v').

    Parameters
    ----------
    net : nn.Module
        ``net(x, cond) -> prediction``, shapes (B, 1, L, L) and (B, 2).
    process : SpectralProcess
    target : str
    autocast : bool
        Run the network under bf16 autocast on the input's device (:func:`isingsr.device.use_bf16`).

    Examples
    --------
    Any callable with this contract can drive the samplers in
    :mod:`isingsr.diffusion.samplers`.
    """

    def __init__(self, net: nn.Module, process: SpectralProcess, target: str = "eps", autocast: bool = False,
                 zero_mode: ZeroModePrior | EmpiricalZeroMode | None = None):
        self.net, self.process, self.target, self.autocast = net, process, target, autocast
        self.zero_mode = zero_mode

    def predict(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """Raw network output for ``x_t`` at time ``t`` (float or (B,))."""
        cond = conditioning(self.process, t, x_t.shape[0]).to(x_t.device)
        with bf16_autocast(self.autocast, x_t.device.type):
            return self.net(x_t.float(), cond).float()

    def _predict_in_pieces(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """:meth:`predict` on a CPU in pieces of at most :func:`~isingsr.defaults.auto_batch` configurations.

        A batch larger than that (the particles of one input at L = 128, or a large ``--batch``) has activations
        above glibc's largest mmap threshold (32 MB), which are mapped and unmapped at every evaluation: 4
        particles at L = 128 spent a fifth of their CPU time in page faults. The pieces' activations are reused
        instead; each configuration's output is the whole batch's to float32 rounding.
        """
        n, size = x_t.shape[0], auto_batch(x_t.shape[-1])
        if x_t.device.type != "cpu" or n <= size:
            return self.predict(x_t, t)
        tt = torch.as_tensor(t)
        each = tt.ndim > 0 and tt.numel() == n  # one time per configuration
        return torch.cat([self.predict(x_t[i:i + size], tt.reshape(-1)[i:i + size] if each else t)
                          for i in range(0, n, size)])

    @torch.no_grad()
    def __call__(self, x_t: torch.Tensor, t) -> torch.Tensor:
        pred = self._predict_in_pieces(x_t, t).to(x_t.dtype)
        x0 = self.process.x0_from_target(self.target, pred, x_t, t)
        return x0 if self.zero_mode is None else self._envelope_zero_mode(x_t, x0, t)

    def _envelope_zero_mode(self, x_t: torch.Tensor, x0: torch.Tensor, t) -> torch.Tensor:
        """For samples with t > t_env: the zero mode of ``x0`` becomes its exact posterior mean
        (:mod:`isingsr.diffusion.zero_mode`); every other mode, and every sample below t_env, is the network's."""
        p = self.process
        t = torch.as_tensor(t, dtype=torch.float64, device=p.S.device).reshape(-1).expand(x_t.shape[0])
        inside = t > p.t_env
        if not bool(inside.any()):
            return x0
        la = p.log_a(t[inside])[:, 0, 0]
        a, s2 = la.exp(), -torch.expm1(2 * la) * p.S[0, 0]
        y = p.basis.forward(x_t[inside].to(torch.float64))[:, :, 0, 0]
        coef = p.basis.forward(x0[inside].to(torch.float64))
        coef[:, :, 0, 0] = self.zero_mode.posterior_mean(y, a, s2)
        x0 = x0.clone()
        x0[inside] = p.basis.inverse(coef).to(x0.dtype)
        return x0


def wiener_denoiser(process: DiagonalProcess):
    """The exact denoiser for zero-mean Gaussian data with spectrum S: an oracle that proves the samplers.

    ``X0_hat = a S / (a^2 S + sigma^2) X_t = a X_t`` per mode (spectrum
    matching makes the denominator S).
    """
    def denoise(x_t, t):
        la = process.log_a(t.reshape(-1, 1))
        return process.basis.inverse(la.exp() * process.basis.forward(x_t))
    return denoise


def with_wiener(x0: torch.Tensor, x_t: torch.Tensor, a: torch.Tensor, where: torch.Tensor, basis) -> torch.Tensor:
    """The estimate ``x0`` with the modes where ``where`` holds replaced by the Wiener estimate ``a X_t``.

    ``a`` is the signal fraction a_t(k) per mode of ``basis``. Where a is small, a network's
    ``x_0 = (x_t - sigma eps) / a`` multiplies its error by 1 / a, and the Wiener estimate (the Gaussian
    model's posterior mean) is the better one. Returns float64.
    """
    X0, Xt = basis.forward(x0.to(torch.float64)), basis.forward(x_t.to(torch.float64))
    return basis.inverse(torch.where(where, a * Xt, X0))


def training_loss(denoiser: Denoiser, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the network's target prediction (over modes = over sites, by Parseval).

    Parameters
    ----------
    denoiser : Denoiser
    x0 : tensor (B, 1, L, L)
        Clean fields.
    t : tensor (B,)
        Times in [0, 1].
    eps : tensor (B, 1, L, L)
        White noise (real space).
    """
    p = denoiser.process
    x_t, _ = p.q_sample(x0, t, eps=eps)
    target = p.target(denoiser.target, x0, eps, t)
    pred = denoiser.predict(x_t, t)
    return torch.mean((pred - target.float()) ** 2)
