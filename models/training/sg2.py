"""StyleGAN2 in rosinality's architecture, written for our training recipe.

The generator's state_dict names and layouts are exactly rosinality's (style.N, input.input, conv1.*, convs.N.*,
to_rgb1.*, to_rgbs.N.*, noises.noise_N, blur/upsample kernels), which is what the official Style Transformer code
loads and what `npm run convert` reads. Modulation is applied to activations and demodulation to outputs (the
same map as modulating weights, one shared-weight convolution per batch); upfirdn2d is plain PyTorch.
"""
import math
import random

import torch
from torch import nn
from torch.nn import functional as F


def make_kernel(k):
    k = torch.tensor(k, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
    """rosinality's upfirdn2d_native: zero-insert by `up`, pad, convolve with the flipped kernel, keep every `down`."""
    b, c, h, w = x.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(b, c, h * up, w * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    k = torch.flip(kernel, [0, 1]).to(x.dtype)[None, None].repeat(c, 1, 1, 1)
    x = F.conv2d(x, k, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def upsample_conv(x, w):
    """conv_transpose2d(x, w^T, stride=2) (output 2H+1). Below 16 px it is computed as a plain convolution of the
    zero-inserted input with the flipped kernel, the same linear map: PyTorch's CPU transposed convolution has no
    oneDNN path, and its backward pass at 4-8 px took 10x longer (547 vs 54 ms per step at 256 channels, batch 32)."""
    b, c, h, wd = x.shape
    if h >= 16:
        return F.conv_transpose2d(x, w.transpose(0, 1), stride=2)
    z = x.new_zeros(b, c, h, 2, wd, 2)
    z[:, :, :, 0, :, 0] = x
    z = z.reshape(b, c, 2 * h, 2 * wd)[:, :, :-1, :-1]
    return F.conv2d(z, w.flip(2, 3), padding=w.shape[-1] - 1)


def fused_leaky_relu(x, bias):
    shape = [1, -1] + [1] * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(*shape), 0.2) * math.sqrt(2)


class FusedLeakyReLU(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return fused_leaky_relu(x, self.bias)


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(torch.mean(x ** 2, dim=1, keepdim=True) + 1e-8)


class Blur(nn.Module):
    def __init__(self, kernel, pad, upsample_factor=1):
        super().__init__()
        k = make_kernel(kernel)
        if upsample_factor > 1:
            k = k * upsample_factor ** 2
        self.register_buffer('kernel', k)
        self.pad = pad

    def forward(self, x):
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    def __init__(self, kernel, factor=2):
        super().__init__()
        self.factor = factor
        self.register_buffer('kernel', make_kernel(kernel) * factor ** 2)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x):
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class EqualLinear(nn.Module):
    def __init__(self, in_dim, out_dim, bias=True, bias_init=0.0, lr_mul=1.0, activation=None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.zeros(out_dim).fill_(bias_init)) if bias else None
        self.activation = activation
        self.scale = (1 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, x):
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, bias=None if self.bias is None else self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    def __init__(self, in_ch, out_ch, kernel, stride=1, padding=0, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.scale = 1 / math.sqrt(in_ch * kernel ** 2)
        self.stride, self.padding = stride, padding
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, bias=self.bias, stride=self.stride, padding=self.padding)


class ModulatedConv2d(nn.Module):
    def __init__(self, in_ch, out_ch, kernel, style_dim, demodulate=True, upsample=False, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.kernel_size, self.in_channel, self.out_channel = kernel, in_ch, out_ch
        self.upsample = upsample
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.scale = 1 / math.sqrt(in_ch * kernel ** 2)
        self.padding = kernel // 2
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel, kernel))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1)
        self.demodulate = demodulate

    def forward(self, x, style):
        b = x.shape[0]
        s = self.modulation(style)  # [B, in]
        w = self.scale * self.weight[0]  # [out, in, k, k]
        x = x * s.view(b, -1, 1, 1)
        if self.upsample:
            x = upsample_conv(x, w)
        else:
            x = F.conv2d(x, w, padding=self.padding)
        if self.demodulate:
            demod = torch.rsqrt((s.square() @ w.square().sum([2, 3]).t()) + 1e-8)  # [B, out]
            x = x * demod.view(b, -1, 1, 1)
        if self.upsample:
            x = self.blur(x)
        return x


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, noise=None):
        if noise is None:
            b, _, h, w = x.shape
            noise = x.new_empty(b, 1, h, w).normal_()
        return x + self.weight * noise


class ConstantInput(nn.Module):
    def __init__(self, channels, size=4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch):
        return self.input.repeat(batch, 1, 1, 1)


