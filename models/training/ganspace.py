"""Stage (CPU): GANSpace directions for a trained generator (used for cars, which have no attribute labels).

PCA of W = mapping(z) over many samples (--state, the GAN recipe), or, for a model trained as an autoencoder
(--checkpoint, train_autoencoder.py: its mapping network only makes the encoder's queries), PCA of the encoder's
codes of the training images (the mean over layers of each image's W+ code, the W an image has) -> <out>/<domain>-ganspace.pt {'comp' [K, 1, D] unit rows, 'std' [K],
'mean' [1, D]} (the encoder4editing format `npm run convert --directions` reads), and a grid per component
(-2, -1, 0, +1, +2 standard deviations on all styles) to name them: colour, pose, shape... by looking.
"""
import argparse
import os

import torch

import data
from sg2 import Generator
from st_encoder import queries
from train_encoder import load_style_transformer
from train_gan import PRESETS, save_grid

ap = argparse.ArgumentParser()
ap.add_argument('--domain', choices=['faces', 'cars'], default='cars')
ap.add_argument('--state', help='folder with <domain>-gan/')
ap.add_argument('--checkpoint', help='a Style Transformer checkpoint with encoder and decoder (<domain>-cpu.pt)')
ap.add_argument('--data', help='the dataset folder (with --checkpoint)')
ap.add_argument('--limit', type=int, default=4000, help='training images to encode (with --checkpoint)')
ap.add_argument('--out', required=True)
ap.add_argument('--samples', type=int, default=100_000)
ap.add_argument('--components', type=int, default=80)
ap.add_argument('--grids', type=int, default=12, help='components to render')
ap.add_argument('--smoke', action='store_true')
args = ap.parse_args()

torch.manual_seed(0)
preset = PRESETS['smoke' if args.smoke else args.domain]
if args.checkpoint:
    enc, g, latent_avg = load_style_transformer(args.checkpoint, args.domain, args.smoke)
    encode = lambda x: enc(x, queries(enc, g, len(x))) + latent_avg
    load = lambda split, n: torch.from_numpy((data.cars if args.domain == 'cars' else data.faces)(args.data, split, n)[0]).float() / 127.5 - 1
    with torch.no_grad():
        train = load('train', args.limit)
        w = torch.cat([encode(train[i:i + 64]).mean(1) for i in range(0, len(train), 64)])
        base_plus = encode(load('holdout', 4))
    print(f'encoded {len(w)} training images')
else:
    g = Generator(preset['size'], preset['style_dim'], preset['n_mlp'], preset['g_channels']).eval()
    g.load_state_dict(torch.load(os.path.join(args.state, f'{args.domain}-gan', f'{args.domain}-gan.pt'), map_location='cpu')['g_ema'])
    with torch.no_grad():
        w = torch.cat([g.style(torch.randn(10_000, preset['style_dim'])) for _ in range(max(1, args.samples // 10_000))])
        base_plus = None
mean = w.mean(0, keepdim=True)
k = min(args.components, preset['style_dim'])
_, s, v = torch.linalg.svd(w - mean, full_matrices=False)
comp = v[:k]  # rows are unit vectors
std = s[:k] / (len(w) - 1) ** 0.5
os.makedirs(args.out, exist_ok=True)
torch.save({'comp': comp.unsqueeze(1).contiguous(), 'std': std.contiguous(), 'mean': mean.contiguous()}, os.path.join(args.out, f'{args.domain}-ganspace.pt'))
print(f'{k} components; variance explained by the first 10: {(s[:10] ** 2).sum() / (s ** 2).sum():.2f}')
with torch.no_grad():
    if base_plus is None:
        base = g.style(torch.randn(4, preset['style_dim'], generator=torch.Generator().manual_seed(1)))
        base_plus = (mean + 0.7 * (base - mean)).unsqueeze(1).repeat(1, g.n_latent, 1)
    for i in range(min(args.grids, k)):
        rows = [g([base_plus + a * std[i] * comp[i]], input_is_latent=True, randomize_noise=False)
                for a in (-2, -1, 0, 1, 2)]
        grid = torch.stack(rows, 1).reshape(-1, *rows[0].shape[1:])  # per base: the five steps side by side
        save_grid(grid, os.path.join(args.out, f'{args.domain}-pc{i:02d}.png'), columns=5)
print('grids written; name the components by looking, then add presets to the model card')
