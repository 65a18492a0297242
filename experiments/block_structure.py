"""Where a super-resolved ensemble's two-point error sits: statistics of its S x S blocks against the truth's.

Each ensemble is super-resolved from the majority-rule coarse-graining of the
truth (``isingsr correlate``'s inputs, ``--seed`` of its ties), so configuration
i is paired with truth configuration i. Per ensemble and statistic, the table
gives the truth's value and each ensemble's paired difference from it with its
jackknife error (blocks in the truth's Monte Carlo time order) and z-score:

* ``m_b^2`` -- a block's squared magnetisation (the block means' size);
* ``m_b m_b' (d)`` -- blocks d = 1, 2 apart along either axis (the two-point
  function at r = d S, seen by blocks);
* ``abs(m_b m_b'), input signs agree / disagree`` -- the product of the sizes of
  neighbouring blocks whose *input* block spins are equal / opposite: how the
  block sizes follow the coarse configuration around them;
* ``bond inside / across blocks`` -- the nearest-neighbour product s_i s_j on
  bonds within a block and on bonds that cross a block boundary.
* ``consistency, blocks at an input wall / inside a domain`` -- the share of
  blocks whose mean has the input's sign (or is 0, a tie: ``isingsr correlate``'s
  consistency), among the blocks with a nearest neighbour of the opposite
  input spin and among the others (the truth's own is 1).

``--by-neighbours`` adds, for the blocks with k = 0, 1, 2 and 3 or more nearest
neighbours of the opposite input spin (inside a domain, along a straight wall,
at a corner, an island), the mean block magnetisation along the input spin
y_B m_B, its spread (the standard deviation of y_B m_B over those blocks) and
the consistency and the fraction of tied blocks (m_B = 0; the tie rule gives a
tie the input's spin half the time): the input fixes how magnetised each kind of block is, an
exact posterior draw reproduces it, and a lift that holds the block means
shows here which kind it over- or under-lifts.

``--by-magnetisation`` adds, in bins of the truth configuration's |m|, the
mean magnetisation of each ensemble's configurations along the sign of the
truth configuration they came from: given a strongly ordered input, the
exact posterior's fine magnetisation lies below the truth's own by the
regression the coarse-graining implies, and a method that keeps too few
minority spins in ordered regions lies above it (which lowers U4).

A second table is the mean spin profile across a domain wall of the input:
for each pair of horizontally neighbouring blocks whose input spins differ,
the spins' column means over the 2 S columns of the pair, oriented so the left
block's input spin is +1 and averaged over all such pairs (no errors: a
picture of where the difference sits).

A method that matches the truth's G2 and G4c has every difference within its
error; one that does not shows here at which of these scales it goes wrong.

Usage (seconds):
  python experiments/block_structure.py --truth data/L128_n500.h5 --scale 4 \\
      --ensembles skild=results/L128_conditioned/s4/skild.h5,posterior=results/L128_conditioned/s4/posterior.h5 \\
      --out results/block_structure_L128_s4_conditioned
(``--out`` writes ``table.md``, ``wall_profile.md`` and ``summary.json``.)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from isingsr.analysis.errors import jackknife, jackknife_difference
from isingsr.analysis.tables import markdown
from isingsr.correlate import coarse_inputs
from isingsr.exceptions import InputError
from isingsr.io.hdf5 import load_ensemble

from _script import input_walls, main, opposite_neighbours, parser

#: Statistics, each a function of per-configuration arrays' means (``_samples``'s order).
STATS = {
    "m_b^2": lambda m2, *_: m2,
    "m_b m_b' (d = 1)": lambda m2, n1, *_: n1,
    "m_b m_b' (d = 2)": lambda m2, n1, n2, *_: n2,
    "abs(m_b m_b'), input signs agree": lambda m2, n1, n2, ag, na, *_: ag / na,
    "abs(m_b m_b'), input signs disagree": lambda m2, n1, n2, ag, na, dg, nd, *_: dg / nd,
    "bond inside blocks": lambda *a: a[7],
    "bond across blocks": lambda *a: a[8],
    "consistency, blocks at an input wall": lambda *a: a[9] / a[10],
    "consistency, blocks inside a domain": lambda *a: a[11] / a[12],
}
#: Classes of :func:`_script.opposite_neighbours` (k opposite input neighbours; the last is k or more).
CLASS_NAMES = ("0", "1", "2", "3+")


def _class_stat(k: int, what: str):
    """Statistic ``what`` of class k from :func:`_class_samples`' arrays (sum of y_B m_B, of m_B^2, kept blocks,
    tied blocks, blocks per class), which follow :func:`_samples`' 13."""
    def stat(*a):
        m, m2, kept, tied, count = a[13 + 5 * k: 18 + 5 * k]
        return {"mean": m / count, "spread": np.sqrt(max(m2 / count - (m / count) ** 2, 0.0)),
                "consistency": kept / count, "tied": tied / count}[what]
    return stat


