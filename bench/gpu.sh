#!/usr/bin/env bash
# The GPU benchmark in one call (about 6 minutes on an H100): CUDA correctness checks, seconds
# per iteration per scale for the paper and fast presets (extrapolated to full runs), a real
# training run of the default preset, and sampling throughput. Results go to $OUT (default
# bench_out/). Run from the repository root:  bash bench/gpu.sh
set -uo pipefail
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT="${OUT:-bench_out}"
mkdir -p "$OUT"
py=python3
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $py -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
} 2>&1 | tee "$OUT/machine.txt"

echo "== correctness: graphed vs eager, cpu vs cuda"
timeout 120 $py bench/gpu_check.py 2>&1 | tee "$OUT/check.txt"

echo "== seconds per iteration per scale (10 timed iterations per scale)"
timeout 150 $py bench/train_speed.py --preset paper fast --device cuda --iters 10 \
  --graphs --json "$OUT/speed.json" 2>&1 | tee "$OUT/speed.md"

echo "== a real run of the default preset"
start=$(date +%s.%N)
timeout 120 $py -m singan train --out /tmp/gpu_fast_run --device cuda --quiet --force 2>&1 \
  | tee "$OUT/fast_run.txt"
echo "fast preset, embedded 250-px image, full training: $(echo "$(date +%s.%N) - $start" | bc) s" \
  | tee -a "$OUT/fast_run.txt"

echo "== sampling throughput"
for p in paper fast; do
  timeout 60 $py bench/sample_speed.py --preset $p --device cuda --batch 128 --seconds 8 2>&1 \
    | tee -a "$OUT/sample.txt"
done
