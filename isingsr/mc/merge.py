"""``isingsr merge``: join the shards of one Monte Carlo run into the file one process would have written.

A run split with ``isingsr generate --shard I --nshards N`` leaves N files,
each with its block of the run's chains. Within every file, and in the file
of an unsplit run, configurations are stored in (save index, chain) order, so
the merged order is known without any record of how the work was scheduled:
sort by (save index, chain). The merge streams blocks of save indices (a
bounded amount of memory whatever the ensemble's size), joins the chains'
resumable state (so the merged file can be extended with ``generate
--append``), recomputes the autocorrelation times over all chains, and
writes under a temporary name renamed into place only when complete.

The result equals the unsplit run's file in every dataset and attribute
except the creation time stamps and ``merged_shards``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Sequence

import h5py
import numpy as np

from ..exceptions import InputError
from ..io.hdf5 import FORMAT, attrs_to_dict, check_hdf5_file, common_attrs
from ..io.paths import check_output, ensure_space
from .generate import ROUND_BYTES, SHARD_KEYS, chain_targets, create_datasets, shard_chains
from .generate import _autocorrelation

__all__ = ["merge_shards"]

#: Attributes every shard of one run shares (besides L, checked first).
_SAME = ("beta", "J", "seed", "chains", "nshards", "n_target", "sweeps_between", "thermalization_sweeps",
         "updates_between", "mean_cluster_size", "thermalization_updates")
_DATASETS = ("spins", "energy", "magnetization", "chain", "update")


def _save_index(chain: np.ndarray) -> np.ndarray:
    """For each configuration, how many earlier ones its chain has saved (its save index)."""
    order = np.argsort(chain, kind="stable")
    counts = np.bincount(chain)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    idx = np.empty(len(chain), dtype=np.int64)
    idx[order] = np.arange(len(chain)) - np.repeat(starts, counts)
    return idx


class _Shard:
    """One shard file, checked, with the save index of each of its configurations."""

    def __init__(self, path: Path):
        self.path = path
        partial = path.with_name(path.name + ".partial")
        check_hdf5_file(path, f"; {partial} exists: rerun that shard's generate command to finish it"
                        if partial.exists() else "")
        try:
            with h5py.File(path, "r") as f:
                a = attrs_to_dict(f.attrs)
                if a.get("format") != FORMAT or "state" not in f or "algorithm" not in a:
                    raise InputError(f"{path}: not a Monte Carlo ensemble written by isingsr generate")
                if "nshards" not in a:
                    raise InputError(f"{path}: not a shard (written without --nshards); nothing to merge")
                if not a.get("complete", False):
                    raise InputError(f"{path}: shard {a['shard']} is incomplete; rerun its generate command to "
                                     "finish it")
                self.chain = f["chain"][: int(a["n"])].astype(np.int64)
                self.saved = f["state/saved"][:]
        except InputError:
            raise
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"{path}: unreadable or corrupt HDF5 ({str(exc).splitlines()[0]})") from None
        self.attrs = a
        self.shard, self.nshards = int(a["shard"]), int(a["nshards"])
        self.lo, self.hi = shard_chains(int(a["chains"]), self.shard, self.nshards)
        if (int(a.get("chain_offset", -1)), int(a.get("shard_chains", -1))) != (self.lo, self.hi - self.lo):
            raise InputError(f"{path}: its chain block does not match shard {self.shard} of {self.nshards}")
        if len(self.chain) and (self.chain.min() < self.lo or self.chain.max() >= self.hi):
            raise InputError(f"{path}: holds chains outside its block {self.lo}..{self.hi - 1}")
        self.index = _save_index(self.chain - self.lo)
        key = self.index * (self.hi - self.lo) + (self.chain - self.lo)
        if np.any(np.diff(key) <= 0):
            raise InputError(f"{path}: configurations are not in (save index, chain) order; was it appended to?")
        if not np.array_equal(np.bincount(self.chain - self.lo, minlength=self.hi - self.lo), self.saved):
            raise InputError(f"{path}: its records disagree with its chain state; the file is damaged")

    def rows(self, i0: int, i1: int) -> slice:
        """Rows whose save index lies in [i0, i1): contiguous, because of the file order."""
        return slice(int(np.searchsorted(self.index, i0, side="left")),
                     int(np.searchsorted(self.index, i1, side="left")))


def _check_together(shards: list[_Shard]) -> list[_Shard]:
    """The shards in order, or one line saying why they are not the shards of one run."""
    first = shards[0]
    for s in shards[1:]:
        if int(s.attrs["L"]) != int(first.attrs["L"]):
            raise InputError(f"{s.path}: L = {s.attrs['L']}, but {first.path} has L = {first.attrs['L']}")
        for k in _SAME:
            x, y = s.attrs.get(k), first.attrs.get(k)
            if x is None or y is None or not math.isclose(float(x), float(y), rel_tol=1e-12):
                raise InputError(f"{s.path} and {first.path} are not shards of one run: {k} = {x} vs {y}")
    seen: dict[int, Path] = {}
    for s in shards:
        if s.shard in seen:
            raise InputError(f"shard {s.shard} is given twice ({seen[s.shard]}, {s.path})")
        seen[s.shard] = s.path
    missing = sorted(set(range(first.nshards)) - set(seen))
    if missing:
        raise InputError(f"missing shard(s) {', '.join(map(str, missing))} of {first.nshards}")
    return sorted(shards, key=lambda s: s.shard)


def merge_shards(out: str | os.PathLike, paths: Sequence[str | os.PathLike], *, overwrite: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> dict:
    """Merge the shard files of one run into ``out``; returns the merged file's attributes.

    Parameters
    ----------
    out : path-like
        The merged ensemble (written as ``out.tmp``, renamed when complete).
    paths : sequence of path-like
        Every shard of the run, once, in any order.
    overwrite : bool
        Replace an existing ``out``.
    progress : callable, optional
        ``progress(done, total)`` in configurations.
    """
    out = Path(out)
    if not paths:
        raise InputError("no shard files given")
    check_output(out)
    if out.exists() and not overwrite:
        raise InputError(f"{out}: exists; pass --overwrite to replace it")
    if any(Path(p).resolve() == out.resolve() for p in paths):
        raise InputError(f"{out}: is also one of the shards")
    shards = _check_together([_Shard(Path(p)) for p in paths])
    a0 = shards[0].attrs
    L, C, n_target = int(a0["L"]), int(a0["chains"]), int(a0["n_target"])
    total = sum(len(s.chain) for s in shards)
    if total != n_target or not np.array_equal(np.concatenate([s.saved for s in shards]), chain_targets(n_target, C)):
        raise InputError(f"the shards hold {total} configurations, the run {n_target}; a shard is damaged")
    ensure_space(out, sum(s.path.stat().st_size for s in shards))  # same data, same compression
    tmp = out.with_name(out.name + ".tmp")
    try:
        with h5py.File(tmp, "w") as f:
            create_datasets(f, L)
            for name in _DATASETS:
                f[name].resize(total, axis=0)
            handles = [h5py.File(s.path, "r") for s in shards]
            try:
                st = f.create_group("state")
                for name in ("spins", "rng", "updates", "saved", "target"):
                    st.create_dataset(name, data=np.concatenate([h["state"][name][:] for h in handles]))
                per_block = max(1, ROUND_BYTES // (C * L * L))
                n_saves = int(max(s.index.max(initial=-1) for s in shards)) + 1
                done = 0
                for i0 in range(0, n_saves, per_block):
                    i1 = i0 + per_block
                    parts = [(s, h, s.rows(i0, i1)) for s, h in zip(shards, handles)]
                    key = np.concatenate([s.index[r] * C + s.chain[r] for s, _, r in parts])
                    order = np.argsort(key, kind="stable")
                    m = len(order)
                    for name in _DATASETS:
                        f[name][done: done + m] = np.concatenate([h[name][r] for _, h, r in parts])[order]
                    done += m
                    if progress:
                        progress(done, total)
            finally:
                for h in handles:
                    h.close()
            attrs = {k: v for k, v in a0.items() if k not in SHARD_KEYS}
            now = common_attrs()["created"]
            attrs.update({"n": total, "complete": True, "merged_shards": len(shards), "created": now,
                          "modified": now})
            f.attrs.update(attrs)
            f.attrs.update(_autocorrelation(f))
            final = attrs_to_dict(f.attrs)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final
