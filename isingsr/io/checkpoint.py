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
import zipfile
from pathlib import Path

import torch

from ..exceptions import InputError
from .paths import ensure_space

__all__ = ["FORMAT", "save_checkpoint", "load_checkpoint", "slim_checkpoint"]

FORMAT = "isingsr-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Write a checkpoint atomically (temporary file, then rename)."""
    from .. import __version__

    p = Path(path)
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "isingsr_version": __version__,
               "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **payload}
    size = sum(t.numel() * t.element_size() for t in _tensors(payload))
    ensure_space(p, size, "the previous checkpoint, if any, is intact")
    tmp = p.with_name(p.name + ".tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, p)
    except (OSError, RuntimeError) as exc:  # torch's zip writer raises RuntimeError on a failed write
        tmp.unlink(missing_ok=True)
        raise InputError(f"{p}: cannot write the checkpoint ({str(exc).splitlines()[0][:160]})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


def _tensors(obj):
    """Every tensor in a nested checkpoint payload."""
    if torch.is_tensor(obj):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)


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
    _check_archive(p)
    try:
        ck = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise InputError(f"{p}: not a readable checkpoint ({_why_unreadable(p, exc)})") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise InputError(f"{p}: not an isingsr checkpoint")
    if int(ck.get("format_version", 0)) > FORMAT_VERSION:
        raise InputError(f"{p}: checkpoint format {ck['format_version']} is newer than this isingsr")
    for part in ("ema", "model"):
        for name, w in (ck.get(part) or {}).items():
            if torch.is_tensor(w) and w.is_floating_point() and not bool(torch.isfinite(w).all()):
                raise InputError(f"{p}: weight {part}.{name} is not finite (NaN or inf); the checkpoint is "
                                 "damaged or comes from a diverged run")
    return ck


def _why_unreadable(p: Path, exc: Exception) -> str:
    """Why ``torch.load`` failed, in a user's terms: an ensemble passed as a checkpoint, a file torch did not
    write, or torch's own first line for a damaged torch file."""
    with p.open("rb") as f:
        head = f.read(8)
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file, i.e. an ensemble; a checkpoint is the .pt file isingsr train writes"
    if head.startswith(b"PK") and not zipfile.is_zipfile(p):  # a zip's first member without its directory
        return "a truncated torch file; copy it again"
    if not zipfile.is_zipfile(p) and not head.startswith(b"\x80"):  # neither torch's zip nor its legacy pickle
        return "not a file torch wrote; a checkpoint is the .pt file isingsr train writes"
    return str(exc).splitlines()[0][:120]


def _check_archive(p: Path) -> None:
    """Refuse a damaged file: torch checkpoints are zip archives whose members carry CRC-32 checksums,
    which ``torch.load`` does not verify (a flipped byte in the weights would load silently)."""
    if not zipfile.is_zipfile(p):
        return  # not a zip (legacy torch format, or not torch at all): torch.load decides
    try:
        with zipfile.ZipFile(p) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise InputError(f"{p}: damaged checkpoint ({exc})") from None
    if bad is not None:
        raise InputError(f"{p}: damaged checkpoint (checksum mismatch in {bad}); copy it again or retrain")


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
