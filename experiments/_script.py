"""What every experiment script shares: its docstring as ``--help``, and one-line errors.

Scripts run as ``python experiments/NAME.py``, so this module is importable as ``_script``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

from isingsr.exceptions import InputError


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser whose ``--help`` shows the script's docstring as written."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_skild_ckpt(ap: argparse.ArgumentParser) -> None:
    """``--ckpt``: the SKILD checkpoint a script at L = 32 measures, by default the shipped one, so that another
    checkpoint can be measured on the same inputs and seeds."""
    from isingsr.models import shipped_checkpoint

    ap.add_argument("--ckpt", default=str(shipped_checkpoint(32)),
                    help="SKILD checkpoint trained at L = 32 [default: the shipped one]")


def add_sr3_ckpt(ap: argparse.ArgumentParser) -> None:
    """``--sr3-ckpt``: the SR3 baseline a script at L = 32 compares with, a pattern with ``{S}`` for the scale
    (read by :func:`sr3_checkpoint`)."""
    ap.add_argument("--sr3-ckpt", default=None,
                    help="SR3 checkpoint, a pattern with {S} for the scale, e.g. 'isingsr/models/sr3_L32_s{S}.pt' "
                         "[default: the shipped one for L = 32 and the scale]")


def for_scale(pattern: str | None, scale: float) -> str | None:
    """``pattern`` with ``{S}`` replaced by the scale as the results folders write it (2, 2.5, 8); None stays
    None. Any other field is the caller's one-line error."""
    if pattern is None:
        return None
    try:
        return pattern.format(S=f"{float(scale):g}")
    except (KeyError, IndexError, ValueError):
        raise InputError(f"{pattern!r}: the only field a pattern may hold is {{S}}, the scale") from None


def sr3_checkpoint(pattern: str | None, scale: float):
    """The SR3 checkpoint for ``scale``: ``pattern`` with ``{S}`` filled in, else the shipped one for L = 32."""
    from isingsr.models import shipped_baseline

    return for_scale(pattern, scale) or shipped_baseline("sr3", 32, scale)


def numbers(kind: type = float) -> Callable[[str], list]:
    """An argparse ``type`` for comma-separated numbers (``"2,4,8"`` -> ``[2.0, 4.0, 8.0]``): bad input is
    the parser's one-line error."""
    def parse(text: str) -> list:
        try:
            return [kind(x) for x in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__} values, got {text!r}") from None
    return parse


def add_steps(ap: argparse.ArgumentParser) -> None:
    """``--steps``: reverse steps, one count for every scale or one per ``--scales`` entry (read by
    :func:`steps_per_scale`)."""
    ap.add_argument("--steps", type=numbers(int), default=None,
                    help="reverse steps of SKILD and SR3: one count for every scale or one per --scales entry, e.g. "
                         "50,200 with --scales 2,8 [default: the package's, isingsr.defaults.superres_steps]")


def steps_per_scale(ap: argparse.ArgumentParser, steps: list[int] | None, scales: list[float]) -> dict:
    """``{S: steps}`` of :func:`add_steps`'s option (None: the package's default for each scale,
    :func:`isingsr.defaults.superres_steps`); a wrong count is the parser's one-line error."""
    from isingsr.defaults import superres_steps

    if steps is None:
        return {S: superres_steps(S) for S in scales}
    if len(steps) == 1:
        steps = steps * len(scales)
    if len(steps) != len(scales) or min(steps) < 1:
        ap.error(f"--steps: expected one positive count or one per scale ({len(scales)}), got "
                 f"{','.join(map(str, steps))}")
    return dict(zip(scales, steps))


def add_truth(ap: argparse.ArgumentParser) -> None:
    """``--truth``: the Monte Carlo truth a script at L = 32 compares with, by default the cached one."""
    ap.add_argument("--truth", type=Path, default=None,
                    help="Monte Carlo truth at L = 32 [default: the cached one, n = 1000, seed 12345]; e.g. an "
                         "independent ensemble to confirm a choice made on the default one")


def truth_path(ap: argparse.ArgumentParser, truth: Path | None) -> Path:
    """The truth of :func:`add_truth` (the cached ensemble when None), checked to be at L = 32."""
    from isingsr.correlate import cached_truth
    from isingsr.io.hdf5 import load_ensemble

    path = cached_truth(32, 1000, log=print) if truth is None else truth
    L = load_ensemble(path).L
    if L != 32:
        ap.error(f"--truth: L = {L}; the shipped checkpoints compared here are for L = 32")
    return path


