#!/usr/bin/env bash
# The detection recipe ablation (issue 17): TinyissimoYOLO (configs/coco_tinyissimo_yolo.yaml) on
# coco128 + coco-mini/train2017, mAP@0.5 on coco-mini/val2017, for person/car/dog and person
# only, each part of the recipe added to the one before, float / int8 PTQ / int8 QAT (pow2), over
# seeds. Accuracy of PTQ and QAT is the integer-exact evaluation; "vs base" is the difference of
# the mean float mAP against the baseline row measured in the same run.
#   bench/yolo_recipe.sh [OUT_DIR] [EPOCHS] [SEEDS...]   (default bench-runs/yolo_recipe 150 1 2)
# VARIANTS="7_conv_head_grid5 ..." and CLASS_SETS="person" run a subset (default: all of both).
set -euo pipefail
cd "$(dirname "$0")/.."
QAT=${QAT:-build/tools/qat}
OUT=${1:-bench-runs/yolo_recipe}
EPOCHS=${2:-150}
shift $(($# > 2 ? 2 : $#))
SEEDS=("$@")
((${#SEEDS[@]})) || SEEDS=(1 2)
[[ -d ../shared/datasets/coco/coco-mini ]] ||
  { echo "yolo_recipe: ../shared/datasets/coco not found (this benchmark needs the COCO subsets)" >&2; exit 1; }
mkdir -p "$OUT"

AUG=(--set train.augment.shift=0 --set train.augment.mosaic=1.0 --set train.augment.scale=0.5
  --set train.augment.translate=0.1 --set train.augment.degrees=5 --set train.augment.shear=2
  --set train.augment.hsv_h=0.015 --set train.augment.hsv_s=0.7 --set train.augment.hsv_v=0.4)
# The same without mosaic: on the 4x4 grid a mosaic quadrant is 2x2 cells, so it halves every
# object and crowds four images' objects into cells that hold one class each.
AFFINE=("${AUG[@]/train.augment.mosaic=1.0/train.augment.mosaic=0}")
TRAIN=(--set train.warmup_epochs=3 --set train.ema=0.99 --set train.clip_grad_norm=10)
LOSS=(--set loss.objectness=bce --set loss.label_smoothing=0.1)
declare -A VARIANT=(
  [1_base]=""
  [2_aug]="${AUG[*]}"
  [3_aug_ema_warmup_clip]="${AUG[*]} ${TRAIN[*]}"
  [4_aug_ema_warmup_clip_bce_smooth]="${AUG[*]} ${TRAIN[*]} ${LOSS[*]}"
  [5_affine_hsv_ema_warmup_clip_bce_smooth]="${AFFINE[*]} ${TRAIN[*]} ${LOSS[*]}"
  [6_ema_warmup_clip_bce_smooth]="${TRAIN[*]} ${LOSS[*]}"
  # The convolutional head (model.head: conv) of the later TinyissimoYOLO versions, the shipped
  # augmentation: a 5x5 grid (four pools) and an 11x11 grid (three pools, 1.4x the MACs).
  [7_conv_head_grid5]="--set model.head=conv --set model.grid=5"
  [8_conv_head_grid11]="--set model.head=conv --set model.grid=11"
)
declare -A CLASSES=([3class]="[person, car, dog]" [person]="[person]")

read -r -a variants <<<"${VARIANTS:-$(printf '%s\n' "${!VARIANT[@]}" | sort | tr '\n' ' ')}"
for v in "${variants[@]}"; do
  [[ -v "VARIANT[$v]" ]] || { echo "yolo_recipe: unknown variant $v (have: ${!VARIANT[*]})" >&2; exit 1; }
done
read -r -a class_sets <<<"${CLASS_SETS:-3class person}"
for classes in "${class_sets[@]}"; do
  [[ -v "CLASSES[$classes]" ]] || { echo "yolo_recipe: unknown class set $classes (have: ${!CLASSES[*]})" >&2; exit 1; }
  for v in "${variants[@]}"; do
    for seed in "${SEEDS[@]}"; do
      run="$OUT/${classes}_${v}_s$seed"
      [[ -f "$run/summary.json" ]] && continue
      echo "$(date +%T) $run"
      # shellcheck disable=SC2086  # the variant's --set words split on purpose
      $QAT train configs/coco_tinyissimo_yolo.yaml --no-progress --set "output=$run" \
        --set "seed=$seed" --set "train.epochs=$EPOCHS" --set "dataset.categories=${CLASSES[$classes]}" \
        ${VARIANT[$v]} >"$run.log" 2>&1 || { tail -5 "$run.log"; exit 1; }
    done
  done
done

python3 - "$OUT" <<'PY'
import glob, json, os, statistics as st, sys
out = sys.argv[1]
rows = {}
for f in sorted(glob.glob(f"{out}/*/summary.json")):
    name = os.path.basename(os.path.dirname(f))
    key = name.rsplit("_s", 1)[0]
    s = json.load(open(f))
    rows.setdefault(key, []).append(s)
def fmt(xs):
    m = 100 * st.mean(xs)
    return f"{m:.2f}" + (f" ± {100 * st.stdev(xs):.2f}" if len(xs) > 1 else "")
print("| classes | recipe | n | float mAP@0.5 (%) | int8 PTQ (%) | int8 QAT (%) | float vs base (pt) | float train (s) |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for classes in ("3class", "person"):
    # "vs base" only against a baseline measured in this output folder.
    b = rows.get(classes + "_1_base")
    base = st.mean(s["float"]["metric"] for s in b) if b else None
    for key in sorted(k for k in rows if k.startswith(classes + "_")):
        r = rows[key]
        fl = [s["float"]["metric"] for s in r]
        vs = f"{100 * (st.mean(fl) - base):+.2f}" if base is not None else "—"
        print(f"| {classes} | {key[len(classes) + 1:]} | {len(r)} | {fmt(fl)} | "
              f"{fmt([s['ptq']['metric'] for s in r])} | {fmt([s['qat']['metric'] for s in r])} | "
              f"{vs} | {st.mean(s['float']['seconds'] for s in r):.0f} |")
PY
