"""Command-line interface: thin click commands over library calls.

Bad input is answered with one line, ``isingsr: error: ...``, and exit
status 2 -- never a traceback.
"""

from __future__ import annotations

import json
import math
import sys

import click

from .constants import BETA_C
from .exceptions import InputError


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
            _fail(f"{exc.filename + ': ' if getattr(exc, 'filename', None) else ''}{exc.strerror or exc}", 1)
        sys.exit(rv if isinstance(rv, int) else 0)


def _fail(message: str, code: int) -> None:
    line = " ".join(str(message).split())  # one line, whatever the message
    click.echo(f"isingsr: error: {line}", err=True)
    sys.exit(code)


def fmt_err(value, error) -> str:
    """``value ± error`` with the error to two significant digits."""
    if value is None:
        return "n/a"
    if error is None or not math.isfinite(error) or error <= 0:
        return f"{value:.6g}"
    digits = max(0, 1 - int(math.floor(math.log10(error))))
    return f"{value:.{digits}f} ± {error:.{digits}f}"


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="isingsr", prog_name="isingsr")
def cli():
    """isingsr: critical 2D Ising configurations, their Monte Carlo ground truth and
    scale-invariant diffusion super-resolution (SKILD).

    \b
    Examples:
      isingsr generate --L 128 -n 10000 --out data/L128.h5
      isingsr info data/L128.h5
      isingsr correlate --truth data/L128.h5 --scale 4 --out figs/
    """


@cli.command()
@click.option("--L", "L", type=click.IntRange(min=4), help="Linear lattice size (>= 4). Required unless --append.")
@click.option("-n", "--n", "n", type=click.IntRange(min=1), required=True, help="Configurations to produce (or add).")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="Output HDF5 file.")
@click.option("--beta", type=click.FloatRange(min=0, min_open=True), default=BETA_C, show_default="beta_c = 0.4406867935",
              help="Inverse temperature (J = 1).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Master seed (one stream per chain).")
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
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or messages.")
def generate(L, n, out, beta, seed, chains, workers, sweeps_between, therm_sweeps, append, overwrite, quiet):
    """Sample equilibrium configurations with Wolff cluster Monte Carlo into an HDF5 file.

    Saves are a fixed number of cluster updates apart (never "after N flipped
    spins", which biases observables). A killed run leaves OUT.partial; run the
    same command again to continue it.

    \b
    Examples:
      isingsr generate --L 128 -n 10000 --out data/L128.h5
      isingsr generate --L 32 -n 5000 --beta 0.40 --seed 7 --out data/L32_hot.h5
      isingsr generate -n 5000 --append --out data/L128.h5
    """
    from tqdm import tqdm

    from .mc.generate import generate as run

    if L is None and not append:
        raise click.UsageError("--L is required (unless --append)")
    log = (lambda s: None) if quiet else (lambda s: click.echo(s, err=True))
    bar = None

    def progress(done, total):
        nonlocal bar
        if quiet:
            return
        if bar is None:
            bar = tqdm(total=total, unit="cfg", desc="sampling", file=sys.stderr, mininterval=0.5)
        bar.update(done - bar.n)

    try:
        attrs = run(out, L, n, beta=beta, seed=seed, chains=chains, workers=workers, sweeps_between=sweeps_between,
                    therm_sweeps=therm_sweeps, append=append, overwrite=overwrite, progress=progress, log=log)
    finally:
        if bar is not None:
            bar.close()
    log(f"wrote {out}: {attrs['n']} configurations of {attrs['L']}x{attrs['L']}, "
        f"tau_int(E) = {fmt_err(attrs.get('tau_int_E'), attrs.get('tau_int_E_err'))}, "
        f"tau_int(|m|) = {fmt_err(attrs.get('tau_int_absm'), attrs.get('tau_int_absm_err'))} saves")


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
    from .analysis.summary import ensemble_summary

    s = ensemble_summary(file)
    if as_json:
        payload = {k: s.get(k) for k in _CONTRACT}
        payload.update({k: v for k, v in s.items() if k not in payload and k != "attrs"})
        payload["attrs"] = s["attrs"]
        click.echo(json.dumps(payload, indent=2, default=_json_default))
        return
    a = s["attrs"]
    beta = s["beta"]
    lines = [f"{file}"]
    bstr = "unknown" if beta is None else f"{beta:.10g}" + (" (beta_c)" if math.isclose(beta, BETA_C) else "")
    lines.append(f"  lattice       {s['L']} x {s['L']}, {a.get('boundary', 'periodic')}, beta = {bstr}")
    status = "" if a.get("complete", True) else f"  (incomplete: {a.get('n')} of {a.get('n_target')})"
    lines.append(f"  samples       {s['n']}" + (f" from {a['chains']} chains" if "chains" in a else "") + status)
    if "algorithm" in a:
        lines.append(f"  algorithm     {a['algorithm']}, {a.get('updates_between')} cluster updates between saves "
                     f"(~{a.get('sweeps_between')} sweeps; <|C|> = {a.get('mean_cluster_size', float('nan')):.1f})")
    prov = [f"{k} = {a[k]}" for k in ("seed", "source", "rule", "scale", "checkpoint", "sampler", "steps") if k in a]
    if prov:
        lines.append("  provenance    " + ", ".join(prov))
    lines.append(f"  written by    isingsr {a.get('isingsr_version', '?')} on {a.get('created', '?')}")
    lines.append(f"  tau_int       E: {fmt_err(s.get('tau_int_E'), s.get('tau_int_E_err'))}   "
                 f"|m|: {fmt_err(s.get('tau_int_absm'), s.get('tau_int_absm_err'))}   (in saving intervals)")
    exact = s.get("exact", {})
    lines.append("")
    lines.append(f"  {'observable':<16}{'measured':>26}   {'exact':>14}   deviation")
    names = [("energy", "energy / site"), ("abs_m", "<|m|>"), ("m2", "<m^2>"), ("chi", "chi = N<m^2>"),
             ("binder", "Binder U4"), ("specific_heat", "specific heat")]
    for key, label in names:
        if key not in s:
            continue
        v, e = s[key], s.get(key + "_err")
        ex = exact.get(key)
        note = ""
        if ex is None and key == "binder" and "binder_universal" in exact:
            ex, note = exact["binder_universal"], " (L -> inf)"
        dev = f"{(v - ex) / e:+.1f} sigma{note}" if ex is not None and e else ""
        exs = f"{ex:.10g}" if ex is not None else ""
        lines.append(f"  {label:<16}{fmt_err(v, e):>26}   {exs:>14}   {dev}")
    click.echo("\n".join(lines))


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


