"""``isingsr generate``: Wolff chains streamed into a crash-safe HDF5 ensemble.

A run writes ``OUT.partial`` (a complete, valid HDF5 file after every round,
holding the chains' state) and renames it to ``OUT`` only when all samples
are in and the autocorrelation times are stored. A killed run therefore
leaves either no ``OUT`` or a complete one, plus a resumable ``OUT.partial``:
running the same command again continues it and produces exactly the file
an uninterrupted run would have. ``append`` copies ``OUT`` to ``OUT.partial``,
continues the same chains from their stored state, and renames back.

A run can be split into shards (``shard``, ``nshards``): shard I thermalises
every chain of the run, exactly as one run would (the spacing between saves
is chosen from all chains' cluster sizes), then keeps and samples only its
block of chains. :func:`isingsr.mc.merge.merge_shards` joins the shards into
the file one run with the same seed and chains writes.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Callable

import h5py
import numpy as np

from ..analysis.errors import chain_autocorrelation
from ..constants import BETA_C
from ..exceptions import InputError
from ..io.hdf5 import FORMAT, attrs_to_dict, chunk_shape, common_attrs
from ..io.paths import check_output, ensure_space, exclusive, partial_path
from .wolff import WolffChains, default_chains

__all__ = ["generate", "ROUND_BYTES", "SHARD_KEYS", "shard_chains", "create_datasets", "chain_targets"]

#: Bytes of configurations computed per round (one progress step, one flush).
ROUND_BYTES = 16 << 20
#: Attributes that must agree for a partial file to be resumed.
_RESUME_KEYS = ("L", "beta", "seed", "chains", "sweeps_between", "thermalization_sweeps", "n_target", "shard",
                "nshards")
#: Attributes only a shard carries (dropped by the merge).
SHARD_KEYS = ("shard", "nshards", "chain_offset", "shard_chains")


def shard_chains(chains: int, shard: int, nshards: int) -> tuple[int, int]:
    """The block of chains ``lo .. hi-1`` that shard ``shard`` of ``nshards`` runs."""
    return chains * shard // nshards, chains * (shard + 1) // nshards


def chain_targets(n: int, chains: int) -> np.ndarray:
    """Configurations each chain saves for ``n`` in all: n // chains, one more for the first n % chains."""
    return n // chains + (np.arange(chains) < n % chains).astype(np.int64)


def create_datasets(f: h5py.File, L: int) -> None:
    """The empty, growable per-configuration datasets of a Monte Carlo ensemble."""
    opts = dict(compression="gzip", compression_opts=1)
    f.create_dataset("spins", shape=(0, L, L), maxshape=(None, L, L), dtype=np.int8, chunks=chunk_shape(L), **opts)
    for name, dt in (("energy", np.float64), ("magnetization", np.float64), ("chain", np.int32),
                     ("update", np.int64)):
        f.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dt, chunks=(4096,))


def _create(path: Path, mc: WolffChains, therm: dict, n_target: int, params: dict, shard: int = 0,
            nshards: int = 1) -> None:
    """Start a run file; ``mc`` holds all of the run's chains, of which the shard keeps its block."""
    L, C = mc.L, mc.chains
    lo, hi = shard_chains(C, shard, nshards)
    with h5py.File(path, "w") as f:
        create_datasets(f, L)
        st = f.create_group("state")
        st.create_dataset("spins", data=mc.spins[lo:hi].reshape(hi - lo, L, L))
        st.create_dataset("rng", data=mc.rng[lo:hi])
        st.create_dataset("updates", data=mc.updates[lo:hi])
        st.create_dataset("saved", data=np.zeros(hi - lo, dtype=np.int64))
        st.create_dataset("target", data=chain_targets(n_target, C)[lo:hi])
        f.attrs.update(common_attrs())
        f.attrs.update({
            "L": L, "beta": mc.beta, "J": mc.J, "boundary": "periodic",
            "algorithm": "wolff single-cluster", "rng": "xoshiro256** per chain, seeded by numpy SeedSequence.spawn",
            "seed": mc.seed, "chains": C, "n": 0, "n_target": n_target, "complete": False,
            "sweeps_between": params["sweeps_between"], "thermalization_sweeps": params["therm_sweeps"],
            "updates_between": therm["updates_between"],
            "mean_cluster_size": therm["mean_cluster_size"],
            "mean_cluster_size_err": therm["mean_cluster_size_err"],
            "thermalization_updates": therm["thermalization_updates"],
            "energy_units": "per site, J = 1", "magnetization_units": "per site, signed",
        })
        if nshards > 1:
            f.attrs.update({"shard": shard, "nshards": nshards, "chain_offset": lo, "shard_chains": hi - lo})


