"""How far off are the network's block means? The error of D(x_t, t) against the Gaussian model's posterior.

The block-mean options of ``--consistency`` (``conditioned``, ``joint``, ...)
treat the network's estimate x0_hat = D(x_t, t) as the mean of a Gaussian
posterior with per-mode covariance (1 - a_t^2) S, so that a b x b block mean
of the clean field is off from the estimate's by s^2 = a_B^T Sigma a_B. This
script measures the actual mean squared error of the estimate's block means:
the cached Monte Carlo truth (L = 32, first ``-n`` configurations; ``--truth``
another ensemble, at any L the checkpoint runs at) is noised
by the forward process at each time t (seed 0) and denoised by the shipped
checkpoint for its L (or ``--ckpt``); per block size b and t it prints the empirical mse, s^2 and
their ratio (1: the Gaussian model describes the estimate's block errors).
Times start at each b's super-resolution start t_start(b). Two more estimates
are scored the same way: the Wiener estimate a_t(k) X_t(k) in every mode
(the Gaussian model's own posterior mean: its ratio checks the measurement,
about 1), and the network's with Wiener's in the modes of signal fraction
a_t(k) < 0.1, where the eps-parameterised estimate divides its
noise error by a small a.

Usage (about 20 s on 2 cores):
  python experiments/block_mean_errors.py --out results/block_mean_errors_L32
At 8x on L = 64 and 128 (the shipped skild_L64.pt, at its own size and carried):
  python experiments/block_mean_errors.py --truth data/L128_n1000.h5 --blocks 8 -n 64 \
      --out results/block_mean_errors_L128_b8
Split by the blocks next to a domain wall of the input and the others (``--split-walls``):
  python experiments/block_mean_errors.py --ckpt isingsr/models/skild_L32_tiny.pt --blocks 4 --split-walls \
      --out results/block_mean_errors_tiny_L32_walls
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from isingsr.analysis.tables import markdown
from isingsr.coarse import coarse_grain
from isingsr.correlate import cached_truth
from isingsr.diffusion.consistency import _block_means, block_mean_variance
from isingsr.diffusion.denoiser import with_wiener
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.io.checkpoint import load_checkpoint
from isingsr.io.hdf5 import load_ensemble
from isingsr.models import shipped_checkpoint

from _script import add_truth_count, input_walls, main, noised_estimates, numbers, parser

#: Signal fraction below which the second estimate takes Wiener's a_t(k) X_t(k).
WIENER_A = 0.1
HEADER = ["b", "t", "blur", "network mse of block means", "Gaussian model s^2", "ratio",
          "ratio, Wiener below a = 0.1", "ratio, Wiener"]
WALL_HEADER = ["ratio at input walls", "ratio inside domains", "share of wall blocks"]


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--out", type=Path, default=Path("results/block_mean_errors_L32"))
    ap.add_argument("--blocks", type=numbers(int), default="2,4,8")
    ap.add_argument("--fractions", type=numbers(), default="1,0.75,0.5,0.25,0.1",
                    help="times as fractions of t_start(b)")
    ap.add_argument("--truth", type=Path, default=None,
                    help="Monte Carlo ensemble [default: the cached L = 32 one, n = 1000, seed 12345]")
    add_truth_count(ap, 256)
    ap.add_argument("--ckpt", default=None, help="SKILD checkpoint [default: the shipped one for the truth's L]")
    ap.add_argument("--split-walls", action="store_true",
                    help="add the ratio of the blocks next to a domain wall of the input (the truth coarse-grained "
                         "by b, majority rule, seed 0) and of the others")
    args = ap.parse_args()
    ens = load_ensemble(args.truth if args.truth is not None else cached_truth(32, 1000, log=print),
                        max_samples=args.n)
    L = ens.L
    if any(b < 2 or L % b for b in args.blocks):
        ap.error(f"--blocks must divide L = {L}, got {args.blocks}")
    if any(not 0 < f <= 1 for f in args.fractions):
        ap.error(f"--fractions must lie in (0, 1], got {args.fractions}")
    torch.set_grad_enabled(False)
    den = build_from_checkpoint(load_checkpoint(args.ckpt or shipped_checkpoint(L)), L=L)
    p = den.process
    x0 = torch.from_numpy(ens.spins[:, None].astype(np.float64))
    rows = []
    for b in args.blocks:
        wall = torch.from_numpy(input_walls(coarse_grain(ens.spins, b, "majority", seed=0))) if args.split_walls \
            else None
        for f in args.fractions:
            t = f * float(p.t_start(b))
            x_t, est = noised_estimates(den, x0, t)
            def mse(e, b=b, where=None):
                sq = _block_means((x0 - e)[:, 0], b) ** 2
                return float(sq.mean() if where is None else sq[where].mean())
            s2 = block_mean_variance(p.sigma2(t), p.basis, b, L)
            blur = float(p.blur_length(t))
            a = p.a(torch.tensor(t, dtype=torch.float64))
            rows.append([str(b), f"{t:.3f}", f"{blur:.2f}", f"{mse(est):.4g}", f"{s2:.4g}", f"{mse(est) / s2:.2f}",
                         f"{mse(with_wiener(est, x_t, a, a < WIENER_A, p.basis)) / s2:.2f}",
                         f"{mse(with_wiener(est, x_t, a, torch.ones_like(a, dtype=torch.bool), p.basis)) / s2:.2f}"])
            if args.split_walls:
                rows[-1] += [f"{mse(est, where=wall) / s2:.2f}", f"{mse(est, where=~wall) / s2:.2f}",
                             f"{float(wall.double().mean()):.3f}"]
            print(" | ".join(rows[-1]))
    args.out.mkdir(parents=True, exist_ok=True)
    header = HEADER + (WALL_HEADER if args.split_walls else [])
    (args.out / "table.md").write_text(markdown(header, rows) + "\n")
    print(markdown(header, rows))


if __name__ == "__main__":
    main(run)
