#!/usr/bin/env bash
# Publishes a training checkpoint as the embedded model and regenerates what
# depends on it: models/generator.safetensors (EMA or live, F16), the avatar hash pins,
# docs/avatars.png, docs/walk.gif, docs/serve.png (headless chromium, when
# installed), docs/facecheck.png, the run's quality and loss plots, and the eval tables
# it prints (n = 8192: the model's own draws with nearest copies of 64 avatars and the
# untrained generator; then the mean of three draws with and without the face check).
#
#	scripts/publish_model.sh CHECKPOINT DATA_DIR [CACHE_DIR]
#
# LIVE=1 publishes the checkpoint's live generator instead of its EMA (export --live),
# for a checkpoint where `eval --live` scores better. Images and the eval table are
# float32 (--precision f32), so that they are the same on every host.
#
# Run it with the machine otherwise idle (pause training): eval takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
ckpt=${1:?checkpoint}
data=${2:?data folder}
cache=${3:-}
run=$(dirname "$ckpt")
bin=$(mktemp -d)/avatargan
go build -o "$bin" ./cmd/avatargan
live=()
[ -n "${LIVE:-}" ] && live=(--live)
"$bin" export --checkpoint "$ckpt" --out models/generator.safetensors --dtype F16 "${live[@]}"
go build -o "$bin" ./cmd/avatargan # embed the new model
go test ./models -run TestEmbeddedAvatarsPinned -update >/dev/null
go test ./models -count=1 >/dev/null
"$bin" generate -n 64 --grid --out docs/avatars.png --precision f32
"$bin" interpolate --from 3 --to 17 --steps 12 --out docs/walk.gif --precision f32
go run ./scripts/facecheck --out docs/facecheck.png
cp "$run/quality.png" docs/quality.png
cp "$run/loss.png" docs/loss.png
if command -v chromium >/dev/null; then
	port=18080
	"$bin" serve --addr 127.0.0.1:$port >/dev/null 2>&1 &
	pid=$!
	sleep 2
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,900 --virtual-time-budget=5000 \
		--screenshot="$PWD/docs/serve.png" "http://127.0.0.1:$port/" >/dev/null 2>&1 || true
	kill $pid
fi
args=(--data "$data" -n 8192 --precision f32)
[ -n "$cache" ] && args+=(--cache "$cache")
# The model's own draws (the README table's rows), then three draws with and without the
# face check (the means it reports).
"$bin" eval "${args[@]}" --nearest 64 --untrained --face-check 0
"$bin" eval "${args[@]}" --repeat 3
"$bin" eval "${args[@]}" --repeat 3 --face-check 0
