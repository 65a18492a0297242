"""How well a checkpoint's spectrum and pass-band statistics carry to another lattice size.

Carries the shipped (or given) SKILD checkpoint's S(k) and gains to the size of
a Monte Carlo ensemble by critical finite-size scaling
(:mod:`isingsr.diffusion.transfer`) and compares them with the same
quantities estimated from that ensemble: the spectrum shell by shell (worst
shell and zero mode), the gain per mode in the pass band (rms and worst),
and the pass-band correlation of the conditional start through the variance
it leaves free, 1 - rho^2 (zero mode and pass-band rms of the ratio).

Usage (seconds on 2 cores):
  isingsr generate --L 64 -n 2000 --seed 3 --out data/L64_check.h5
  python experiments/check_transfer.py --data data/L64_check.h5 [--ckpt isingsr/models/skild_L32.pt]
"""

from __future__ import annotations


import numpy as np

from isingsr.diffusion.starts import measure_passband
from isingsr.diffusion.spectral import Spectrum, estimate_spectrum
from isingsr.diffusion.transfer import corr_at, gain_at, spectrum_at
from isingsr.io.checkpoint import load_checkpoint
from isingsr.io.hdf5 import load_ensemble
from isingsr.models import shipped_checkpoint

from _script import main, parser


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--data", required=True, help="Monte Carlo ensemble at the target size")
    ap.add_argument("--ckpt", default=None, help="SKILD checkpoint [default: shipped, L = 32]")
    args = ap.parse_args()
    ck = load_checkpoint(args.ckpt or shipped_checkpoint(32))
    ens = load_ensemble(args.data)
    L, basis = ens.L, ck["process"]["basis"]
    carried = spectrum_at(Spectrum.from_state_dict(ck["spectrum"]), L)
    mc = estimate_spectrum(ens.spins, basis)
    ratio = (carried.S_bins / mc.S_bins).numpy()
    worst = int(np.argmax(np.abs(ratio - 1)))
    print(f"spectrum {ck['process']['L']} -> {L} ({ens.n} configurations): worst shell |k| = "
          f"{float(mc.k[worst]):.3f}, carried / MC = {ratio[worst]:.3f}; zero mode {ratio[0]:.3f}")
    for key in sorted(ck["gains"], key=float):
        s = float(key)
        if L % s or int(ck["process"]["L"]) % s:
            continue
        g = gain_at(ck["gains"][key], basis, L, int(L // s))
        m, m_corr = measure_passband(ens.spins, s, basis=basis)
        band = m > 0
        r = (g[band] / m[band]).numpy()
        line = f"gain {key}x: rms deviation {np.sqrt(np.mean((r - 1) ** 2)):.4f}, worst {np.max(np.abs(r - 1)):.4f}"
        if "passband_corr" in ck:
            c = corr_at(ck["passband_corr"][key], Spectrum.from_state_dict(ck["spectrum"]), L, int(L // s))
            free = ((1 - c**2)[band] / (1 - m_corr**2)[band].clamp(min=1e-12)).numpy()
            line += (f"; 1 - rho^2 carried / measured: zero mode {free[0]:.3f} ({1 - float(c[0, 0]) ** 2:.5f} vs "
                     f"{1 - float(m_corr[0, 0]) ** 2:.5f}), pass-band rms deviation "
                     f"{np.sqrt(np.mean((free - 1) ** 2)):.3f}")
        print(line)


if __name__ == "__main__":
    main(run)
