"""Where cached data live, and paths as results record them (no machine-specific prefixes)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..exceptions import InputError

__all__ = ["cache_dir", "portable_path", "check_output", "ensure_space"]


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


def check_output(path, *, directory: bool = False) -> Path:
    """Fail early, with one line, when ``path`` cannot be written -- before any long computation.

    A file: the name is not a folder, its folder exists and a file can be
    created there. A folder (``directory=True``): the path is a folder or does
    not exist yet, its parent exists, and the nearest existing one takes a
    file. The check writes and removes a small hidden file (it catches
    read-only file systems and permissions that ``os.access`` misreports).
    """
    p = Path(path)
    if directory:
        if p.exists() and not p.is_dir():
            raise InputError(f"{p}: exists and is not a directory")
        if not p.exists() and not p.parent.exists():
            raise InputError(f"{p.parent}: no such directory")
        where = p if p.is_dir() else p.parent
    else:
        if p.is_dir():
            raise InputError(f"{p}: is a directory, expected an output file name")
        where = p.parent
        if not where.exists():
            raise InputError(f"{where}: no such directory")
    if not where.is_dir():
        raise InputError(f"{where}: is not a directory")
    try:
        fd, probe = tempfile.mkstemp(dir=where, prefix=".isingsr-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"{where}: cannot write there ({exc.strerror or exc})") from None
    return p


#: Free space kept in reserve on top of what a write needs.
SPACE_MARGIN = 16 << 20


def ensure_space(path, nbytes: int, done: str = "") -> None:
    """Raise :class:`InputError` before a write of about ``nbytes`` bytes that the disk cannot take.

    HDF5 does not recover from a write that fails half-way (the file and the
    library are left in a broken state), so writers check first.
    ``done`` says what is already safe on disk (e.g. how to resume).
    """
    p = Path(path)
    where = p if p.is_dir() else p.parent
    free = shutil.disk_usage(where).free
    if free < nbytes + SPACE_MARGIN:
        raise InputError(f"{where}: disk nearly full ({free / 2**20:.0f} MiB free, the next write needs about "
                         f"{(nbytes + SPACE_MARGIN) / 2**20:.0f} MiB){'; ' + done if done else ''}")