CLASS_STATS = {f"{label}, {k} opposite neighbours": _class_stat(i, what)
               for what, label in (("mean", "block m along input"), ("spread", "spread of block m along input"),
                                   ("consistency", "consistency"), ("tied", "tied blocks"))
               for i, k in enumerate(CLASS_NAMES)}


#: Bins of the truth configuration's |m| for ``--by-magnetisation`` (the last holds |m| = 1).
M_EDGES = (0.0, 0.4, 0.6, 0.7, 0.8, 1.0)


def _m_stat(k: int):
    """Mean magnetisation along the truth configuration's sign over the configurations in |m| bin k, from
    :func:`_magnetisation_samples`' arrays (which follow every other sample)."""
    return lambda *a: a[-2 * (len(M_EDGES) - 1) + 2 * k] / a[-2 * (len(M_EDGES) - 1) + 2 * k + 1]


M_STATS = {f"m along the truth's sign, truth |m| in [{lo:g}, {hi:g}{']' if hi == M_EDGES[-1] else ')'}": _m_stat(k)
           for k, (lo, hi) in enumerate(zip(M_EDGES[:-1], M_EDGES[1:]))}


def _magnetisation_samples(spins: np.ndarray, m_truth: np.ndarray) -> list[np.ndarray]:
    """Per configuration and bin of the paired truth configuration's |m| (:data:`M_EDGES`): its magnetisation
    along the truth's sign if in the bin (else 0), and 1 if in the bin (float64, length N each). The bins are
    the truth's, so every ensemble is averaged over the same configurations: the difference from the truth is
    how far the magnetisation of a super-resolution of an input lies from the configuration it came from."""
    m = spins.reshape(len(spins), -1).astype(np.float64).mean(axis=1)
    sign, size = np.where(m_truth < 0, -1.0, 1.0), np.abs(m_truth)
    out = []
    for k, (lo, hi) in enumerate(zip(M_EDGES[:-1], M_EDGES[1:])):
        sel = (size >= lo) & ((size < hi) if k < len(M_EDGES) - 2 else (size <= hi))
        out += [np.where(sel, sign * m, 0.0), sel.astype(np.float64)]
    return out


