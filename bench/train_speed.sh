#!/usr/bin/env bash
# Training and evaluation speed against PyTorch eager, in one run on this machine:
#  1. epoch times, qat vs PyTorch 1.13 eager (bench/train_speed.py, python3-torch), same model,
#     data files, batch, optimizer and threads, float and QAT, UCI-HAR ResNetv1-6 f=16 and GTSRB
#     ResNet f=32; no mixup / augmentation on either side (training steps only: qat's
#     metrics.csv train_seconds, median of the epochs after the first);
#  2. a 2-thread float training next to one busy core (a shell busy loop) vs idle, with the
#     adaptive thread count (default) and with adaptive_threads off;
#  3. the exact int16 evaluation of GTSRB f32 on the full test set (`qat eval --engine sim`).
#   bench/train_speed.sh [OUT_DIR]      (default bench-runs/train_speed; needs ../shared/datasets)
set -euo pipefail
cd "$(dirname "$0")/.."
QAT=${QAT:-build/tools/qat}
PY=${PY:-/usr/bin/python3}
OUT=${1:-bench-runs/train_speed}
THREADS=${THREADS:-2}
EPOCHS=${EPOCHS:-6}
UCI="../shared/datasets/uci-har/UCI HAR Dataset"
GTSRB="../shared/datasets/gtsrb/GTSRB-32x32"
for d in "$UCI" "$GTSRB"; do
  [[ -d "$d" ]] || { echo "train_speed: $d not found (this benchmark needs the real data)" >&2; exit 1; }
done
"$PY" -c "import torch" 2>/dev/null || { echo "train_speed: $PY has no torch (apt-get install python3-torch)" >&2; exit 1; }
mkdir -p "$OUT"

# Median training seconds per epoch of a phase, from a run's metrics.csv (first epoch dropped).
median_epoch() {
  "$PY" - "$1" "$2" <<'PY'
import csv, statistics, sys
rows = [float(r["train_seconds"]) for r in csv.DictReader(open(sys.argv[1])) if r["phase"] == sys.argv[2]]
print(f"{statistics.median(rows[1:] if len(rows) > 1 else rows):.4f}")
PY
}

qat_epochs() {  # name config dataset-path filters epochs [extra --set ...]
  local name=$1 config=$2 path=$3 filters=$4 epochs=$5
  shift 5
  "$QAT" train "$config" --no-progress --set "dataset.path=$path" --set "model.filters=$filters" \
    --set "train.epochs=$epochs" --set "qat.epochs=$epochs" --set train.mixup=0 \
    --set train.augment.shift=0 --set "threads=$THREADS" --set "output=$OUT/$name" \
    --set train.eval_every=1000 --set qat.eval_every=1000 "$@" >"$OUT/$name.log" 2>&1 ||
    { tail -5 "$OUT/$name.log"; exit 1; }
}

echo "== 1. epoch seconds, $THREADS threads, batch 64 ($(date -u +%F), $(nproc) cores)"
printf "%-22s %9s %9s %9s %9s %8s %8s %9s %9s\n" workload "qat fl" "torch fl" "qat QAT" "torch QAT" \
  "fl x" "QAT x" "qat Q/f" "torch Q/f"
for w in "uci_har 16 configs/uci_har_resnet.yaml $EPOCHS" "gtsrb 32 configs/gtsrb_resnet.yaml 3"; do
  read -r ds filters config epochs <<<"$w"
  path=$([[ $ds == uci_har ]] && echo "$UCI" || echo "$GTSRB")
  qat_epochs "${ds}_f$filters" "$config" "$path" "$filters" "$((epochs + 1))"
  qf=$(median_epoch "$OUT/${ds}_f$filters/metrics.csv" float)
  qq=$(median_epoch "$OUT/${ds}_f$filters/metrics.csv" qat)
  torch=$("$PY" bench/train_speed.py --dataset "$ds" --path "$path" --filters "$filters" \
    --threads "$THREADS" --epochs "$((epochs + 1))" 2>/dev/null)
  "$PY" - "$ds f=$filters" "$qf" "$qq" "$torch" <<'PY'
import json, sys
name, qf, qq, t = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4])
tf, tq = t["float"], t["qat"]
print(f"{name:<22} {qf:9.4f} {tf:9.4f} {qq:9.4f} {tq:9.4f} {qf/tf:7.2f}x {qq/tq:7.2f}x {qq/qf:8.2f}x {tq/tf:8.2f}x")
PY
done
echo "(x: qat / PyTorch eager; Q/f: QAT epoch / float epoch)"

echo
echo "== 2. UCI-HAR f=16 float, $THREADS threads, next to one busy core"
run_float() {  # name [extra --set ...]
  local name=$1
  shift
  "$QAT" train configs/uci_har_resnet.yaml --no-progress --set "dataset.path=$UCI" \
    --set train.epochs=30 --set train.mixup=0 --set quant.enabled=false --set "threads=$THREADS" \
    --set train.eval_every=1000 --set "output=$OUT/$name" "$@" >"$OUT/$name.log" 2>&1 ||
    { tail -5 "$OUT/$name.log"; exit 1; }
  median_epoch "$OUT/$name/metrics.csv" float
}
idle=$(run_float contention_idle)
idle1=$(THREADS=1 run_float contention_idle_1thread --set threads=1)
( while :; do :; done ) &
HOG=$!
trap 'kill $HOG 2>/dev/null || true' EXIT
sleep 1
busy_adaptive=$(run_float contention_busy_adaptive)
busy_fixed=$(run_float contention_busy_fixed --set adaptive_threads=false)
kill $HOG
trap - EXIT
"$PY" - "$idle" "$idle1" "$busy_adaptive" "$busy_fixed" <<'PY'
import sys
idle, idle1, ad, fx = map(float, sys.argv[1:])
print(f"idle, 2 threads            {idle:.4f} s/epoch")
print(f"idle, 1 thread             {idle1:.4f} s/epoch ({idle1/idle:.2f}x: the bound next to a busy core)")
print(f"busy core, adaptive        {ad:.4f} s/epoch ({ad/idle:.2f}x idle)")
print(f"busy core, 2 fixed threads {fx:.4f} s/epoch ({fx/idle:.2f}x idle)")
PY
grep -h "thread(s)" "$OUT/contention_busy_adaptive.log" | sed 's/^/  log: /'

echo
echo "== 3. exact int16 evaluation, GTSRB f=32, full test set, $THREADS threads"
"$QAT" train configs/gtsrb_resnet.yaml --no-progress --set "dataset.path=$GTSRB" \
  --set model.filters=32 --set train.epochs=1 --set quant.bits=16 --set qat.enabled=false \
  --set "threads=$THREADS" --set "output=$OUT/gtsrb_f32_int16" >"$OUT/gtsrb_f32_int16.log" 2>&1 ||
  { tail -5 "$OUT/gtsrb_f32_int16.log"; exit 1; }
for engine in sim float; do
  t0=$(date +%s.%N)
  "$QAT" eval "$OUT/gtsrb_f32_int16" --engine $engine --threads "$THREADS" \
    >"$OUT/eval_$engine.log" 2>&1 || { tail -5 "$OUT/eval_$engine.log"; exit 1; }
  t1=$(date +%s.%N)
  echo "qat eval --engine $engine: $(echo "$t1 - $t0" | bc) s wall ($(grep -o 'acc [0-9.]*%' "$OUT/eval_$engine.log" | tail -1))"
done
