#!/usr/bin/env bash
# A resumable queue of issue 17's CPU protocol (Places images shrunk to 125 px, one thread, 10
# samples): jobs RECIPE:IMAGE:SEED run one after another, with the recipes of
# bench/configs/issue17-recipes.txt. Every run folder is kept (places.py --keep-runs), so the same
# command started again after the machine or session stopped continues each run from its last
# finished stage and skips the jobs whose result file is there. Run two queues side by side to use
# two cores.
# SHRINK=full trains on the images at their own size (250 px) instead of 125 px: results in
# OUT/NAME-250/, runs in OUT/runs250/.
#   usage: [SHRINK=full] bench/places_queue.sh OUT LOGNAME "RECIPE:IMAGE:SEED ..." [PID to wait for first]
#   e.g.   nohup bench/places_queue.sh /work/bench17 F1 "faithful:4:0 faithful:5:0" &
set -u
out_root=$1; log="$1/$2.log"; jobs=$3; pid=${4:-}
size=125; shrink=(--shrink 125)
if [ "${SHRINK:-125}" = full ]; then size=250; shrink=(); fi
here=$(cd "$(dirname "$0")/.." && pwd)
data=${PLACES_DATA:-$here/../shared/data/places-open}
recipes=$here/bench/configs/issue17-recipes.txt
if [ -n "$pid" ]; then while kill -0 "$pid" 2>/dev/null; do sleep 10; done; fi
cd "$here"
for job in $jobs; do
  IFS=: read -r name img seed <<< "$job"
  line=$(grep -E "^$name( |$)" "$recipes") || { echo "no recipe $name in $recipes" >> "$log"; continue; }
  read -r -a flags <<< "${line#"$name"}"
  out=$out_root/$name-$size; [ "$name" = faithful ] && out=$out_root/consingan$size
  if ls "$out"/places-*-img"$img"-s"$seed"-*.json >/dev/null 2>&1; then continue; fi
  PYTHONPATH=src .venv/bin/python bench/places.py --data "$data" --preset consingan "${shrink[@]}" \
    --threads 1 --seed "$seed" --images "$img" --samples 10 --save-samples --out "$out" \
    --keep-runs "$out_root/runs$size/$name-s$seed" "${flags[@]}" >> "$log" 2>&1
  echo "$(date +%H:%M:%S) finished $name image $img seed $seed" >> "$log"
done
