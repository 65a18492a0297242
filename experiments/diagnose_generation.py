"""Diagnose SKILD generation from t = 1 (issue 17): where does the magnetisation distribution go wrong?

(a) Denoising error on held-out Monte Carlo (``cached_truth(L, 1000)``, seed 12345; the checkpoint was
    trained on seed 1) at times in (0, 1], mostly in the envelope t > t_env: the mean squared error of
    the network's x0-prediction per mode, by shell of |k| and for the zero mode, against the Wiener
    denoiser ``X0_hat = a X_t`` (exact for Gaussian data with spectrum S) for the same noise; for the
    zero mode in the envelope also against the Bayes floor ``E[M | X_t(0)]`` (every other mode has
    a < 4e-4 there, so ``X_t(0)`` is all the information), with the prior of M from an independent
    ensemble (``cached_truth(L, 20000, seed=2)``).
(b) The zero mode X_t(0) = L m along generated reverse trajectories (default sampler and steps) against
    the forward process applied to that independent ensemble at the same t: KS test, <X^2>/S(0) and the
    kurtosis <X^4>/<X^2>^2, bootstrap errors.
(c) Generation U4 (and G4c, energy) against the truth for sampler-side changes that need no training:
    more steps, the grid's l_soft and u_end, and the zero mode's estimate in the envelope replaced by
    the Wiener one or by the exact posterior mean E[M | X_t(0)].

Usage:
  python experiments/diagnose_generation.py --out results/diagnose_generation_L32
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import ks_2samp

from isingsr.analysis.compare import compare, measure
from isingsr.correlate import cached_truth
from isingsr.defaults import SAMPLER
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.diffusion.pipeline import to_spins
from isingsr.diffusion.rng import generators
from isingsr.diffusion.samplers import gaussian_field, get_sampler, time_grid
from isingsr.diffusion.zero_mode import ZeroModePrior, zero_mode_histogram
from isingsr.io.checkpoint import load_checkpoint
from isingsr.io.hdf5 import load_ensemble

from _script import main as script_main, numbers, parser

STEPS = 100  # reverse steps of every generation run of the diagnosis (docs/generation.md)
TIMES_A = (0.3, 0.5, 0.65, 0.75, 0.92, 0.94, 0.96, 0.98, 0.99, 0.995, 0.999, 1.0)
SHELLS = (0.5, 1.5, 3, 6, 12, np.inf)  # shell edges of |k| in units of 2 pi / L (the zero mode apart)
A_LIVE = 0.05  # shells (zero mode apart) keep the modes with A_LIVE <= a_t(k) < 1: those the denoiser acts on
TIMES_B = (1.0, 0.995, 0.99, 0.98, 0.97, 0.95, 0.93, 0.91)
BOOT = 400


def boot(fn, *cols, rng):
    """``fn(*cols)`` and its bootstrap error over the rows (configurations)."""
    n = len(cols[0])
    reps = [fn(*(c[idx] for c in cols)) for idx in (rng.integers(0, n, n) for _ in range(BOOT))]
    return float(fn(*cols)), float(np.std(reps))


def bayes_zero_mode(y, a, s2, prior: ZeroModePrior):
    """``E[M | Y = y]`` for ``Y = a M + N(0, s2)`` under ``prior``; ``y`` itself where there is no noise."""
    if s2 <= 0:
        return y
    return prior.posterior_mean(y, torch.full_like(y, a), torch.full_like(y, s2))


def zero_mode_swap(p, kind, prior):
    """A denoiser wrapper that replaces the zero mode of x0_hat for t > t_env (Wiener or Bayes posterior mean)."""
    def swap(x, t, d):
        t = float(t[0])
        if kind is None or t <= p.t_env:
            return d
        a, s2 = float(p.a(t)[0, 0]), float(p.sigma2(t)[0, 0])
        D, y = p.basis.forward(d), p.basis.forward(x)[:, 0, 0, 0]
        D[:, 0, 0, 0] = a * y if kind == "wiener" else bayes_zero_mode(y, a, s2, prior)
        return p.basis.inverse(D)
    return swap


class Recorded:
    """The denoiser with an optional zero-mode swap, recording X_t(0) of every call (step by step)."""

    def __init__(self, den, swap):
        self.den, self.process, self.swap, self.calls = den, den.process, swap, []

    def __call__(self, x, t):
        self.calls.append(self.process.basis.forward(x)[:, 0, 0, 0].clone())
        return self.swap(x, t, self.den(x, t).to(torch.float64))


def generate(den, n, times, seed, batch, swap):
    """As :func:`isingsr.diffusion.pipeline.generate_fields` but on an explicit grid; also X_t(0) per step."""
    p, f, fields, zero = den.process, get_sampler(SAMPLER), [], []
    for a in range(0, n, batch):
        b = min(n, a + batch)
        gens = generators(range(seed + a, seed + b))
        rec = Recorded(den, swap)
        fields.append(f(rec, p, gaussian_field(p, b - a, generator=gens), times, generator=gens)[:, 0].numpy())
        zero.append(torch.stack(rec.calls, 1).numpy())
    return np.concatenate(fields), np.concatenate(zero)        # (n, L, L), (n, steps)


def shell_index(p):
    q = (p.basis.wavenumber(p.L) / (2 * np.pi / p.L)).numpy()
    return [q == 0] + [(q > lo) & (q <= hi) for lo, hi in zip(SHELLS[:-1], SHELLS[1:])]


def part_a(den, x0, prior, times, batch, seed, rng):
    """x0-MSE per shell (network, Wiener, Bayes floor for the zero mode), paired over the same noise."""
    p, masks, rows = den.process, shell_index(den.process), []
    for t in times:
        gen = torch.Generator().manual_seed(seed)
        tt = torch.full((len(x0),), t, dtype=torch.float64)
        xt, eps = p.q_sample(x0, tt, generator=gen)
        pred = torch.cat([den.predict(xt[i:i + batch], tt[i:i + batch]) for i in range(0, len(x0), batch)])
        d = p.x0_from_target(den.target, pred.to(torch.float64), xt, tt)
        X0, Xt, D = (p.basis.forward(v)[:, 0] for v in (x0, xt, d))
        target = p.basis.forward(p.target(den.target, x0, eps, tt))[:, 0]
        loss = ((p.basis.forward(pred.to(torch.float64))[:, 0] - target) ** 2).numpy()   # the training loss per mode
        a, s2, S = p.a(t), p.sigma2(t), p.S
        err_n, err_w = ((D - X0) ** 2 / S).numpy(), ((a * Xt - X0) ** 2 / S).numpy()
        live = [masks[0]] + [m & (a.numpy() >= A_LIVE) & (a.numpy() < 1 - 1e-9) for m in masks[1:]]
        en = np.stack([err_n[:, m].mean(1) if m.any() else np.zeros(len(x0)) for m in live], 1)  # (n, shells)
        ew = np.stack([err_w[:, m].mean(1) if m.any() else np.zeros(len(x0)) for m in live], 1)
        bay = bayes_zero_mode(Xt[:, 0, 0], float(a[0, 0]), float(s2[0, 0]), prior)
        eb = ((bay - X0[:, 0, 0]) ** 2 / S[0, 0]).numpy()
        row = {"t": t, "a0": float(a[0, 0]), "a_k1": float(a[0, 1]), "shells": [],
               "loss_all_modes": boot(np.mean, loss.mean((1, 2)), rng=rng),
               "loss_zero_mode": boot(np.mean, loss[:, 0, 0], rng=rng)}
        for j in range(len(masks)):
            wie = float(ew[:, j].mean())
            ratio = boot(lambda u, v: u.mean() / v.mean(), en[:, j], ew[:, j], rng=rng) if wie > 1e-9 else None
            row["shells"].append({"net": boot(np.mean, en[:, j], rng=rng), "wiener": boot(np.mean, ew[:, j], rng=rng),
                                  "net_over_wiener": ratio})
        if float(ew[:, 0].mean()) > 1e-9:
            row["zero_bayes"] = boot(np.mean, eb, rng=rng)
            row["zero_bayes_over_wiener"] = boot(lambda u, v: u.mean() / v.mean(), eb, ew[:, 0], rng=rng)
        rows.append(row)
        print(f"(a) t={t}: " + ", ".join(f"{r['net_over_wiener'][0]:.3g}" if r["net_over_wiener"] else "-"
                                         for r in row["shells"]), flush=True)
    return rows


def kurt(x):
    return np.mean(x ** 4) / np.mean(x ** 2) ** 2


def part_b(p, zero, times, prior_m, rng):
    """Zero mode on the generated trajectories against the forward process on Monte Carlo at the same t."""
    g = torch.Generator().manual_seed(7)
    rows = []
    for target in TIMES_B:
        i = int(np.argmin(np.abs(times[:-1] - target)))
        t = float(times[i])
        a, s2 = float(p.a(t)[0, 0]), float(p.sigma2(t)[0, 0])
        ref = a * prior_m + np.sqrt(s2) * torch.randn(len(prior_m), generator=g, dtype=torch.float64).numpy()
        gen, S0 = zero[:, i], float(p.S[0, 0])
        ks = ks_2samp(gen, ref)
        rows.append({"t": t, "step": i, "a0": a, "ks_D": float(ks.statistic), "ks_p": float(ks.pvalue),
                     "var_gen": boot(lambda v, s=S0: np.mean(v ** 2) / s, gen, rng=rng),
                     "var_ref": boot(lambda v, s=S0: np.mean(v ** 2) / s, ref, rng=rng),
                     "kurt_gen": boot(kurt, gen, rng=rng), "kurt_ref": boot(kurt, ref, rng=rng)})
    return rows


def scores(spins, truth_meas):
    m = measure(spins)
    c = compare(truth_meas, m)
    return {"n": len(spins), "U4": [m["binder"], m["binder_err"]], "dU4": [c["scalars"]["binder"]["diff"],
            c["scalars"]["binder"]["err"]], "dE": [c["scalars"]["energy"]["diff"], c["scalars"]["energy"]["err"]],
            "g4c_max_abs_dev": c["g4c_max_abs_dev"], "g4c_chi2_dof": c["g4c_chi2_dof"],
            "g2_chi2_dof": c["g2_chi2_dof"]}


def fmt(v, d=3):
    return "—" if v is None else f"{v[0]:.{d}f} ± {v[1]:.{d}f}"


def tables(res) -> str:
    out = ["## (a) x0-prediction MSE / Wiener MSE, per shell (|k| in units of 2 pi / L)", "",
           f"(zero mode: all t; other shells: only the modes with {A_LIVE} <= a_t(k) < 1; — none). Training loss = "
           "the network's eps-MSE per mode (the Wiener denoiser's is a^2).", "",
           "| t | a_t(0) | a_t(|k|=1) | zero mode: net / Wiener | zero mode: Bayes floor / Wiener | "
           "zero-mode loss: net | Wiener | |k| = 1-1.5 | 1.5-3 | 3-6 | 6-12 | >12 | loss, mean of all modes |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["a"]:
        sh = r["shells"]
        out.append(f"| {r['t']} | {r['a0']:.4f} | {r['a_k1']:.4f} | {fmt(sh[0]['net_over_wiener'])} | "
                   f"{fmt(r.get('zero_bayes_over_wiener'))} | {fmt(r['loss_zero_mode'], 4)} | {r['a0'] ** 2:.4f} | "
                   + " | ".join(fmt(s["net_over_wiener"]) for s in sh[1:]) + f" | {fmt(r['loss_all_modes'], 4)} |")
    out += ["", f"## (b) zero mode X_t(0) on generated trajectories ({res['b_n']} samples) vs forward process on MC",
            "", "| t | a_t(0) | KS D | KS p | <X^2>/S(0) gen | ref | <X^4>/<X^2>^2 gen | ref |",
            "|---|---|---|---|---|---|---|---|"]
    for r in res["b"]:
        out.append(f"| {r['t']:.4f} | {r['a0']:.4f} | {r['ks_D']:.3f} | {r['ks_p']:.2g} | {fmt(r['var_gen'])} | "
                   f"{fmt(r['var_ref'])} | {fmt(r['kurt_gen'])} | {fmt(r['kurt_ref'])} |")
    t = res["truth"]
    out += ["", f"## (c) generation, {SAMPLER} sampler (truth U4 = {fmt(t['U4'])}, n = {t['n']})", "",
            "| run | n | steps in envelope | U4 | dU4 | dE | max abs dG4c | G4c chi2/dof | seconds |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, r in res["c"].items():
        out.append(f"| {name} | {r['n']} | {r['env_steps']} | {fmt(r['U4'])} | {fmt(r['dU4'])} | {fmt(r['dE'], 4)} | "
                   f"{r['g4c_max_abs_dev']:.3f} | {r['g4c_chi2_dof']:.1f} | {r['seconds']:.0f} |")
    return "\n".join(out) + "\n"


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--ckpt", default="isingsr/models/skild_L32.pt")
    ap.add_argument("--out", default="results/diagnose_generation_L32")
    ap.add_argument("--n", type=int, default=500, help="generated trajectories of (b) (and the baseline row of (c))")
    ap.add_argument("--n-check", type=int, default=300, help="generated configurations per run of (c)")
    ap.add_argument("--n-a", type=int, default=1000, help="held-out Monte Carlo configurations of (a)")
    ap.add_argument("--n-prior", type=int, default=20000, help="independent MC configurations: prior of M, (b)")
    ap.add_argument("--steps", type=numbers(int), default=[200, 400], help="extra step counts of (c)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=250)
    args = ap.parse_args()
    t_all, out = time.perf_counter(), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    den = build_from_checkpoint(load_checkpoint(args.ckpt), zero_mode=False)  # the network alone
    p, L, rng = den.process, den.process.L, np.random.default_rng(args.seed)
    truth = load_ensemble(cached_truth(L, 1000))
    prior_spins = load_ensemble(cached_truth(L, args.n_prior, seed=2)).spins
    prior_m = L * prior_spins.reshape(args.n_prior, -1).mean(1)
    S0 = float(p.S[0, 0])
    prior = ZeroModePrior(zero_mode_histogram(prior_spins), S0, 1 / L, S0)  # values L m, the basis' zero mode
    truth_meas = measure(truth.spins, order=truth.time_order())
    res = {"ckpt": args.ckpt, "L": L, "sampler": SAMPLER, "args": vars(args), "seconds": {},
           "truth": {"n": truth.n, "U4": [truth_meas["binder"], truth_meas["binder_err"]]}}

    t0 = time.perf_counter()
    x0 = torch.from_numpy(truth.spins[: args.n_a].astype(np.float64))[:, None]
    res["a"] = part_a(den, x0, prior, TIMES_A, args.batch, args.seed + 1, rng)
    res["seconds"]["a"] = time.perf_counter() - t0

    runs = {f"default ({STEPS} steps)": (args.n, STEPS, {}, None)}
    runs.update({f"{s} steps": (args.n_check, s, {}, None) for s in args.steps})
    runs.update({"l_soft = 0": (args.n_check, STEPS, {"l_soft": 0.0}, None),
                 "u_end = 0.005 (more envelope steps)": (args.n_check, STEPS, {"u_end": 0.005}, None),
                 "zero mode Wiener for t > t_env": (args.n_check, STEPS, {}, "wiener"),
                 "zero mode E[M | X_t(0)] for t > t_env": (args.n_check, STEPS, {}, "bayes")})
    res["c"] = {}
    for name, (n, steps, grid, kind) in runs.items():
        t0 = time.perf_counter()
        times = time_grid(steps, 1.0, process=p, **grid)
        fields, zero = generate(den, n, times, args.seed, args.batch, zero_mode_swap(p, kind, prior))
        r = scores(to_spins(fields), truth_meas)
        r.update(seconds=time.perf_counter() - t0, env_steps=int((times > p.t_env).sum()), steps=steps, grid=grid)
        res["c"][name] = r
        if not res.get("b"):
            res["b"], res["b_n"] = part_b(p, zero, times.numpy(), prior_m, rng), n
            res["b_all_steps"] = {"t": times[:-1].tolist(),
                                  "mean_X2_over_S0": ((zero ** 2).mean(0) / float(p.S[0, 0])).tolist()}
        print(f"(c) {name}: U4 {fmt(r['U4'])}, dU4 {fmt(r['dU4'])}, {r['seconds']:.0f} s", flush=True)
    res["seconds"]["total"] = time.perf_counter() - t_all
    md = tables(res)
    (out / "results.json").write_text(json.dumps(res, indent=1, default=lambda o: np.asarray(o).tolist()))
    (out / "table.md").write_text(md + f"\nwall time {res['seconds']['total']:.0f} s\n")
    print(md)


if __name__ == "__main__":
    script_main(run)
