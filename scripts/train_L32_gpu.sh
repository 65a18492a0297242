#!/usr/bin/env bash
# The shipped L = 32 SKILD network trained on for a fixed number of GPU minutes, then measured.
#
# Usage (repository root, one NVIDIA GPU, no internet needed):
#   OUT=runs/L32_long bash scripts/train_L32_gpu.sh
# Options (environment): INIT (the weights to start from; default isingsr/models/skild_L32.pt, e.g.
# isingsr/models/skild_L32_long.pt to train that one further), TRAIN_SECONDS (default 300), BATCH (1024),
# LR (3e-4), N_TRAIN (100000), EVAL (0; 1: also the measurement below), SMOKE (1: the same path on the CPU at
# toy size, seconds).
#
# 1. 100,000 critical 32 x 32 configurations (seed 2, independent of every truth ensemble of the docs);
# 2. a throughput probe (200 steps on a throw-away run) fixes the number of steps that fit in TRAIN_SECONDS,
#    so the run is an ordinary `isingsr train --steps N --lr-schedule cosine` that anyone can repeat with that N;
# 3. training from INIT's weights (--init-from), cosine decay to zero, EMA 0.999;
#    the release copy (slim) is OUT/skild_L32_long.pt;
# 4. with EVAL=1, on the same machine: sampler_accuracy at 4x (ancestral 100/50/25 and ddim 100) into
#    OUT/results/long_sampler_s4 (8 min on an H200 machine, most of it the CPU's analysis: the other
#    measurements of docs/sampling.md run as well on a CPU afterwards).
# Every step's wall time goes to OUT/times.txt; the sha256 of the training spins is printed, so a copy made
# elsewhere with the same command can be checked against it. On an H200, at batch 256, the probe measured
# 3,560 img/s and the run 4,100: the small network is bound by the per-step overhead, not the GPU's arithmetic,
# so a larger batch costs little more per step (docs/sampling.md#training).
set -euo pipefail
OUT=${OUT:?set OUT to the output folder}
TRAIN_SECONDS=${TRAIN_SECONDS:-300}
BATCH=${BATCH:-1024}
INIT=${INIT:-isingsr/models/skild_L32.pt}
LR=${LR:-3e-4}
N_TRAIN=${N_TRAIN:-100000}
EVAL=${EVAL:-0}
SMOKE=${SMOKE:-0}
PY=${PY:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
DEVICE=cuda PROBE=200 WARMUP=500
if [ "$SMOKE" = 1 ]; then DEVICE=cpu PROBE=5 WARMUP=5 N_TRAIN=2000 BATCH=16 TRAIN_SECONDS=5; fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DATA=$OUT/L32_train_seed2_n$N_TRAIN.h5
isingsr() { "$PY" -m isingsr.cli "$@"; }
stamp() { echo "$1 $(( $(date +%s) - T0 )) s" | tee -a "$OUT/times.txt"; }
T0=$(date +%s)
"$PY" -c "import sys, torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')
'$DEVICE' == 'cpu' or torch.cuda.is_available() or sys.exit('error: no CUDA device: this script is for a GPU '
                                                         '(SMOKE=1 runs its path on the CPU)')"

[ -f "$DATA" ] || isingsr generate --L 32 -n "$N_TRAIN" --seed 2 --out "$DATA"
stamp "monte carlo"

rm -rf "$OUT/probe"
isingsr train --data "$DATA" --out "$OUT/probe" --init-from "$INIT" --steps "$PROBE" \
    --batch "$BATCH" --lr "$LR" --warmup "$WARMUP" --ckpt-every 100000 --max-samples 5000 \
    --device "$DEVICE" --seed 7 -q
RATE=$(grep -o 'img/s [0-9.]*' "$OUT/probe/log.txt" | tail -1 | cut -d' ' -f2)
STEPS=$("$PY" -c "print(max(2 * $WARMUP, int($RATE * $TRAIN_SECONDS / $BATCH)))")
echo "probe: $RATE img/s at batch $BATCH -> $STEPS steps in $TRAIN_SECONDS s" | tee -a "$OUT/times.txt"
stamp "probe"

isingsr train --data "$DATA" --out "$OUT/run" --init-from "$INIT" --steps "$STEPS" \
    --batch "$BATCH" --lr "$LR" --warmup "$WARMUP" --lr-schedule cosine --ckpt-every 2000 --device "$DEVICE" \
    --seed 7 --minutes "$("$PY" -c "print($TRAIN_SECONDS / 60 * 1.3 + 1)")"
"$PY" -c "from isingsr.io.checkpoint import slim_checkpoint as s; s('$OUT/run/checkpoint.pt', '$OUT/skild_L32_long.pt')"
tail -2 "$OUT/run/log.txt"
stamp "training"

"$PY" -c "import hashlib, sys; from isingsr.io.hdf5 import load_ensemble as l
print('sha256 of the spins of', sys.argv[1].rsplit('/', 1)[-1], hashlib.sha256(l(sys.argv[1]).spins.tobytes()).hexdigest())" \
    "$DATA" | tee -a "$OUT/times.txt"
[ "$EVAL" = 1 ] || exit 0
cd experiments
timeout 480 "$PY" sampler_accuracy.py --ckpt "$OUT/skild_L32_long.pt" --out "$OUT/results/long_sampler_s4" --scales 4 \
    --methods skild --reference ancestral:100 --runs skild:ancestral:100 skild:ancestral:50 skild:ancestral:25 \
    skild:ddim:100 --device "$DEVICE" || echo "sampler_accuracy 4x failed or timed out"
stamp "sampler 4x"
