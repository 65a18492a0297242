"""Sharded Monte Carlo on one machine: one process vs N shards (scripts/generate_local.sh) plus the merge.

Runs ``isingsr generate`` once with ``--workers N`` and once split into N
shards of one worker each (background processes, as on N nodes of a job
array), times both and the merge, and checks that the merged file equals the
one-process file in every dataset (spins, energy, magnetization, chain,
update, chain state). Writes ``OUT/summary.json`` and ``OUT/table.md``.

Usage:
  python experiments/bench_shards.py --out results/bench_shards --L 128 -n 20000 --chains 32 --nshards 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("spins", "energy", "magnetization", "chain", "update", "state/spins", "state/rng", "state/updates",
            "state/saved", "state/target")


def timed(cmd, env=None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/bench_shards")
    ap.add_argument("--L", type=int, default=128)
    ap.add_argument("-n", "--n", type=int, default=20000)
    ap.add_argument("--chains", type=int, default=32)
    ap.add_argument("--nshards", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default=None, help="scratch folder for the ensembles [a temporary one]")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_shards_"))
    work.mkdir(parents=True, exist_ok=True)
    isingsr = str(Path(sys.executable).parent / "isingsr")
    common = ["--L", str(args.L), "-n", str(args.n), "--chains", str(args.chains), "--seed", str(args.seed), "-q"]
    one = work / "one.h5"
    t_one = timed([isingsr, "generate", *common, "--workers", str(args.nshards), "--out", str(one), "--overwrite"])
    shutil.rmtree(work / "shards", ignore_errors=True)
    merged = work / "merged.h5"
    merged.unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "L": str(args.L), "N": str(args.n), "CHAINS": str(args.chains), "SEED": str(args.seed),
           "NSHARDS": str(args.nshards), "OUT": str(merged), "SHARD_DIR": str(work / "shards"), "WORKERS": "1"}
    t_sharded = timed(["bash", str(ROOT / "scripts" / "generate_local.sh")], env=env)
    merged.unlink()
    shards = sorted((work / "shards").glob("shard_*.h5"))
    t_merge = timed([isingsr, "merge", "-q", "--out", str(merged), *map(str, shards)])
    with h5py.File(one, "r") as a, h5py.File(merged, "r") as b:
        same = {name: bool(np.array_equal(a[name][:], b[name][:])) for name in DATASETS}
        attrs = {k: (a.attrs[k].item() if hasattr(a.attrs[k], "item") else a.attrs[k])
                 for k in ("updates_between", "mean_cluster_size", "thermalization_updates")}
    size = merged.stat().st_size
    summary = {"L": args.L, "n": args.n, "chains": args.chains, "nshards": args.nshards, "seed": args.seed,
               "cores": len(os.sched_getaffinity(0)), "seconds_one_process": t_one,
               "seconds_sharded_incl_merge": t_sharded, "seconds_merge": t_merge, "merged_bytes": size,
               "merge_MB_per_s": size / 2**20 / t_merge, "identical": same, "attrs": attrs}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    table = ("| run | wall (s) |\n|---|---|\n"
             f"| one process, {args.nshards} worker threads | {t_one:.1f} |\n"
             f"| {args.nshards} shards x 1 worker (scripts/generate_local.sh), merge included | {t_sharded:.1f} |\n"
             f"| merge alone ({size / 2**20:.0f} MiB) | {t_merge:.1f} |\n\n"
             f"L = {args.L}, n = {args.n}, {args.chains} chains, seed {args.seed}; merged file identical to the "
             f"one-process file in every dataset: {all(same.values())}\n")
    (out / "table.md").write_text(table)
    print(table)
    if args.work is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
