"""Why is the exact polish worse after 10 sweeps than after 3? The constrained chain's relaxation from SKILD (issue 15).

L = 32, 4x: the cached truth (n = 1000), coarse inputs exactly as ``isingsr correlate`` makes them (seed 0).
SKILD super-resolves them once with ``--consistency project`` (shipped checkpoint, default sampler and steps;
an existing ``OUT/skild_project.h5`` is reused). Then one constrained Metropolis chain per input
(``constrained_sample`` at the truth's beta) runs from SKILD's output and is recorded after every k of
``--sweeps``: one continuing chain, with exact_polish's seed (seed + 7), so its state after k sweeps *is*
``exact_polish(k)`` (checked at k = 10). The control is the same chain from the posterior's own start, the
block fill, with the posterior's seed (its state after 100 sweeps *is* the ``posterior`` method's draw; checked).
Each state is compared with the truth as ``isingsr correlate`` does (paired errors).

Beyond the truth's own fluctuation: ``--chains`` seeds of both chains (the first is the one above) give each
input's mean energy after k sweeps, set against the mean of ``--draws`` exact posterior draws of the same input
(the first 9 are the ``posterior`` method's draw and its 8 reference draws; the chain continues 10 sweeps per
draw): bias against the posterior, error from the spread over inputs, the truth not involved. "All seeds":
each single chain (or posterior draw) compared with the truth, summarised (energy z mean and SD; G4c p
median and fraction below 0.01): how far one row of the comparison moves by chance. Last, exact_polish's own
chain after 3 and 10 sweeps is ranked among ``--rank-seeds`` other seeds.

Tie rule (b even, a block of sum 0 is consistent with either coarse spin with probability 1/2): the acceptance
table, and long chains on 4 x 4 lattices against exact enumeration (``exact_posterior``, weight 1/2 per tied
block) and against the alternative weight 1. The fraction of tied blocks is recorded everywhere.

Writes OUT/summary.json, OUT/table.md (relaxation) and OUT/ties.md (tie rule).

Usage (about 5 min on one core, plus 4.5 min for SKILD the first time):
  python experiments/polish_convergence.py --out results/polish_convergence_s4
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from isingsr.analysis.compare import compare, measure
from isingsr.analysis.scalars import energy_magnetization
from isingsr.analysis.tables import markdown, pval, value_err
from isingsr.coarse import block_spin
from isingsr.correlate import cached_truth, coarse_inputs, exact_polish, run_provenance
from isingsr.io.hdf5 import load_ensemble
from isingsr.mc.constrained import acceptance_thresholds, constrained_sample, exact_posterior
from isingsr.models import shipped_checkpoint

from _script import main, numbers, parser, super_resolve_truth


def ties(spins, b) -> np.ndarray:
    """Number of tied b x b blocks (sum 0) of each configuration."""
    return (block_spin(spins, b, rule="average") == 0).sum(axis=(-2, -1))


def mean_err(x) -> tuple[float, float]:
    x = np.asarray(x, dtype=np.float64)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x)))


def trajectory(coarse, b, beta, ks, seed, init=None) -> np.ndarray:
    """States ``(len(ks), N, L, L)`` after k sweeps of one continuing constrained chain per input."""
    s = constrained_sample(coarse, b, beta=beta, n_samples=max(ks) + 1, therm_sweeps=0, sweeps_between=1,
                           seed=seed, init=init, workers=1)
    return np.ascontiguousarray(s[:, ks].swapaxes(0, 1))


def against_truth(mt, order, spins, b) -> dict:
    c = compare(mt, measure(spins, order=order, keep_samples=True))
    e, u = c["scalars"]["energy"], c["scalars"]["binder"]
    return {"dE": e["diff"], "dE_err": e["err"], "dE_z": e["z"], "dU4": u["diff"], "dU4_z": u["z"],
            "g4c_max_abs_dev": c["g4c_max_abs_dev"], "g4c_p": c["g4c_p_value"],
            "ties_per_config": float(ties(spins, b).mean())}


def over_seeds(res: list) -> dict:
    """Spread of the truth comparison over independent chains (or draws): energy z, G4c p."""
    z, p = np.array([r["dE_z"] for r in res]), np.array([r["g4c_p"] for r in res])
    return {"z_seeds_mean": float(z.mean()), "z_seeds_sd": float(z.std(ddof=1)), "p_seeds_median":
            float(np.median(p)), "p_seeds_below_0.01": float(np.mean(p < 0.01)), "n_seeds": len(res)}


def tie_check(beta, seed, n_samples) -> list:
    """Constrained chains on 4 x 4 lattices vs exact enumeration, tied blocks weighted 1/2 (majority rule) or 1."""
    out = []
    for coarse, b in ((np.array([[1]]), 4), (np.array([[1, -1], [-1, 1]]), 2), (np.array([[1, 1], [1, -1]]), 2)):
        configs, probs = exact_posterior(coarse, b, beta)
        nt, e = ties(configs, b), energy_magnetization(configs)[0]
        alt = probs * 2.0 ** nt / (probs @ 2.0 ** nt)
        s = constrained_sample(coarse, b, beta=beta, n_samples=n_samples, sweeps_between=5, seed=seed, workers=1)[0]
        blocks = np.array_split(np.stack([ties(s, b), energy_magnetization(s)[0]], 1), 100)
        mc = np.array([blk.mean(0) for blk in blocks])  # 100 block means: errors robust to autocorrelation
        row = {"L": 4, "b": b, "coarse": coarse.tolist(), "mc_samples": n_samples}
        for i, (key, x) in enumerate((("ties", nt), ("energy", e))):
            row[key] = {"mc": mc[:, i].mean(), "mc_err": mc[:, i].std(ddof=1) / 10, "exact_half": float(probs @ x),
                        "exact_weight1": float(alt @ x)}
        out.append(row)
    return out


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--out", type=Path, default=Path("results/polish_convergence_s4"))
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--sweeps", type=numbers(int), default="0,1,2,3,4,5,7,10,14,20,30,50,100,200")
    ap.add_argument("--chains", type=int, default=32, help="seeds per start for the bias against the posterior")
    ap.add_argument("--draws", type=int, default=41, help="exact posterior draws per input (>= 9)")
    ap.add_argument("--rank-seeds", type=int, default=200, help="seeds to rank exact_polish's chain at k = 3, 10")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    b, seed, ks = args.scale, args.seed, sorted(set(args.sweeps))
    args.out.mkdir(parents=True, exist_ok=True)
    ens = load_ensemble(truth := cached_truth(32, 1000, log=print))
    coarse, order, beta = coarse_inputs(ens.spins, b, seed), ens.time_order(), ens.beta
    skild = super_resolve_truth("skild", truth, b, args.out / "skild_project.h5", shipped_checkpoint(32),
                                seed=seed, consistency="project", reuse=True)
    start = load_ensemble(skild).spins
    mt = measure(ens.spins, order=order, keep_samples=True)
    e_truth = energy_magnetization(ens.spins)[0]
    # exact posterior draws: the posterior method's call (draw 0 is its candidate, 1-8 its reference), continued
    post = constrained_sample(coarse, b, beta=beta, n_samples=args.draws, seed=seed, workers=1)
    e_eq = np.stack([energy_magnetization(post[:, d])[0] for d in range(args.draws)], 1).mean(1)
    checks, rows, energies = {}, {}, {}
    starts = {"skild": (start, seed + 7, 1000), "block_fill": (None, seed, 2000)}
    for name, (init, s0, off) in starts.items():
        seeds = [s0] + [seed + off + j for j in range(args.chains - 1)]
        energies[name], per_seed = np.empty((len(seeds), len(ks), len(coarse))), []
        for j, sd in enumerate(seeds):
            states = trajectory(coarse, b, beta, ks, sd, init)
            energies[name][j] = [energy_magnetization(x)[0] for x in states]
            per_seed.append([against_truth(mt, order, x, b) for x in states])
            if j == 0 and name == "skild" and 10 in ks:
                pol = exact_polish(skild, coarse, b, 10, args.out / "polish_10.h5", beta=beta, seed=seed)
                checks["chain_at_10_equals_exact_polish_10"] = bool(
                    np.array_equal(load_ensemble(pol).spins, states[ks.index(10)]))
            if j == 0 and name == "block_fill" and 100 in ks:
                checks["chain_at_100_equals_posterior_draw_0"] = bool(np.array_equal(post[:, 0],
                                                                                     states[ks.index(100)]))
            del states
        rows[name] = [dict(k=k, energy=float(energies[name][0, i].mean()), **per_seed[0][i],
                           **over_seeds([r[i] for r in per_seed]),
                           **dict(zip(("bias_vs_posterior", "bias_vs_posterior_err"),
                                      mean_err(energies[name][:, i].mean(0) - e_eq))))
                      for i, k in enumerate(ks)]
    # the posterior draws against the truth: draw 0 as the posterior method's row, the spread over all draws
    per_draw = [against_truth(mt, order, post[:, d], b) for d in range(args.draws)]
    prow = dict(k="eq", energy=float(e_eq.mean()), **per_draw[0], **over_seeds(per_draw),
                bias_vs_posterior=0.0, bias_vs_posterior_err=0.0)
    t_post = np.stack([ties(post[:, d], b) for d in range(args.draws)], 1).mean(1)
    truth_vs_post = mean_err(e_truth - e_eq)
    truth_ties, post_ties, truth_minus_post_ties = mean_err(ties(ens.spins, b)), mean_err(t_post), \
        mean_err(ties(ens.spins, b) - t_post)
    rank = {}  # the exact_polish chain's mean energy after k sweeps among --rank-seeds other seeds
    for k in (3, 10):
        m = np.array([energy_magnetization(constrained_sample(coarse, b, beta=beta, therm_sweeps=k, seed=sd, init=start,
                                                              workers=1)[:, 0])[0].mean() - e_eq.mean()
                      for sd in [seed + 7] + [seed + 5000 + j for j in range(args.rank_seeds)]])
        o, z = m[1:], (m[0] - m[1:].mean()) / m[1:].std(ddof=1)
        rank[k] = {"polish_minus_post": m[0], "others_mean": o.mean(), "others_sd": o.std(ddof=1), "z_vs_others": z,
                   "frac_as_extreme": np.mean(np.abs(o - o.mean()) >= abs(m[0] - o.mean()))}
    tie_rows = tie_check(beta, seed, 200_000)
    thr = acceptance_thresholds(beta).astype(np.float64) / 2.0**53
    wall = time.perf_counter() - t0
    summary = {"L": 32, "scale": b, "n": len(coarse), "seed": seed, "sweeps": ks, "chains": args.chains,
               "skild_file": str(skild), "rows": rows, "posterior": prow, "checks": checks, "exact_polish_rank": rank,
               "truth": {"energy": float(e_truth.mean()), "minus_posterior_mean": truth_vs_post,
                         "ties_per_config": truth_ties, "posterior_ties_per_config": post_ties,
                         "ties_minus_posterior": truth_minus_post_ties},
               "tie_rule": {"accept_dE0_untied_to_tied": thr[2, 2, 1], "accept_dE0_tied_to_untied": thr[2, 1, 2],
                            "accept_dE0_untied_to_untied": thr[2, 2, 2], "small_lattices": tie_rows},
               "run": {**run_provenance(), "wall_s": round(wall, 1)}}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=float) + "\n")
    header = ["start", "sweeps k", "E", "dE vs truth (z)", "dU4 (z)", "max abs dG4c", "G4c p",
              "all seeds: dE z mean (SD)", "all seeds: G4c p median, frac < 0.01", "E - posterior (x1e4)",
              "tied blocks / config"]
    table = []
    for name, rs in [*rows.items(), ("posterior draws", [prow])]:
        for r in rs:
            table.append([name, r["k"], f"{r['energy']:.5f}", f"{r['dE']:+.5f} ({r['dE_z']:+.1f})",
                          f"{r['dU4_z']:+.1f}", f"{r['g4c_max_abs_dev']:.4f}", pval(r["g4c_p"]),
                          f"{r['z_seeds_mean']:+.1f} ({r['z_seeds_sd']:.1f})",
                          f"{pval(r['p_seeds_median'])}, {r['p_seeds_below_0.01']:.2f}",
                          value_err(1e4 * r["bias_vs_posterior"], 1e4 * r["bias_vs_posterior_err"], 1),
                          f"{r['ties_per_config']:.3f}"])
    ties_rows = [[f"{t['L']}x{t['L']}, b={t['b']}, c={t['coarse']}", value_err(t["ties"]["mc"], t["ties"]["mc_err"], 4),
                  f"{t['ties']['exact_half']:.4f}", f"{t['ties']['exact_weight1']:.4f}",
                  value_err(t["energy"]["mc"], t["energy"]["mc_err"], 4), f"{t['energy']['exact_half']:.4f}",
                  f"{t['energy']['exact_weight1']:.4f}"] for t in tie_rows]
    text = (f"L = 32, {b}x, n = {len(coarse)}, seed {seed}, {args.chains} chain seeds per start; wall {wall:.0f} s\n\n"
            + markdown(header, table) + "\n\n"
            + f"truth: E = {e_truth.mean():.5f}, E - posterior = {1e4 * truth_vs_post[0]:+.1f} ± "
            f"{1e4 * truth_vs_post[1]:.1f} (x1e4), tied blocks / config {truth_ties[0]:.3f} ± {truth_ties[1]:.3f} "
            f"(posterior, all draws: {post_ties[0]:.3f} ± {post_ties[1]:.3f}; truth - posterior "
            f"{truth_minus_post_ties[0]:+.3f} ± {truth_minus_post_ties[1]:.3f}); checks: {checks}\n\n"
            + "".join(f"exact_polish({k}) (seed {seed + 7}): E - posterior = {1e4 * r['polish_minus_post']:+.1f} "
                      f"(x1e4); {args.rank_seeds} other seeds: {1e4 * r['others_mean']:+.1f}, SD "
                      f"{1e4 * r['others_sd']:.1f}; z = {r['z_vs_others']:+.2f}, two-sided fraction as extreme "
                      f"{r['frac_as_extreme']:.3f}\n"
                      for k, r in rank.items()))
    ties_text = (f"tie rule: acceptance at dE = 0, untied -> tied {thr[2, 2, 1]:.3f}, tied -> untied "
                 f"{thr[2, 1, 2]:.3f}; mean tied blocks and energy per site\n\n"
                 + markdown(["lattice", "ties: MC", "exact (w = 1/2)", "exact (w = 1)", "E: MC", "exact (w = 1/2)",
                             "exact (w = 1)"], ties_rows) + "\n")
    (args.out / "table.md").write_text(text)
    (args.out / "ties.md").write_text(ties_text)
    print(text + "\n" + ties_text)


if __name__ == "__main__":
    main(run)
