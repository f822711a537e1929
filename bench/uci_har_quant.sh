#!/usr/bin/env bash
# UCI-HAR ResNetv1-6 (16 filters) on ../shared/datasets: float accuracy, int8 PTQ and int8 QAT
# (power of two, per tensor), int16 PTQ in Q7.9 for the whole network (the MicroAI paper's
# int16 setting), with times. The int16 run starts from the same float model (train.init_from).
# Accuracy is from the integer-exact evaluation (equal to the C kernels; `qat eval --engine int`).
#   bench/uci_har_quant.sh [OUT_DIR]      (default bench-runs/uci_har)
set -euo pipefail
cd "$(dirname "$0")/.."
QAT=${QAT:-build/tools/qat}
OUT=${1:-bench-runs/uci_har}
DATA="../shared/datasets/uci-har/UCI HAR Dataset"
[[ -d "$DATA" ]] || { echo "uci_har_quant: $DATA not found (this benchmark needs the full dataset)" >&2; exit 1; }
mkdir -p "$OUT"
SET=(--no-progress --set "dataset.path=$DATA")
$QAT train configs/uci_har_resnet.yaml "${SET[@]}" --set "output=$OUT/int8" >"$OUT.int8.log" 2>&1 ||
  { tail -5 "$OUT.int8.log"; exit 1; }
$QAT train configs/uci_har_resnet.yaml "${SET[@]}" --set "output=$OUT/int16_q7.9" \
  --set "train.init_from=$OUT/int8/float.pt" --set train.epochs=0 \
  --set quant.bits=16 --set quant.frac_bits=9 --set qat.enabled=false >"$OUT.int16.log" 2>&1 ||
  { tail -5 "$OUT.int16.log"; exit 1; }
$QAT eval "$OUT/int8" --engine int --compare | tail -2
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
s8 = json.load(open(f"{out}/int8/summary.json"))
s16 = json.load(open(f"{out}/int16_q7.9/summary.json"))
base = s8["float"]["metric"]
rows = [("float32", s8["float"]), ("int8 PTQ pow2", s8["ptq"]), ("int8 QAT pow2", s8["qat"]),
        ("int16 PTQ Q7.9", s16["ptq"])]
print(f"\nUCI-HAR ResNetv1-6 f=16 ({s8['parameters']} parameters, {s8['macs']} MACs)")
print(f"{'step':<18}{'accuracy':>10}{'vs float':>10}{'time s':>9}")
for name, r in rows:
    print(f"{name:<18}{100*r['metric']:>9.2f}%{100*(r['metric']-base):>+9.2f}pt{r['seconds']:>9.1f}")
PY
