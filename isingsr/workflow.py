"""End-to-end steps behind ``isingsr correlate``: cached Monte Carlo truth, SKILD candidates.

``isingsr correlate --scale 4`` with no other argument generates (once, then
from a cache) a critical Monte Carlo ensemble at the shipped model's L,
coarse-grains it by the scale exactly as the analysis does, super-resolves it
with the shipped SKILD checkpoint, and hands truth and candidate to
:func:`isingsr.analysis.report.run_correlate`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


from .coarse import coarse_grain
from .io.hdf5 import load_ensemble, write_ensemble

__all__ = ["cache_dir", "cached_truth", "skild_candidate", "TRUTH_SEED"]

#: Seed of the default truth ensemble (the shipped model was trained on seed 1: independent data).
TRUTH_SEED = 12345


def cache_dir() -> Path:
    """``$ISINGSR_CACHE``, else ``$XDG_CACHE_HOME/isingsr``, else ``~/.cache/isingsr``."""
    root = os.environ.get("ISINGSR_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "isingsr"
    p = Path(root)
    p.mkdir(parents=True, exist_ok=True)
    return p


def cached_truth(L: int, n: int, seed: int = TRUTH_SEED, log: Callable[[str], None] = lambda s: None) -> Path:
    """A critical Monte Carlo ensemble (L, n, seed), generated once and reused."""
    from .mc.generate import generate

    path = cache_dir() / f"truth_L{L}_n{n}_seed{seed}.h5"
    if path.exists():
        log(f"Monte Carlo truth from cache: {path}")
        return path
    log(f"generating the Monte Carlo truth: {n} critical {L}x{L} configurations (cached in {path})")
    generate(path, L, n, seed=seed)
    return path


def skild_candidate(truth_path, ckpt, scale: float, out_path, *, start: str = "coarse", steps: int = 40,
                    sampler: str = "ancestral", seed: int = 0, batch: int = 128, device: str = "auto",
                    progress: Callable[[int, int], None] | None = None) -> Path:
    """Coarse-grain the truth by ``scale`` and super-resolve it with a SKILD checkpoint.

    The coarse configurations are ``coarse_grain(truth, scale, rule='majority', seed=seed)``,
    the same call :func:`~isingsr.analysis.report.run_correlate` uses, so the
    block-consistency it reports refers to the actual inputs.
    """
    from .diffusion.pipeline import superresolve_fields, to_spins
    from .diffusion.train import build_from_checkpoint, resolve_device
    from .io.checkpoint import load_checkpoint

    truth = load_ensemble(truth_path)
    coarse = coarse_grain(truth.spins, scale, rule="majority", seed=seed)
    ck = load_checkpoint(ckpt)
    den = build_from_checkpoint(ck, device=resolve_device(device))
    fields, t_s = superresolve_fields(den, ck, coarse, scale, start=start, fine=truth.spins, steps=steps,
                                      sampler=sampler, seed=seed, batch=batch, progress=progress)
    spins = to_spins(fields)
    write_ensemble(out_path, spins, {
        "kind": "skild-superres", "source": str(truth_path), "scale": float(scale), "protocol": start,
        "t_start": t_s, "rule": "majority", "checkpoint": str(ckpt), "checkpoint_step": int(ck["step"]),
        "sampler": sampler, "steps": steps, "seed": seed, "basis": ck["process"]["basis"]}, overwrite=True)
    return Path(out_path)