def _samples(spins: np.ndarray, coarse: np.ndarray, S: int) -> list[np.ndarray]:
    """Per-configuration primary quantities of :data:`STATS` (float64, length N each)."""
    n, L, _ = spins.shape
    x = spins.astype(np.float32)
    b = x.reshape(n, L // S, S, L // S, S).mean(axis=(2, 4))
    shifted = [np.roll(b, d, axis=ax) for d in (1, 2) for ax in (1, 2)]
    n1 = (b * shifted[0] + b * shifted[1]).mean(axis=(1, 2)) / 2
    n2 = (b * shifted[2] + b * shifted[3]).mean(axis=(1, 2)) / 2
    size = np.abs(b * shifted[0]), np.abs(b * shifted[1])
    agree = [coarse * np.roll(coarse, 1, axis=ax) > 0 for ax in (1, 2)]
    ag = sum((s * a).sum(axis=(1, 2)) for s, a in zip(size, agree))
    na = sum(a.sum(axis=(1, 2)) for a in agree)
    dg = sum((s * ~a).sum(axis=(1, 2)) for s, a in zip(size, agree))
    nd = sum((~a).sum(axis=(1, 2)) for a in agree)
    bonds = np.concatenate([x * np.roll(x, -1, axis=2), (x * np.roll(x, -1, axis=1)).transpose(0, 2, 1)], axis=2)
    across = (np.arange(2 * L) % L) % S == S - 1  # the bond from column j to j + 1 crosses a boundary
    wall = input_walls(coarse)
    kept = (b * coarse > 0) | (b == 0)  # a tie never contradicts the input (block_consistency's rule)
    return [np.asarray(v, dtype=np.float64) for v in
            ((b * b).mean(axis=(1, 2)), n1, n2, ag, na, dg, nd, bonds[:, :, ~across].mean(axis=(1, 2)),
             bonds[:, :, across].mean(axis=(1, 2)), (kept & wall).sum(axis=(1, 2)), wall.sum(axis=(1, 2)),
             (kept & ~wall).sum(axis=(1, 2)), (~wall).sum(axis=(1, 2)))]


def _class_samples(spins: np.ndarray, coarse: np.ndarray, S: int) -> list[np.ndarray]:
    """Per configuration and class of :data:`CLASS_NAMES`: the sums of y_B m_B and of m_B^2, the counts of kept
    blocks, of tied blocks (m_B = 0) and of blocks (float64, length N each; :func:`_class_stat`'s order)."""
    n, L, _ = spins.shape
    b = spins.astype(np.float32).reshape(n, L // S, S, L // S, S).mean(axis=(2, 4))
    cls = opposite_neighbours(coarse, len(CLASS_NAMES) - 1)
    kept = (b * coarse > 0) | (b == 0)
    out = []
    for k in range(len(CLASS_NAMES)):
        sel = cls == k
        out += [(b * coarse * sel).sum(axis=(1, 2)), (b * b * sel).sum(axis=(1, 2)), (kept & sel).sum(axis=(1, 2)),
                ((b == 0) & sel).sum(axis=(1, 2)), sel.sum(axis=(1, 2))]
    return [np.asarray(v, dtype=np.float64) for v in out]


def wall_profile(spins: np.ndarray, coarse: np.ndarray, S: int) -> np.ndarray:
    """Mean oriented column profile (2 S values) of horizontally neighbouring blocks whose input spins differ."""
    n, L, _ = spins.shape
    cols = spins.astype(np.float32).reshape(n, L // S, S, L).mean(axis=2).reshape(n, L // S, L // S, S)
    pairs = np.concatenate([cols, np.roll(cols, -1, axis=2)], axis=3)
    wall = coarse * np.roll(coarse, -1, axis=2) < 0
    return (pairs * coarse[..., None])[wall].mean(axis=0)


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--truth", required=True, help="Monte Carlo ensemble the inputs were made from")
    ap.add_argument("--scale", type=int, required=True, help="integer block size S dividing L")
    ap.add_argument("--ensembles", required=True, help="comma-separated NAME=PATH of super-resolved ensembles")
    ap.add_argument("--seed", type=int, default=0, help="seed of the coarse-graining's ties (isingsr correlate's)")
    ap.add_argument("--blocks", type=int, default=100, help="jackknife blocks")
    ap.add_argument("--n", type=int, default=None,
                    help="only the first n configurations of the truth and of each ensemble [all]")
    ap.add_argument("--by-neighbours", action="store_true",
                    help="add the block magnetisation along the input and the consistency of the blocks with 0, 1, "
                         "2 and 3+ nearest neighbours of the opposite input spin")
    ap.add_argument("--by-magnetisation", action="store_true",
                    help="add the configurations' magnetisation along the truth configuration's sign in bins of "
                         "the truth's |m|: whether the super-resolution of an ordered input is as ordered as the "
                         "configuration it came from")
    ap.add_argument("--out", type=Path, default=None, help="folder for table.md and summary.json")
    args = ap.parse_args()
    if args.n is not None and args.n < 2:
        raise InputError(f"--n must be at least 2, got {args.n}")
    truth = load_ensemble(args.truth, max_samples=args.n)
    S = args.scale
    if S < 2 or truth.L % S:
        raise InputError(f"--scale must be an integer >= 2 dividing L = {truth.L}, got {S}")
    try:
        paths = dict(item.split("=", 1) for item in args.ensembles.split(","))
    except ValueError:
        raise InputError(f"--ensembles: expected NAME=PATH,..., got {args.ensembles!r}") from None
    order = truth.time_order()
    coarse = coarse_inputs(truth.spins, S, args.seed)
    stats = {**STATS, **(CLASS_STATS if args.by_neighbours else {}), **(M_STATS if args.by_magnetisation else {})}
    m_truth = truth.spins.reshape(truth.n, -1).astype(np.float64).mean(axis=1)

    def samples(spins):
        v = _samples(spins, coarse, S) + (_class_samples(spins, coarse, S) if args.by_neighbours else []) + \
            (_magnetisation_samples(spins, m_truth) if args.by_magnetisation else [])
        return [x[order] for x in v]
    ref = samples(truth.spins)
    cands = {}
    for name, path in paths.items():
        ens = load_ensemble(path, max_samples=args.n)
        if ens.spins.shape != truth.spins.shape:
            raise InputError(f"{path}: {ens.spins.shape} configurations, the truth has {truth.spins.shape}")
        cands[name] = samples(ens.spins)
    rows, summary = [], {"truth": str(args.truth), "scale": S, "n": truth.n, "ensembles": paths, "stats": {}}
    for stat, f in stats.items():
        value, err = jackknife(f, *ref, n_blocks=args.blocks)
        row, entry = [stat, f"{value:.5f} ± {err:.5f}"], {"truth": [float(value), float(err)]}
        for name, c in cands.items():
            d, e = jackknife_difference(f, ref, c, n_blocks=args.blocks)
            row.append(f"{d:+.5f} ± {e:.5f}" + (f" ({d / e:+.1f})" if e > 0 else ""))
            entry[name] = [float(d), float(e)]
        rows.append(row)
        summary["stats"][stat] = entry
    table = markdown(["statistic", "truth"] + [f"{name} - truth (z)" for name in cands], rows)
    profiles = {"truth": wall_profile(truth.spins, coarse, S)}
    profiles.update({name: wall_profile(load_ensemble(path).spins, coarse, S) for name, path in paths.items()})
    summary["wall_profile"] = {k: v.tolist() for k, v in profiles.items()}
    profile = markdown(["ensemble"] + [f"column {j}" for j in range(2 * S)],
                       [[k] + [f"{x:+.3f}" for x in v] for k, v in profiles.items()])
    print(f"{truth.n} configurations of {truth.L}x{truth.L}, blocks of {S} x {S}\n{table}\n\n"
          f"spin profile across the input's domain walls (the block pair's columns, oriented)\n{profile}")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "table.md").write_text(table + "\n")
        (args.out / "wall_profile.md").write_text(profile + "\n")
        (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main(run)
