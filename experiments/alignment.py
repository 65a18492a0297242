"""The alignment diagnostic that fixes the blur-per-block constant c of t_start(s).

For held-out configurations, the super-resolution start state built from the
coarse configuration and the true forward state x_t are compared per mode
(``isingsr.diffusion.alignment.alignment``): the KL given x_0 (upper bound) and
the KL given the coarse input under a per-mode Gaussian regression. For each
scale this prints the earliest time at which each KL, per coarse site, falls
below the budget, and the constant c = blur / sqrt(s^2 - 1) there; the
process's t_start(s) is scale-invariant exactly when c is the same at every s.

Usage (about 1 min on 2 cores):
  isingsr generate --L 32 -n 5000 --seed 1 --out data/L32_align_train.h5
  isingsr generate --L 32 -n 3000 --seed 2 --out data/L32_align_test.h5
  python experiments/alignment.py --train data/L32_align_train.h5 --test data/L32_align_test.h5
"""

from __future__ import annotations


import numpy as np

from isingsr.diffusion.process import SpectralProcess
from isingsr.diffusion.alignment import KL_MAX, alignment, select_t_start
from isingsr.diffusion.starts import measure_gain
from isingsr.diffusion.spectral import estimate_spectrum
from isingsr.exceptions import InputError
from isingsr.io.hdf5 import load_ensemble

from _script import main, parser


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--train", required=True, help="configurations for the spectrum and the gains")
    ap.add_argument("--test", required=True, help="held-out configurations")
    ap.add_argument("--scales", default="2,4,8")
    ap.add_argument("--basis", default="fourier")
    ap.add_argument("--kl-max", type=float, default=KL_MAX, help="budget, nats per coarse site")
    args = ap.parse_args()
    train, test = load_ensemble(args.train).spins, load_ensemble(args.test).spins
    if train.shape[-1] != test.shape[-1]:
        raise InputError(f"--train has L = {train.shape[-1]}, --test L = {test.shape[-1]}")
    L = train.shape[-1]
    p = SpectralProcess(L, args.basis, estimate_spectrum(train, args.basis))
    times = np.linspace(0.005, 0.95, 190)
    print(f"L = {L}, {len(train)} train / {len(test)} held-out configurations, {args.basis} basis, "
          f"budget {args.kl_max} nats per coarse site")
    print("| s | t (KL given x0) | c | t (KL given y) | c | zero-mode mismatch / sqrt(S(0)) |")
    print("|---|---|---|---|---|---|")
    for s in [float(x) for x in args.scales.split(",")]:
        al = alignment(p, test, s, times, gain=measure_gain(train, s, basis=args.basis))
        t0, c0 = select_t_start(al, args.kl_max)
        t1, c1 = select_t_start(al, args.kl_max, conditional=True)
        print(f"| {s:g} | {t0:.3f} | {c0:.3f} | {t1:.3f} | {c1:.3f} | {al.zero_mode_mismatch:.3f} |")


if __name__ == "__main__":
    main(run)
