#!/usr/bin/env bash
# Files a device call's outputs: weights and resume state into state/<stage>/, the sample grid into samples/,
# the log entry appended to LOG.md.   bash models/training/collect.sh <files_at folder> faces-gan
set -euo pipefail
from=$1
stage=$2
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$here/state/$stage" "$here/samples"
cp "$from/$stage.pt" "$here/state/$stage/"
if [ -f "$from/$stage-d.pt" ]; then cp "$from/$stage-d.pt" "$here/state/$stage/"; fi
n=$(ls "$here/samples" | grep -c "^$stage-" || true)
cp "$from/$stage-samples.png" "$here/samples/$stage-$((n + 1)).png"
sed "s#\`$stage-samples.png\`#\`samples/$stage-$((n + 1)).png\`#" "$from/$stage-log.md" >> "$here/LOG.md"
echo "filed $stage: state/$stage/, samples/$stage-$((n + 1)).png, LOG.md"
