#!/usr/bin/env bash
# Runs one training stage on the accelerator, inside one device call (repo root is the working directory there).
#   bash models/training/device-stage.sh faces-gan 8
# Needs .carry/<dataset>/ (python3 models/training/prepare_carry.py ...) carried with the call.
# Writes the stage's outputs to $OUT; models/training/collect.sh files them here afterwards.
set -euo pipefail
stage=$1
minutes=${2:-8}
cd "$(dirname "$0")"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
case "$stage" in
  faces-gan) python3 train_gan.py --domain faces --data ../../.carry/faces-64 --out "$OUT" --resume state/faces-gan --minutes "$minutes" --batch 128 ;;
  cars-gan)  python3 train_gan.py --domain cars --data ../../.carry/cars-128x96 --out "$OUT" --resume state/cars-gan --minutes "$minutes" --batch 128 ;;
  faces-encoder) python3 train_encoder.py --domain faces --data ../../.carry/faces-64 --gan state/faces-gan --out "$OUT" --resume state/faces-encoder --minutes "$minutes" --batch 64 ;;
  cars-encoder)  python3 train_encoder.py --domain cars --data ../../.carry/cars-128x96 --gan state/cars-gan --out "$OUT" --resume state/cars-encoder --minutes "$minutes" --batch 64 ;;
  *) echo "unknown stage $stage" >&2; exit 2 ;;
esac 2>&1 | tee "$OUT/$stage-stdout.txt"