class StyledConv(nn.Module):
    def __init__(self, in_ch, out_ch, kernel, style_dim, upsample=False):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, kernel, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)

    def forward(self, x, style, noise=None):
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    def __init__(self, in_ch, style_dim, upsample=True):
        super().__init__()
        if upsample:
            self.upsample = Upsample((1, 3, 3, 1))
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class Generator(nn.Module):
    def __init__(self, size, style_dim, n_mlp, channels, lr_mlp=0.01):
        super().__init__()
        self.size, self.style_dim, self.channels = size, style_dim, channels
        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation='fused_lrelu') for _ in range(n_mlp)])
        self.input = ConstantInput(channels[4])
        self.conv1 = StyledConv(channels[4], channels[4], 3, style_dim)
        self.to_rgb1 = ToRGB(channels[4], style_dim, upsample=False)
        self.log_size = int(math.log2(size))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.convs, self.to_rgbs, self.noises = nn.ModuleList(), nn.ModuleList(), nn.Module()
        for i in range(self.num_layers):
            res = (i + 5) // 2
            self.noises.register_buffer(f'noise_{i}', torch.randn(1, 1, 2 ** res, 2 ** res))
        in_ch = channels[4]
        for i in range(3, self.log_size + 1):
            out_ch = channels[2 ** i]
            self.convs.append(StyledConv(in_ch, out_ch, 3, style_dim, upsample=True))
            self.convs.append(StyledConv(out_ch, out_ch, 3, style_dim))
            self.to_rgbs.append(ToRGB(out_ch, style_dim))
            in_ch = out_ch
        self.n_latent = self.log_size * 2 - 2

    @torch.no_grad()
    def mean_latent(self, n):
        return self.style(torch.randn(n, self.style_dim, device=self.input.input.device)).mean(0)

    def forward(self, styles, input_is_latent=False, noise=None, randomize_noise=True, inject_index=None):
        if not input_is_latent:
            styles = [self.style(s) for s in styles]
        if noise is None:
            noise = [None] * self.num_layers if randomize_noise else [getattr(self.noises, f'noise_{i}') for i in range(self.num_layers)]
        if len(styles) == 1:
            latent = styles[0] if styles[0].ndim == 3 else styles[0].unsqueeze(1).repeat(1, self.n_latent, 1)
        else:
            inject_index = inject_index or random.randint(1, self.n_latent - 1)
            latent = torch.cat([styles[0].unsqueeze(1).repeat(1, inject_index, 1),
                                styles[1].unsqueeze(1).repeat(1, self.n_latent - inject_index, 1)], 1)
        out = self.input(latent.shape[0])
        out = self.conv1(out, latent[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for c1, c2, n1, n2, rgb in zip(self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2], self.to_rgbs):
            out = c1(out, latent[:, i], noise=n1)
            out = c2(out, latent[:, i + 1], noise=n2)
            skip = rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip


class ConvLayer(nn.Sequential):
    def __init__(self, in_ch, out_ch, kernel, downsample=False, bias=True, activate=True):
        layers = []
        stride, padding = 1, kernel // 2
        if downsample:
            p = (4 - 2) + (kernel - 1)
            layers.append(Blur((1, 3, 3, 1), pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        layers.append(EqualConv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_ch))
        super().__init__(*layers)


class ResBlock(nn.Module):
    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True)
        self.skip = ConvLayer(in_ch, out_ch, 1, downsample=True, activate=False, bias=False)

    def forward(self, x):
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


class Discriminator(nn.Module):
    """rosinality's residual discriminator with minibatch standard deviation."""

    def __init__(self, size, channels):
        super().__init__()
        convs = [ConvLayer(3, channels[size], 1)]
        in_ch = channels[size]
        for i in range(int(math.log2(size)), 2, -1):
            out_ch = channels[2 ** (i - 1)]
            convs.append(ResBlock(in_ch, out_ch))
            in_ch = out_ch
        self.convs = nn.Sequential(*convs)
        self.stddev_group, self.stddev_feat = 4, 1
        self.final_conv = ConvLayer(in_ch + 1, channels[4], 3)
        self.final_linear = nn.Sequential(EqualLinear(channels[4] * 16, channels[4], activation='fused_lrelu'), EqualLinear(channels[4], 1))

    def forward(self, x):
        out = self.convs(x)
        b, c, h, w = out.shape
        group = min(b, self.stddev_group)
        while b % group:
            group -= 1
        std = out.reshape(group, -1, self.stddev_feat, c // self.stddev_feat, h, w)
        std = torch.sqrt(std.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
        std = std.repeat(group, 1, h, w)
        out = self.final_conv(torch.cat([out, std], 1))
        return self.final_linear(out.reshape(b, -1))
