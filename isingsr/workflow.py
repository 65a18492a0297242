"""End-to-end steps behind ``isingsr correlate``: cached Monte Carlo truth, and one candidate per method.

``isingsr correlate --scale 4`` with no other argument generates (once, then
from a cache) a critical Monte Carlo ensemble at the shipped model's L,
coarse-grains it by the scale exactly as the analysis does, super-resolves it
with the shipped SKILD checkpoint and the shipped baselines, draws from the
exact posterior by constrained Monte Carlo, and hands everything to
:func:`isingsr.analysis.report.run_correlate`. Every candidate is made from
``coarse_inputs(truth, scale, seed)``, the same call the analysis uses, so
block consistency and the conditional scores refer to the actual inputs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


from .coarse import coarse_grain
from .defaults import REVERSE_STEPS, SAMPLER
from .io.hdf5 import load_ensemble, write_ensemble

__all__ = ["cache_dir", "cached_truth", "coarse_inputs", "skild_candidate", "baseline_candidate",
           "posterior_candidate", "TRUTH_SEED", "POSTERIOR_DRAWS"]

#: Posterior draws per input behind the conditional scores (one more is the ``posterior`` candidate).
POSTERIOR_DRAWS = 8
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


def coarse_inputs(spins, scale: float, seed: int):
    """The coarse inputs of every candidate: ``coarse_grain(spins, scale, rule='majority', seed=seed)``."""
    return coarse_grain(spins, scale, rule="majority", seed=seed)


def skild_candidate(truth_path, ckpt, scale: float, out_path, *, start: str = "conditional", steps: int = REVERSE_STEPS,
                    sampler: str = SAMPLER, seed: int = 0, batch: int | None = None, device: str = "auto",
                    t_start: float | None = None, variance=None, grid: dict | None = None,
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
    coarse = coarse_inputs(truth.spins, scale, seed)
    ck = load_checkpoint(ckpt)
    den = build_from_checkpoint(ck, device=resolve_device(device), L=truth.L)
    fields, t_s = superresolve_fields(den, ck, coarse, scale, start=start, fine=truth.spins, steps=steps,
                                      sampler=sampler, seed=seed, batch=batch, t_start=t_start, variance=variance,
                                      grid=grid, progress=progress)
    spins = to_spins(fields)
    write_ensemble(out_path, spins, {
        "kind": "skild-superres", "source": str(truth_path), "scale": float(scale), "protocol": start,
        "t_start": t_s, "rule": "majority", "checkpoint": str(ckpt), "checkpoint_step": int(ck["step"]),
        "sampler": sampler, "steps": steps, "seed": seed, "basis": ck["process"]["basis"],
        "trained_L": int(ck["process"]["L"]), **({"variance": str(variance)} if variance is not None else {}),
        **{f"grid_{k}": v for k, v in (grid or {}).items()}}, overwrite=True)
    return Path(out_path)


def baseline_candidate(truth_path, ckpt, scale: float, out_path, *, steps: int = REVERSE_STEPS,
                       sampler: str = SAMPLER, seed: int = 0, batch: int | None = None, device: str = "auto",
                       progress: Callable[[int, int], None] | None = None) -> Path:
    """Coarse-grain the truth by ``scale`` and super-resolve it with an ``sr3`` or ``cnn`` checkpoint."""
    from .baselines import load_superresolver
    from .diffusion.pipeline import to_spins
    from .diffusion.train import resolve_device
    from .exceptions import InputError
    from .io.checkpoint import load_checkpoint

    truth = load_ensemble(truth_path)
    ck = load_checkpoint(ckpt)
    model = load_superresolver(ck, device=resolve_device(device), L=truth.L)
    if abs(model.scale - float(scale)) > 1e-9:
        raise InputError(f"{ckpt}: a {ck['kind']} model for scale {model.scale:g}; "
                         f"this comparison needs scale {float(scale):g}")
    coarse = coarse_inputs(truth.spins, scale, seed)
    fields = model.superresolve(coarse, steps=steps, sampler=sampler, seed=seed, batch=batch, progress=progress)
    attrs = {"kind": f"{ck['kind']}-superres", "method": ck["kind"], "source": str(truth_path),
             "scale": float(scale), "protocol": "coarse", "rule": "majority", "checkpoint": str(ckpt),
             "checkpoint_step": int(ck["step"]), "seed": seed, "trained_L": int(ck["data"]["L"])}
    if ck["kind"] == "sr3":
        attrs.update(sampler=sampler, steps=steps)
    write_ensemble(out_path, to_spins(fields), attrs, overwrite=True)
    return Path(out_path)


def posterior_candidate(truth_path, scale: float, out_path, *, draws: int = POSTERIOR_DRAWS, seed: int = 0,
                        progress: Callable[[int, int], None] | None = None):
    """Exact posterior draws p(fine | coarse) by constrained Monte Carlo, for the truth's coarse inputs.

    Returns ``(path, reference)``: the file holds one draw per input (the
    ``posterior`` candidate); ``reference`` is
    :func:`~isingsr.analysis.conditional.conditional_moments` of ``draws``
    further, independent draws per input (the conditional scores' yardstick).
    """
    from .analysis.conditional import conditional_moments
    from .coarse import is_block_scale
    from .exceptions import InputError
    from .mc.constrained import constrained_sample

    truth = load_ensemble(truth_path)
    if not is_block_scale(truth.L, scale):
        raise InputError(f"the exact posterior needs an integer scale dividing L = {truth.L} (majority rule), "
                         f"got {float(scale):g}")
    if truth.beta is None:
        raise InputError(f"{truth_path}: no 'beta' attribute; the exact posterior needs the temperature")
    b = int(scale)
    coarse = coarse_inputs(truth.spins, scale, seed)
    samples = constrained_sample(coarse, b, beta=truth.beta, n_samples=draws + 1, seed=seed, progress=progress)
    write_ensemble(out_path, samples[:, 0], {
        "kind": "posterior", "method": "constrained Metropolis, majority rule", "source": str(truth_path),
        "scale": float(scale), "protocol": "coarse", "rule": "majority", "seed": seed, "beta": truth.beta},
        overwrite=True)
    return Path(out_path), conditional_moments(samples[:, 1:], b)
