"""Two settings of SKILD's super-resolution on the same inputs and seeds, compared configuration by configuration.

Coarse-grains the first ``--n`` configurations of ``--truth`` as ``isingsr
correlate`` does and super-resolves them with the same checkpoint and seeds
twice: in the reference setting (the package's defaults, changed by
``--base``) and in the candidate setting (the reference changed by
``--candidate``). A setting is ``KEY=VALUE[,KEY=VALUE...]`` over ``steps``
(reverse steps), ``particles`` (``isingsr superres --particles``; the
reference's is 1), ``sampler``, ``precision`` (``float32`` or ``bf16``: the
network under bf16 autocast), ``consistency`` (``isingsr superres
--consistency``; the reference's is ``none``, the plain sampler, unless
``--base`` says otherwise), ``lift_a`` (with ``held`` or ``conditioned``:
the block-mean lift computed from the estimate with the Wiener one in the
modes of signal fraction below it; 0, the default: from the network's own
estimate) and ``ckpt`` (another SKILD checkpoint, e.g. the tiny network
against the small one, ``--ckpt``). Reports:

* configuration by configuration: the fraction of sites on which the two
  outputs agree and the difference of their energies per site;
* the candidate ensemble against the reference one, with errors paired
  configuration by configuration (max |dG4c|, max |z|, the G4c and G2
  full-covariance p-values, energy and U4 z-scores): whether the change is
  visible at all at this n, and how far it moves the result in its errors;
* each against the Monte Carlo truth (the numbers ``isingsr correlate``
  reports) and its block consistency with the input (the fraction of blocks
  whose majority is the input's spin).

The candidate passes when the paired G4c p >= 0.05 and |dE| < 2 sigma, as in
``sampler_accuracy.py``. Wall times of both runs go to ``summary.json``; speed
is measured apart, on one machine at one time, by ``bench_sampling.py``.

Each run is written to ``OUT/reference.h5`` and ``OUT/candidate.h5`` and is
taken as it is when already there; an interrupted run continues where it
stopped. ``--reference FILE`` takes an existing SKILD file of the same truth
instead of running the reference (e.g. ``results/L128/s4/skild.h5``; its first
``--n`` configurations, after checking that it was made with the reference
setting, checkpoint and seed).

Usage:  python experiments/paired_check.py --truth data/L128_n1000.h5 --scale 2 --n 200 \\
            --candidate steps=35 --out results/steps_L128_s2
        python experiments/paired_check.py --truth data/L128_n1000.h5 --scale 4 --n 200 \\
            --candidate precision=bf16 --reference results/L128/s4/skild.h5 --out results/precision_L128_s4
        python experiments/paired_check.py --truth data/L32_n1000_seed2027.h5 --scale 4 --n 1000 \\
            --ckpt isingsr/models/skild_L32.pt --candidate ckpt=isingsr/models/skild_L32_tiny.pt \\
            --out results/tiny_L32_s4_seed2027
        python experiments/paired_check.py --truth data/L128_n1000.h5 --scale 8 --n 200 \\
            --candidate consistency=conditioned --reference results/steps_L128_s8/candidate.h5 \\
            --out results/consistency_L128_s8
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from isingsr.analysis.compare import block_consistency, compare, measure
from isingsr.analysis.scalars import energy_magnetization
from isingsr.analysis.tables import markdown, pval
from isingsr.correlate import _shipped, coarse_inputs
from isingsr.defaults import CONSISTENCY, PRECISION, PRECISIONS, SAMPLER, SAMPLER_NAMES, superres_steps
from isingsr.exceptions import InputError
from isingsr.io.hdf5 import load_ensemble
from isingsr.io.paths import portable_path
from isingsr.progress import Bar

from _script import main, parser, super_resolve_truth


def setting(text: str, base: dict) -> dict:
    """``base`` changed by ``KEY=VALUE[,KEY=VALUE...]`` (keys steps, particles, sampler, precision, consistency,
    lift_a, ckpt), checked."""
    out = dict(base)
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in out:
            raise InputError(f"setting {item!r}: expected KEY=VALUE with KEY one of {', '.join(out)}")
        if key in ("steps", "particles"):
            if not value.isdigit() or int(value) < 1:
                raise InputError(f"setting {item!r}: {key} must be a positive integer")
            value = int(value)
        elif key == "ckpt":
            if not Path(value).is_file():
                raise InputError(f"setting {item!r}: no such checkpoint")
        elif key == "lift_a":
            try:
                value = float(value)
            except ValueError:
                raise InputError(f"setting {item!r}: lift_a must be a number in [0, 1]") from None
            if not 0 <= value <= 1:
                raise InputError(f"setting {item!r}: lift_a must be a number in [0, 1]")
        elif value not in {"sampler": SAMPLER_NAMES, "precision": PRECISIONS, "consistency": CONSISTENCY}[key]:
            raise InputError(f"setting {item!r}: unknown {key}")
        out[key] = value
    return out


def label(s: dict) -> str:
    """The setting as text; ``lift_a`` only where it is not 0 (the network's own estimate), ``particles`` where
    not 1, the checkpoint by its file name."""
    return ", ".join(f"{k}={Path(v).name if k == 'ckpt' else v}" for k, v in s.items()
                     if (k != "lift_a" or v) and (k != "particles" or v != 1))


def check_file(attrs: dict, want: dict, what: str) -> None:
    """The file's attributes against the setting, checkpoint and seed it should have been made with."""
    got = {k: attrs.get(k, {"precision": PRECISION, "consistency": "none", "lift_a": 0.0, "particles": 1}.get(k))
           for k in want}
    bad = [f"{k} {got[k]!r} (want {want[k]!r})" for k in want if str(got[k]) != str(want[k])]
    if bad:
        raise InputError(f"{what}: made with {', '.join(bad)}")


def row(name: str, c: dict, consistency: float | None = None) -> list[str]:
    sc = c["scalars"]
    return [name, f"{c['g4c_max_abs_dev']:.5f}", f"{max(abs(z) for z in c['g4c_z'] if z is not None):.1f}",
            pval(c["g4c_p_value"]), pval(c["g2_p_value"]), f"{sc['energy']['z']:+.1f}", f"{sc['binder']['z']:+.1f}",
            "" if consistency is None else f"{consistency:.3f}"]


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--truth", required=True, help="Monte Carlo ensemble (HDF5)")
    ap.add_argument("--scale", type=float, default=4.0)
    ap.add_argument("--n", type=int, default=100, help="first n configurations")
    ap.add_argument("--ckpt", default=None, help="SKILD checkpoint [default: the shipped one for the truth's L]")
    ap.add_argument("--base", default="", help="the reference setting's changes to the defaults, e.g. steps=100")
    ap.add_argument("--candidate", required=True, help="the candidate's changes to the reference, e.g. steps=35")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reference", default=None, help="existing SKILD file of the same truth, setting and seed")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if args.n < 2:
        raise InputError("--n must be at least 2")
    truth = load_ensemble(args.truth, max_samples=args.n)  # the first n configurations, the inputs' truth
    if truth.n < args.n:
        raise InputError(f"--n {args.n}: {args.truth} holds {truth.n} configurations")
    ckpt = args.ckpt or _shipped("skild", truth.L, args.scale)
    settings = {"reference": setting(args.base, {"steps": superres_steps(args.scale), "particles": 1,
                                                 "sampler": SAMPLER,
                                                 "precision": PRECISION, "consistency": "none",
                                                 "lift_a": 0.0, "ckpt": str(ckpt)})}
    settings["candidate"] = setting(args.candidate, settings["reference"])
    if settings["candidate"] == settings["reference"]:
        raise InputError("--candidate: the same setting as the reference")
    args.out.mkdir(parents=True, exist_ok=True)
    files = {k: args.out / f"{k}.h5" for k in settings}
    if args.reference:
        files["reference"] = Path(args.reference)
    ens = {}
    for k, s in settings.items():
        options = {key: v for key, v in s.items() if key != "ckpt"}  # the sampler's; the checkpoint apart
        if k == "candidate" or not args.reference:
            bar = Bar(f"skild {label(s)}", "cfg")
            try:
                super_resolve_truth("skild", args.truth, args.scale, files[k], s["ckpt"], seed=args.seed,
                                    progress=bar, reuse=True, n=args.n, **options)
            finally:
                bar.close()
        ens[k] = load_ensemble(files[k], max_samples=args.n)
        if ens[k].n < args.n:
            raise InputError(f"{files[k]}: {ens[k].n} configurations, fewer than --n {args.n}")
        check_file(ens[k].attrs, {**options, "checkpoint": portable_path(s["ckpt"]), "seed": args.seed},
                   str(files[k]))
    a, b = ens["reference"].spins, ens["candidate"].spins
    agree = (a == b).mean(axis=(1, 2))
    e_a, e_b = energy_magnetization(a)[0], energy_magnetization(b)[0]
    de = e_b - e_a
    print("measuring correlations", file=sys.stderr)
    # jackknife blocks contiguous in Monte Carlo time (the inputs, and so every ensemble here, follow the truth)
    order = truth.time_order()
    m = {k: measure(e.spins, order=order, keep_samples=True, collinear=False) for k, e in ens.items()}
    m["truth"] = measure(truth.spins, order=order, keep_samples=True)
    vs_ref = compare(m["reference"], m["candidate"])
    vs_truth = {k: compare(m["truth"], m[k]) for k in settings}
    names = {k: f"{k} ({label(s)})" for k, s in settings.items()}
    coarse = coarse_inputs(truth.spins, args.scale, args.seed)
    cons = {k: block_consistency(e.spins, coarse, args.scale) for k, e in ens.items()}
    head = ["ensemble", "max abs dG4c", "max abs z", "G4c p", "G2 p", "dE (z)", "dU4 (z)", "consistency"]
    table = markdown(head, [row(f"{names['candidate']} against the reference (same inputs and seeds)", vs_ref),
                            *(row(f"{names[k]} against Monte Carlo", vs_truth[k], cons[k]) for k in settings)])
    pairs = markdown(["site agreement mean", "site agreement min", "mean dE per site", "sd of dE per site",
                      "sd of E per site (reference)"],
                     [[f"{agree.mean():.4f}", f"{agree.min():.4f}",
                       f"{de.mean():+.5f} ± {de.std(ddof=1) / np.sqrt(len(de)):.5f}", f"{de.std(ddof=1):.5f}",
                       f"{e_a.std(ddof=1):.5f}"]])
    (args.out / "table.md").write_text(table + "\n")
    (args.out / "pairs.md").write_text(pairs + "\n")
    summary = {"truth": portable_path(args.truth), "scale": args.scale, "n": args.n,
               "settings": {k: {**s, "ckpt": portable_path(s["ckpt"])} for k, s in settings.items()},
               "checkpoint": portable_path(ckpt), "seed": args.seed,
               "files": {k: portable_path(p) for k, p in files.items()},
               "wall_s": {k: e.attrs.get("wall_s") for k, e in ens.items()},
               "site_agreement": agree.tolist(), "energy_difference": de.tolist(), "consistency": cons,
               "candidate_vs_reference": {k: vs_ref[k] for k in ("g4c_max_abs_dev", "g4c_p_value", "g2_p_value")}
               | {"energy_z": vs_ref["scalars"]["energy"]["z"], "binder_z": vs_ref["scalars"]["binder"]["z"]},
               "command": " ".join(sys.argv)}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    print(pairs, table, sep="\n\n")


if __name__ == "__main__":
    main(run)