def _open_chains(f: h5py.File, workers: int | None) -> WolffChains:
    a = f.attrs
    st = f["state"]
    return WolffChains.from_state(L=int(a["L"]), beta=float(a["beta"]), spins=st["spins"][:], rng=st["rng"][:],
                                  updates=st["updates"][:], seed=int(a["seed"]), workers=workers, J=float(a["J"]))


def _append_round(f: h5py.File, res, counts: np.ndarray, offset: int = 0) -> int:
    """Append one round in (save index, chain) order; returns samples written.

    ``offset`` is the run-wide index of the file's first chain (a shard's).
    """
    k = int(counts.max())
    jj, cc = np.nonzero(np.arange(k)[:, None] < counts[None, :])  # sorted by j, then chain
    m = len(jj)
    n0 = int(f.attrs["n"])
    for name in ("spins", "energy", "magnetization", "chain", "update"):
        f[name].resize(n0 + m, axis=0)
    f["spins"][n0:] = res.spins[cc, jj]
    f["energy"][n0:] = res.energy[cc, jj]
    f["magnetization"][n0:] = res.magnetization[cc, jj]
    f["chain"][n0:] = (cc + offset).astype(np.int32)
    f["update"][n0:] = res.update[cc, jj]
    return m


def _save_state(f: h5py.File, mc: WolffChains, saved: np.ndarray, n: int) -> None:
    st = f["state"]
    st["spins"][...] = mc.spins.reshape(mc.chains, mc.L, mc.L)
    st["rng"][...] = mc.rng
    st["updates"][...] = mc.updates
    st["saved"][...] = saved
    f.attrs["n"] = n
    f.flush()


def _autocorrelation(f: h5py.File) -> dict:
    """tau_int of E and |m| in units of the saving interval, pooled over chains."""
    return chain_autocorrelation(f["energy"][:], f["magnetization"][:], f["chain"][:])


