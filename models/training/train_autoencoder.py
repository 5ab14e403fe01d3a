"""Stage `<domain>-cpu`: the interim demo model a machine without an accelerator can train.

A GAN needs ~10^6 images seen; this machine's two cores train ~7 images/s through G and D, so the GAN stages wait
for the accelerator (train_gan.py, train_encoder.py). Until then the app still needs a model that turns a real photo
into W+ codes and back, so this stage trains the same two networks end to end as an autoencoder:
  photo -> Style Transformer encoder (official structure, st_encoder.py) -> W+ codes (+ latent_avg)
        -> StyleGAN2 synthesis (rosinality layout, sg2.py) -> reconstruction
with loss = MSE + 0.5 (1 - SSIM at two scales). There is no discriminator, so it is not a generative model:
random z give no faces, reconstructions are smooth, and the W+ space is whatever the encoder makes of it.
Attribute directions found in it (train_editing.py) still move reconstructions along real attributes, which is
what the editor needs to work end to end. The GPU recipe replaces it.

Writes, time-boxed and every --save-every minutes (so an interrupted run keeps its progress):
  <out>/<name>.pt   {'state_dict': encoder.module.* + decoder.module.* (float16), 'latent_avg', 'opts'}: the official
                    layout that `npm run convert` reads; it is also the resume state (--resume <dir>; Adam restarts)
  <out>/<name>-samples.png (held-out inputs, their reconstructions), <out>/<name>-log.md
Cars: the encoder sees the 128x96 picture (what the app feeds it); the generator is 128x128 and only its middle
96 rows (16..111) are compared with the picture.
"""
import os
import time

import torch
from torch.nn import functional as F

import data
from sg2 import Generator
from st_encoder import queries, scoped
from train_encoder import build_encoder, official_state_dict, ssim
from train_gan import PRESETS, Throughput, finish_run, learning_rate, load_images, save_grid, stage_arguments, training_device

BAND = (16, 112)  # cars: the picture's rows in the 128x128 generator output


def main():
    ap = stage_arguments(16)
    ap.add_argument('--save-every', type=float, default=10)
    ap.add_argument('--lr', type=float, default=3e-4)
    ap.add_argument('--lr-end', type=float, default=None,
                    help='cool the learning rate down to this by the end of the run (cosine over its minutes); '
                         'a constant rate of batch-16 steps leaves the loss noisy, a cool-down settles it')
    ap.add_argument('--threads', type=int, default=0, help='torch threads (0: leave the default)')
    args = ap.parse_args()

    started = time.time()
    if args.threads:
        torch.set_num_threads(args.threads)
    device, device_name = training_device()
    name = f'{args.domain}-cpu'
    preset = PRESETS['smoke' if args.smoke else args.domain]
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(2026)

    g = Generator(preset['size'], preset['style_dim'], preset['n_mlp'], preset['g_channels']).to(device)
    enc = build_encoder(args.domain, args.smoke, preset['style_dim'], g.n_latent).to(device)
    with torch.no_grad():
        latent_avg = g.mean_latent(4096)
    step, seen, history = 0, 0, []
    path = os.path.join(args.resume or '', f'{name}.pt')
    if args.resume and os.path.exists(path):
        state = torch.load(path, map_location='cpu')
        enc.load_state_dict(scoped(state['state_dict'], 'encoder.module.'))
        g.load_state_dict(scoped(state['state_dict'], 'decoder.module.'))
        latent_avg = state['latent_avg'].to(device)
        step, seen, history = state['opts']['steps'], state['opts']['images_seen'], state['opts']['history']
        print(f'resumed at step {step}, {seen} images seen', flush=True)
    params = list(enc.parameters()) + list(g.parameters())
    optim = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.99))

    images = torch.from_numpy(load_images(args.domain, args.data, args.limit)).to(device)
    if args.domain == 'cars':
        images = images[:, :, BAND[0]:BAND[1]].contiguous()
        held, _ = data.cars(args.data, 'holdout', 8)
    else:
        held, _ = data.faces(args.data, 'holdout', 8)
    holdout = torch.from_numpy(held).to(device).float() / 127.5 - 1
    print(f'{len(images)} training images on {device_name}, {sum(p.numel() for p in params):,} parameters', flush=True)

    def reconstruct(x):
        codes = enc(x, queries(enc, g, x.shape[0])) + latent_avg
        out = g([codes], input_is_latent=True, randomize_noise=False)
        return out[:, :, BAND[0]:BAND[1]] if args.domain == 'cars' else out

    def save(final):
        minutes = (time.time() - started) / 60
        # float16: the bundle is float16 anyway, and it halves the committed resume state (17 instead of 35 MiB)
        sd = official_state_dict(enc, g, torch.float16)
        opts = {'output_size': preset['size'], 'dataset_type': f'{args.domain}_encode',
                'encoder_type': 'StyleTransformer (narrow; trained jointly with the generator as an autoencoder)',
                'start_from_latent_avg': True, 'learn_in_w': False, 'input_nc': 3, 'steps': step,
                'images_seen': seen, 'history': history, 'recipe': 'train_autoencoder.py'}
        tmp = os.path.join(args.out, f'.{name}.pt')
        torch.save({'state_dict': sd, 'latent_avg': latent_avg.cpu(), 'opts': opts}, tmp)
        os.replace(tmp, os.path.join(args.out, f'{name}.pt'))
        enc.eval(), g.eval()
        with torch.no_grad():
            recon = reconstruct(holdout).clamp(-1, 1)
        enc.train(), g.train()
        save_grid(torch.cat([holdout, recon]), os.path.join(args.out, f'{name}-samples.png'))
        print(f'saved at step {step} ({minutes:.1f} min)', flush=True)
        return minutes

    budget, next_save = args.minutes * 60, args.save_every * 60
    throughput, session_start = Throughput(device, args.batch, steps=10), step
    enc.train(), g.train()
    while time.time() - started < budget:
        idx = torch.randint(0, len(images), (args.batch,), device=device)
        x = images[idx].float() / 127.5 - 1
        flip = torch.rand(args.batch, device=device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        recon = reconstruct(x)
        mse = F.mse_loss(recon, x)
        structure = 1 - 0.5 * (ssim(recon, x) + ssim(F.avg_pool2d(recon, 2), F.avg_pool2d(x, 2)))
        loss = mse + 0.5 * structure
        warmup = min(1.0, (step - session_start + 1) / 200)  # Adam's moments start afresh on a resume too
        for group in optim.param_groups:
            group['lr'] = learning_rate(args, (time.time() - started) / budget) * warmup
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        step += 1
        seen += args.batch
        throughput.step()
        if step % 50 == 0:
            history.append([step, seen, round(mse.item(), 4), round(structure.item(), 4)])
            print(f'step {step} images {seen} mse {mse.item():.4f} 1-ssim {structure.item():.4f} '
                  f'lr {optim.param_groups[0]["lr"]:.1e} {time.time() - started:.0f} s', flush=True)
        if time.time() - started > next_save:
            save(False)
            next_save += args.save_every * 60

    minutes = save(True)
    last = history[-1] if history else [step, seen, round(mse.item(), 4), round(structure.item(), 4)]
    finish_run(args.out, name, args.smoke, device_name, step - session_start, step, seen, minutes, throughput.rate,
               f'mse {last[2]} 1-ssim {last[3]}', [f'{name}.pt'])


if __name__ == '__main__':
    main()
