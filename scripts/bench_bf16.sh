#!/usr/bin/env bash
# bench_bf16.sh: the speed and sanity figures of issue 11 (bf16 mixed precision),
# to run on a quiet machine. Every speed figure is a median of one run, with the
# register-only peaks and the PyTorch anchor measured in the same run.
#
#   scripts/bench_bf16.sh [DATA_DIR]     (DATA_DIR: a folder of face images, for the
#                                         50-step sanity check; skipped without one)
# Env: REPS (default 7), OUT (default bench-bf16-<time>), THREADS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-7}
THREADS=${THREADS:-2}
OUT=${OUT:-bench-bf16-$(date +%Y%m%d-%H%M%S)}
DATA=${1:-}
mkdir -p "$OUT"

if pgrep -f 'avatargan.*train' >/dev/null; then
	echo "warning: a training run is active (pgrep -f 'avatargan.*train'); speed figures would be meaningless" >&2
	[ "${FORCE:-}" = 1 ] || { echo "set FORCE=1 to run anyway" >&2; exit 1; }
fi

go build -o "$OUT/avatargan" ./cmd/avatargan
{ grep -m1 'model name' /proc/cpuinfo || true; nproc; go version; git rev-parse --short HEAD; } | tee "$OUT/machine.txt"

# 1. Peaks and GEMMs from one test process: BenchmarkPeak's subtests run back to back,
#    so fp32 (zmm) vs bf16zmm is a fair ratio; BenchmarkGemmBF16 against bf16zmm is the
#    ">= 85% of the bf16 peak" target, BenchmarkSgemm the F32 figures of the same shapes.
go test ./internal/gemm -run '^$' -bench 'Peak|Sgemm/conv|GemmBF16/conv' -benchtime 20x -count 3 \
	| tee "$OUT/gemm.txt"

# 2. avatargan bench, both precisions (GEMM % of the same run's peak, layers, training,
#    generator inference at batch 1 and 64, HTTP at 1/8/32 clients).
GOMAXPROCS=$THREADS "$OUT/avatargan" bench --reps "$REPS" --precision f32,bf16 | tee "$OUT/bench.txt"

# 3. The PyTorch anchor: oneDNN for every convolution (ConvTranspose2d as the adjoint of
#    Conv2d), jemalloc/tcmalloc when installed (apt-get install libjemalloc2), 2 threads.
/usr/bin/python3 scripts/pytorch_anchor.py --threads "$THREADS" --reps "$REPS" | tee "$OUT/anchor.txt"

# 4. Sanity of mixed precision on real data: the same 50 steps (seed, data, latents) in
#    f32 and bf16; the losses should stay close (a few % after 50 steps).
if [ -n "$DATA" ]; then
	for p in f32 bf16; do
		GOMAXPROCS=$THREADS "$OUT/avatargan" train --data "$DATA" --out "$OUT/sanity-$p" \
			--max-steps 50 --sample-every 50 --checkpoint-every 50 --precision "$p" >"$OUT/sanity-$p.log"
	done
	python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
rec = {p: [json.loads(l) for l in open(f"{out}/sanity-{p}/metrics.jsonl")] for p in ("f32", "bf16")}
print("step   d_loss f32   bf16    g_loss f32   bf16    img/s f32  bf16")
for a, b in zip(rec["f32"], rec["bf16"]):
    if a["step"] in (1, 2, 5, 10, 20, 30, 40, 50):
        print(f"{a['step']:4d}   {a['d_loss']:8.4f} {b['d_loss']:8.4f}   {a['g_loss']:8.4f} {b['g_loss']:8.4f}   "
              f"{a['images_per_s']:7.1f} {b['images_per_s']:7.1f}")
m = lambda p, k: sum(r[k] for r in rec[p][-10:]) / 10
print(f"mean of the last 10 steps: d_loss f32 {m('f32','d_loss'):.4f} bf16 {m('bf16','d_loss'):.4f}; "
      f"g_loss f32 {m('f32','g_loss'):.4f} bf16 {m('bf16','g_loss'):.4f}")
PY
fi | tee "$OUT/sanity.txt"
echo "results in $OUT/"
