"""Joins an encoder stage's resume state (encoder.module.* in float16, see train_encoder.py) with its generator
(state/<domain>-gan/<domain>-gan.pt) into one checkpoint in the official Style Transformer layout, float32:
{'state_dict': encoder.module.* + decoder.module.*, 'latent_avg', 'opts'}, which `npm run convert` reads.
  python3 models/training/assemble_checkpoint.py --domain faces --gan models/training/state/faces-gan \\
      --encoder models/training/state/faces-encoder --out /tmp/faces-style-transformer.pt
"""
import argparse
import os

import torch

from train_encoder import assembled_checkpoint

ap = argparse.ArgumentParser()
ap.add_argument('--domain', choices=['faces', 'cars'], required=True)
ap.add_argument('--gan', required=True, help='folder with <domain>-gan.pt')
ap.add_argument('--encoder', required=True, help='folder with <domain>-encoder.pt')
ap.add_argument('--out', required=True)
args = ap.parse_args()

checkpoint = assembled_checkpoint(args.domain, args.gan, args.encoder)
torch.save(checkpoint, args.out)
print(f'{args.out}: {len(checkpoint["state_dict"])} tensors, {os.path.getsize(args.out) / 2 ** 20:.1f} MiB')
