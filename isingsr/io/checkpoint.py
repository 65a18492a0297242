"""Model checkpoints that describe themselves and load with ``torch.load(weights_only=True)``.

A checkpoint is a dict of tensors and plain Python values (no pickled code):

=================  ===========================================================
``format``         ``"isingsr-checkpoint"``, ``format_version`` 1
``kind``           ``"skild"`` (later: baselines)
``config``         the training configuration (JSON-able dict)
``unet``           the network architecture (``UNetConfig.to_dict()``)
``process``        the forward process (``SpectralProcess.config()``)
``spectrum``       ``Spectrum.state_dict()``: S(k) per mode and its radial profile
``gains``          ``{str(scale): (L, L) tensor}`` pass-band gains for super-resolution starts
``passband_corr``  ``{str(scale): (L, L) tensor}`` pass-band correlations (``conditional`` start)
``data``           provenance of the training data (path, n, L, beta, seed)
``model``, ``ema`` network weights (raw and exponential moving average)
``optimizer``      AdamW state; ``step`` the optimisation step
``rng``            generator states for an exact resume
``isingsr_version``, ``created``
=================  ===========================================================

A command given only the checkpoint needs no other model flags.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

import torch

from ..exceptions import InputError

__all__ = ["FORMAT", "save_checkpoint", "load_checkpoint", "slim_checkpoint"]

FORMAT = "isingsr-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Write a checkpoint atomically (temporary file, then rename)."""
    from .. import __version__

    p = Path(path)
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "isingsr_version": __version__,
               "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **payload}
    tmp = p.with_name(p.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, p)
    return p


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load and check a checkpoint (``weights_only=True``: no code is unpickled).

    Raises
    ------
    InputError
        Missing file, not a torch file, or not an isingsr checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such checkpoint file")
    try:
        ck = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise InputError(f"{p}: not a readable checkpoint ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise InputError(f"{p}: not an isingsr checkpoint")
    if int(ck.get("format_version", 0)) > FORMAT_VERSION:
        raise InputError(f"{p}: checkpoint format {ck['format_version']} is newer than this isingsr")
    return ck


def slim_checkpoint(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """A release copy: the EMA weights and everything that describes the model, no training state.

    Drops the raw weights, the optimizer and the generator states (a slim
    checkpoint samples and super-resolves but cannot be resumed), and records
    ``slim = True``. Halves to quarters the size.
    """
    ck = load_checkpoint(src)
    keep = {k: v for k, v in ck.items() if k not in ("model", "optimizer", "rng", "format", "format_version",
                                                      "isingsr_version", "created")}
    keep.update({"slim": True, "trained_with": ck.get("isingsr_version"), "trained_on": ck.get("created")})
    return save_checkpoint(dst, keep)
