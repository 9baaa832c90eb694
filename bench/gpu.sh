#!/usr/bin/env bash
# The GPU benchmark in one call, from the repository root (about 7 minutes on an H100/H200 with
# the default stages):
#   bash bench/gpu.sh                                  # embedded 250-px landscape
#   IMAGE=photo.jpg bash bench/gpu.sh                  # another training image
#   STAGES="fast sweep speed" SWEEP=c.json SWEEP_IMAGES=dir bash bench/gpu.sh
# Stages, run in this order when named in STAGES (default "check paper fast speed sample"):
#   check   CUDA checks (run-to-run noise, CUDA graphs against the same arithmetic run eagerly);
#   paper   a real training run of the paper preset (2000 iterations x every scale), and samples;
#   fast    a real run of the fast preset with `singan train`;
#   sweep   configurations trained in parallel (SWEEP=configs.json, SWEEP_IMAGES=folder; see
#           bench/sweep.py) under the CUDA MPS daemon when it starts, so that the workers' small
#           kernels run side by side; each configuration's samples come back as sweep-NAME.tar;
#   speed   seconds per iteration per scale and peak memory (SPEED_ARGS, default paper and fast,
#           12 timed iterations per scale, CUDA graphs; SPEED_BENCH=1: again with
#           cudnn.benchmark on);
#   sample  sampling throughput.
# Text goes to $OUT/gpu.log (default OUT=bench_out), tables also to $OUT/*.json.
set -uo pipefail
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT="${OUT:-bench_out}"
IMAGE="${IMAGE:-}"
DEVICE="${DEVICE:-cuda}"  # cpu only to try the script out
STAGES=" ${STAGES:-check paper fast speed sample} "
SPEED_ARGS="${SPEED_ARGS:---preset paper fast --iters 12 --graphs}"
mkdir -p "$OUT"
LOG="$OUT/gpu.log"
py=python3
secs() { $py -c "import time; print(round(time.time() - $1, 1))"; }
has() { [[ "$STAGES" == *" $1 "* ]]; }
# train_run PRESET TIMEOUT: a real `singan train` run into /tmp/gpu_PRESET, timed
train_run() {
  echo "== $1: $1 preset, full training"
  local t rc
  t=$(date +%s.%N)
  timeout "$2" $py -m singan train $IMAGE --preset "$1" --out "/tmp/gpu_$1" --device "$DEVICE" \
    --quiet --force
  rc=$?
  echo "$1 preset, full training: $(secs "$t") s including process start (exit status $rc)"
  tail -5 "/tmp/gpu_$1/log.txt" 2>/dev/null
}
exec > >(tee -a "$LOG") 2>&1
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$py -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA')"
echo "stages:$STAGES"

if has check; then
  echo "== check: CUDA checks"
  timeout 100 $py bench/gpu_check.py
fi

if has paper; then
  train_run paper "${PAPER_TIMEOUT:-240}"
  $py -m singan sample /tmp/gpu_paper --num 10 --out /tmp/gpu_paper/samples --device "$DEVICE" --quiet \
    && tar cf "$OUT/paper_samples.tar" -C /tmp/gpu_paper samples
fi

if has fast; then
  train_run fast "${FAST_TIMEOUT:-150}"
fi

if has sweep && [ -n "${SWEEP:-}" ]; then
  echo "== sweep: $SWEEP on ${SWEEP_IMAGES:-}"
  workers="${SWEEP_WORKERS_NO_MPS:-3}"
  export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps_pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps_log
  mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
  mps=0
  if command -v nvidia-cuda-mps-control >/dev/null && nvidia-cuda-mps-control -d; then
    if timeout 60 $py -c "import torch; torch.ones(1, device='cuda').sum().item()"; then
      mps=1; workers="${SWEEP_WORKERS:-12}"
    else
      echo quit | nvidia-cuda-mps-control
    fi
  fi
  echo "MPS: $mps, workers: $workers"
  t=$(date +%s.%N)
  timeout "${SWEEP_TIMEOUT:-240}" $py bench/sweep.py --images "$SWEEP_IMAGES" --configs "$SWEEP" \
    --device "$DEVICE" --workers "$workers" --samples 10 --graphs --out /tmp/gpu_sweep
  rc=$?
  echo "sweep: $(secs "$t") s (exit status $rc)"
  pkill -f multiprocessing.spawn && sleep 3  # workers of a sweep cut by its time limit
  [ "$mps" = 1 ] && echo quit | nvidia-cuda-mps-control
  cp /tmp/gpu_sweep/sweep.jsonl "$OUT/" 2>/dev/null
  for d in /tmp/gpu_sweep/*/; do
    [ -d "$d" ] && tar cf "$OUT/sweep-$(basename "$d").tar" -C /tmp/gpu_sweep "$(basename "$d")"
  done
fi

if has speed; then
  echo "== speed: seconds per iteration per scale"
  # shellcheck disable=SC2086
  timeout "${SPEED_TIMEOUT:-120}" $py bench/train_speed.py $SPEED_ARGS \
    ${IMAGE:+--image $IMAGE} --device "$DEVICE" --json "$OUT/speed.json"
  if [ "${SPEED_BENCH:-0}" = 1 ]; then
    echo "-- again with cudnn.benchmark"
    # shellcheck disable=SC2086
    timeout "${SPEED_TIMEOUT:-120}" $py bench/train_speed.py $SPEED_ARGS \
      ${IMAGE:+--image $IMAGE} --device "$DEVICE" --cudnn-benchmark --json "$OUT/speed_bench.json"
  fi
fi

if has sample; then
  echo "== sample: sampling throughput"
  for p in paper fast; do
    timeout 40 $py bench/sample_speed.py --preset $p --device "$DEVICE" --batch 128 --seconds 5 \
      ${IMAGE:+--image $IMAGE}
  done
fi
echo "done: $(date -u)"
