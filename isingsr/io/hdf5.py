"""HDF5 ensembles of Ising configurations: the one on-disk format of isingsr.

Layout (schema documented in ``data/README.md``)::

    /spins          (N, L, L) int8, values +-1, chunked, gzip-compressed
    /energy         (N,) float64   energy per site of each configuration (optional)
    /magnetization  (N,) float64   magnetisation per site, signed (optional)
    /chain          (N,) int32     Markov chain a configuration came from (MC only)
    /update         (N,) int64     cluster updates of its chain when it was saved (MC only)
    /state/...      resumable chain state (MC only): spins, rng, updates
    attributes      L, beta, J, boundary, provenance, ... (see data/README.md)

Writes are crash-safe: files are written under a temporary name and renamed
into place when complete (``os.replace`` is atomic), so a reader never sees
a half-written ensemble under its final name.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..exceptions import InputError
from .paths import check_output, ensure_space

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Ensemble",
    "load_ensemble",
    "write_ensemble",
    "validate_spins",
    "chunk_shape",
    "common_attrs",
    "attrs_to_dict",
    "check_hdf5_file",
]

FORMAT = "isingsr-ensemble"
FORMAT_VERSION = 1
_VALIDATE_BLOCK = 1 << 24  # sites checked per block when validating +-1 values


@dataclass
class Ensemble:
    """An ensemble of L x L spin configurations and what describes it.

    Attributes
    ----------
    spins : ndarray, shape (N, L, L), int8
        Configurations, values +-1.
    attrs : dict
        The file's attributes (L, beta, provenance ...), numpy scalars
        converted to Python types.
    chain : ndarray, shape (N,), int32, or None
        Chain index of each configuration, when the file records it.
    path : str
        Where it was read from ('' for an in-memory ensemble).
    """

    spins: np.ndarray
    attrs: dict = field(default_factory=dict)
    chain: np.ndarray | None = None
    path: str = ""

    @property
    def L(self) -> int:
        return int(self.spins.shape[-1])

    @property
    def n(self) -> int:
        return int(self.spins.shape[0])

    @property
    def beta(self) -> float | None:
        b = self.attrs.get("beta")
        return None if b is None else float(b)

    def time_order(self) -> np.ndarray:
        """Indices that sort configurations by chain, then by save time.

        Jackknife blocks taken in this order are contiguous in Monte Carlo
        time, as autocorrelated data require.
        """
        if self.chain is None:
            return np.arange(self.n)
        return np.argsort(self.chain, kind="stable")


def attrs_to_dict(attrs: h5py.AttributeManager) -> dict[str, Any]:
    """HDF5 attributes as plain Python values (str, int, float, bool, list)."""
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def validate_spins(spins: np.ndarray, what: str = "spins") -> None:
    """Raise :class:`InputError` unless ``spins`` is an (N, L, L) array of +-1.

    Parameters
    ----------
    spins : array-like
        Candidate configurations.
    what : str
        Name used in the error message (e.g. the file name).
    """
    if spins.ndim != 3 or spins.shape[1] != spins.shape[2]:
        raise InputError(f"{what}: expected configurations of shape (N, L, L), got {tuple(spins.shape)}")
    if spins.shape[0] < 1:
        raise InputError(f"{what}: the ensemble is empty (0 configurations)")
    if not np.issubdtype(spins.dtype, np.integer):
        raise InputError(f"{what}: spins must be integers +-1, got dtype {spins.dtype}")
    per = max(1, _VALIDATE_BLOCK // (spins.shape[1] * spins.shape[2]))
    for start in range(0, spins.shape[0], per):
        block = np.asarray(spins[start : start + per])
        bad = (block != 1) & (block != -1)
        if bad.any():
            idx = np.argwhere(bad)[0]
            raise InputError(
                f"{what}: spins must be +-1, found {int(block[tuple(idx)])} "
                f"in configuration {start + int(idx[0])} at ({int(idx[1])}, {int(idx[2])})"
            )


def check_hdf5_file(path: str | os.PathLike, missing_hint: str = "") -> Path:
    """``path`` as a Path if it is a readable HDF5 file; otherwise :class:`InputError` with one line
    (``missing_hint`` is added to the message of a missing file)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file{missing_hint}")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, expected an HDF5 ensemble file")
    try:
        is_h5 = h5py.is_hdf5(p)
    except OSError as exc:
        raise InputError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    if not is_h5:
        raise InputError(f"{p}: not an HDF5 file")
    return p


