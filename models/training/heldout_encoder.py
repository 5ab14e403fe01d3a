"""The encoder stage's held-out figure: reconstruction MSE ([-1, 1]) and SSIM of the first N held-out faces (the 100
identities of holdout-faces.txt, never trained on), encoder + generator as the bundle runs them, no refinement.
The training loss mixes real faces with generated ones, so it is not this figure; each LOG row states this one.

  /usr/bin/python3 models/training/heldout_encoder.py --gan models/training/state/faces-gan --encoder <dir with faces-encoder.pt> [--n 100]
"""
import argparse

import torch

import data
from train_encoder import assembled_checkpoint, heldout_figure, load_style_transformer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default='../shared/datasets/faces-64')
    ap.add_argument('--gan', required=True)
    ap.add_argument('--encoder', required=True, help='folder with faces-encoder.pt')
    ap.add_argument('--n', type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(1)
    enc, g, latent_avg = load_style_transformer(assembled_checkpoint('faces', args.gan, args.encoder), 'faces')
    held, _ = data.faces(args.data, 'holdout', args.n)
    mse, score = heldout_figure(enc, g, latent_avg, torch.from_numpy(held).float() / 127.5 - 1)
    steps = torch.load(f'{args.encoder}/faces-encoder.pt', map_location='cpu')['opts'].get('images_seen')
    print(f'held-out ({args.n} faces): MSE {mse:.4f} SSIM {score:.3f} (encoder at {steps:,} images)')


if __name__ == '__main__':
    main()
