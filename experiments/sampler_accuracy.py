"""Accuracy against network evaluations: SKILD and SR3 with each sampler, at 2x, 4x and 8x (L = 32).

For each scale S the cached Monte Carlo truth (L = 32, n = 1000, seed 12345,
as for ``isingsr correlate``; or ``--truth``) is coarse-grained by S (majority rule, seed 0)
and every run -- a method (skild: the shipped checkpoint or ``--ckpt``, conditional start;
sr3: the shipped checkpoint for S), a sampler and a number of steps (network
evaluations) -- super-resolves the same inputs with the same seeds into
``OUT/sS/RUN/``: the configurations (``RUN.h5``), ``summary.json`` of
:func:`isingsr.analysis.report.run_correlate` against the truth (paired
errors, G4c full-covariance p-value, energy and U4 z, block consistency,
conditional scores against 8 exact posterior draws per input), ``run.json``
(wall time, evaluations) and ``vs_converged.json``: the run against the
method's converged reference (the last ``--reference`` run; by default the
400-step ancestral sampler), paired configuration by configuration, since both
came from the same inputs (max |z| of the G4c difference, its
full-covariance p-value, the energy difference's z). A run matches the
converged result within errors when that p >= 0.05 and |z_E| < 2.

A run is ``METHOD:SAMPLER:STEPS[:KEY=VALUE,...]``; keys ``variance`` (of a
stochastic sampler), ``l_end``, ``l_soft``, ``rho``, ``bump``, ``l_bump`` and ``bump_width`` (of SKILD's time grid,
:func:`isingsr.diffusion.samplers.time_grid`; ``l_soft=0`` is the grid uniform
in ln l). STEPS are reverse steps; the two-stage samplers (``heun-sde``, ``heun``)
evaluate the network ``2 STEPS - 1`` times, and the table counts evaluations.
A run's configurations are reused when its folder has them (delete the folder to redo
it, its ``summary.json`` to re-analyse only), so an interrupted call resumes. Wall times stay in
``run.json``, not the table: they depend on what else the machine runs (speed: ``bench_sampling.py``).

Prints and writes ``OUT/table.md``; draws ``OUT/accuracy.png`` (max |dG4c|
and energy z against network evaluations, one panel column per scale).

Usage (2 cores: a run takes about 1.5 s per network evaluation of the 1000 configurations):
  python experiments/sampler_accuracy.py --out results/sampler_accuracy
  python experiments/sampler_accuracy.py --out results/sampler_grid --scales 4 --methods skild \\
      --runs skild:dpmpp-2m-sde:25:l_end=0.05 skild:dpmpp-2m-sde:25:l_end=0.1
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from isingsr.analysis.compare import compare, measure
from isingsr.analysis.report import run_correlate
from isingsr.analysis.tables import markdown, pval
from isingsr.exceptions import InputError
from isingsr.io.hdf5 import load_ensemble
from isingsr.diffusion.samplers import evaluations

from _script import (add_skild_ckpt, add_sr3_ckpt, add_truth, main, numbers, parser, posterior_reference,
                     sr3_checkpoint, super_resolve_truth, truth_path)

DEFAULT_RUNS = ([f"skild:ancestral:{n}:l_soft=0" for n in (25, 50, 100, 400)]
                + [f"skild:ancestral:{n}" for n in (10, 15, 25, 35, 50, 100, 200)]
                + [f"skild:ancestral-2m:{n}" for n in (25, 50)]
                + [f"skild:dpmpp-2m-sde:{n}" for n in (15, 25, 50, 100)]
                + [f"sr3:ancestral:{n}" for n in (25, 50, 100)])


#: Options of a run that shape SKILD's time grid (keyword arguments of :func:`isingsr.diffusion.samplers.time_grid`).
GRID_KEYS = ("l_end", "l_soft", "rho", "bump", "l_bump", "bump_width")


def parse_run(text: str) -> dict:
    """``METHOD:SAMPLER:STEPS[:k=v,...]`` -> dict with a folder name."""
    parts = text.split(":")
    if len(parts) not in (3, 4) or parts[0] not in ("skild", "sr3"):
        raise InputError(f"run {text!r}: expected METHOD:SAMPLER:STEPS[:KEY=VALUE,...], METHOD skild or sr3")
    try:
        steps = int(parts[2])
        opts = dict(kv.split("=", 1) for kv in parts[3].split(",")) if len(parts) == 4 else {}
    except ValueError:
        raise InputError(f"run {text!r}: STEPS must be an integer and options KEY=VALUE") from None
    bad = set(opts) - {"variance", *GRID_KEYS}
    if bad:
        raise InputError(f"run {text!r}: unknown options {', '.join(sorted(bad))} (variance, {', '.join(GRID_KEYS)})")
    name = f"{parts[0]}_{parts[1]}_{steps}" + "".join(f"_{k}{v}" for k, v in sorted(opts.items()))
    return {"spec": text, "method": parts[0], "sampler": parts[1], "steps": steps, "opts": opts, "name": name}


def make_run(run: dict, truth: Path, scale: float, folder: Path, reference, device: str, ckpt: str,
             sr3_ckpt: str | None = None) -> None:
    """Super-resolve (skipped when its configurations exist) and analyse (skipped when its summary exists)
    one run into ``folder``; ``ckpt``: SKILD's checkpoint; ``sr3_ckpt``: SR3's, a pattern with ``{S}``
    (default: the shipped one)."""
    path = folder / f"{run['name']}.h5"
    if not (folder / "run.json").exists():
        _sample(run, truth, scale, folder, path, device, ckpt, sr3_ckpt)
    if not (folder / "summary.json").exists():
        run_correlate(truth, scale, folder, candidates={run["method"]: path}, progress=False, naive=False,
                      posterior_reference=reference)


def _sample(run: dict, truth: Path, scale: float, folder: Path, path: Path, device: str, ckpt: str,
            sr3_ckpt: str | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if run["method"] == "skild":
        grid = {k: float(run["opts"][k]) for k in GRID_KEYS if k in run["opts"]} or None
        super_resolve_truth("skild", truth, scale, path, ckpt, steps=run["steps"],
                            sampler=run["sampler"], variance=run["opts"].get("variance"), grid=grid, device=device)
    else:
        if run["opts"]:
            raise InputError(f"run {run['spec']}: options apply to skild only")
        super_resolve_truth("sr3", truth, scale, path, sr3_checkpoint(sr3_ckpt, scale), steps=run["steps"],
                            sampler=run["sampler"], device=device)
    wall = time.perf_counter() - t0
    n = load_ensemble(path).n
    evals = evaluations(run["sampler"], run["steps"])
    checkpoint = {"checkpoint": str(ckpt)} if run["method"] == "skild" else {}
    info = {**run, **checkpoint, "scale": scale, "wall_s": wall, "configurations": n,
            "evaluations_per_configuration": evals}
    (folder / "run.json").write_text(json.dumps(info, indent=1) + "\n")


def vs_converged(truth: Path, folder: Path, ref_folder: Path, method: str) -> dict:
    """The run against the converged reference, paired configuration by configuration (same inputs)."""
    order = load_ensemble(truth).time_order()
    m = [measure(load_ensemble(next(f.glob("*.h5"))).spins, order=order, keep_samples=True)
         for f in (ref_folder, folder)]
    c = compare(m[0], m[1])
    z = np.abs(c["g4c_z"])
    return {"reference": ref_folder.name, "g4c_max_abs_diff": float(c["g4c_max_abs_dev"]),
            "g4c_max_abs_z": float(np.nanmax(z)), "g4c_p_value": c["g4c_p_value"],
            "energy_diff": c["scalars"]["energy"]["diff"], "energy_z": c["scalars"]["energy"]["z"],
            "binder_z": c["scalars"]["binder"]["z"]}


def row(scale: float, run: dict, folder: Path) -> dict:
    s = json.loads((folder / "summary.json").read_text())
    r = json.loads((folder / "run.json").read_text())
    c = s["comparison"][run["method"]]
    cond = s["conditional"]["scores"][run["method"]]
    out = {"scale": scale, "run": run["name"], "method": run["method"], "sampler": run["sampler"],
           "opts": run["opts"], "evals": evaluations(run["sampler"], run["steps"]), "steps": run["steps"],
           "wall_s": r["wall_s"],
           "g4c_max_abs_dev": c["g4c_max_abs_dev"], "g4c_p": c["g4c_p_value"],
           "energy_z": c["scalars"]["energy"]["z"], "binder_z": c["scalars"]["binder"]["z"],
           "consistency": c["consistency"], "e_ratio": cond["energy"]["mse_ratio"],
           "m_ratio": cond["block_m"]["mse_ratio"]}
    vc = folder / "vs_converged.json"
    if vc.exists():
        out["vs"] = json.loads(vc.read_text())
    return out


HEADER = ["S", "method", "sampler", "evals", "max abs dG4c", "G4c p", "dE (z)", "dU4 (z)", "consistency", "E\\|c",
          "mB\\|c", "vs converged: max abs z, G4c p, dE z"]


def table(rows: list[dict]) -> str:
    """The markdown table of :data:`HEADER`, one line per run."""
    out = []
    for r in rows:
        vs = r.get("vs")
        vs_txt = ("(reference)" if r.get("reference") else "—") if vs is None else \
            f"{vs['g4c_max_abs_z']:.1f}, {pval(vs['g4c_p_value'])}, {vs['energy_z']:+.1f}"
        sampler = r["sampler"] + "".join(f" {k}={v}" for k, v in r["opts"].items())
        out.append([f"{r['scale']:g}", r["method"], sampler, r["evals"], f"{r['g4c_max_abs_dev']:.4f}",
                    pval(r["g4c_p"]), f"{r['energy_z']:+.1f}", f"{r['binder_z']:+.1f}", f"{r['consistency']:.3f}",
                    f"{r['e_ratio']:.2f}", f"{r['m_ratio']:.2f}", vs_txt])
    return markdown(HEADER, out)


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scales = sorted({r["scale"] for r in rows})
    fig, axes = plt.subplots(2, len(scales), figsize=(4.2 * len(scales), 6.4), squeeze=False, sharex=True)
    for j, S in enumerate(scales):
        curves: dict = {}
        for r in rows:
            if r["scale"] == S:
                opts = " ".join(f"{k}={v}" for k, v in sorted(r["opts"].items()))
                curves.setdefault((r["method"], r["sampler"], opts), []).append(r)
        for (method, sampler, opts), rs in sorted(curves.items()):
            rs.sort(key=lambda r: r["evals"])
            style = dict(marker="o" if method == "skild" else "s", ls="-" if "2m" in sampler else "--",
                         label=f"{method} {sampler} {opts}".strip())
            x = [r["evals"] for r in rs]
            axes[0, j].plot(x, [r["g4c_max_abs_dev"] for r in rs], **style)
            axes[1, j].plot(x, [r["energy_z"] for r in rs], **style)
        axes[0, j].set_title(f"{S:g}x, L = 32")
        axes[1, j].axhspan(-2, 2, color="0.9")
        axes[1, j].set_xlabel("network evaluations")
        for ax in axes[:, j]:
            ax.set_xscale("log")
    axes[0, 0].set_ylabel(r"max$_r$ |G4c residual|")
    axes[1, 0].set_ylabel("energy residual / error")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--out", type=Path, default=Path("results/sampler_accuracy"))
    ap.add_argument("--scales", type=numbers(), default="2,4,8")
    ap.add_argument("--methods", default="skild,sr3", help="only the runs of these methods")
    ap.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, help="METHOD:SAMPLER:STEPS[:KEY=VALUE,...]")
    ap.add_argument("--reference", default="ancestral:400", help="SAMPLER:STEPS of each method's converged run "
                    "(for skild the run with l_soft=0, the original grid)")
    add_skild_ckpt(ap)
    add_sr3_ckpt(ap)
    add_truth(ap)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--figure", type=Path, default=None, help="also write the figure there (docs/figures/...)")
    args = ap.parse_args()
    methods = args.methods.split(",")
    runs = [r for r in map(parse_run, args.runs) if r["method"] in methods]
    truth = truth_path(ap, args.truth)
    ckpt = args.ckpt
    rows = []
    for S in args.scales:
        base = args.out / f"s{S:g}"
        base.mkdir(parents=True, exist_ok=True)
        _, reference = posterior_reference(truth, S, base / "posterior.h5")
        for r in runs:
            t0 = time.perf_counter()
            fresh = not (base / r["name"] / "summary.json").exists()
            make_run(r, truth, S, base / r["name"], reference, args.device, ckpt, args.sr3_ckpt)
            if fresh:
                print(f"{S:g}x {r['name']}: {time.perf_counter() - t0:.0f} s", flush=True)
        for r in runs:
            ref = base / f"{r['method']}_{args.reference.replace(':', '_')}"
            if not ref.exists() and (base / f"{ref.name}_l_soft0").exists():
                ref = base / f"{ref.name}_l_soft0"
            if (ref / "summary.json").exists() and ref.name != r["name"]:
                (base / r["name"] / "vs_converged.json").write_text(
                    json.dumps(vs_converged(truth, base / r["name"], ref, r["method"]), indent=1) + "\n")
            rows.append({**row(S, r, base / r["name"]), "reference": ref.name == r["name"]})
    text = table(rows)
    print(text)
    (args.out / "table.md").write_text(text + "\n")
    (args.out / "rows.json").write_text(json.dumps(rows, indent=1) + "\n")
    figure(rows, args.out / "accuracy.png")
    if args.figure is not None:
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        figure(rows, args.figure)


if __name__ == "__main__":
    main(run)
