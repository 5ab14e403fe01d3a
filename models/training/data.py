"""The training images: JPEG contact sheets (16 x 16 tiles) from ../shared/datasets, never committed.

Faces: 100 identities (500 faces) are held out for evaluation, chosen once with a fixed seed and listed in
holdout-faces.txt; training never sees them.
"""
import csv
import os
import random

import numpy as np

try:
    from PIL import Image
except ImportError:  # the accelerator machine may have torchvision but not Pillow
    Image = None

HERE = os.path.dirname(os.path.abspath(__file__))
HOLDOUT_FILE = os.path.join(HERE, 'holdout-faces.txt')


def read_index(folder):
    with open(os.path.join(folder, 'index.csv'), newline='') as f:
        return list(csv.DictReader(f))


def holdout_identities(rows, count=100, seed=2026):
    """The held-out identities: read from holdout-faces.txt, or chosen (and written) the first time."""
    if os.path.exists(HOLDOUT_FILE):
        with open(HOLDOUT_FILE) as f:
            return {line.strip() for line in f if line.strip() and not line.startswith('#')}
    identities = sorted({r['identity'] for r in rows}, key=int)
    chosen = sorted(random.Random(seed).sample(identities, count), key=int)
    with open(HOLDOUT_FILE, 'w') as f:
        f.write('# CelebA identities held out from every training stage (faces-64), for evaluation only\n')
        f.write('\n'.join(chosen) + '\n')
    return set(chosen)


def load_tiles(folder, rows, tile_hw):
    """Decodes the tiles of `rows` into uint8 [N, 3, H, W]; each sheet is opened once."""
    h, w = tile_hw
    out = np.empty((len(rows), 3, h, w), dtype=np.uint8)
    by_sheet = {}
    for i, r in enumerate(rows):
        by_sheet.setdefault(r['sheet'], []).append((i, int(r['slot'])))
    for sheet, items in by_sheet.items():
        path = os.path.join(folder, _sheet_file(sheet))
        image = _decode_jpeg(path)
        for i, slot in items:
            y, x = (slot // 16) * h, (slot % 16) * w
            out[i] = image[y:y + h, x:x + w].transpose(2, 0, 1)
    return out


def faces(folder, split='train', limit=None):
    """uint8 [N, 3, 64, 64] and the rows (with the 40 attributes) of the training or held-out faces."""
    rows = read_index(folder)
    held = holdout_identities(rows)
    rows = [r for r in rows if (r['identity'] in held) == (split == 'holdout')]
    available = {f for f in os.listdir(folder)}
    rows = [r for r in rows if _sheet_file(r['sheet']) in available]
    if limit:
        rows = rows[:limit]
    return load_tiles(folder, rows, (64, 64)), rows


def cars(folder, split='train', limit=None, holdout=200):
    """uint8 [N, 3, 96, 128]: the last `holdout` images (by index order, fixed) are held out."""
    rows = read_index(folder)
    rows = rows[:-holdout] if split == 'train' else rows[-holdout:]
    available = {f for f in os.listdir(folder)}
    rows = [r for r in rows if _sheet_file(r['sheet']) in available]
    if limit:
        rows = rows[:limit]
    return load_tiles(folder, rows, (96, 128)), rows


def _decode_jpeg(path):
    if Image is not None:
        return np.asarray(Image.open(path).convert('RGB'))
    import torch
    from torchvision.io import decode_jpeg, read_file
    return decode_jpeg(read_file(path)).permute(1, 2, 0).numpy()


def save_png(array_hwc, path):
    if Image is not None:
        Image.fromarray(array_hwc).save(path)
    else:
        import torch
        from torchvision.io import write_png
        write_png(torch.from_numpy(array_hwc).permute(2, 0, 1).contiguous(), path)


def _sheet_file(sheet):
    return sheet if sheet.endswith('.jpg') else f'sheet-{int(sheet):03d}.jpg'
