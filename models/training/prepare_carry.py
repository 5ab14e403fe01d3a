"""Copies a subset of the dataset sheets into <repo>/.carry/<dataset>/ (git-ignored) for a device call, which
carries at most 64 MiB in all (repository included). Usage: python3 prepare_carry.py faces-64 --max-mb 26"""
import argparse
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

ap = argparse.ArgumentParser()
ap.add_argument('dataset', choices=['faces-64', 'cars-128x96'])
ap.add_argument('--source', default=os.path.join(REPO, '..', 'shared', 'datasets'))
ap.add_argument('--max-mb', type=float, default=26)
args = ap.parse_args()

source = os.path.join(args.source, args.dataset)
target = os.path.join(REPO, '.carry', args.dataset)
shutil.rmtree(target, ignore_errors=True)
os.makedirs(target)
shutil.copy(os.path.join(source, 'index.csv'), target)
total = os.path.getsize(os.path.join(target, 'index.csv'))
sheets = sorted(f for f in os.listdir(source) if f.endswith('.jpg'))
copied = 0
for sheet in sheets:
    size = os.path.getsize(os.path.join(source, sheet))
    if total + size > args.max_mb * 2 ** 20:
        break
    shutil.copy(os.path.join(source, sheet), target)
    total += size
    copied += 1
print(f'{copied} of {len(sheets)} sheets ({copied * 256} images before hold-out), {total / 2 ** 20:.1f} MiB in {target}')
