#!/usr/bin/env bash
# End to end through the command line on the bundled sample: train (float, PTQ, QAT), integer
# engine == simulation, export (C, ONNX, integer checkpoint), the generated C reproduces the
# host engine's test vectors, and the integer checkpoint alone evaluates the same; a RAM budget
# fuses layers (qat export --ram-budget).
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
# A precision/recall curve exists only for detection runs.
if "$QAT" eval "$WORK/run" --pr-curve "$WORK/pr.png" > "$WORK/pr.txt" 2>&1; then
  echo "--pr-curve of a classification run was accepted"; exit 1
fi
grep -q "only detection runs have a precision/recall curve" "$WORK/pr.txt"
if "$QAT" eval "$WORK/run" --draw "$WORK/boxes" > "$WORK/draw.txt" 2>&1; then
  echo "--draw of a classification run was accepted"; exit 1
fi
grep -q "only detection runs have boxes to draw" "$WORK/draw.txt"
# A detection run: COCO figures per class and the precision/recall PNG.
"$QAT" train configs/coco_tinyissimo_yolo.yaml --no-progress --set "output=$WORK/yolo" \
  --set train.epochs=1 --set qat.epochs=0 --set ptq.batches=1 > "$WORK/yolo.txt" 2>&1 ||
  { tail -5 "$WORK/yolo.txt"; exit 1; }
"$QAT" eval "$WORK/yolo" --pr-curve "$WORK/yolo_pr.png" --draw "$WORK/boxes" --draw-count 3 |
  tee "$WORK/yolo_eval.txt"
[[ -s "$WORK/boxes/test_002.png" && ! -e "$WORK/boxes/test_003.png" ]] ||
  { echo "--draw-count 3 did not write test_000..002.png"; ls "$WORK/boxes"; exit 1; }
# The convolutional head (11x11 grid at 88x88): its integer engine agrees with the simulation.
"$QAT" train configs/coco_tinyissimo_yolo.yaml --no-progress --set "output=$WORK/yolo_conv" \
  --set model.head=conv --set model.grid=11 --set train.epochs=1 --set qat.epochs=0 \
  --set ptq.batches=1 > "$WORK/yolo_conv.txt" 2>&1 || { tail -5 "$WORK/yolo_conv.txt"; exit 1; }
"$QAT" eval "$WORK/yolo_conv" --engine int --compare | tee "$WORK/yolo_conv_eval.txt"
grep -qE "([0-9]+)/\1 samples with identical outputs" "$WORK/yolo_conv_eval.txt"
grep -q "COCO 101-point: mAP@0.5 .*mAP@0.5:0.95" "$WORK/yolo_eval.txt"
grep -q "class 0: [0-9]* boxes, AP@0.5" "$WORK/yolo_eval.txt"
[[ -s "$WORK/yolo_pr.png" ]] || { echo "no precision/recall PNG"; exit 1; }
[[ "$a" == "$b" ]] || { echo "integer checkpoint evaluates to $b, model.pt to $a"; exit 1; }
# A RAM budget: fused export, its C reproduces the layer-by-layer vectors; an infeasible budget is
# an error naming the smallest budget; --fuse off keeps layer by layer with a warning.
"$QAT" export "$WORK/run" --out "$WORK/fused" --format c --ram-budget 4KiB | tee "$WORK/fused.txt"
grep -q "fusion schedule" "$WORK/fused.txt"
grep -q "fused0" "$WORK/fused.txt"
make -s -C "$WORK/fused" run | tee "$WORK/fc.txt"
grep -q "8 vectors, 0 mismatching outputs" "$WORK/fc.txt"
if "$QAT" export "$WORK/run" --out "$WORK/tiny" --format c --ram-budget 2KiB > "$WORK/tiny.txt" 2>&1; then
  echo "a 2 KiB budget was accepted"; exit 1
fi
grep -q "smallest budget is" "$WORK/tiny.txt"
"$QAT" export "$WORK/run" --out "$WORK/off" --format c --ram-budget 5KiB --fuse off | tee "$WORK/off.txt"
grep -q "fusion is off" "$WORK/off.txt"
if "$QAT" export "$WORK/run" --out "$WORK/bad" --ram-budget 5KiBs > "$WORK/bad.txt" 2>&1; then
  echo "a malformed budget was accepted"; exit 1
fi
grep -q "not a memory size" "$WORK/bad.txt"
if "$QAT" export "$WORK/run" --out "$WORK/bad" --ram-budget 5KiB --fuse sometimes > "$WORK/fuse.txt" 2>&1; then
  echo "--fuse sometimes was accepted"; exit 1
fi
grep -q "is not one of: auto, off" "$WORK/fuse.txt"
[[ ! -e "$WORK/bad" ]] || { echo "a refused export left $WORK/bad behind"; exit 1; }
echo "pipeline ok: $a"
