#!/usr/bin/env bash
# The first minute on the accelerator (issue 17): train_gan.py's images/s under several settings, one after the
# other, each for PROBE_MINUTES (0.75: data loading, warm-up and 100 timed steps; a --compile needs more), from
# scratch into a scratch folder (the stage's state is not touched). Then run the stage with the fastest settings
# whose samples stay sound (device-stage.sh with FACES_GAN_OPTS=...).
#   bash models/training/probe-throughput.sh faces "" "--batch 256 --lr 0.0025" "--batch 512 --lr 0.003 --bf16" ...
# DATA overrides the carried dataset, PYTHON the interpreter (the CPU smoke run: DATA=../../../shared/datasets/faces-64
# PYTHON=/usr/bin/python3 with "--smoke ..." settings).
set -uo pipefail
domain=$1
shift
cd "$(dirname "$0")"
data=${DATA:-../../.carry/$([ "$domain" = cars ] && echo cars-128x96 || echo faces-64)}
scratch=$(mktemp -d)
for opts in "$@"; do
  # shellcheck disable=SC2086  # the options are words
  line=$("${PYTHON:-python3}" train_gan.py --domain "$domain" --data "$data" --out "$scratch" --minutes "${PROBE_MINUTES:-0.75}" \
    --checkpoint-minutes 99 $opts 2>&1 | grep -E '^(settings|throughput):' | tr '\n' ' ')
  echo "[$opts] ${line:-failed}"
done
rm -rf "$scratch"
