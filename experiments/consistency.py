"""Does SKILD's super-resolution honour its input? The consistency projection, the start time and the exact polish.

For each scale S the cached Monte Carlo truth (L = 32, n = 1000) is
coarse-grained by S (majority rule, seed 0) and super-resolved, same inputs
and seeds, by

* SKILD (the shipped checkpoint or ``--ckpt``) with each ``--consistency`` of ``--modes`` (none,
  project, ..., conditioned), alone and (``--particles``) as the proposal of K weighted particles, each
  from the checkpoint's start time (blur constant c = 0.9) and from the earlier c = 0.5 (what the alignment
  diagnostic asks for given the coarse input);
* the exact polish: 1, 3 and 10 constrained Metropolis sweeps at beta_c from
  SKILD's consistent output (``--polish-from``, default project; c = 0.9). It uses the Hamiltonian, which SKILD
  never sees, so it is a separate row: it measures how far SKILD's output is
  from the exact posterior;
* SR3 (its shipped checkpoint) and one exact posterior draw per input.

Every row is compared with the truth (paired errors, full-covariance G4c
p-value, energy and U4 z, block consistency, and the paired difference of the block
magnetisation along the input, the mean over blocks of y_B m_B) and scored input by input
against 8 further exact posterior draws (energy and block-magnetisation mse
ratios; 1 = an exact draw). Default sampler and steps of the package unless given (the tables
of docs/consistency.md made at 2x and 8x name their steps: 50 and 200).
Writes ``OUT/table.md`` (and ``OUT/sS/`` with summaries and files). Super-resolved files already in
``OUT/sS/`` are reused (delete one to make it again), so an interrupted run resumes.

Usage (about 7 min per scale on 2 cores):
  python experiments/consistency.py --out results/consistency_L32
The block-mean constraint at 4x and 8x, polished from there:
  python experiments/consistency.py --out results/consistency_mean_L32 --scales 4,8 --steps 100,200 --c 0.9 \\
      --modes none,mean --polish-from mean --polish 1,3
The truncated-Gaussian target for the wrong blocks (SR3's and the other modes' rows: the table above):
  python experiments/consistency.py --out results/consistency_truncated_L32 --scales 4,8 --steps 100,200 --c 0.9 \\
      --modes truncated --polish-from truncated --polish 1 --no-sr3
Every block's mean to its truncated-Gaussian mean given the input (docs/consistency.md's best option):
  python experiments/consistency.py --out results/consistency_conditioned_L32 --scales 2,4,8 \\
      --steps 50,100,200 --c 0.9 --modes conditioned --polish-from conditioned --polish 1 --no-sr3
The same from an earlier start (blur constant c = 0.7; ``--truth`` repeats it on an independent ensemble):
  python experiments/consistency.py --out results/consistency_conditioned_c0.7_L32 --scales 4,8 \
      --steps 100,200 --c 0.7 --modes conditioned --polish-from conditioned --polish 1 --no-sr3
All blocks truncated jointly (docs/consistency.md: far too ordered):
  python experiments/consistency.py --out results/consistency_joint_L32 --scales 4 --c 0.9 --modes joint \
      --polish-from joint --polish 1 --no-sr3
Restarted from blur 0.9 (docs/consistency.md#restarting-the-sampler;
8x: --scales 8 --steps 200 --out results/restart_s8_L32):
  python experiments/consistency.py --out results/restart_L32 --scales 4 --c 0.9 --modes conditioned \
      --restart-blur 0.9 --polish 0 --no-sr3
The block means held only down to a blur of 2.38, 1.56 or 0.9 sites
(docs/consistency.md#releasing-the-hold-before-the-end):
  python experiments/consistency.py --out results/release_L32 --scales 4 --c 0.9 --modes conditioned \
      --release-blur 2.38,1.56,0.9 --polish 0 --no-sr3
The blocks tilted at every time and only below a blur of 1, 2 and 2.7 sites
(docs/consistency.md#the-lifts-shape-inside-a-block):
  python experiments/consistency.py --ckpt isingsr/models/skild_L32_tiny.pt --out results/tiny_tilted_L32 \
      --scales 4 --c 0.9 --modes conditioned,tilted --tilt-blur 1,2,2.7 --polish 0 --no-sr3
Eight weighted particles per input (twisted sequential Monte Carlo, about 20 min per 4x run), the proposal
``conditioned`` computed from the estimate with Wiener's in its noisiest modes
(docs/consistency.md#weighting-particles-sequential-monte-carlo; ``--truth data/L32_n1000_seed2027.h5`` for
the second ensemble; ``--modes conditioned --particles 8 --twist-a 0``: the twist from the network's estimate):
  python experiments/consistency.py --ckpt isingsr/models/skild_L32_tiny.pt --out results/smc_lift_L32 \
      --scales 4 --c 0.9 --modes conditioned --lift-a 0.1 --particles 8 --polish 0 --no-sr3
The output-only projection, polished from there:
  python experiments/consistency.py --out results/consistency_final_L32 --scales 4 --c 0.9 --modes none,final \\
      --polish-from final --polish 1,3,5
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from isingsr.analysis.report import run_correlate
from isingsr.analysis.tables import markdown, pval, value_err
from isingsr.coarse import block_spin
from isingsr.correlate import coarse_inputs, exact_polish
from isingsr.defaults import CONSISTENCY, SAMPLER, TWIST_A
from isingsr.diffusion.consistency import MEAN_MODES
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.io.checkpoint import load_checkpoint
from isingsr.io.hdf5 import load_ensemble

from _script import (add_skild_ckpt, add_sr3_ckpt, add_steps, add_truth, main, numbers, parser, posterior_reference,
                     sr3_checkpoint, steps_per_scale, super_resolve_truth, truth_path)

HEADER = ["S", "method", "consistency", "E given c: mse ratio", "block m given c: mse ratio", "max abs dG4c",
          "max abs z", "G4c p", "G2 p", "dE (z)", "dU4 (z)", "d block m along input"]


def along_input(spins, coarse, S) -> np.ndarray:
    """Per configuration, the mean over blocks of y_B m_B: each block's magnetisation along its coarse spin."""
    return (block_spin(spins, S, rule="average") * coarse).mean(axis=(1, 2))


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--out", type=Path, default=Path("results/consistency_L32"))
    ap.add_argument("--scales", type=numbers(), default="2,4,8")
    ap.add_argument("--c", type=numbers(), default="0.9,0.5", help="blur constants of the start time")
    ap.add_argument("--polish", type=numbers(int), default="1,3,10", help="sweeps of the exact polish (0: none)")
    ap.add_argument("--modes", default="none,project", help="SKILD's --consistency options to run")
    ap.add_argument("--polish-from", default="project", choices=CONSISTENCY[1:],
                    help="the SKILD output the polish starts from (one of --modes)")
    add_steps(ap)
    ap.add_argument("--sampler", default=SAMPLER)
    add_truth(ap)
    ap.add_argument("--restart-blur", type=numbers(), default=[],
                    help="also each mode restarted from these blur lengths (rows ..._restartB; isingsr superres "
                         "--restart-blur)")
    ap.add_argument("--release-blur", type=numbers(), default=[],
                    help="also each block-mean mode with the block means held only down to these blur lengths "
                         "(rows ..._releaseB; the release_blur keyword of superresolve_fields)")
    ap.add_argument("--lift-a", type=float, default=0.0,
                    help="the lift of held, conditioned and tilted computed from the estimate with the Wiener one "
                         "in the modes of signal fraction below this (rows ..._liftA; the lift_a keyword of "
                         "superresolve_fields; 0: the network's estimate)")
    ap.add_argument("--tilt-blur", type=numbers(), default=[],
                    help="also tilted with the blocks tilted only below these blur lengths, conditioned's shape "
                         "above (rows ..._tiltB; the tilt_blur keyword of superresolve_fields)")
    ap.add_argument("--particles", type=numbers(int), default=[],
                    help="also each mode run as twisted sequential Monte Carlo with these numbers of particles "
                         "per configuration (rows ..._smcK; the particles keyword of superresolve_fields)")
    ap.add_argument("--twist-a", type=float, default=TWIST_A,
                    help="the particle filter's twist from the estimate with the Wiener one in the modes of signal "
                         f"fraction below this (0: the network's own; rows ..._twistA when not {TWIST_A:g})")
    add_skild_ckpt(ap)
    add_sr3_ckpt(ap)
    ap.add_argument("--no-sr3", action="store_true", help="leave SR3 out (e.g. its rows are in another table "
                    "of the same inputs and seeds)")
    args = ap.parse_args()
    if any(not b > 0 for b in args.tilt_blur):
        ap.error("--tilt-blur: blur lengths must be positive")
    if any(k < 2 for k in args.particles) or not 0 <= args.twist_a <= 1:
        ap.error("--particles: at least 2 per configuration; --twist-a: a signal fraction in [0, 1]")
    unknown = sorted(set(args.modes.split(",")) - set(CONSISTENCY))
    if unknown:
        ap.error(f"--modes: unknown {', '.join(unknown)}; choose from {', '.join(CONSISTENCY)}")
    args.polish = [k for k in args.polish if k > 0]  # --polish 0: no polish
    steps = steps_per_scale(ap, args.steps, args.scales)
    if args.polish and args.polish_from not in args.modes.split(","):
        ap.error(f"--polish-from {args.polish_from} is not one of --modes {args.modes}")
    ckpt = args.ckpt
    process = build_from_checkpoint(load_checkpoint(ckpt)).process
    truth = truth_path(ap, args.truth)
    ens = load_ensemble(truth)
    truth_spins, beta = ens.spins, ens.beta
    rows = []
    for S in args.scales:
        out = args.out / f"s{S:g}"
        out.mkdir(parents=True, exist_ok=True)
        _, reference = posterior_reference(truth, S, out / "posterior.h5")
        cands = {"posterior": out / "posterior.h5"}
        for c in args.c:
            start_blur = None if c == process.blur_per_block else c
            for mode in args.modes.split(","):
                runs = [(None, None, None, 1)] + [(b, None, None, 1) for b in args.restart_blur] + \
                    [(None, b, None, 1) for b in args.release_blur if mode in MEAN_MODES] + \
                    [(None, None, b, 1) for b in args.tilt_blur if mode == "tilted"] + \
                    [(None, None, None, k) for k in args.particles]
                for restart, release, tilt, k in runs:
                    smc = {} if k == 1 else {"particles": k, "twist_a": args.twist_a}
                    name = f"skild_{mode}_c{c:g}" + ("" if restart is None else f"_restart{restart:g}") + \
                        ("" if release is None else f"_release{release:g}") + \
                        (f"_lift{args.lift_a:g}" if args.lift_a else "") + \
                        ("" if tilt is None else f"_tilt{tilt:g}") + ("" if k == 1 else f"_smc{k}") + \
                        ("" if k == 1 or args.twist_a == TWIST_A else f"_twist{args.twist_a:g}")
                    cands[name] = super_resolve_truth("skild", truth, S, out / f"{name}.h5", ckpt, steps=steps[S],
                                                      sampler=args.sampler, consistency=mode, start_blur=start_blur,
                                                      restart_blur=restart, release_blur=release, reuse=True,
                                                      **({"lift_a": args.lift_a} if args.lift_a else {}),
                                                      **({} if tilt is None else {"tilt_blur": tilt}), **smc)
        coarse = coarse_inputs(truth_spins, S, 0)
        start = cands.get(f"skild_{args.polish_from}_c{process.blur_per_block:g}")
        for k in args.polish if start else ():
            cands[f"polish_{k}"] = exact_polish(start, coarse, S, k, out / f"polish_{k}.h5", beta=beta)
        if not args.no_sr3:
            cands["sr3"] = super_resolve_truth("sr3", truth, S, out / "sr3.h5", sr3_checkpoint(args.sr3_ckpt, S),
                                               steps=steps[S], sampler=args.sampler, reuse=True)
        s = run_correlate(truth, S, out, candidates={k: str(v) for k, v in cands.items()}, progress=False,
                          naive=False, posterior_reference=reference)
        cond = s["conditional"]["scores"]
        truth_along = along_input(truth_spins, coarse, S)
        for name, c in s["comparison"].items():
            dm = along_input(load_ensemble(cands[name]).spins, coarse, S) - truth_along
            k, sc = cond[name], c["scalars"]
            rows.append([f"{S:g}", name, f"{c['consistency']:.3f}",
                         value_err(k["energy"]["mse_ratio"], k["energy"]["mse_ratio_err"], 2),
                         value_err(k["block_m"]["mse_ratio"], k["block_m"]["mse_ratio_err"], 2),
                         f"{c['g4c_max_abs_dev']:.4f}", f"{max(abs(z) for z in c['g4c_z']):.1f}",
                         pval(c["g4c_p_value"]), pval(c["g2_p_value"]), f"{sc['energy']['z']:+.1f}",
                         f"{sc['binder']['z']:+.1f}", f"{dm.mean():+.4f} ± {dm.std(ddof=1) / math.sqrt(len(dm)):.4f}"])
    table = markdown(HEADER, rows)
    print(table)
    counts = ", ".join(str(steps[S]) for S in args.scales)
    (args.out / "table.md").write_text(f"{args.sampler}, {counts} steps\n\n" + table + "\n")


if __name__ == "__main__":
    main(run)
