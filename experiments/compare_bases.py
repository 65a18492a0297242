"""fourier vs dct basis: two SKILD checkpoints trained identically but for --basis, compared at one scale.

Usage (the README's basis comparison; both models trained for 2000 steps as in
isingsr/models/README.md but with --steps 2000 and --basis fourier / dct):
  python experiments/compare_bases.py --fourier runs/fourier/checkpoint.pt --dct runs/dct/checkpoint.pt --scale 4
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from isingsr.analysis.report import run_correlate
from isingsr.diffusion.alignment import alignment
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.io.checkpoint import load_checkpoint
from isingsr.io.hdf5 import load_ensemble
from isingsr.correlate import cached_truth

from _script import super_resolve_truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fourier", required=True)
    ap.add_argument("--dct", required=True)
    ap.add_argument("--scale", type=float, default=4.0)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--out", default="results/bases")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    L = load_checkpoint(args.fourier)["process"]["L"]
    truth_path = cached_truth(L, args.n, log=print)
    truth = load_ensemble(truth_path)
    cands, kls = {}, {}
    for name, ckpt in (("fourier", args.fourier), ("dct", args.dct)):
        ck = load_checkpoint(ckpt)
        den = build_from_checkpoint(ck)
        cands[name] = str(super_resolve_truth("skild", truth_path, args.scale, out / f"{name}.h5", ckpt,
                                                 steps=args.steps))
        al = alignment(den.process, truth.spins, args.scale, [den.process.t_start(args.scale)],
                       gain=ck["gains"][f"{args.scale:g}"].double())
        kls[name] = (float(al.kl[0]), float(al.ratio[0].max()), float(al.ratio[0].min()))
    s = run_correlate(truth_path, args.scale, out, candidates=cands, progress=False)
    print("| basis | max abs dG4c | G4c chi2/dof | max abs dG2 | G2 chi2/dof | dE (z) | dU4 (z) | consistency | "
          "KL at t_start | start spectrum ratio min-max |\n|---|---|---|---|---|---|---|---|---|---|")
    for name in cands:
        c = s["comparison"][name]
        sc = c["scalars"]
        print(f"| {name} | {c['g4c_max_abs_dev']:.4f} | {c['g4c_chi2_dof']:.2f} | {c['g2_max_abs_dev']:.4f} | "
              f"{c['g2_chi2_dof']:.2f} | {sc['energy']['diff']:+.4f} ({sc['energy']['z']:+.1f}) | "
              f"{sc['binder']['diff']:+.4f} ({sc['binder']['z']:+.1f}) | {c['consistency']:.4f} | "
              f"{kls[name][0]:.4f} | {kls[name][2]:.3f}-{kls[name][1]:.3f} |")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
