"""Stage: the StyleGAN2 generator (faces 64x64 or cars 128x128 with the picture in the middle 96 rows).

Recipe: rosinality's StyleGAN2 (non-saturating loss, lazy R1 every 16 steps, style mixing 0.9, EMA generator,
Adam lr 0.002 betas (0, 0.99)), narrowed widths; augmentation: horizontal flips. No path-length regulariser (it
buys little at 64 px and costs a third of the step time). Time-boxed: it trains for --minutes, and every
--checkpoint-minutes (2) and at the end writes
  <out>/<name>.pt           {'g_ema', 'latent_avg'}: the rosinality layout that `npm run convert` reads
  <out>/<name>-d.pt         {'d' (bfloat16), step, images, history}: with <name>.pt, the resume state
Resuming restarts g from g_ema and Adam from zero: with beta1 = 0 Adam keeps no momentum, and its second moment
re-settles in a few hundred steps. That keeps the resume state small enough to commit and to carry to the
accelerator (64 MiB per call, data included).
  <out>/<name>-samples.png  a sample grid (fixed z, truncation 0.7)
  <out>/<name>-log.md       the LOG.md entry (stage, device, steps, images seen, minutes, losses)
Resume with --resume <dir holding the parts>.
"""
import argparse
import json
import math
import os
import random
import time

import numpy as np
import torch
from torch.nn import functional as F

import data
from sg2 import Discriminator, Generator

