#!/usr/bin/env bash
# End to end through the command line on the bundled sample: train (float, PTQ, QAT), integer
# engine == simulation, export (C, ONNX, integer checkpoint), the generated C reproduces the
# host engine's test vectors, and the integer checkpoint alone evaluates the same.
set -euo pipefail
QAT=$1
SRC=$2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$SRC"
"$QAT" train configs/demo.yaml --no-progress --set "output=$WORK/run" --set train.epochs=4 --set qat.epochs=1
"$QAT" eval "$WORK/run" --engine int --compare | tee "$WORK/eval.txt"
grep -q "2947\|120/120 samples with identical outputs" "$WORK/eval.txt"
"$QAT" export "$WORK/run" --out "$WORK/export" --vectors 16
make -s -C "$WORK/export" run | tee "$WORK/c.txt"
grep -q "16 vectors, 0 mismatching outputs" "$WORK/c.txt"
a=$("$QAT" eval "$WORK/run" --engine int | grep -o "acc [0-9.]*%")
b=$("$QAT" eval "$WORK/run" --checkpoint "$WORK/export/model.qint.json" | grep -o "acc [0-9.]*%")
[[ "$a" == "$b" ]] || { echo "integer checkpoint evaluates to $b, model.pt to $a"; exit 1; }
echo "pipeline ok: $a"
