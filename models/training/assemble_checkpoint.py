"""Joins an encoder stage's resume state (encoder.module.* in float16, see train_encoder.py) with its generator
(state/<domain>-gan/<domain>-gan.pt) into one checkpoint in the official Style Transformer layout, float32:
{'state_dict': encoder.module.* + decoder.module.*, 'latent_avg', 'opts'}, which `npm run convert` reads.
  python3 models/training/assemble_checkpoint.py --domain faces --gan models/training/state/faces-gan \\
      --encoder models/training/state/faces-encoder --out /tmp/faces-style-transformer.pt
"""
import argparse
import os

import torch

ap = argparse.ArgumentParser()
ap.add_argument('--domain', choices=['faces', 'cars'], required=True)
ap.add_argument('--gan', required=True, help='folder with <domain>-gan.pt')
ap.add_argument('--encoder', required=True, help='folder with <domain>-encoder.pt')
ap.add_argument('--out', required=True)
args = ap.parse_args()

gan = torch.load(os.path.join(args.gan, f'{args.domain}-gan.pt'), map_location='cpu')
encoder = torch.load(os.path.join(args.encoder, f'{args.domain}-encoder.pt'), map_location='cpu')
state_dict = {k: v.float() if v.is_floating_point() else v for k, v in encoder['state_dict'].items()}
state_dict.update({f'decoder.module.{k}': v for k, v in gan['g_ema'].items()})
torch.save({'state_dict': state_dict, 'latent_avg': encoder['latent_avg'], 'opts': encoder['opts']}, args.out)
print(f'{args.out}: {len(state_dict)} tensors, {os.path.getsize(args.out) / 2 ** 20:.1f} MiB')