def generate(out: str | os.PathLike, L: int | None, n: int, *, beta: float = BETA_C, seed: int = 0,
             chains: int | None = None, workers: int | None = None, sweeps_between: float = 2.0,
             therm_sweeps: float = 100.0, append: bool = False, overwrite: bool = False, shard: int = 0,
             nshards: int = 1, progress: Callable[[int, int], None] | None = None,
             log: Callable[[str], None] = lambda s: None) -> dict:
    """Generate (or extend) a Monte Carlo ensemble file.

    Parameters
    ----------
    out : path-like
        Output HDF5 file.
    L : int or None
        Linear size (may be None with ``append``: taken from the file).
    n : int
        Configurations to produce (added to the file with ``append``).
    beta, seed, chains, workers, sweeps_between, therm_sweeps
        See :class:`~isingsr.mc.wolff.WolffChains` and
        :meth:`~isingsr.mc.wolff.WolffChains.thermalize`.
    append : bool
        Continue the chains stored in ``out`` and add ``n`` configurations.
    overwrite : bool
        Replace an existing ``out`` (and discard an interrupted ``out.partial``).
    shard, nshards : int
        Run only shard ``shard`` (0-based) of the run split into ``nshards``:
        its block of the chains (:func:`shard_chains`), with ``n`` and
        ``chains`` those of the whole run. Join the shards with
        :func:`isingsr.mc.merge.merge_shards`.
    progress : callable, optional
        ``progress(done, total)`` after each round.
    log : callable
        Receives one-line status messages.

    Returns
    -------
    dict
        The final file's attributes.
    """
    out = Path(out)
    if int(n) != n or n < 1:
        raise InputError(f"n must be an integer >= 1, got {n}")
    if append and overwrite:
        raise InputError("--append and --overwrite exclude each other")
    if int(nshards) != nshards or nshards < 1 or int(shard) != shard or not 0 <= shard < nshards:
        raise InputError(f"--shard must be 0..nshards-1 and --nshards >= 1, got shard {shard} of {nshards}")
    if append and nshards > 1:
        raise InputError("--append continues a whole run: merge the shards first, then append to the merged file")
    check_output(out)
    partial = partial_path(out)
    with exclusive(partial, "isingsr generate"):
        if overwrite:
            partial.unlink(missing_ok=True)
        elif out.exists() and not append:
            raise InputError(f"{out}: exists; pass --overwrite to replace it or --append to add to it")

        if partial.exists():
            resumed = _resume_check(partial, L, n, beta, seed, chains, sweeps_between, therm_sweeps, append,
                                    shard, nshards)
            log(f"continuing the interrupted run in {partial} ({resumed} samples already done)")
        elif append:
            _prepare_append(out, partial, L, n, beta)
            log(f"appending {n} configurations to {out}, continuing its chains")
        else:
            if L is None:
                raise InputError("--L is required")
            C = default_chains(n) if chains is None else chains
            if nshards > C:
                raise InputError(f"--nshards {nshards} is more than the run's {C} chains; pass --chains >= {nshards}")
            mc = WolffChains(L, beta=beta, chains=C, seed=seed, workers=workers)
            log(f"thermalising {C} chains of {L}x{L} at beta={beta:.10g} ({therm_sweeps:g} sweeps)")
            therm = mc.thermalize(sweeps=therm_sweeps, sweeps_between=sweeps_between)
            log(f"mean cluster size {therm['mean_cluster_size']:.1f} -> {therm['updates_between']} cluster updates "
                f"between saves (~{sweeps_between:g} sweeps)")
            if nshards > 1:
                lo, hi = shard_chains(C, shard, nshards)
                log(f"shard {shard} of {nshards}: chains {lo}..{hi - 1}")
            _create(partial, mc, therm, int(n), {"sweeps_between": sweeps_between, "therm_sweeps": therm_sweeps},
                    shard, nshards)

        with h5py.File(partial, "r+") as f:
            mc = _open_chains(f, workers)
            saved = f["state/saved"][:]
            target = f["state/target"][:]
            between = int(f.attrs["updates_between"])
            offset = int(f.attrs.get("chain_offset", 0))
            n_done = int(f.attrs["n"])
            n_target = int(target.sum())  # this file's share of the run (all of it unless a shard)
            k_round = max(1, ROUND_BYTES // (mc.chains * mc.L * mc.L))
            while np.any(saved < target):
                counts = np.minimum(k_round, target - saved)
                res = mc.sample(counts, between)
                ensure_space(partial, res.spins.nbytes + res.energy.nbytes * 4,
                             f"{n_done} configurations are safe in {partial}; free space and repeat the command to "
                             "continue")
                n_done += _append_round(f, res, counts, offset)
                saved = saved + counts
                _save_state(f, mc, saved, n_done)
                if progress:
                    progress(n_done, n_target)
            f.attrs.update(_autocorrelation(f))
            f.attrs["complete"] = True
            f.attrs["modified"] = common_attrs()["created"]
            final = attrs_to_dict(f.attrs)
        os.replace(partial, out)
    return final


def _resume_check(partial, L, n, beta, seed, chains, sweeps_between, therm_sweeps, append, shard=0,
                  nshards=1) -> int:
    """Validate that an existing ``.partial`` belongs to this command; return its sample count."""
    try:
        with h5py.File(partial, "r") as f:
            a = attrs_to_dict(f.attrs)
            ok = a.get("format") == FORMAT and "state" in f and int(a["n"]) <= len(f["spins"])
    except (OSError, KeyError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"{partial}: interrupted run is unreadable; delete it or pass --overwrite")
    if append:
        return int(a["n"])  # an interrupted append: its parameters come from the file
    wanted = {"L": L, "beta": beta, "seed": seed, "sweeps_between": sweeps_between,
              "thermalization_sweeps": therm_sweeps, "n_target": n,
              "chains": default_chains(n) if chains is None else chains, "shard": shard, "nshards": nshards}
    stored = {"shard": 0, "nshards": 1, **a}
    diff = [k for k in _RESUME_KEYS
            if wanted[k] is not None and not math.isclose(float(stored[k]), float(wanted[k]))]
    if diff:
        raise InputError(f"{partial}: an interrupted run with different {', '.join(diff)} exists; "
                         "repeat its command to continue it, or pass --overwrite to discard it")
    return int(a["n"])


def _prepare_append(out: Path, partial: Path, L, n: int, beta: float) -> None:
    if not out.exists():
        raise InputError(f"{out}: no such file to append to")
    try:
        with h5py.File(out, "r") as f:
            a = attrs_to_dict(f.attrs)
            if a.get("format") != FORMAT or "state" not in f or not a.get("complete", False):
                raise InputError(f"{out}: not a complete Monte Carlo ensemble written by isingsr generate; "
                                 "cannot continue its chains")
            if int(a.get("nshards", 1)) > 1:
                raise InputError(f"{out}: is shard {a.get('shard')} of {a['nshards']}; merge the shards first "
                                 "(isingsr merge), then append to the merged file")
    except OSError:
        raise InputError(f"{out}: not a readable HDF5 file") from None
    if L is not None and int(L) != int(a["L"]):
        raise InputError(f"{out}: has L={a['L']}, cannot append L={L}")
    if not math.isclose(float(beta), float(a["beta"])):
        raise InputError(f"{out}: has beta={a['beta']}, cannot append beta={beta}")
    tmp = partial.with_name(partial.name + ".copy")
    shutil.copyfile(out, tmp)
    with h5py.File(tmp, "r+") as f:
        C = int(f.attrs["chains"])
        total = int(f.attrs["n"]) + int(n)
        f["state/target"][...] = f["state/saved"][:] + chain_targets(n, C)
        f.attrs["n_target"] = total
        f.attrs["complete"] = False
    os.replace(tmp, partial)
