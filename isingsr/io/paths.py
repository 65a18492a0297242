"""Where cached data live, and paths as results record them (no machine-specific prefixes)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "portable_path"]


def _cache_root() -> Path:
    env = os.environ.get("ISINGSR_CACHE")
    return Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "isingsr"


def cache_dir() -> Path:
    """``$ISINGSR_CACHE``, else ``$XDG_CACHE_HOME/isingsr``, else ``~/.cache/isingsr`` (created)."""
    p = _cache_root()
    p.mkdir(parents=True, exist_ok=True)
    return p


def portable_path(path) -> str:
    """``path`` as a result file records it: relative to the working directory when inside it,
    ``$ISINGSR_CACHE/NAME`` for a file of the cache, ``isingsr/...`` for a file shipped in the package,
    else as given.

    Examples
    --------
    >>> portable_path(Path.cwd() / "data" / "L32.h5")
    'data/L32.h5'
    """
    p = Path(path)
    try:
        resolved = p.resolve()
    except OSError:
        return str(path)
    package = Path(__file__).resolve().parents[1]
    for root, prefix in ((Path.cwd().resolve(), ""), (package, "isingsr/")):
        if resolved.is_relative_to(root):
            return prefix + resolved.relative_to(root).as_posix()
    cache = _cache_root().resolve()
    if resolved.is_relative_to(cache):
        return "$ISINGSR_CACHE/" + resolved.relative_to(cache).as_posix()
    return str(path)
