"""Where inside a block the input's information goes: the measured lift against ``conditioned``'s, site by site.

``--consistency conditioned`` corrects the network's estimate D = D(x_t, t)
by ``Sigma A^T lambda`` (:func:`isingsr.diffusion.consistency.hold_block_means`):
the Gaussian model's conditional mean given the block means, a smooth
shape that does not depend on D. The exact conditional mean given the input
y, E[x_0 | x_t, y], may put the change elsewhere, e.g. on the sites D is
unsure of. That is measured here without any sampling: independent Monte
Carlo configurations x0 (``--calib``) are coarse-grained by b (majority rule,
seed 0, as the evaluation's inputs) and noised by the forward process at
``--blurs``; per site of every block, oriented along its input spin y_B,

* ``measured`` is the mean of y_B (x0 - D): the part of the clean field the
  input predicts and the network's estimate does not (0 for every bin when
  the input says nothing beyond x_t);
* ``gaussian`` is the mean of y_B (D_c - D), D_c ``conditioned``'s estimate;
* ``tilt`` is the mean of y_B (D_t - D), D_t each block tilted in its spins'
  log-odds by one field to the same target block mean as ``gaussian``
  (:func:`isingsr.diffusion.consistency.tilt_block_means`, ``--consistency
  tilted``: the maximum-entropy change of independent spins of means D,
  which moves the unsure sites most and the sure ones least).

The three are averaged in bins of the block's mean along the input (mu =
y_B mean_B(D): wrong, unsure) and of the site's own estimate along it
(d = y_B D_i). If ``gaussian`` matched ``measured`` in every bin, the lift's
shape would be right; a lift too uniform over the block shows as
``gaussian`` above ``measured`` at the sure sites (|d| > 0.5) and below it at
the unsure ones. Only where the network's estimate of single sites is
calibrated (E[x0 - D | D] = 0, as for the exact conditional mean) does
``measured`` isolate the input's information: above a blur of about one site
the eps-parameterised estimate divides its noise by a small signal fraction
in the finest modes (|D| up to about 8 at a blur of 2.5 sites), and
``measured`` is then the regression of x0 on that noise.

Usage (about 20 s on 2 cores):
  isingsr generate --L 32 -n 4000 --seed 4040 --out data/L32_n4000_seed4040.h5
  python experiments/lift_shape.py --calib data/L32_n4000_seed4040.h5 --scale 4 \\
      --ckpt isingsr/models/skild_L32_tiny.pt --out results/lift_shape_L32_s4
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from isingsr.analysis.tables import markdown
from isingsr.coarse import coarse_grain
from isingsr.diffusion.consistency import MeanConstrainedDenoiser, _block_means, _fill

from _script import load_calibration, main, noised_estimates, numbers, parser

#: Bin edges of the block mean along the input (mu: wrong, unsure; the blocks above 0.25 are lifted by less than
#: 0.003 per site below a blur of one site) and of the site's estimate along it (d).
MU_EDGES = (-np.inf, 0.0, 0.25)
D_EDGES = (-np.inf, -0.5, 0.0, 0.5, np.inf)


def binned(mu: np.ndarray, d: np.ndarray, values: dict, first: list) -> list[list]:
    """Per (mu bin, d bin): ``first``, the bins, the count of sites and each value's mean with its standard
    error."""
    rows = []
    for i in range(len(MU_EDGES) - 1):
        in_mu = (mu >= MU_EDGES[i]) & (mu < MU_EDGES[i + 1])
        for j in range(len(D_EDGES) - 1):
            sel = in_mu & (d >= D_EDGES[j]) & (d < D_EDGES[j + 1])
            n = int(sel.sum())
            cells = []
            for v in values.values():
                x = v[sel]
                cells.append(f"{x.mean():+.4f} ± {x.std() / max(n - 1, 1) ** 0.5:.4f}" if n > 1 else "")
            rows.append([*first, f"[{MU_EDGES[i]:g}, {MU_EDGES[i + 1]:g})", f"[{D_EDGES[j]:g}, {D_EDGES[j + 1]:g})", n,
                         *cells])
    return rows


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--calib", type=Path, required=True, help="Monte Carlo ensemble (not an evaluation's truth)")
    ap.add_argument("-n", type=int, default=2000, help="configurations of --calib used (default 2000)")
    ap.add_argument("--scale", type=int, required=True, help="block size b")
    ap.add_argument("--ckpt", default=None, help="SKILD checkpoint [default: the shipped one for the data's L]")
    ap.add_argument("--blurs", type=numbers(), default=[1.0, 0.6, 0.35],
                    help="blur lengths (sites) of the times measured, each at most the start's (default 1,0.6,0.35)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if any(not blur > 0 for blur in args.blurs):
        ap.error(f"--blurs: blur lengths must be positive, got {args.blurs}")
    ens, _, den = load_calibration(args.calib, args.n, args.scale, args.ckpt)
    b = args.scale
    p = den.process
    coarse = torch.from_numpy(coarse_grain(ens.spins, b, "majority", seed=0).astype(np.float64))
    x0 = torch.from_numpy(ens.spins[:, None].astype(np.float64))
    t_first = float(p.t_start(b))
    rows = []
    for blur in args.blurs:
        t = min(float(p.time_at_blur(blur)), t_first)
        x_t, est = noised_estimates(den, x0, t)
        lifted, tilted = (MeanConstrainedDenoiser(den, coarse, b, mode).lift(est, x_t, t)[:, 0]
                          for mode in ("conditioned", "tilted"))
        est = est[:, 0]
        y = _fill(coarse, b)
        mu = _fill(coarse * _block_means(est, b), b).numpy().ravel()
        values = {"measured": (y * (x0[:, 0] - est)).numpy().ravel(),
                  "gaussian": (y * (lifted - est)).numpy().ravel(),
                  "tilt": (y * (tilted - est)).numpy().ravel()}
        rows += binned(mu, (y * est).numpy().ravel(), values, [f"{float(p.blur_length(t)):.2f}"])
        print(markdown(["blur", "block mu", "site d", "sites", *values], rows[-len(D_EDGES) + 1:]), flush=True)
    table = markdown(["blur", "block mu", "site d", "sites", *values], rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(f"`{' '.join(['python'] + sys.argv)}`\n\n" + table + "\n")


if __name__ == "__main__":
    main(run)
