#!/usr/bin/env bash
# A Monte Carlo ensemble too large for one machine, on a SLURM job array: each array task runs one
# shard (a block of the run's chains) on its own node; a job that starts when every task has ended
# well merges the shards into the file one process with the same seed and chains would have written.
#
#   jid=$(sbatch --parsable --array=0-15 scripts/slurm_generate.sh)     # 16 shards, one node each
#   sbatch --dependency=afterok:$jid scripts/slurm_generate.sh merge   # then the exact merge
#
# A task that was killed (time limit, node failure) resumes where it stopped when resubmitted:
#   sbatch --array=7 scripts/slurm_generate.sh
# Settings come from the environment (sbatch --export=ALL,L=256,N=200000 ...); the defaults make
# 10^6 configurations of 128 x 128 at beta_c with 256 chains (16 per shard). Every task must see
# the same L, N, CHAINS, SEED and NSHARDS. Measured cost: docs/scaling.md.
#SBATCH --job-name=isingsr-generate
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=16
#SBATCH --time=02:00:00
#SBATCH --output=isingsr-generate-%A_%a.out
set -euo pipefail

L=${L:-128}
N=${N:-1000000}
CHAINS=${CHAINS:-256}
SEED=${SEED:-1}
NSHARDS=${NSHARDS:-${SLURM_ARRAY_TASK_COUNT:-16}}
OUT=${OUT:-data/L${L}_n${N}.h5}
SHARD_DIR=${SHARD_DIR:-${OUT%.h5}_shards}
mkdir -p "$SHARD_DIR"

if [[ "${1:-}" == "merge" ]]; then
    shards=()
    for ((i = 0; i < NSHARDS; i++)); do shards+=("$SHARD_DIR/shard_$i.h5"); done
    isingsr merge --out "$OUT" "${shards[@]}"
    isingsr info "$OUT"
    exit 0
fi

: "${SLURM_ARRAY_TASK_ID:?submit with sbatch --array=0-$((NSHARDS - 1)), or run scripts/generate_local.sh}"
isingsr generate --L "$L" -n "$N" --chains "$CHAINS" --seed "$SEED" \
    --shard "$SLURM_ARRAY_TASK_ID" --nshards "$NSHARDS" \
    --workers "${SLURM_CPUS_PER_TASK:-1}" --quiet --out "$SHARD_DIR/shard_$SLURM_ARRAY_TASK_ID.h5"
