"""Which torch device a command runs on."""

from __future__ import annotations

import torch

from .exceptions import InputError

__all__ = ["resolve_device"]


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda if available else cpu; a clear error if cuda is asked for and absent."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available (install a CUDA build of torch)")
    return torch.device(name)
