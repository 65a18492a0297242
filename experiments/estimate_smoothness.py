"""How smooth is the network's estimate D(x_t, t) in t? What the second-order samplers' extrapolation sees.

The second-order samplers (``dpmpp-2m-sde``, ``dpmpp-2m``) add ``c_d w (D_i - D_{i-1})`` to each step,
extrapolating the estimate linearly from the last two times. At a fixed state this script measures how far
from linear the estimate is: the cached Monte Carlo truth (L = 32, the first ``-n`` configurations) is
noised to blur length l (seed 0) and denoised at the blur lengths l e^-d, l and l e^d; the first difference
``(D(l e^d) - D(l e^-d)) / 2`` and the second ``D(l e^d) - 2 D(l) + D(l e^-d)`` are measured in the units of
the next state (each mode weighted by the coefficient ``c_d(k)`` of the estimate in a step from l to l e^-d,
:func:`isingsr.diffusion.samplers.step_coefficients`; rms over sites and configurations). A smooth estimate
has second / first ~ d; a linear extrapolation over a step of d misses by about the second difference.

Three estimates: the network; the network with the features of its time embedding above frequency ``--freeze``
held at their values at l (the network is conditioned on sinusoids of ln l with frequencies 1 to 1000,
:func:`isingsr.diffusion.unet.sinusoidal_embedding`, periods down to 0.006 in ln l: this column shows which
part of the curvature those fast features make); and the Wiener estimate a_t X_t, the exact denoiser of
Gaussian data with the spectrum S. The last column is the network's ``D(l) - x_0`` in the same units: the
posterior's own spread plus the network's error.

Usage (about 1 min on 2 cores; 0.1 is about the spacing of the default grid in ln l at 25 steps from 4x):
  python experiments/estimate_smoothness.py --out results/estimate_smoothness
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch

from isingsr.analysis.tables import markdown
from isingsr.correlate import cached_truth
from isingsr.diffusion.denoiser import conditioning, wiener_denoiser
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.diffusion.samplers import step_coefficients
from isingsr.diffusion.unet import embedding_frequencies, sinusoidal_embedding
from isingsr.io.checkpoint import load_checkpoint
from isingsr.io.hdf5 import load_ensemble

from _script import add_skild_ckpt, add_truth_count, main, numbers, parser


def header(freeze: float) -> list[str]:
    cells = ["blur", "d (in ln l)"]
    for name in ("network", f"network, features above {freeze:g} held", "Wiener"):
        cells += [f"{name}: first", "second", "second / first"]
    return cells + ["network: D - x_0"]


def weighted_rms(basis, c_d: torch.Tensor, field: torch.Tensor) -> float:
    """rms over sites and configurations of ``field`` with each mode weighted by ``c_d(k)``."""
    return float((c_d * basis.forward(field.to(torch.float64))).pow(2).mean().sqrt())


@contextmanager
def fast_features_held(net, process, t: float, freeze: float):
    """While open, ``net``'s embedding features of frequency above ``freeze`` take their values at time ``t``."""
    cfg = net.config
    fast = torch.cat([embedding_frequencies(cfg.channels) > freeze] * 2 * cfg.cond_dim)  # (sin, cos) per scalar
    cond = conditioning(process, t, 1)[0]
    held = torch.cat([sinusoidal_embedding(cond[i:i + 1], cfg.channels) for i in range(cfg.cond_dim)], dim=1)

    def hook(module, args):
        feats = args[0].clone()
        feats[:, fast] = held[:, fast].to(feats.dtype)
        return (feats,)

    handle = net.embed.register_forward_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def rows_for(den, x0: torch.Tensor, blurs, spacings, freeze: float) -> list[list[str]]:
    p = den.process
    wiener = wiener_denoiser(p)

    def at(blur: float) -> float:
        return float(p.time_at_blur(torch.tensor(blur, dtype=torch.float64)))

    def estimates(f, x_t, blur, d):
        return [f(x_t, torch.full((len(x_t),), at(blur * np.exp(k * d)), dtype=torch.float64)).to(torch.float64)
                for k in (-1, 0, 1)]

    rows = []
    for blur in blurs:
        t = at(blur)
        x_t = p.q_sample(x0, t, generator=torch.Generator().manual_seed(0))[0]
        for d in spacings:
            c_d = step_coefficients(p, t, at(blur * np.exp(-d)))[1]
            cells = [f"{blur:g}", f"{d:g}"]
            for i, (f, held) in enumerate(((den, False), (den, True), (wiener, False))):  # header()'s columns
                with fast_features_held(den.net, p, t, freeze) if held else nullcontext():
                    lo, mid, hi = estimates(f, x_t, blur, d)
                first, second = weighted_rms(p.basis, c_d, (hi - lo) / 2), weighted_rms(p.basis, c_d, hi - 2 * mid + lo)
                cells += [f"{first:.2e}", f"{second:.2e}", f"{second / first:.2f}"]
                if i == 0:
                    err = weighted_rms(p.basis, c_d, mid - x0)                 # the network's own D - x_0
            rows.append(cells + [f"{err:.2e}"])
            print(" | ".join(rows[-1]))
    return rows


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--out", type=Path, default=Path("results/estimate_smoothness"))
    ap.add_argument("--blurs", type=numbers(), default="0.1,0.3,1,3", help="blur lengths (lattice spacings)")
    ap.add_argument("--spacings", type=numbers(), default="0.001,0.01,0.1", help="d, in ln l")
    ap.add_argument("--freeze", type=float, default=100.0,
                    help="embedding frequency above which the third estimate holds the features")
    add_truth_count(ap, 64)
    add_skild_ckpt(ap)
    args = ap.parse_args()
    if any(not b > 0 for b in args.blurs) or any(not d > 0 for d in args.spacings) or not args.freeze > 0:
        ap.error("--blurs, --spacings and --freeze must be positive")
    torch.set_grad_enabled(False)
    den = build_from_checkpoint(load_checkpoint(args.ckpt))
    x0 = torch.from_numpy(load_ensemble(cached_truth(32, 1000, log=print)).spins[: args.n, None].astype(np.float64))
    rows = rows_for(den, x0, args.blurs, args.spacings, args.freeze)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(markdown(header(args.freeze), rows) + "\n")
    print(markdown(header(args.freeze), rows))


if __name__ == "__main__":
    main(run)
