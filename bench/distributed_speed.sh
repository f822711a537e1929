#!/usr/bin/env bash
# Data-parallel training speed on this machine (issue 15), in one run:
#  1. GTSRB ResNet f=32 epoch seconds (training steps only: metrics.csv train_seconds of the
#     second float and second QAT epoch), 1 process x 1 thread, 1 process x 2 threads, and
#     2 processes x 1 thread (`qat train --nproc 2`), same global batch 64; with the gradient
#     allreduce and all collectives per step that rank 0 logs;
#  2. the Gloo allreduce latency and per-byte cost (build/bench/bench_allreduce) and, on paper,
#     the step time at 8 and 32 machines from the ring allreduce model with those figures.
#   bench/distributed_speed.sh [OUT_DIR]   (default bench-runs/distributed; needs ../shared/datasets;
#   REUSE=1 reports the trainings already in OUT_DIR and measures only the allreduce again)
set -euo pipefail
cd "$(dirname "$0")/.."
QAT=${QAT:-build/tools/qat}
OUT=${1:-bench-runs/distributed}
GTSRB="../shared/datasets/gtsrb/GTSRB-32x32"
[[ -d "$GTSRB" ]] || { echo "distributed_speed: $GTSRB not found (needs the real data)" >&2; exit 1; }
mkdir -p "$OUT"
"$QAT" --version

run() {  # name threads [qat train options...]
  local name=$1 threads=$2
  shift 2
  "$QAT" train configs/gtsrb_resnet.yaml --no-progress --set "dataset.path=$GTSRB" \
    --set model.filters=32 --set train.epochs=2 --set qat.epochs=2 --set ptq.batches=4 \
    --set train.eval_every=1000 --set qat.eval_every=1000 --set "threads=$threads" \
    --set "output=$OUT/$name" "$@" >"$OUT/$name.log" 2>&1 || { tail -5 "$OUT/$name.log"; exit 1; }
}
epoch_seconds() {  # run phase -> train_seconds of the phase's last epoch
  awk -F, -v p="$2" '$1 == p { s = $9 } END { print s }' "$OUT/$1/metrics.csv"
}
per_step() {  # run phase field -> ms per step of the phase's last epoch from rank 0's log
  grep "\[$2 2/2\] rank 0: gradient allreduce" "$OUT/$1.log" | tail -1 |
    sed -E "s/.*gradient allreduce ([0-9.]+) ms.*all collectives ([0-9.]+) ms.*/\\$3/"
}

echo "== 1. GTSRB ResNet f=32, global batch 64 ($(date -u +%F), $(nproc) cores)"
if [[ -z "${REUSE:-}" ]]; then  # REUSE=1: report the runs already in OUT_DIR
  run p1t1 1
  run p1t2 2
  run p2t1 1 --nproc 2
fi
printf "%-24s %12s %12s %14s %14s\n" configuration "float s/ep" "QAT s/ep" "allreduce ms" "collectives ms"
for r in p1t1 p1t2 p2t1; do
  label=$([[ $r == p1t1 ]] && echo "1 process x 1 thread" || ([[ $r == p1t2 ]] && echo "1 process x 2 threads" || echo "2 processes x 1 thread"))
  if [[ $r == p2t1 ]]; then
    ar="$(per_step p2t1 float 1) / $(per_step p2t1 qat 1)"
    co="$(per_step p2t1 float 2) / $(per_step p2t1 qat 2)"
  else
    ar="-"; co="-"
  fi
  printf "%-24s %12s %12s %14s %14s\n" "$label" "$(epoch_seconds $r float)" "$(epoch_seconds $r qat)" "$ar" "$co"
done
for phase in float qat; do
  awk -v a="$(epoch_seconds p1t1 $phase)" -v b="$(epoch_seconds p1t2 $phase)" \
    -v c="$(epoch_seconds p2t1 $phase)" -v p=$phase 'BEGIN {
      printf "%s throughput: 2 processes x 1 thread = %.2fx 1 process x 1 thread, %.2fx 1 process x 2 threads\n", p, a / c, b / c }'
done
grep -h "dataset gtsrb" "$OUT/p1t1.log" | head -1

echo "== 2. Gloo allreduce cost (2 local processes) and the ring model"
build/bench/bench_allreduce | tee "$OUT/allreduce.txt"
params=$(grep -o "[0-9]* parameters" "$OUT/p1t1.log" | head -1 | cut -d' ' -f1)
step1=$(awk -v s="$(epoch_seconds p1t1 float)" -v n="$(grep -o 'dataset gtsrb: [0-9]*' "$OUT/p1t1.log" | grep -o '[0-9]*$')" \
  'BEGIN { print s / int((n + 63) / 64) }')
read -r alpha beta < <(sed -nE 's/^ALLREDUCE alpha_hop_us=([0-9.]+) beta_ns_per_byte=([0-9.]+)/\1 \2/p' "$OUT/allreduce.txt")
# Step time at N ranks: compute of the global batch split N ways (optimistic: tiny shards run
# less efficiently) plus the ring allreduce of the gradients, with the loopback figures measured
# above and, as a stated assumption, a 1 Gb/s Ethernet (100 us per hop, 8 ns per byte).
awk -v P="$params" -v t1="$step1" -v a="$alpha" -v b="$beta" 'BEGIN {
  bytes = 4 * P
  printf "model: %d parameters (%d bytes of gradients), one-thread step of batch 64 %.1f ms\n", P, bytes, t1 * 1e3
  printf "%-16s %6s %13s %15s %15s %10s\n", "network", "ranks", "allreduce ms", "strong step ms", "strong speedup", "weak eff."
  split("2 8 32", ns, " ")
  for (net = 1; net <= 2; ++net) {
    al = net == 1 ? a : 100; be = net == 1 ? b : 8
    name = net == 1 ? "loopback (meas.)" : "1 GbE (assumed)"
    for (i = 1; i <= 3; ++i) {
      N = ns[i]
      ar = 2 * (N - 1) * al * 1e-6 + 2 * (N - 1) / N * bytes * be * 1e-9
      strong = t1 / N + ar          # global batch 64 split N ways
      weak = t1 / (t1 + ar)         # batch 64 per rank: efficiency against one rank
      printf "%-16s %6d %13.2f %15.2f %14.2fx %9.0f%%\n", name, N, ar * 1e3, strong * 1e3, t1 / strong, 100 * weak
    }
  }
}'
