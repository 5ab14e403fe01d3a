"""PyTorch's time for the stages `npm run bench` times, at the released FFHQ shapes (random weights), for
`npm run bench -- --pytorch`: the same stages (encode 256x256, generate 1024, previews 16 to 256), median of --runs
after a warm-up, with --threads CPU threads. Prints one JSON object {stage: ms} on its last line.

The modules are the recipe's (`st_encoder.py`, `sg2.py`: the official structures, checked against the golden
tensors by check_st.py and check_sg2.py). upfirdn2d is replaced by the fastest correct formulation written here: the
blur kernel is separable (outer product of [1, 3, 3, 1]), so two 4-tap depthwise passes instead of one 16-tap pass;
it is checked against sg2's native one before timing.
"""
import argparse
import json
import statistics
import time

import torch
from torch.nn import functional as F

import sg2
from sg2 import Generator
from st_encoder import StyleTransformerEncoder, queries

FFHQ_CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64, 1024: 32}
native_upfirdn2d = sg2.upfirdn2d


def separable_upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
    """sg2.upfirdn2d for a separable kernel: zero-insert, pad, then a vertical and a horizontal depthwise pass."""
    u, s, v = torch.linalg.svd(kernel.double())
    if s[1:].abs().max() > 1e-9 * s[0]:
        return native_upfirdn2d(x, kernel, up, down, pad)
    column = (u[:, 0] * s[0].sqrt()).to(x.dtype)
    row = (v[0] * s[0].sqrt()).to(x.dtype)
    b, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.view(b, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).view(b, c, h * up, w * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    x = F.conv2d(x, column.flip(0).view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    x = F.conv2d(x, row.flip(0).view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


def median_ms(run, runs):
    with torch.no_grad():
        run()
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            run()
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--runs', type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    x = torch.randn(1, 8, 33, 35)
    k = sg2.make_kernel([1, 3, 3, 1])
    for up, pad in ((1, (2, 1)), (2, (2, 1)), (1, (1, 1))):
        error = (separable_upfirdn2d(x, k * (up * up), up, 1, pad) - native_upfirdn2d(x, k * (up * up), up, 1, pad)).abs().max().item()
        assert error < 1e-5, f'separable upfirdn2d differs from the native one by {error}'
    sg2.upfirdn2d = separable_upfirdn2d

    g = Generator(1024, 512, 8, FFHQ_CHANNELS).eval()
    enc = StyleTransformerEncoder().eval()
    image = torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        q = queries(enc, g, 1)
        codes = enc(image, q)
    times = {
        'encode 256x256': median_ms(lambda: enc(image, queries(enc, g, 1)), args.runs),
        'generate 1024': median_ms(lambda: g([codes], input_is_latent=True, randomize_noise=False), args.runs),
    }
    # A preview stops the synthesis early (the editor chooses where from measured speed): a generator of that size
    # with the same layers up to there.
    for size in (16, 32, 64, 128, 256):
        preview = Generator(size, 512, 8, {k: v for k, v in FFHQ_CHANNELS.items() if k <= size}).eval()
        times[f'preview {size}'] = median_ms(lambda: preview([codes[:, :preview.n_latent]], input_is_latent=True, randomize_noise=False), args.runs)
    print(json.dumps({'threads': args.threads, 'torch': torch.__version__, 'ms': times}))


if __name__ == '__main__':
    main()
