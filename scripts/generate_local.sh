#!/usr/bin/env bash
# The sharded run of scripts/slurm_generate.sh on one machine: NSHARDS background processes,
# then the exact merge. Settings from the environment, with the same defaults as the SLURM script:
#   NSHARDS=4 L=128 N=100000 CHAINS=64 scripts/generate_local.sh
# A failed or killed shard stops the merge; rerunning the script resumes the unfinished shards
# and skips the finished ones.
set -euo pipefail

L=${L:-128}
N=${N:-1000000}
CHAINS=${CHAINS:-256}
SEED=${SEED:-1}
NSHARDS=${NSHARDS:-4}
OUT=${OUT:-data/L${L}_n${N}.h5}
SHARD_DIR=${SHARD_DIR:-${OUT%.h5}_shards}
WORKERS=${WORKERS:-1}
mkdir -p "$SHARD_DIR"

pids=()
shards=()
for ((i = 0; i < NSHARDS; i++)); do
    shard="$SHARD_DIR/shard_$i.h5"
    shards+=("$shard")
    [[ -f "$shard" ]] && continue  # finished by an earlier invocation
    isingsr generate --L "$L" -n "$N" --chains "$CHAINS" --seed "$SEED" --shard "$i" --nshards "$NSHARDS" \
        --workers "$WORKERS" --quiet --out "$shard" &
    pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
if ((failed)); then
    echo "generate_local.sh: a shard failed (its message is above); rerun this script to resume" >&2
    exit 1
fi
isingsr merge --out "$OUT" "${shards[@]}"
