"""One contract for every method that maps coarse configurations to fine ones, and one loader.

A *super-resolver* is any object with

* ``method`` -- its name (``skild``, ``sr3``, ``cnn``, ``naive``, ``posterior``);
* ``L`` -- the fine lattice size it produces (None: ``L' * scale``, any size);
* ``scale`` -- the only scale it handles (None: any scale it can);
* ``superresolve(coarse, scale, *, seed=0, batch=None, progress=None, rule="majority")``
  -> fields ``(N, L, L)`` float32, whose sign is the spins. ``coarse`` are
  ``(N, L', L')`` coarse spins made from fine ones by ``rule``; sample i
  depends on ``seed + i`` only, never on the batch; ``progress(done, total)``
  is called as configurations are finished;
* ``provenance()`` -> a dict of JSON-able attributes saying what made the
  output (method, checkpoint, sampler, steps, ...), written into the output file.
* optionally ``resumable`` -- true if ``superresolve(coarse[a:b], seed=seed + a, batch=batch)`` equals
  rows a..b-1 of the whole call's output for batch-aligned a, so a long run can be saved in pieces and
  continued after an interruption (:func:`superresolve_to_file`).

:func:`load_superresolver` returns the right one for a method name or a
checkpoint file (SKILD, SR3 and CNN checkpoints say what they are);
:func:`superresolve_to_file` runs any of them and writes a self-describing
ensemble. ``isingsr superres``, ``isingsr correlate`` and the experiment
scripts all go through these two functions.

Examples
--------
>>> import numpy as np
>>> naive = load_superresolver("naive")
>>> naive.superresolve(np.array([[[1, -1], [-1, 1]]], dtype=np.int8), 2).shape
(1, 4, 4)
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import torch

from .coarse import is_block_scale, majority_blocks, upsample
from .constants import BETA_C
from .defaults import METHODS, PRECISION, SAMPLER, auto_batch
from .diffusion.pipeline import to_spins
from .exceptions import InputError
from .io.paths import partial_path, portable_path

__all__ = ["METHODS", "NaiveSuperResolver", "PosteriorSuperResolver", "load_superresolver", "superresolve_to_file",
           "partial_path", "to_spins"]



class NaiveSuperResolver:
    """Every fine spin copies its block's coarse spin (spectral zero-padding + sign for other scales).

    Ties of the spectral route are broken by ``default_rng([seed, 1])``, as in
    :func:`isingsr.analysis.report.run_correlate`.
    """

    method, L, scale = "naive", None, None

    def provenance(self) -> dict:
        return {"method": "naive", "protocol": "coarse"}

    def superresolve(self, coarse, scale: float, *, seed: int = 0, batch=None, progress=None,
                     rule: str = "majority") -> np.ndarray:
        coarse = np.asarray(coarse)
        L = round(coarse.shape[-1] * float(scale))
        spectral = not is_block_scale(L, scale)
        out = upsample(coarse, L, seed=np.random.default_rng([seed, 1]), spectral=spectral).astype(np.float32)
        if progress:
            progress(len(out), len(out))
        return out


class PosteriorSuperResolver:
    """Exact draws of p(fine | coarse) by constrained Monte Carlo (:func:`isingsr.mc.constrained.constrained_sample`).

    Majority-rule inputs at an integer scale b. ``reference_draws`` further,
    independent draws per input are kept as ``self.reference``
    (:func:`isingsr.analysis.conditional.conditional_moments`), the yardstick
    of the conditional scores of ``isingsr correlate``.
    """

    method, L, scale = "posterior", None, None

    def __init__(self, beta: float = BETA_C, reference_draws: int = 0):
        self.beta, self.reference_draws, self.reference = float(beta), int(reference_draws), None

    def provenance(self) -> dict:
        return {"method": "posterior: constrained Metropolis, majority rule", "protocol": "coarse",
                "beta": self.beta}

    def superresolve(self, coarse, scale: float, *, seed: int = 0, batch=None, progress=None,
                     rule: str = "majority") -> np.ndarray:
        from .analysis.conditional import conditional_moments
        from .mc.constrained import constrained_sample

        coarse = np.asarray(coarse)
        L = round(coarse.shape[-1] * float(scale))
        if not majority_blocks(rule, L, scale):
            raise InputError(f"the exact posterior needs majority-rule inputs and an integer scale, got {rule} "
                             f"and {float(scale):g}")
        b = int(round(float(scale)))
        samples = constrained_sample(coarse, b, beta=self.beta, n_samples=self.reference_draws + 1, seed=seed,
                                     progress=progress)
        if self.reference_draws:
            self.reference = conditional_moments(samples[:, 1:], b)
        return samples[:, 0].astype(np.float32)


def _checkpoint(path):
    from .io.checkpoint import load_checkpoint

    return load_checkpoint(path)


def load_superresolver(method: str | None = None, ckpt=None, *, L: int | None = None, device="auto",
                       steps: int | None = None, sampler: str = SAMPLER, start: str = "conditional",
                       fine=None, beta: float = BETA_C, reference_draws: int = 0, precision: str = PRECISION,
                       **skild_options):
    """The super-resolver for ``method``, or for what the checkpoint ``ckpt`` holds.

    Parameters
    ----------
    method : str, optional
        One of :data:`METHODS`; ``None`` with a ``ckpt`` takes its kind.
    ckpt : path-like or dict, optional
        Checkpoint of a ``skild``, ``sr3`` or ``cnn`` method (path, or a loaded checkpoint dict).
    L : int, optional
        Fine lattice size to run at (default: the checkpoint's training size). SKILD carries its
        process there by critical finite-size scaling; SR3 and the CNN are fully convolutional.
    device : str
        ``auto``, ``cpu`` or ``cuda``.
    precision : str
        Network precision of SKILD and SR3, one of :data:`isingsr.defaults.PRECISIONS`
        (:func:`isingsr.device.use_bf16`).
    steps, sampler :
        Reverse steps and sampler of SKILD and SR3 (steps None: :func:`isingsr.defaults.superres_steps` of
        the scale; SKILD's generation: ``GENERATION_STEPS``).
    start, fine, **skild_options :
        SKILD's start protocol, true fine configurations (``forward`` only) and further options of
        :class:`~isingsr.diffusion.inference.SkildSuperResolver` (``variance``, ``grid``, ``t_start``).
    beta, reference_draws :
        Inverse temperature and extra draws of the exact ``posterior``.
    """
    if method is not None and method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method in ("naive", "posterior"):
        if ckpt is not None:
            raise InputError(f"the {method} method takes no checkpoint")
        return NaiveSuperResolver() if method == "naive" else PosteriorSuperResolver(beta, reference_draws)
    if ckpt is None:
        raise InputError(f"the {method} method needs a checkpoint")
    ck = ckpt if isinstance(ckpt, dict) else _checkpoint(ckpt)
    path = None if isinstance(ckpt, dict) else portable_path(ckpt)
    kind = ck.get("kind", "skild")
    if method is not None and kind != method:
        raise InputError(f"{path or 'checkpoint'}: a {kind} checkpoint, not {'SKILD' if method == 'skild' else method}")
    from .device import resolve_device, use_bf16

    dev = resolve_device(device)
    bf16 = use_bf16(precision)
    if kind == "skild":
        from .diffusion.inference import SkildSuperResolver, build_from_checkpoint

        return SkildSuperResolver(build_from_checkpoint(ck, device=dev, L=L, bf16=bf16), ck, start=start, steps=steps,
                                  sampler=sampler, fine=fine, checkpoint=path, **skild_options)
    if start == "forward" or fine is not None:
        raise InputError(f"--start {start}: a {kind} baseline starts from the coarse input only")
    neutral = {"consistency": ("none", "auto"), "particles": (1,)}  # the values that ask nothing of a baseline
    extra = {k: v for k, v in skild_options.items() if v is not None and v not in neutral.get(k, ())}
    if extra:
        raise InputError(f"{', '.join(sorted(extra))}: options of SKILD, not of a {kind} checkpoint")
    if kind == "sr3":
        from .baselines.sr3 import SR3

        return SR3.from_checkpoint(ck, dev, L, path=path, steps=steps, sampler=sampler, bf16=bf16)
    if kind == "cnn":
        from .baselines.cnn import ProbabilisticCNN

        return ProbabilisticCNN.from_checkpoint(ck, dev, L, path=path)
    raise InputError(f"{path or 'checkpoint'}: unknown checkpoint kind {kind!r}")


#: A resumable run is saved in about this many pieces (a killed run loses at most one piece's work).
PIECES = 20
#: Attributes of an interrupted run that say nothing about its output (:func:`_check_resume` skips them).
_VOLATILE = ("created", "modified", "wall_s", "n", "runs", "format", "format_version", "isingsr_version",
             "spin_encoding", "complete", "L", "smc_configs", "smc_final_ess", "smc_no_consistent")


def _digest(coarse: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(coarse, dtype=np.int8).tobytes()
                          + repr(coarse.shape).encode()).hexdigest()


def _same(a, b) -> bool:
    """Equal as HDF5 attributes: numbers to 1e-12, sequences (a tuple comes back as a list) element by element."""
    if isinstance(a, (list, tuple, np.ndarray)) and isinstance(b, (list, tuple, np.ndarray)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    return bool(a == b)


def _read_partial(partial: Path) -> tuple[dict, np.ndarray, np.ndarray | None]:
    from .io.hdf5 import attrs_to_dict

    try:
        with h5py.File(partial, "r") as f:
            return attrs_to_dict(f.attrs), f["spins"][:], f["fields"][:] if "fields" in f else None
    except (OSError, KeyError) as exc:
        raise InputError(f"{partial}: interrupted run is unreadable ({exc}); delete it") from None


def _check_resume(partial: Path, stored: dict, wanted: dict, complete: bool) -> None:
    """One clear error unless the interrupted run ``stored`` is the run ``wanted`` describes.

    Before any work only ``wanted``'s keys are compared (a resolver states some provenance, e.g. the start
    time, only once it has run); with ``complete``, after the first piece, every key of either.
    """
    keys = set(wanted) | (set(stored) if complete else set())
    diff = sorted(k for k in keys - set(_VOLATILE) if not _same(wanted.get(k), stored.get(k)))
    if diff:
        raise InputError(f"{partial}: an interrupted run with different {', '.join(diff)} exists; repeat its command "
                         "to continue it, or delete it (isingsr superres --overwrite does)")


def superresolve_to_file(resolver, coarse, scale: float, out, *, seed: int = 0, batch: int | None = None,
                         progress: Callable[[int, int], None] | None = None, rule: str = "majority",
                         source=None, save_fields: bool = False, overwrite: bool = False, resume: bool = True,
                         attrs: dict | None = None, log: Callable[[str], None] = lambda s: None) -> Path:
    """Super-resolve ``coarse`` ``(N, L', L')`` by ``scale`` with any super-resolver and write an ensemble.

    The file (:func:`isingsr.io.hdf5.write_ensemble`) holds the spins (and,
    with ``save_fields``, the continuous fields as dataset ``fields``) and the
    attributes ``kind = "{method}-superres"``, ``scale``, ``L_coarse``,
    ``rule``, ``seed``, ``source``, ``wall_s`` (seconds of super-resolution) and the resolver's
    :meth:`provenance`, plus ``attrs``.

    A resolver with a true ``resumable`` attribute (SKILD except its forward start, SR3, the CNN) runs in
    about :data:`PIECES` pieces of whole batches, each saved to :func:`partial_path` (a valid ensemble with
    ``complete = False``) as it finishes. Running the same call again after an interruption continues from
    there -- also across machines -- and writes the file an uninterrupted run writes (sample i depends on
    ``seed + i`` only, and the batches are the same); ``wall_s`` adds up every run's time and ``runs``
    counts them. A stored run that differs in anything that shapes the output (inputs, checkpoint, sampler,
    steps, seed, batch, ...) is an error; ``resume=False`` discards it instead. A second process on the same
    ``out`` while one runs is an error too (:func:`isingsr.io.paths.exclusive`).
    """
    from .io.hdf5 import write_ensemble
    from .io.paths import check_output, exclusive

    coarse = np.asarray(coarse)
    if coarse.ndim != 3 or coarse.shape[1] != coarse.shape[2] or len(coarse) == 0:
        raise InputError(f"coarse input: expected (N, L', L') with N >= 1, got {coarse.shape}")
    out = check_output(out)
    if out.exists() and not overwrite:
        raise InputError(f"{out}: exists; pass --overwrite to replace it")
    resumable = bool(getattr(resolver, "resumable", False))
    partial = partial_path(out)
    with exclusive(partial, "super-resolution") if resumable else contextlib.nullcontext():
        if not resume:
            partial.unlink(missing_ok=True)
        run = {"kind": f"{resolver.method}-superres", "scale": float(scale), "L_coarse": int(coarse.shape[-1]),
               "rule": rule, "seed": int(seed), **({"source": str(source)} if source is not None else {})}
        if resumable:
            spins, fields, wall, runs = _in_pieces(resolver, coarse, scale, partial, run, seed=seed, batch=batch,
                                                   progress=progress, rule=rule, save_fields=save_fields,
                                                   attrs=attrs, log=log)
        else:
            t0 = time.perf_counter()
            fields = resolver.superresolve(coarse, scale, seed=seed, batch=batch, progress=progress, rule=rule)
            spins, wall, runs = to_spins(fields), time.perf_counter() - t0, 1
        meta = {**run, "wall_s": round(wall, 1), **({"runs": runs} if runs > 1 else {}), **resolver.provenance(),
                **(attrs or {})}
        extra = {"fields": np.asarray(fields, dtype=np.float32)} if save_fields else None
        path = Path(write_ensemble(out, spins, meta, overwrite=overwrite, extra=extra))
        if resumable:
            partial.unlink(missing_ok=True)
    return path


def _in_pieces(resolver, coarse, scale, partial: Path, run: dict, *, seed, batch, progress, rule, save_fields,
               attrs, log) -> tuple[np.ndarray, np.ndarray | None, float, int]:
    """:func:`superresolve_to_file`'s resumable route: spins, fields, seconds and runs of the whole run."""
    from .io.hdf5 import write_ensemble

    n = len(coarse)
    L = getattr(resolver, "L", None) or round(coarse.shape[-1] * float(scale))
    batch = auto_batch(L) if batch is None else int(batch)
    key = {**run, "batch": batch, "n_target": n, "input_sha256": _digest(coarse), "save_fields": save_fields,
           **{k: v for k, v in (attrs or {}).items() if v is not None}}
    stored, spins, fields = {}, None, None
    if partial.exists():
        stored, spins, fields = _read_partial(partial)
        if save_fields and fields is None:
            raise InputError(f"{partial}: an interrupted run without the fields exists; repeat its command to "
                             "continue it, or delete it (isingsr superres --overwrite does)")
        _check_resume(partial, stored, {**resolver.provenance(), **key}, complete=False)
        log(f"continuing the interrupted run in {partial}: {len(spins)} of {n} configurations done")
    done, wall, runs = 0 if spins is None else len(spins), float(stored.get("wall_s", 0.0)), \
        int(stored.get("runs", 0)) + 1
    unit = batch * max(1, torch.get_num_threads())
    piece = unit * max(1, math.ceil(n / (PIECES * unit)))
    for a in range(done, n, piece):
        b = min(n, a + piece)
        t0 = time.perf_counter()
        f = resolver.superresolve(coarse[a:b], scale, seed=seed + a, batch=batch, rule=rule,
                                  progress=None if progress is None else (lambda d, _t, _a=a: progress(_a + d, n)))
        wall += time.perf_counter() - t0
        s = to_spins(f)
        spins = s if spins is None else np.concatenate([spins, s])
        if save_fields:
            f = np.asarray(f, dtype=np.float32)
            fields = f if fields is None else np.concatenate([fields, f])
        if a == done and stored:  # what only running shows (e.g. the start time) must match the stored run too
            _check_resume(partial, stored, {**resolver.provenance(), **key}, complete=True)
        if b < n:
            write_ensemble(partial, spins, {**resolver.provenance(), **key, "complete": False,
                                            "wall_s": round(wall, 1), "runs": runs}, overwrite=True,
                           extra={"fields": fields} if save_fields else None)
    return spins, fields, wall, runs
