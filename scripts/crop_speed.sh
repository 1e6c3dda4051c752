#!/usr/bin/env bash
# Speed check for `avatargan crop` (issue 12's target: 1,000 illustrations of
# ~1 Mpixel in under a minute on the 2-core dev machine) and the detector
# against OpenCV on one core. Run it on a quiet machine: no training run
# (pgrep -f 'avatargan.*train' empty). Uses Debian's python3-opencv.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/avatargan-crop-speed}
mkdir -p "$work"
go build -o "$work/avatargan" ./cmd/avatargan
"$work/avatargan" generate -n 200 --out "$work/avatars" >/dev/null
if [ ! -d "$work/illustrations" ]; then
	# ~1 Mpixel scenes (900-1100 px sides), JPEG and PNG, one to four faces.
	go run ./facedetect/internal/scenes/gen --faces "$work/avatars" --out "$work/illustrations" \
		-n 1000 --seed 5000 --min-side 900 --max-side 1100
fi
echo "== detector vs OpenCV, one core, the committed scenes"
go test ./facedetect -run XXX -bench DetectScenes -benchtime 3x -count 5 | grep ms/Mpixel
/usr/bin/python3 scripts/facedetect_opencv.py facedetect/testdata/scenes --timing 5
echo "== detector on one ~1 Mpixel illustration"
FACEDETECT_BENCH_IMAGE="$work/illustrations/scene-000.jpg" go test ./facedetect -run XXX -bench Detect1Mpixel -benchtime 5x -count 3 | grep ms/Mpixel
echo "== crop: 1,000 illustrations, all cores (3 runs)"
for i in 1 2 3; do
	rm -rf "$work/out"
	/usr/bin/time -f "%e s wall, %U s user" "$work/avatargan" crop --in "$work/illustrations" --out "$work/out" --all --min-face 48 | tail -1
done