@cli.command()
@click.option("--truth", type=str, required=True, help="Monte Carlo ensemble (HDF5) taken as the truth.")
@click.option("--scale", type=click.FloatRange(min=1, min_open=True), required=True,
              help="Coarse-graining factor S (integer: majority rule; otherwise spectral resampling).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Directory for summary.json, correlations.csv, g2.{png,pdf}, g4c.{png,pdf}.")
@click.option("--candidate", "candidates", multiple=True, metavar="NAME=FILE.h5",
              help="Super-resolved ensemble to compare (repeatable).")
@click.option("--r", "r_text", default=None, metavar="R1,R2,...", help="Square sides for G4c [default: 1..L/4].")
@click.option("--blocks", type=click.IntRange(min=2), default=100, show_default=True, help="Jackknife blocks.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed for random tie-breaking in coarse-graining.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def correlate(truth, scale, out_dir, candidates, r_text, blocks, seed, quiet):
    """Connected two- and four-point correlations: candidates vs Monte Carlo truth.

    Coarse-grains the truth by --scale, builds the naive block-filled
    upsampling as a built-in baseline, and compares G2(r), the connected
    square four-point function G4c(r) and the scalar observables of every
    ensemble with the truth (jackknife errors, z-scores, chi^2/dof), as a
    table (summary.json, correlations.csv) and two-panel figures.

    \b
    Examples:
      isingsr correlate --truth data/L128.h5 --scale 4 --out figs/
      isingsr correlate --truth data/L64.h5 --scale 2 --out figs/ --candidate skild=sr.h5
    """
    from pathlib import Path

    from .analysis.report import run_correlate

    out = Path(out_dir)
    if not out.exists():
        if not out.parent.exists():
            raise InputError(f"{out.parent}: no such directory")
        out.mkdir()
    summary = run_correlate(truth, scale, out, candidates=_parse_candidates(candidates), r=_parse_r(r_text),
                            n_blocks=blocks, seed=seed, progress=not quiet)
    lines = [f"{'ensemble':<12}{'n':>8}{'G2 chi2/dof':>14}{'G4c chi2/dof':>14}{'max|dG4c|':>12}{'consistency':>13}"]
    for name, ens in summary["ensembles"].items():
        cmp = summary["comparison"].get(name)
        if cmp is None:
            lines.append(f"{name:<12}{ens['n']:>8}{'(truth)':>14}")
            continue
        cons = cmp.get("consistency")
        lines.append(f"{name:<12}{ens['n']:>8}{cmp['g2_chi2_dof']:>14.3g}{cmp['g4c_chi2_dof']:>14.3g}"
                     f"{cmp['g4c_max_abs_dev']:>12.4f}{'' if cons is None else f'{cons:.4f}':>13}")
    click.echo("\n".join(lines))
    click.echo(f"wrote {out}/summary.json, correlations.csv, g2.png/pdf, g4c.png/pdf", err=True)


def _json_default(o):
    try:
        return o.item()
    except AttributeError:
        return str(o)


def main():  # console-script entry point
    cli(prog_name="isingsr")


if __name__ == "__main__":  # pragma: no cover
    main()