def load_ensemble(path: str | os.PathLike, max_samples: int | None = None) -> Ensemble:
    """Read and validate an ensemble file.

    Parameters
    ----------
    path : path-like
        An HDF5 file with a ``spins`` dataset of shape (N, L, L) and values +-1.
    max_samples : int, optional
        Read only the first ``max_samples`` configurations.

    Returns
    -------
    Ensemble

    Raises
    ------
    InputError
        Missing file, not HDF5, no ``spins`` dataset, wrong shape or dtype,
        values other than +-1, an empty ensemble. The message is one line.
    """
    p = check_hdf5_file(path)
    try:
        with h5py.File(p, "r") as f:
            if "spins" not in f or not isinstance(f["spins"], h5py.Dataset):
                raise InputError(f"{p}: no 'spins' dataset, not an Ising ensemble")
            ds = f["spins"]
            if ds.ndim != 3 or ds.shape[1] != ds.shape[2]:
                raise InputError(f"{p}: 'spins' has shape {ds.shape}, expected (N, L, L)")
            n_avail = ds.shape[0]
            if "n" in f.attrs:  # files written by isingsr record how many samples are complete
                n_avail = min(n_avail, int(f.attrs["n"]))
            n = n_avail if max_samples is None else min(n_avail, int(max_samples))
            if n < 1:
                raise InputError(f"{p}: the ensemble is empty (0 configurations)")
            if not np.issubdtype(ds.dtype, np.integer):
                raise InputError(f"{p}: 'spins' has dtype {ds.dtype}, expected int8 values +-1")
            spins = ds[:n]
            chain = f["chain"][:n].astype(np.int32) if "chain" in f else None
            attrs = attrs_to_dict(f.attrs)
    except InputError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{p}: unreadable or corrupt HDF5 ({str(exc).splitlines()[0]})") from None
    validate_spins(spins, str(p))
    if spins.dtype != np.int8:
        spins = spins.astype(np.int8)
    attrs.setdefault("L", spins.shape[-1])
    return Ensemble(spins=spins, attrs=attrs, chain=chain, path=str(p))


def chunk_shape(L: int, n: int | None = None) -> tuple[int, int, int]:
    """HDF5 chunk of about 256 KiB of configurations (at most ``n`` of them)."""
    k = max(1, (1 << 18) // (L * L))
    return (k if n is None else max(1, min(k, n)), L, L)


def common_attrs() -> dict[str, Any]:
    """Attributes every isingsr file carries: format, version, creation time."""
    from .. import __version__

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "isingsr_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "spin_encoding": "int8 +-1, not bit-packed",
    }


def write_ensemble(
    path: str | os.PathLike,
    spins: np.ndarray,
    attrs: dict[str, Any],
    *,
    overwrite: bool = False,
    extra: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write a derived ensemble (coarse-grained, super-resolved, generated).

    Parameters
    ----------
    path : path-like
        Output file; written under ``path + '.tmp'`` and renamed when complete.
    spins : ndarray, shape (N, L, L)
        Configurations, values +-1 (validated).
    attrs : dict
        Provenance (source file, rule, scale, checkpoint, sampler, steps, ...).
        ``L``, ``n`` and the common attributes are added.
    overwrite : bool
        Replace an existing file.
    extra : dict of str -> ndarray, optional
        Further datasets with leading length N (e.g. continuous fields).
    """
    p = check_output(path)
    if p.exists() and not overwrite:
        raise InputError(f"{p}: exists; pass --overwrite to replace it")
    spins = np.asarray(spins)
    validate_spins(spins, "spins to write")
    ensure_space(p, spins.size + sum(np.asarray(a).nbytes for a in (extra or {}).values()))
    tmp = p.with_name(p.name + ".tmp")
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset(
                "spins", data=spins.astype(np.int8), chunks=chunk_shape(spins.shape[-1], spins.shape[0]),
                compression="gzip", compression_opts=1, shuffle=False,
            )
            for name, arr in (extra or {}).items():
                f.create_dataset(name, data=arr)
            f.attrs.update(common_attrs())
            for k, v in attrs.items():
                if v is not None:
                    f.attrs[k] = v
            f.attrs["L"] = int(spins.shape[-1])
            f.attrs["n"] = int(spins.shape[0])
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{p}: cannot write ({exc.strerror or exc})") from None
    return p
