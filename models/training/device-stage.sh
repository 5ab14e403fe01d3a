#!/usr/bin/env bash
# Runs training stages on the accelerator inside one device call (repo root is the working directory there); several
# stages run side by side as separate processes (at 64-128 px one stage leaves most of an H100 idle).
#   bash models/training/device-stage.sh faces-gan 8
#   bash models/training/device-stage.sh "faces-gan cars-gan" 8
# Each stage's script gets <STAGE>_OPTS too, e.g. FACES_GAN_OPTS="--batch 256 --lr 0.0025 --bf16" (the settings
# probe-throughput.sh found fastest); later options override the defaults below.
# Needs .carry/<dataset>/ (python3 models/training/prepare_carry.py ...) carried with the call.
# Writes each stage's outputs to $OUT (and its output to $OUT/<stage>-stdout.txt); collect.sh files them afterwards.
set -uo pipefail
stages=$1
minutes=${2:-8}
cd "$(dirname "$0")"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'

run_stage() {
  local stage=$1 opts_var
  opts_var="$(echo "$stage" | tr 'a-z-' 'A-Z_')_OPTS"
  local extra=${!opts_var:-}
  # shellcheck disable=SC2086  # the options are words
  case "$stage" in
    faces-gan) python3 train_gan.py --domain faces --data ../../.carry/faces-64 --out "$OUT" --resume state/faces-gan --minutes "$minutes" --batch 128 $extra ;;
    cars-gan)  python3 train_gan.py --domain cars --data ../../.carry/cars-128x96 --out "$OUT" --resume state/cars-gan --minutes "$minutes" --batch 128 $extra ;;
    faces-encoder) python3 train_encoder.py --domain faces --data ../../.carry/faces-64 --gan state/faces-gan --out "$OUT" --resume state/faces-encoder --minutes "$minutes" --batch 64 $extra ;;
    cars-encoder)  python3 train_encoder.py --domain cars --data ../../.carry/cars-128x96 --gan state/cars-gan --out "$OUT" --resume state/cars-encoder --minutes "$minutes" --batch 64 $extra ;;
    *) echo "unknown stage $stage" >&2; return 2 ;;
  esac
}

pids=()
for stage in $stages; do
  run_stage "$stage" > "$OUT/$stage-stdout.txt" 2>&1 &
  pids+=("$!")
  echo "started $stage (pid $!)"
done
status=0
set -- $stages
for pid in "${pids[@]}"; do
  if wait "$pid"; then echo "$1 finished"; else code=$?; echo "$1 failed ($code)"; status=1; fi
  tail -n 4 "$OUT/$1-stdout.txt"
  shift
done
exit $status
