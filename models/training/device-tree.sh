#!/usr/bin/env bash
# A device call carries the whole working tree, and ours (the shipped bundles, fixtures, the CPU models' state) is
# over the 64 MiB a call may carry. This puts the checkout on a throw-away branch that holds only the training
# scripts and the resume state the stage reads, and says how many MiB of dataset sheets still fit.
#   bash models/training/device-tree.sh enter faces-gan    # then prepare_carry.py, the device run(s)
#   bash models/training/device-tree.sh enter "faces-gan cars-gan"   # stages that run side by side
#   bash models/training/device-tree.sh leave              # back on main; then collect.sh
# Files a run brings back stay under the device's files_at folder; copy them into state/<stage>/ before a second,
# resuming call (they travel as untracked files) and remove that copy before `leave`.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
branch=device-tree
case "${1:-}" in
  enter)
    stages=${2:?stage(s): faces-gan, cars-gan, faces-encoder or cars-encoder; several in one quoted list}
    keep=()
    for stage in $stages; do
      case "$stage" in
        faces-gan) keep+=(state/faces-gan) ;;
        cars-gan) keep+=(state/cars-gan) ;;
        faces-encoder) keep+=(state/faces-gan state/faces-encoder) ;;
        cars-encoder) keep+=(state/cars-gan state/cars-encoder) ;;
        *) echo "unknown stage $stage" >&2; exit 2 ;;
      esac
    done
    if [ -n "$(git status --porcelain --untracked-files=normal)" ]; then
      echo "commit or stash first: the tree must be clean to switch branches" >&2; exit 1
    fi
    git checkout -q -b "$branch"
    pattern="^models/training/(state/($(IFS='|'; echo "${keep[*]#state/}"))/|[^/]+$)"
    git ls-files | grep -Ev "$pattern" | xargs git rm -q --
    git commit -qm "device call tree for $stages (throw-away, never merged)"
    bytes=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
    echo "on $branch: $(git ls-files | wc -l) files, $((bytes / 1048576)) MiB; room for dataset sheets:" \
         "python3 models/training/prepare_carry.py <dataset> --max-mb $(( (64 * 1048576 - bytes) / 1048576 - 1 ))"
    ;;
  leave)
    git checkout -q main
    git branch -D "$branch"
    ;;
  *) echo "usage: device-tree.sh enter <stage> | leave" >&2; exit 2 ;;
esac
