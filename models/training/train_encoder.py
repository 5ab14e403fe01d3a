"""Stage: the Style Transformer encoder for a trained generator (faces 64x64, or cars).

The official losses' networks (LPIPS, ArcFace) are not available here, so the recipe uses what we can compute:
  pixel MSE + (1 - SSIM at two scales) + distance of our own discriminator's features (a perceptual stand-in)
  + on generated samples, where the true W+ codes are known, an L2 latent loss.
Each batch is half real training images and half generator samples (style-mixed, truncation 0.7..1).
The generator is frozen. Writes, time-boxed like train_gan.py:
  <out>/<name>.pt   {'state_dict': encoder.module.* in float16, 'latent_avg', 'opts'}: the resume state. The
                    device returns files of at most 16 MiB: with the decoder in float32 it was 35 MiB, the encoder half
                    in float16 is 11 MiB. `assemble_checkpoint.py` adds the generator's decoder.module.* for the
                    official layout that `npm run convert` reads.
  <out>/<name>-samples.png (held-out faces: input row, reconstruction row), <out>/<name>-log.md
Resume with --resume <dir> (the same .pt; Adam restarts).
"""
import os
import random
import time

import torch
from torch.nn import functional as F

import data
from sg2 import Discriminator, Generator
from st_encoder import StyleTransformerEncoder, queries, scoped
from train_gan import PRESETS, Throughput, finish_run, learning_rate, load_images, save_grid, stage_arguments, training_device

ENCODERS = {
    'faces': dict(stage_units=(2, 2, 4, 2), depths=(32, 64, 128, 256), stem=32, ffn=512, heads=4),
    'cars': dict(stage_units=(2, 2, 4, 2), depths=(32, 64, 128, 256), stem=32, ffn=512, heads=4),
    # Every stage needs its own width: stage starts are read from width changes (a stride-2 unit whose width does
    # not change has a weightless shortcut, so it looks like any other unit).
    # The last stage's width is the style width: its features are the first transformer layer's keys and values.
    'smoke': dict(stage_units=(1, 1, 1, 1), depths=(16, 20, 24, 32), stem=16, ffn=64, heads=4),
}


def build_encoder(domain, smoke, style_dim, n_latent):
    """The narrowed Style Transformer encoder of a stage's domain (or the smoke widths)."""
    spec = ENCODERS['smoke' if smoke else domain]
    return StyleTransformerEncoder(spec['stage_units'], spec['depths'], spec['stem'], style_dim, n_latent, spec['ffn'], spec['heads'])


def official_state_dict(enc, g, dtype=None):
    """encoder.module.* + decoder.module.*, the layout of the official checkpoints (floats cast to `dtype` if given)."""
    cast = lambda v: v.detach().cpu().to(dtype) if dtype is not None and v.is_floating_point() else v.detach().cpu()
    out = {f'encoder.module.{k}': cast(v) for k, v in enc.state_dict().items()}
    out.update({f'decoder.module.{k}': cast(v) for k, v in g.state_dict().items()})
    return out


def assembled_checkpoint(domain, gan_dir, encoder_dir):
    """The encoder stage's resume state (encoder.module.* in float16) joined with its generator
    (<gan_dir>/<domain>-gan.pt) in the official layout, float32: {'state_dict', 'latent_avg', 'opts'}."""
    gan = torch.load(os.path.join(gan_dir, f'{domain}-gan.pt'), map_location='cpu')
    encoder = torch.load(os.path.join(encoder_dir, f'{domain}-encoder.pt'), map_location='cpu')
    state_dict = {k: v.float() if v.is_floating_point() else v for k, v in encoder['state_dict'].items()}
    state_dict.update({f'decoder.module.{k}': v for k, v in gan['g_ema'].items()})
    return {'state_dict': state_dict, 'latent_avg': encoder['latent_avg'], 'opts': encoder['opts']}


def load_style_transformer(checkpoint, domain, smoke=False):
    """A checkpoint holding encoder and decoder (a path such as <domain>-cpu.pt, or `assembled_checkpoint`'s dict):
    (encoder, generator, latent_avg), in eval mode."""
    ck = torch.load(checkpoint, map_location='cpu') if isinstance(checkpoint, str) else checkpoint
    preset = PRESETS['smoke' if smoke else domain]
    g = Generator(preset['size'], preset['style_dim'], preset['n_mlp'], preset['g_channels']).eval()
    g.load_state_dict(scoped(ck['state_dict'], 'decoder.module.'))
    enc = build_encoder(domain, smoke, preset['style_dim'], g.n_latent).eval()
    enc.load_state_dict(scoped(ck['state_dict'], 'encoder.module.'))
    return enc, g, ck['latent_avg']


