#!/usr/bin/env bash
# The GPU benchmark in one call (about 6 minutes on an H100/H200), from the repository root:
#   bash bench/gpu.sh                      # embedded 250-px landscape
#   IMAGE=photo.jpg bash bench/gpu.sh      # another training image
# 1. CUDA checks (run-to-run noise, CUDA graphs against the same arithmetic run eagerly);
# 2. a real training run of the paper preset (2000 iterations x every scale) and samples of it;
# 3. seconds per iteration per scale for paper and fast, and peak memory;
# 4. a real run of the fast preset; 5. sampling throughput; 6. optionally a sweep of configs.
# Everything is written to $OUT (default bench_out/).
set -uo pipefail
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT="${OUT:-bench_out}"
IMAGE="${IMAGE:-}"
mkdir -p "$OUT"
py=python3
secs() { $py -c "import time; print(round(time.time() - $1, 1))"; }
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $py -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
} 2>&1 | tee "$OUT/machine.txt"

echo "== 1. checks"
timeout 100 $py bench/gpu_check.py 2>&1 | tee "$OUT/check.txt"

echo "== 2. paper preset, full training"
t=$(date +%s.%N)
timeout "${PAPER_TIMEOUT:-240}" $py -m singan train $IMAGE --preset paper --out /tmp/gpu_paper \
  --device cuda --quiet --force
rc=$?
echo "paper preset, full training: $(secs "$t") s (exit status $rc)" | tee "$OUT/paper_run.txt"
cp /tmp/gpu_paper/log.txt "$OUT/paper_log.txt" 2>/dev/null
$py -m singan sample /tmp/gpu_paper --num 10 --out /tmp/gpu_paper/samples --device cuda --quiet \
  && tar cf "$OUT/paper_samples.tar" -C /tmp/gpu_paper samples

echo "== 3. seconds per iteration per scale (12 timed iterations per scale, CUDA graphs)"
timeout 120 $py bench/train_speed.py --preset paper fast --device cuda --iters 12 --graphs \
  ${IMAGE:+--image $IMAGE} --json "$OUT/speed.json" 2>&1 | tee "$OUT/speed.md"

echo "== 4. fast preset, full training"
t=$(date +%s.%N)
timeout 120 $py -m singan train $IMAGE --preset fast --out /tmp/gpu_fast --device cuda --quiet \
  --force
echo "fast preset, full training: $(secs "$t") s" | tee "$OUT/fast_run.txt"
cp /tmp/gpu_fast/log.txt "$OUT/fast_log.txt" 2>/dev/null

echo "== 5. sampling throughput"
for p in paper fast; do
  timeout 40 $py bench/sample_speed.py --preset $p --device cuda --batch 128 --seconds 5 \
    ${IMAGE:+--image $IMAGE} 2>&1 | tee -a "$OUT/sample.txt"
done

# 6. optional: configurations to compare, trained in parallel (SWEEP=configs.json,
#    SWEEP_IMAGES=folder); their samples come back as sweep.tar.
if [ -n "${SWEEP:-}" ]; then
  echo "== 6. sweep $SWEEP"
  timeout "${SWEEP_TIMEOUT:-120}" $py bench/sweep.py --images "$SWEEP_IMAGES" --configs "$SWEEP" \
    --device cuda --workers "${SWEEP_WORKERS:-8}" --samples 10 --graphs --out /tmp/gpu_sweep \
    2>&1 | tee "$OUT/sweep.log"
  tar cf "$OUT/sweep.tar" -C /tmp gpu_sweep
fi