def add_truth_count(ap: argparse.ArgumentParser, default: int) -> None:
    """``-n``: how many configurations of the cached L = 32 truth (1,000) a script uses; out of range is the
    parser's one-line error."""
    def count(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            n = 0
        if not 1 <= n <= 1000:
            raise argparse.ArgumentTypeError(f"expected an integer in [1, 1000] (the cached truth's size), "
                                             f"got {text!r}")
        return n
    ap.add_argument("-n", type=count, default=default, help="configurations of the cached truth")


def main(run: Callable[[], None]) -> None:
    """Call ``run()``; bad input and missing files end the script with one line, not a traceback."""
    try:
        run()
    except (InputError, FileNotFoundError) as exc:
        sys.exit(f"error: {exc}")


def super_resolve_truth(method: str | None, truth, scale: float, out, ckpt=None, *, seed: int = 0, progress=None,
                        reuse: bool = False, resolver=None, n: int | None = None, **options) -> Path:
    """Coarse-grain the truth by ``scale`` as ``isingsr correlate`` does and super-resolve it with ``method``.

    ``options`` go to :func:`isingsr.superres.load_superresolver` (steps, sampler, start, variance, grid, ...);
    the ``forward`` start gets the truth itself. ``resolver``: a super-resolver built by the caller, used
    instead of ``method``, ``ckpt`` and ``options``. ``n``: only the first n inputs. With ``reuse`` an
    existing ``out`` is taken as it is (an interrupted script resumes). ``progress``: a callback
    ``(done, total)``; None: a bar on stderr named after ``out``. Returns the ensemble's path.
    """
    from isingsr.correlate import coarse_inputs
    from isingsr.io.hdf5 import load_ensemble
    from isingsr.io.paths import portable_path
    from isingsr.progress import Bar
    from isingsr.superres import load_superresolver, superresolve_to_file

    if reuse and Path(out).exists():
        return Path(out)
    t0 = time.perf_counter()
    ens = load_ensemble(truth)
    if options.get("start") == "forward":
        options["fine"] = ens.spins
    model = resolver if resolver is not None else load_superresolver(method, ckpt, L=ens.L, **options)
    bar = Bar(Path(out).stem, "cfg") if progress is None else None
    try:
        path = superresolve_to_file(model, coarse_inputs(ens.spins, scale, seed)[:n], scale, out, seed=seed,
                                    source=portable_path(truth), overwrite=True, progress=progress or bar,
                                    log=lambda s: print(s, file=sys.stderr))
    finally:
        if bar is not None:
            bar.close()
    print(f"{path}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return path


def posterior_reference(truth, scale: float, out, *, seed: int = 0):
    """One exact posterior draw per input written to ``out``, and the conditional moments of 8 more."""
    from isingsr.correlate import POSTERIOR_DRAWS, coarse_inputs
    from isingsr.io.hdf5 import load_ensemble
    from isingsr.io.paths import portable_path
    from isingsr.superres import load_superresolver, superresolve_to_file

    ens = load_ensemble(truth)
    model = load_superresolver("posterior", beta=ens.beta, reference_draws=POSTERIOR_DRAWS)
    path = superresolve_to_file(model, coarse_inputs(ens.spins, scale, seed), scale, out, seed=seed,
                                source=portable_path(truth), overwrite=True)
    return path, model.reference


def input_walls(coarse):
    """Blocks of coarse configurations ``(N, l, l)`` with a nearest neighbour of the opposite spin (periodic):
    the blocks next to a domain wall of the input."""
    return opposite_neighbours(coarse) > 0


def opposite_neighbours(coarse, cap: int = 4):
    """Per block of coarse configurations ``(N, l, l)``, how many of its four nearest neighbours (periodic) have
    the opposite spin, at most ``cap``: 0 inside a domain, 1 along a straight wall, 2 at a corner or in a strip,
    3-4 an island (:func:`input_walls` is ``> 0``)."""
    import numpy as np

    coarse = np.asarray(coarse)
    n = sum((coarse != np.roll(coarse, d, axis=ax)).astype(np.int64) for d in (1, -1) for ax in (1, 2))
    return np.minimum(n, cap)

def install_block_targets(target) -> None:
    """Make ``--consistency conditioned`` hold every block mean along the input at ``target(mu, cls, s2)``
    instead of the library's truncated-Gaussian mean: ``mu`` the estimate's block means along the input
    (float64 tensor, (N, l, l)), ``cls`` :func:`opposite_neighbours` of the input (capped at 3), ``s2`` the
    Gaussian model's block-mean variance (at ``s2 = 0``, mu itself). The other modes' calls keep the library's
    :func:`isingsr.diffusion.consistency.truncated_targets`, however often this is installed."""
    import torch

    import isingsr.diffusion.consistency as consistency

    plain = getattr(install_block_targets, "plain", consistency.truncated_targets)
    install_block_targets.plain = plain

    def targets(x, coarse, b, variance, basis, every_block=False):
        L = x.shape[-1]
        s2 = consistency.block_mean_variance(variance, basis, b, L)
        if not every_block:
            return plain(x, coarse, b, variance, basis, every_block)
        mu = coarse.to(torch.float64) * consistency._block_means(x.reshape(x.shape[0], L, L).to(torch.float64), b)
        if s2 <= 0:
            return mu.clamp(min=0.0)
        cls = torch.from_numpy(opposite_neighbours(coarse.cpu().numpy(), 3)).to(mu.device)
        return torch.as_tensor(target(mu, cls, s2), dtype=torch.float64, device=mu.device).clamp(min=0.0)

    consistency.truncated_targets = targets


def split_for_consistency() -> tuple[list[str], list[str]]:
    """The command line split at ``--``: a lift script's own arguments, and those it passes to
    ``consistency.py`` (:func:`run_consistency`), which must name ``--modes``."""
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    own, rest = argv[:cut], argv[cut + 1:]
    if "--modes" not in rest and not {"-h", "--help"} & set(own):
        raise InputError("give consistency.py its --modes (conditioned) after --")
    return own, rest


def add_calibration(ap: argparse.ArgumentParser, n: int, what: str) -> None:
    """The arguments of a lift fitted on Monte Carlo data: ``--calib``, ``-n``, ``--scale``, ``--ckpt`` and
    ``--out``."""
    ap.add_argument("--calib", type=Path, required=True,
                    help=f"Monte Carlo ensemble the {what} is measured on (not the evaluation's)")
    ap.add_argument("-n", type=int, default=n, help=f"configurations of --calib used (default {n})")
    ap.add_argument("--scale", type=int, required=True, help="block size b of the runs after --")
    ap.add_argument("--ckpt", default=None, help="SKILD checkpoint [default: the shipped one for the data's L]")
    ap.add_argument("--out", type=Path, default=None,
                    help="folder of the fit's table [default: the --out after --]")


def load_calibration(calib: Path, n: int, b: int, ckpt):
    """The first ``n`` configurations of the Monte Carlo ensemble ``calib``, checked to tile into blocks of
    ``b``, and the checkpoint ``ckpt`` (None: the shipped one for their L) with its denoiser built at that L;
    gradients off. Returns ``(ensemble, checkpoint, denoiser)``."""
    import torch

    from isingsr.diffusion.inference import build_from_checkpoint
    from isingsr.io.checkpoint import load_checkpoint
    from isingsr.io.hdf5 import load_ensemble
    from isingsr.models import shipped_checkpoint

    if not Path(calib).is_file():
        raise InputError(f"--calib {calib}: no such file")
    ens = load_ensemble(calib, max_samples=n)
    if b < 2 or ens.L % b:
        raise InputError(f"--scale {b} must divide L = {ens.L}")
    torch.set_grad_enabled(False)
    ck = load_checkpoint(ckpt or shipped_checkpoint(ens.L))
    return ens, ck, build_from_checkpoint(ck, L=ens.L)


def noised_estimates(den, x0, t: float):
    """Clean fields ``x0`` (N, 1, L, L) float64 noised by the forward process to time ``t`` (seed 0), and the
    denoiser's estimates of them in float64, in batches of :func:`isingsr.defaults.auto_batch`.
    Returns ``(x_t, estimate)``."""
    import torch

    from isingsr.defaults import auto_batch

    x_t = den.process.q_sample(x0, float(t), generator=torch.Generator().manual_seed(0))[0]
    batch = auto_batch(x0.shape[-1])
    est = torch.cat([den(x_t[i:i + batch].float(), torch.full((len(x_t[i:i + batch]),), float(t))).double()
                     for i in range(0, len(x_t), batch)])
    return x_t, est


def calibration_out(out: Path | None, rest: list[str]) -> Path:
    """``--out`` of :func:`add_calibration`, else the one given to consistency.py."""
    if out is not None:
        return out
    if "--out" in rest and rest.index("--out") + 1 < len(rest):
        return Path(rest[rest.index("--out") + 1])
    raise InputError("give --out (here or after --)")


def run_consistency(rest: list[str]) -> None:
    """Run ``consistency.py`` in this process with the arguments ``rest`` (a lift installed before it counts)."""
    import runpy

    sys.argv = [str(Path(__file__).with_name("consistency.py"))] + rest
    runpy.run_path(sys.argv[0], run_name="__main__")
