"""The Style Transformer encoder in the official structure (IR-SE stages, FPN, three post-norm transformer decoder
layers with 4 heads, queries = mapping(z)), with widths as parameters. State-dict names are the official ones, so a
checkpoint saved as {'state_dict': {'encoder.module.*', 'decoder.module.*'}, 'latent_avg', 'opts'} loads in the
official code and converts with `npm run convert`. check_st.py compares it with the golden tensors.
"""
import torch
from torch import nn
from torch.nn import functional as F


class SEModule(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x):
        w = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(w))))


class BottleneckIRSE(nn.Module):
    def __init__(self, in_ch, depth, stride):
        super().__init__()
        if in_ch == depth:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(in_ch, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_ch), nn.Conv2d(in_ch, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth), SEModule(depth, 16))

    def forward(self, x):
        return self.res_layer(x) + self.shortcut_layer(x)


class TransformerDecoderLayer(nn.Module):
    """DETR's post-norm decoder layer (dropout 0.1 in training, as the official code)."""

    def __init__(self, d_model, nhead, dim_feedforward, dropout=0.1):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout1, self.dropout2, self.dropout3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, tgt, memory):  # [N, B, C], [M, B, C]
        tgt = self.norm1(tgt + self.dropout1(self.self_attn(tgt, tgt, tgt)[0]))
        tgt = self.norm2(tgt + self.dropout2(self.multihead_attn(tgt, memory, memory)[0]))
        return self.norm3(tgt + self.dropout3(self.linear2(self.dropout(F.relu(self.linear1(tgt))))))


class StyleTransformerEncoder(nn.Module):
    def __init__(self, stage_units=(3, 4, 14, 3), depths=(64, 128, 256, 512), stem=64, d_model=512, n_queries=18,
                 ffn=1024, heads=4, input_nc=3):
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(input_nc, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem), nn.PReLU(stem))
        units, in_ch, self.taps = [], stem, []
        for count, depth in zip(stage_units, depths):
            for u in range(count):
                units.append(BottleneckIRSE(in_ch if u == 0 else depth, depth, 2 if u == 0 else 1))
            in_ch = depth
            self.taps.append(len(units) - 1)
        self.body = nn.Sequential(*units)
        self.latlayer1 = nn.Conv2d(depths[2], d_model, 1)
        self.latlayer2 = nn.Conv2d(depths[1], d_model, 1)
        self.transformerlayer_coarse = TransformerDecoderLayer(d_model, heads, ffn)
        self.transformerlayer_medium = TransformerDecoderLayer(d_model, heads, ffn)
        self.transformerlayer_fine = TransformerDecoderLayer(d_model, heads, ffn)
        self.z = nn.Parameter(torch.randn(1, n_queries, d_model))

    def features(self, x):
        x = self.input_layer(x)
        feats = {}
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i == self.taps[1]:
                feats['c1'] = x
            elif i == self.taps[2]:
                feats['c2'] = x
            elif i == self.taps[3]:
                feats['c3'] = x
        up = lambda a, b: F.interpolate(a, size=b.shape[-2:], mode='bilinear', align_corners=True)
        feats['p2'] = up(feats['c3'], feats['c2']) + self.latlayer1(feats['c2'])
        feats['p1'] = up(feats['p2'], feats['c1']) + self.latlayer2(feats['c1'])
        return feats

    def forward(self, x, query):  # query [B, N, C]
        f = self.features(x)
        tokens = lambda t: t.flatten(2).permute(2, 0, 1)
        q = query.permute(1, 0, 2)
        q = self.transformerlayer_coarse(q, tokens(f['c3']))
        q = self.transformerlayer_medium(q, tokens(f['p2']))
        q = self.transformerlayer_fine(q, tokens(f['p1']))
        return q.permute(1, 0, 2)


def queries(encoder, generator, batch):
    n, c = encoder.z.shape[1:]
    return generator.style(encoder.z.expand(batch, n, c).reshape(-1, c)).reshape(batch, n, c)


def scoped(state_dict, prefix):
    """The tensors under `prefix` (e.g. 'encoder.module.'), renamed without it, in float32 (saved states may be half)."""
    return {k[len(prefix):]: v.float() if v.is_floating_point() else v for k, v in state_dict.items() if k.startswith(prefix)}