PRESETS = {
    'faces': dict(size=64, style_dim=256, n_mlp=4, g_channels={4: 256, 8: 256, 16: 128, 32: 64, 64: 32},
                  d_channels={4: 256, 8: 256, 16: 128, 32: 64, 64: 32}),
    'cars': dict(size=128, style_dim=256, n_mlp=4, g_channels={4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16},
                 d_channels={4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16}),
    # The CPU smoke run: the same code on a few images and small widths.
    'smoke': dict(size=64, style_dim=32, n_mlp=2, g_channels={4: 32, 8: 32, 16: 32, 32: 16, 64: 8},
                  d_channels={4: 32, 8: 32, 16: 32, 32: 16, 64: 8}),
}
def save_grid(images, path, columns=8):
    x = ((images.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    n, h, w, _ = x.shape
    rows = math.ceil(n / columns)
    grid = np.zeros((rows * h, columns * w, 3), dtype=np.uint8)
    for i in range(n):
        grid[(i // columns) * h:(i // columns + 1) * h, (i % columns) * w:(i % columns + 1) * w] = x[i]
    data.save_png(grid, path)


def stage_arguments(batch, limit_help=None):
    """The options every time-boxed training stage takes (train_gan, train_encoder, train_autoencoder)."""
    ap = argparse.ArgumentParser()
    ap.add_argument('--domain', choices=['faces', 'cars'], default='faces')
    ap.add_argument('--data', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--resume')
    ap.add_argument('--minutes', type=float, default=8)
    ap.add_argument('--batch', type=int, default=batch)
    ap.add_argument('--limit', type=int, help=limit_help)
    ap.add_argument('--smoke', action='store_true', help='tiny widths, for the CPU proof run')
    return ap


def learning_rate(args, progress):
    """The rate at this fraction of the run's minutes: time, not steps, because a run is sized in minutes."""
    if args.lr_end is None:
        return args.lr
    return args.lr_end + 0.5 * (args.lr - args.lr_end) * (1 + math.cos(math.pi * min(1.0, progress)))


def training_device():
    """('cuda' or 'cpu', its name for the log)."""
    if torch.cuda.is_available():
        return 'cuda', torch.cuda.get_device_name(0)
    return 'cpu', f'CPU ({os.cpu_count()} cores)'


class Throughput:
    """Images per second over `steps` training steps after `warmup` steps (cuDNN's autotuning and the first R1 step
    would otherwise dominate: the first device run reported 118 img/s while it averaged about 1,230), printed once."""

    def __init__(self, device, batch, steps=100, warmup=20):
        self.device, self.batch, self.steps, self.warmup = device, batch, steps, warmup
        self.count, self.started, self.rate = 0, None, None

    def step(self):
        self.count += 1
        if self.count == self.warmup:
            if self.device == 'cuda':
                torch.cuda.synchronize()
            self.started = time.time()
        if self.count == self.warmup + self.steps:
            if self.device == 'cuda':
                torch.cuda.synchronize()
            self.rate = self.steps * self.batch / (time.time() - self.started)
            print(f'throughput: {self.rate:.1f} images/s', flush=True)


def finish_run(out, name, smoke, device_name, steps_this_run, step, seen, minutes, rate, losses, files):
    """Writes the stage's LOG.md row to <out>/<name>-log.md and prints it with the output sizes and a summary."""
    entry = (f'| {time.strftime("%Y-%m-%d")} | {name}{" (smoke)" if smoke else ""} | {device_name} | '
             f'{steps_this_run} steps (total {step}) | {seen:,} images seen in all | {minutes:.1f} min | '
             f'{rate or 0:.0f} img/s | {losses} | `{name}-samples.png` |\n')
    with open(os.path.join(out, f'{name}-log.md'), 'w') as f:
        f.write(entry)
    print(entry, end='')
    for file in files:
        print(f'{file}: {os.path.getsize(os.path.join(out, file)) / 2 ** 20:.1f} MiB', flush=True)
    print(json.dumps({'step': step, 'images': seen, 'minutes': round(minutes, 2)}))


def load_images(domain, folder, limit):
    if domain == 'cars':
        tiles, _ = data.cars(folder, 'train', limit)
        # 128x96 pictures in the middle band of a 128x128 square; the bands outside are not supervised (zeros).
        square = np.zeros((tiles.shape[0], 3, 128, 128), dtype=np.uint8)
        square[:, :, 16:112] = tiles
        return square
    tiles, _ = data.faces(folder, 'train', limit)
    return tiles


def main():
    ap = stage_arguments(64, 'use only the first N training images')
    ap.add_argument('--name')
    ap.add_argument('--checkpoint-minutes', type=float, default=2)
    # Throughput (issue 17): at 64 px a step is launch-bound on an H100; these are measured in the first minute on
    # the accelerator (probe-throughput.sh) and the best kept. Defaults are the recipe as trained so far.
    ap.add_argument('--lr', type=float, default=0.002, help='Adam rate (StyleGAN2-ADA raises it with the batch)')
    ap.add_argument('--ema-kimg', type=float, default=10, help="g_ema's half-life in thousands of images (ADA: batch * 10 / 32)")
    ap.add_argument('--bf16', action='store_true', help='bfloat16 autocast for the G and D passes of the losses (R1 stays float32)')
    ap.add_argument('--channels-last', action='store_true', help='NHWC memory format for G, D and the batches')
    ap.add_argument('--compile', action='store_true', help='torch.compile for the losses\' G and D passes (torch >= 2; R1 runs eagerly: it needs double backward)')
    ap.add_argument('--r1-fraction', type=float, default=1.0, help='R1 on this fraction of the real batch (its mean estimates the same penalty)')
    args = ap.parse_args()

    started = time.time()
    device, device_name = training_device()
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    preset = PRESETS['smoke' if args.smoke else args.domain]
    name = args.name or f'{args.domain}-gan'
    os.makedirs(args.out, exist_ok=True)

    images = torch.from_numpy(load_images(args.domain, args.data, args.limit)).to(device)
    print(f'{len(images)} training images on {device_name}; loaded in {time.time() - started:.0f} s', flush=True)

    size = preset['size']
    g = Generator(size, preset['style_dim'], preset['n_mlp'], preset['g_channels']).to(device)
    g_ema = Generator(size, preset['style_dim'], preset['n_mlp'], preset['g_channels']).to(device).eval()
    d = Discriminator(size, preset['d_channels']).to(device)
    g_ema.load_state_dict(g.state_dict())
    d_reg_every, r1_gamma = 16, 0.1 if size <= 64 else 0.2
    d_ratio = d_reg_every / (d_reg_every + 1)
    # Fused Adam (one kernel for all parameters) where this torch offers it on the GPU.
    fused = {'fused': True} if device == 'cuda' and 'fused' in torch.optim.Adam.__init__.__code__.co_varnames else {}
    g_optim = torch.optim.Adam(g.parameters(), lr=args.lr, betas=(0.0, 0.99), **fused)
    d_optim = torch.optim.Adam(d.parameters(), lr=args.lr * d_ratio, betas=(0.0, 0.99 ** d_ratio), **fused)
    step, seen, history = 0, 0, []
    if args.resume and os.path.exists(os.path.join(args.resume, f'{name}-d.pt')):
        generator = torch.load(os.path.join(args.resume, f'{name}.pt'), map_location='cpu')
        state = torch.load(os.path.join(args.resume, f'{name}-d.pt'), map_location='cpu')
        g.load_state_dict(generator['g_ema'])
        g_ema.load_state_dict(generator['g_ema'])
        d.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state['d'].items()})
        step, seen, history = state['step'], state['images'], state.get('history', [])
        print(f'resumed at step {step}, {seen} images seen', flush=True)

    batch = args.batch
    ema_decay = 0.5 ** (batch / (args.ema_kimg * 1000))
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    if args.channels_last:  # the 4-D parameters (the modulated convolutions' weights are 5-D, made per sample)
        for module in (g, g_ema, d):
            for p in module.parameters():
                if p.dim() == 4:
                    p.data = p.data.contiguous(memory_format=torch.channels_last)
    # Compiled callables for the loss passes; the modules themselves are what is saved and what R1 differentiates.
    can_compile = args.compile and hasattr(torch, 'compile')
    if args.compile and not can_compile:
        print('--compile: this torch has no torch.compile; running eagerly', flush=True)
    g_pass = torch.compile(g) if can_compile else g
    d_pass = torch.compile(d) if can_compile else d
    autocast = lambda: torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=args.bf16)  # noqa: E731
    r1_batch = max(1, round(batch * args.r1_fraction))
    settings = (f'batch {batch}, lr {args.lr:g}, EMA {args.ema_kimg:g}k' + (', bf16' if args.bf16 else '')
                + (', channels-last' if args.channels_last else '') + (', compiled' if can_compile else '')
                + (', fused Adam' if fused else '') + (f', R1 on {r1_batch}' if r1_batch < batch else ''))
    print(f'settings: {settings}', flush=True)
    sample_z = torch.randn(32, preset['style_dim'], generator=torch.Generator().manual_seed(0)).to(device)
    budget = args.minutes * 60
    losses = {'r1': 0.0}
    throughput = Throughput(device, batch)
    session_start_step = step
    ema_params, g_params = list(g_ema.parameters()), list(g.parameters())

    def mixed_noise():
        if random.random() < 0.9:
            return list(torch.randn(2, batch, preset['style_dim'], device=device).unbind(0))
        return [torch.randn(batch, preset['style_dim'], device=device)]

    def real_batch():
        idx = torch.randint(0, len(images), (batch,), device=device)
        x = images[idx].float() / 127.5 - 1
        flip = torch.rand(batch, device=device) < 0.5
        return torch.where(flip[:, None, None, None], x.flip(3), x).contiguous(memory_format=memory_format)

    def checkpoint():
        """Writes weights, resume state, samples and the log row: every few minutes, so that a device call cut off
        at its time limit still brings back what it trained."""
        minutes = (time.time() - started) / 60
        with torch.no_grad():
            latent_avg = g_ema.mean_latent(8192)
            w = g_ema.style(sample_z)
            samples = g_ema([latent_avg + 0.7 * (w - latent_avg)], randomize_noise=False)
        torch.save({'g_ema': {k: v.cpu() for k, v in g_ema.state_dict().items()}, 'latent_avg': latent_avg.cpu(),
                    'config': {k: v for k, v in preset.items()}}, os.path.join(args.out, f'{name}.pt'))
        torch.save({'d': {k: v.to(torch.bfloat16).cpu() if v.is_floating_point() else v.cpu() for k, v in d.state_dict().items()},
                    'step': step, 'images': seen, 'history': history}, os.path.join(args.out, f'{name}-d.pt'))
        save_grid(samples, os.path.join(args.out, f'{name}-samples.png'))
        last = history[-1] if history else [step, seen, round(d_loss.item(), 4), round(g_loss.item(), 4), round(losses['r1'], 4)]
        finish_run(args.out, name, args.smoke, f'{device_name} ({settings})', step - session_start_step, step, seen, minutes,
                   throughput.rate, f'd {last[2]} g {last[3]} r1 {last[4]}', [f'{name}.pt', f'{name}-d.pt'])

    last_checkpoint = time.time()
    while time.time() - started < budget:
        real = real_batch()
        # discriminator
        g.requires_grad_(False); d.requires_grad_(True)
        with autocast():
            fake = g_pass(mixed_noise())
            d_loss = (F.softplus(d_pass(fake)).float().mean() + F.softplus(-d_pass(real)).float().mean())
        d_optim.zero_grad(set_to_none=True)
        d_loss.backward()
        d_optim.step()
        if step % d_reg_every == 0:
            real_r1 = real[:r1_batch].detach().requires_grad_(True)
            pred = d(real_r1)
            grad, = torch.autograd.grad(pred.sum(), real_r1, create_graph=True)
            r1 = grad.pow(2).reshape(r1_batch, -1).sum(1).mean()
            d_optim.zero_grad(set_to_none=True)
            (r1_gamma / 2 * r1 * d_reg_every + 0 * pred[0]).sum().backward()
            d_optim.step()
            losses['r1'] = r1.item()
        # generator
        g.requires_grad_(True); d.requires_grad_(False)
        with autocast():
            g_loss = F.softplus(-d_pass(g_pass(mixed_noise()))).float().mean()
        g_optim.zero_grad(set_to_none=True)
        g_loss.backward()
        g_optim.step()
        with torch.no_grad():
            # One fused call instead of a Python loop over ~100 tensors: at 64 px the GPU step is launch-bound.
            # (Debian's torch 1.13, used for the CPU smoke run, has no _foreach_lerp_.)
            if hasattr(torch, '_foreach_lerp_'):
                torch._foreach_lerp_(ema_params, g_params, 1 - ema_decay)
            else:
                for pe, p in zip(ema_params, g_params):
                    pe.lerp_(p, 1 - ema_decay)
        step += 1
        seen += batch
        throughput.step()
        if step % 200 == 0:
            print(f'step {step} images {seen} d {d_loss.item():.3f} g {g_loss.item():.3f} r1 {losses["r1"]:.3f} '
                  f'{time.time() - started:.0f} s', flush=True)
            history.append([step, seen, round(d_loss.item(), 4), round(g_loss.item(), 4), round(losses['r1'], 4)])
            if time.time() - last_checkpoint > args.checkpoint_minutes * 60:
                checkpoint()
                last_checkpoint = time.time()

    checkpoint()


if __name__ == '__main__':
    main()
