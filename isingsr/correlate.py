"""``isingsr correlate`` as a library call: truth, every method from the same coarse inputs, one comparison.

:func:`correlate` takes (or generates once and caches) a critical Monte Carlo
ensemble as the truth, coarse-grains it by ``scale`` (:func:`coarse_inputs`,
majority rule, seeded ties), super-resolves those inputs with every asked-for
method through the one super-resolver contract (:mod:`isingsr.superres`:
SKILD, SR3, the CNN, the exact posterior; the naive fill is built by the
analysis itself) and hands the files to
:func:`isingsr.analysis.report.run_correlate`, which measures and compares
them (``summary.json``, ``correlations.csv``, figures). The command line and
the experiment scripts call this function; :func:`summary_table` is the text
table the command prints.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from .coarse import coarse_grain, is_block_scale
from .defaults import METHODS, PRECISION, SAMPLER, resolve_consistency
from .exceptions import InputError
from .io.paths import cache_dir, check_output, portable_path

__all__ = ["METHODS", "TRUTH_SEED", "POSTERIOR_DRAWS", "cached_truth", "coarse_inputs", "correlate",
           "exact_polish", "summary_table", "run_provenance"]

#: Seed of the default truth ensemble (the shipped models were trained on seed 1: independent data).
TRUTH_SEED = 12345
#: Exact posterior draws per input behind the conditional scores (one more is the ``posterior`` candidate).
POSTERIOR_DRAWS = 8
#: SKILD's options where ``skild_options`` leaves them out: the command line's, resolved by scale at each run
#: (:func:`isingsr.defaults.resolve_consistency`).
SKILD_DEFAULTS = {"consistency": "auto", "particles": None, "lift_a": None}


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
    """The coarse inputs of every method: ``coarse_grain(spins, scale, rule='majority', seed=seed)``."""
    return coarse_grain(spins, scale, rule="majority", seed=seed)


def run_provenance() -> dict:
    """The command line and the git revision of the code (None outside a git checkout; ``+modified`` if a
    tracked file outside ``results/`` and ``docs/`` is edited: results a script rewrites are not code)."""
    rev = None
    try:
        here = Path(__file__).resolve().parent
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip() or None
        top = subprocess.run(["git", "-C", str(here), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = top and subprocess.run(["git", "-C", top, "status", "--porcelain", "--untracked-files=no", "--",
                                        ".", ":(exclude)results", ":(exclude)docs"],
                                       capture_output=True, text=True, timeout=10).stdout.strip()
        if rev and dirty:
            rev += "+modified"
    except (OSError, subprocess.SubprocessError):
        pass
    from . import __version__

    return {"command": shlex.join([Path(sys.argv[0]).name] + sys.argv[1:]), "git_revision": rev,
            "isingsr_version": __version__}


def _shipped(method: str, L: int, scale: float):
    from .models import SHIPPED, nearest_below, shipped_baseline

    return nearest_below(SHIPPED, L) if method == "skild" else shipped_baseline(method, L, scale)


def correlate(scale: float, *, truth=None, out="figs", methods=None, candidates: dict | None = None,
              ckpts: dict | None = None, start: str = "conditional", steps: int | None = None,
              sampler: str = SAMPLER, posterior_draws: int = POSTERIOR_DRAWS, L: int = 32, n: int = 1000,
              r=None, blocks: int = 100, seed: int = 0, device: str = "auto", precision: str = PRECISION,
              skild_options: dict | None = None,
              polish: int = 0, collinear: bool = False,
              progress: Callable[[str, int, int], None] | None = None,
              log: Callable[[str], None] = lambda s: None) -> dict:
    """Super-resolve the truth's coarse-graining by every method and compare all with the truth.

    Parameters
    ----------
    scale : float
        Coarse-graining factor (integer dividing L: majority rule; otherwise spectral resampling).
    truth : path-like, optional
        Monte Carlo ensemble; default: ``n`` critical ``L x L`` configurations generated once and cached
        (:func:`cached_truth`).
    out : path-like
        Output folder (``summary.json``, ``correlations.csv``, ``g2``/``g4c`` figures and each method's file).
    methods : sequence of str, optional
        Any of :data:`METHODS`; default all of them, skipping (with a message) a method that has no
        checkpoint for this L and scale or, for the posterior, a non-integer scale. Named explicitly, such a
        method is an error instead.
    candidates : dict of name -> path, optional
        Further super-resolved ensembles (from the same coarse inputs) to compare.
    ckpts : dict of method -> path, optional
        Checkpoints of ``skild``, ``sr3``, ``cnn`` (default: the shipped ones for the truth's L and scale).
    start, steps, sampler, skild_options :
        SKILD's start protocol, the reverse steps and sampler of SKILD and SR3 (None: each method's default), and
        further SKILD options (:class:`~isingsr.diffusion.inference.SkildSuperResolver`); those left out take
        :data:`SKILD_DEFAULTS`, the command line's (``conditioned`` with 4 weighted particles at an integer
        scale of 4 or more, on inputs of at most :data:`~isingsr.defaults.CONSISTENCY_MAX_BLOCKS` blocks).
    posterior_draws : int
        Exact posterior draws per input behind the conditional scores.
    polish : int
        With SKILD's ``consistency`` other than ``'none'``: also compare ``skild_polish``, SKILD's
        output after this many constrained Metropolis sweeps at the truth's beta (:func:`exact_polish`) -- the exact
        posterior's chain started from SKILD's configurations, reported apart from SKILD's own row.
    r, blocks, seed, device :
        G4c square sides, jackknife blocks, seed of the coarse-graining ties and of all sampling, device.
    precision : str
        Network precision of SKILD and SR3 (:data:`isingsr.defaults.PRECISIONS`; :func:`isingsr.device.use_bf16`).
    collinear : bool
        Also compare the collinear G4c (points 0, r, 2r, 3r; same r as the squares).
    progress : callable, optional
        ``progress(stage, done, total)`` while each method runs.
    log : callable
        One-line messages.

    SKILD, SR3 and the CNN save their output in pieces (:func:`isingsr.superres.superresolve_to_file`): a run
    interrupted while one of them samples continues it when repeated with the same arguments.

    Returns
    -------
    dict
        The content of ``summary.json`` (:func:`isingsr.analysis.report.run_correlate`), whose ``run``
        entry holds the command line, git revision, version and wall time.
    """
    from .analysis.report import run_correlate
    from .io.hdf5 import load_ensemble
    from .baselines.conditioning import check_scale
    from .superres import load_superresolver, superresolve_to_file

    t0 = time.perf_counter()
    explicit = methods is not None
    methods = list(dict.fromkeys(METHODS if methods is None else methods))
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise InputError(f"methods: unknown {', '.join(bad) or 'empty list'}; choose from {','.join(METHODS)}")
    cands = {k: str(v) for k, v in (candidates or {}).items()}
    clash = [m for m in methods if m in cands]
    if clash:
        raise InputError(f"candidate name {clash[0]!r} is also a method; choose another name")
    out = check_output(out, directory=True)
    truth = Path(cached_truth(L, n, log=log) if truth is None else truth)
    ens = load_ensemble(truth)
    coarse = coarse_inputs(ens.spins, scale, seed)
    ckpts = dict(ckpts or {})
    skild_options = {**SKILD_DEFAULTS, **(skild_options or {})}
    held, _, _ = resolve_consistency(skild_options["consistency"], 1, 0.0, scale=scale,
                                     block=is_block_scale(ens.L, scale), blocks=coarse.shape[-1] ** 2, smc_ok=False)
    if polish and held == "none":
        raise InputError("--polish starts the exact posterior's chain from SKILD's output, which must be consistent "
                         "with the input (--consistency auto holds it from 4x on, on inputs of up to 64 blocks): add "
                         "--consistency mean (or conditioned, final, late, project)")

    def unavailable(what: str) -> None:
        if explicit:
            raise InputError(what)
        log(f"{what}: skipped")

    reference, jobs = None, []
    for m in methods:
        if m == "naive":
            continue
        if m == "posterior":
            if not is_block_scale(ens.L, scale):
                unavailable(f"posterior: the exact posterior needs an integer scale dividing L = {ens.L}")
                continue
            if ens.beta is None:
                raise InputError(f"{truth}: no 'beta' attribute; the exact posterior needs the temperature")
            resolver = load_superresolver("posterior", beta=ens.beta, reference_draws=posterior_draws)
            stage = f"exact posterior {scale:g}x ({posterior_draws + 1} draws)"
        else:
            ckpt = ckpts.get(m) or _shipped(m, ens.L, scale)
            if ckpt is None:
                flag = "ckpt" if m == "skild" else m + "-ckpt"
                unavailable(f"{m}: no checkpoint for L = {ens.L}, scale {scale:g} (pass --{flag})")
                continue
            if not ckpts.get(m):
                log(f"{m}: shipped {Path(ckpt).name}")
            options = dict(skild_options, start=start, fine=ens.spins if start == "forward" else None) \
                if m == "skild" else {}
            resolver = load_superresolver(m, ckpt, L=ens.L, device=device, steps=steps, sampler=sampler,
                                          precision=precision, **options)
            if m != "skild":
                check_scale(resolver, scale)
            stage = f"{m} {scale:g}x"
        jobs.append((m, resolver, stage))
    out.mkdir(exist_ok=True)  # every input and checkpoint has been checked: nothing is left behind on bad input
    for m, resolver, stage in jobs:
        path = superresolve_to_file(resolver, coarse, scale, out / f"{m}.h5", seed=seed, source=portable_path(truth),
                                    overwrite=True, log=log, progress=None if progress is None else
                                    (lambda done, total, _s=stage: progress(_s, done, total)))
        if m == "posterior":
            reference = resolver.reference
        cands[m] = str(path)
        if m == "skild" and polish:
            cands["skild_polish"] = str(exact_polish(path, coarse, scale, polish, out / "skild_polish.h5",
                                                     beta=ens.beta, seed=seed))
    return run_correlate(truth, scale, out, candidates=cands, r=r, n_blocks=blocks, seed=seed,
                         progress=progress is not None, naive="naive" in methods, posterior_reference=reference,
                         run={**run_provenance(), "started": t0}, collinear=collinear)


def exact_polish(path, coarse, scale: float, sweeps: int, out, *, beta: float, seed: int = 0) -> Path:
    """``sweeps`` constrained Metropolis sweeps (:func:`~isingsr.mc.constrained.constrained_sample`) from the
    configurations in ``path``, which must be consistent with ``coarse``; written to ``out`` with provenance.

    This uses the Hamiltonian, which the learned model never sees: it measures how far the model's output is
    from the exact posterior (how many sweeps it takes to get there), and is never a model's own result.
    """
    from .io.hdf5 import load_ensemble, write_ensemble
    from .mc.constrained import constrained_sample

    ens = load_ensemble(path)
    if not is_block_scale(ens.L, scale) or beta is None:
        raise InputError("the exact polish needs majority-rule inputs at an integer scale and the truth's beta")
    spins = constrained_sample(coarse, round(scale), beta=beta, therm_sweeps=sweeps, seed=seed + 7,
                               init=ens.spins)[:, 0]
    attrs = {k: v for k, v in ens.attrs.items() if k not in ("L", "n", "created", "format", "format_version")}
    attrs.update(kind="polished-superres", method=f"{ens.attrs.get('method', 'skild')} + exact polish: {sweeps} "
                 "constrained Metropolis sweeps", polish_sweeps=int(sweeps), polished=portable_path(path), beta=beta)
    return Path(write_ensemble(out, spins, attrs, overwrite=True))


def _num(v, spec: str) -> str:
    """A summary number (None = not defined, e.g. NaN in the JSON) formatted, or '—'."""
    return "—" if v is None else format(v, spec)


def summary_table(summary: dict) -> str:
    """The text table ``isingsr correlate`` prints: one row per ensemble against the truth."""
    cond = (summary.get("conditional") or {}).get("scores", {})
    head = (f"{'ensemble':<11}{'n':>6}{'G2 chi2/dof':>12}{'G2 p':>9}{'G4c chi2/dof':>13}{'G4c p':>9}{'max|dG4c|':>10}"
            f"{'dE (z)':>8}{'dU4 (z)':>8}{'consist.':>9}")
    from .analysis.report import has_collinear

    col = has_collinear(summary)
    if col:
        head += f"{'col. p':>9}{'max|dcol|':>10}"
    if cond:
        head += f"{'E|c ratio':>11}{'mB|c ratio':>11}"
    lines = [head]
    for name, ens in summary["ensembles"].items():
        cmp = summary["comparison"].get(name)
        if cmp is None:
            row = f"{name:<11}{ens['n']:>6}{'(truth)':>12}{'':>9}{'':>13}{'':>9}{'':>10}{'':>8}{'':>8}{'':>9}"
        else:
            cons = cmp.get("consistency")
            sc = cmp.get("scalars", {})
            zs = [_num(sc.get(k, {}).get("z"), "+.1f") for k in ("energy", "binder")]
            row = (f"{name:<11}{ens['n']:>6}{_num(cmp['g2_chi2_dof'], '.3g'):>12}{_num(cmp['g2_p_value'], '.2g'):>9}"
                   f"{_num(cmp['g4c_chi2_dof'], '.3g'):>13}{_num(cmp['g4c_p_value'], '.2g'):>9}"
                   f"{cmp['g4c_max_abs_dev']:>10.4f}{zs[0]:>8}{zs[1]:>8}{_num(cons, '.4f'):>9}")
        if col:
            row += (f"{'':>9}{'':>10}" if cmp is None else
                    f"{_num(cmp.get('g4c_col_p_value'), '.2g'):>9}{_num(cmp.get('g4c_col_max_abs_dev'), '.4f'):>10}")
        if cond:
            c = cond.get(name)
            for key in ("energy", "block_m"):
                row += f"{_num(None if c is None else c[key]['mse_ratio'], '.3f'):>11}"
        lines.append(row)
    lines.append("z and p: residual errors paired with the truth configuration each input came from where "
                 "summary.json says errors = paired; p: test of residual = 0 at every r with the full covariance")
    if col:
        lines.append("col.: the collinear G4c (points 0, r, 2r, 3r), p and max |residual| as for the squares")
    if cond:
        lines.append("E|c, mB|c ratio: squared deviation from the exact conditional mean over the exact posterior's "
                     "own variance (1 = as good as an exact draw for that input)")
    return "\n".join(lines)
