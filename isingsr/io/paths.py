"""Where cached data live, and paths as results record them (no machine-specific prefixes)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

from ..exceptions import InputError

__all__ = ["cache_dir", "portable_path", "local_path", "check_output", "ensure_space", "exclusive", "partial_path"]


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


def local_path(recorded: str) -> Path:
    """The file a path recorded by :func:`portable_path` names on this machine: ``$ISINGSR_CACHE/NAME`` in
    :func:`cache_dir`, ``isingsr/...`` in the installed package when not found from the working directory,
    anything else as written.

    Examples
    --------
    >>> local_path(portable_path(Path.cwd() / "data" / "L32.h5")) == Path("data/L32.h5")
    True
    """
    text = str(recorded)
    if text.startswith("$ISINGSR_CACHE/"):
        return _cache_root() / text.removeprefix("$ISINGSR_CACHE/")
    if text.startswith("isingsr/") and not Path(text).exists():
        return Path(__file__).resolve().parents[1] / text.removeprefix("isingsr/")
    return Path(text)


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


def partial_path(out) -> Path:
    """Where a resumable writer (``generate``, super-resolution) keeps an unfinished run: ``OUT.partial``."""
    out = Path(out)
    return out.with_name(out.name + ".partial")


@contextlib.contextmanager
def exclusive(path, what: str = "run"):
    """Hold an advisory lock on ``path + '.lock'`` while a resumable run writes ``path``: one clear line if
    another process holds it, instead of two runs computing the same pieces and racing on the same files.

    The lock (``fcntl.flock``) dies with its process, even on ``kill -9``, so a stopped run never blocks the
    next one; the empty lock file is removed on the way out. Where ``fcntl`` is missing (Windows) nothing
    is locked, nor on a file system that refuses locks (some Lustre mounts).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    lock = Path(str(path) + ".lock")
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):  # a file system without locks: go on unlocked
                lock.unlink(missing_ok=True)
                yield
                return
            raise InputError(f"{path}: another {what} is writing it (it holds {lock.name}); wait for it to "
                             "finish or stop it, then repeat this command") from None
        try:
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                break  # the file we locked is still the lock, not one a finishing run has just removed
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)

