#!/usr/bin/env bash
# The recipe study of the README: every recipe trained from the same seed for the same
# image budget (STEPS iterations of 64 images), scored with `avatargan eval` on its EMA
# generator, plus a repeat of one recipe with another seed for the run-to-run noise.
#
#   scripts/recipe_study.sh DATA_DIR [OUT_DIR] [STEPS]
#
# Runs go to OUT_DIR/<name> (default runs/study); each takes one core (GOMAXPROCS=1),
# all six at once, so that no core idles while the slower original finishes. Results: OUT_DIR/<name>/eval.json, quality.png and samples/.
set -euo pipefail
data=${1:?usage: scripts/recipe_study.sh DATA_DIR [OUT_DIR] [STEPS]}
out=${2:-runs/study}
steps=${3:-1000}
bin=${AVATARGAN:-$out/avatargan}
mkdir -p "$out"
[ -x "$bin" ] || go build -o "$bin" ./cmd/avatargan

run() { # name seed recipe [extra train flags...]
  local name=$1 seed=$2 recipe=$3; shift 3
  GOMAXPROCS=1 "$bin" train --data "$data" --out "$out/$name" --recipe "$recipe" --seed "$seed" \
    --max-steps "$steps" --eval-every 250 --eval-n 1024 --sample-every 250 --checkpoint-every 250 --keep 2 \
    --cache "$out/cache" "$@" > "$out/$name.log" 2>&1
  GOMAXPROCS=1 "$bin" eval --data "$data" --checkpoint "$out/$name" -n 2048 --json --cache "$out/cache" > "$out/$name/eval.json"
}

for spec in "original 1 original" "sngan 1 sngan" "sngan-da 1 sngan-da" \
  "g1 1 original --g-steps 1" "ttur 1 ttur" "${REPEAT:-sngan-da}-seed2 2 ${REPEAT:-sngan-da}"; do
  eval "run $spec" &
done
wait
ls "$out"/*/eval.json