def ssim(a, b, window=7):
    """Mean SSIM over channels with a uniform window (images in [-1, 1] mapped to [0, 1])."""
    a, b = (a + 1) / 2, (b + 1) / 2
    pool = lambda x: F.avg_pool2d(x, window, 1, window // 2, count_include_pad=False)
    mu_a, mu_b = pool(a), pool(b)
    var_a = pool(a * a) - mu_a ** 2
    var_b = pool(b * b) - mu_b ** 2
    cov = pool(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return (((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))).mean()


def heldout_figure(enc, g, latent_avg, faces):
    """(MSE, SSIM) of the faces ([N, 3, 64, 64] in [-1, 1]) through the encoder and the generator, in batches."""
    errors, scores = [], []
    with torch.no_grad():
        for batch in faces.split(50):
            codes = enc(batch, queries(enc, g, batch.shape[0])) + latent_avg
            recon = g([codes], input_is_latent=True, randomize_noise=False).clamp(-1, 1)
            errors.append(((recon - batch) ** 2).mean(dim=(1, 2, 3)))
            scores.append(torch.stack([ssim(recon[i:i + 1], batch[i:i + 1]) for i in range(batch.shape[0])]))
    return torch.cat(errors).mean().item(), torch.cat(scores).mean().item()


def d_features(d, x):
    feats, out = [], x
    for layer in d.convs:
        out = layer(out)
        feats.append(out)
    return feats


def main():
    ap = stage_arguments(32)
    ap.add_argument('--gan', required=True, help='folder with <domain>-gan.pt and <domain>-gan-d.pt')
    ap.add_argument('--checkpoint-minutes', type=float, default=2)
    ap.add_argument('--init', help='a checkpoint whose encoder.module.* start a fresh run (e.g. the interim faces-cpu.pt: '
                    'same architecture, so on a CPU the backbone need not learn its features again); ignored on resume')
    ap.add_argument('--threads', type=int, default=0, help='torch threads (0: leave the default)')
    ap.add_argument('--lr', type=float, default=1e-4)
    ap.add_argument('--flip', action='store_true', help='mirror half the real photos of each batch (pSp\'s RandomHorizontalFlip)')
    ap.add_argument('--lr-end', type=float, default=None,
                    help='cool the learning rate down to this by the end of the run (cosine over its minutes): after '
                         'hundreds of thousands of images at a constant rate the held-out figure falls slowly; a '
                         'cool-down settles the weights the noisy batch-16 steps keep moving')
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    started = time.time()
    device, device_name = training_device()
    name = f'{args.domain}-encoder'
    preset = PRESETS['smoke' if args.smoke else args.domain]
    os.makedirs(args.out, exist_ok=True)

    gan = torch.load(os.path.join(args.gan, f'{args.domain}-gan.pt'), map_location='cpu')
    g = Generator(preset['size'], preset['style_dim'], preset['n_mlp'], preset['g_channels'])
    g.load_state_dict(gan['g_ema'])
    g = g.to(device).eval().requires_grad_(False)
    latent_avg = gan['latent_avg'].to(device)
    d = Discriminator(preset['size'], preset['d_channels'])
    d_state = torch.load(os.path.join(args.gan, f'{args.domain}-gan-d.pt'), map_location='cpu')['d']
    d.load_state_dict({k: v.float() for k, v in d_state.items()})
    d = d.to(device).eval().requires_grad_(False)

    n_latent = g.n_latent
    enc = build_encoder(args.domain, args.smoke, preset['style_dim'], n_latent).to(device)
    step, seen, history = 0, 0, []
    if args.resume and os.path.exists(os.path.join(args.resume, f'{name}.pt')):
        state = torch.load(os.path.join(args.resume, f'{name}.pt'), map_location='cpu')
        enc.load_state_dict(scoped(state['state_dict'], 'encoder.module.'))
        step, seen, history = state['opts'].get('steps', 0), state['opts'].get('images_seen', 0), state['opts'].get('history', [])
        print(f'resumed at step {step}', flush=True)
    elif args.init:
        enc.load_state_dict({k: v.float() for k, v in scoped(torch.load(args.init, map_location='cpu')['state_dict'], 'encoder.module.').items()})
        print(f'encoder initialised from {args.init}', flush=True)
    optim = torch.optim.Adam(enc.parameters(), lr=args.lr)

    images = torch.from_numpy(load_images(args.domain, args.data, args.limit)).to(device)
    holdout = None
    if args.domain == 'faces':
        held, _ = data.faces(args.data, 'holdout', 100)
        holdout = torch.from_numpy(held).to(device).float() / 127.5 - 1
    print(f'{len(images)} training images on {device_name}', flush=True)

    def encode(x):
        return enc(x, queries(enc, g, x.shape[0])) + latent_avg

    def generated(batch):
        with torch.no_grad():
            z = torch.randn(2, batch, preset['style_dim'], device=device)
            w = g.style(z.reshape(-1, preset['style_dim'])).reshape(2, batch, -1)
            psi = torch.rand(batch, 1, device=device) * 0.3 + 0.7
            w = latent_avg + psi * (w - latent_avg)
            cut = random.randint(1, n_latent - 1)
            wplus = torch.cat([w[0].unsqueeze(1).repeat(1, cut, 1), w[1].unsqueeze(1).repeat(1, n_latent - cut, 1)], 1)
            return g([wplus], input_is_latent=True, randomize_noise=False).clamp(-1, 1), wplus

    budget = args.minutes * 60
    throughput = Throughput(device, args.batch)
    session_start = step

    def checkpoint():
        """Writes the checkpoint, samples and log row: every few minutes, so that a device call cut off at its time
        limit still brings back what it trained."""
        minutes = (time.time() - started) / 60
        enc.eval()
        state_dict = {k: v for k, v in official_state_dict(enc, g, torch.float16).items() if k.startswith('encoder.module.')}
        opts = {'output_size': preset['size'], 'dataset_type': f'{args.domain}_encode', 'encoder_type': 'StyleTransformer (narrow, our recipe)',
                'start_from_latent_avg': True, 'learn_in_w': False, 'input_nc': 3, 'steps': step, 'images_seen': seen, 'history': history}
        torch.save({'state_dict': state_dict, 'latent_avg': latent_avg.cpu(), 'opts': opts}, os.path.join(args.out, f'{name}.pt'))
        sample = holdout if holdout is not None else images[:8].float() / 127.5 - 1
        with torch.no_grad():
            recon = g([encode(sample[:8])], input_is_latent=True, randomize_noise=False)
        save_grid(torch.cat([sample[:8], recon.clamp(-1, 1)]), os.path.join(args.out, f'{name}-samples.png'))
        last = history[-1] if history else [step, seen, round(mse.item(), 4), round(structure.item(), 4), round(feat.item(), 4), round(latent.item(), 4)]
        held_out = ''
        if holdout is not None:
            held_mse, held_ssim = heldout_figure(enc, g, latent_avg, holdout)
            held_out = f'; held-out ({len(holdout)} faces, no refinement): MSE {held_mse:.4f} SSIM {held_ssim:.3f}'
        finish_run(args.out, name, args.smoke, device_name, step - session_start, step, seen, minutes, throughput.rate,
                   f'mse {last[2]} 1-ssim {last[3]} feat {last[4]} latent {last[5]} (training batches){held_out}', [f'{name}.pt'])
        enc.train()

    last_checkpoint = time.time()
    while time.time() - started < budget:
        half = args.batch // 2
        real = images[torch.randint(0, len(images), (half,), device=device)].float() / 127.5 - 1
        if args.flip:
            # half the photos mirrored, as the official recipe's training transforms do (RandomHorizontalFlip(0.5)):
            # on 46k faces seen eight times over, the training batches' MSE ran 0.02 below the held-out faces'
            mirrored = torch.rand(half, 1, 1, 1, device=device) < 0.5
            real = torch.where(mirrored, real.flip(3), real)
        fake, wplus = generated(half)
        x = torch.cat([real, fake])
        codes = encode(x)
        recon = g([codes], input_is_latent=True, randomize_noise=False)
        mse = F.mse_loss(recon, x)
        structure = 1 - 0.5 * (ssim(recon, x) + ssim(F.avg_pool2d(recon, 2), F.avg_pool2d(x, 2)))
        feat = sum(F.mse_loss(a, b) for a, b in zip(d_features(d, recon), d_features(d, x))) / len(d.convs)
        latent = F.mse_loss(codes[half:], wplus)
        loss = mse + 0.5 * structure + 0.1 * feat + 1.0 * latent
        for group in optim.param_groups:
            group['lr'] = learning_rate(args, (time.time() - started) / budget)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        step += 1
        seen += args.batch
        throughput.step()
        if step % 100 == 0:
            row = [step, seen, round(mse.item(), 4), round(structure.item(), 4), round(feat.item(), 4), round(latent.item(), 4)]
            history.append(row)
            print(f'step {step} mse {row[2]} 1-ssim {row[3]} feat {row[4]} latent {row[5]} lr {optim.param_groups[0]["lr"]:.1e} {time.time() - started:.0f} s', flush=True)
            if time.time() - last_checkpoint > args.checkpoint_minutes * 60:
                checkpoint()
                last_checkpoint = time.time()

    checkpoint()


if __name__ == '__main__':
    main()
