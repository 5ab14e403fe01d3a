"""Stage (CPU): everything the editor's sliders and reference panel need, from a trained generator + encoder.

1. Codes: the encoder's W+ codes of the training faces (and of the held-out ones, for evaluation).
2. LCNet_40: the latent attribute classifier on those codes and the 40 CelebA attributes (the official
   LCNet_40 structure: fmaps [n*D, 512, 512] here, 40 heads, leaky ReLU 0.2) -> faces-classifier.pt {'state_dict'}.
3. InterFaceGAN: for each attribute in --boundaries, a linear boundary on the mean style (a logistic regression,
   as the paper's linear SVM); its normal, scaled to one standard deviation of the codes along it (so a slider unit
   means the same for every attribute and model), saved as <attribute>.npy [1, D].
4. Editing blocks: for each attribute in --blocks, the paper's reference editing transformer block trained with
   its reference loss, in our form: the classifier must see the reference's label for the attribute, the other
   attributes' embeddings must stay the source's, and the change is paid for by its Mahalanobis distance under the
   codes' covariance (so it stays where the generator renders faces); the block starts as the identity. Each is
   checked on the classifier's 10% validation split (classifier, distance, render-and-re-encode cycle)
   -> faces-edit-<attribute>.pt {'state_dict': encoder.module.transformerlayer.* + classifier.module.* + decoder.module.*}
   and faces-edit-<attribute>.png (rows: source, reference, edited).
"""
import argparse
import os
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import data
from st_encoder import TransformerDecoderLayer, queries
from train_encoder import assembled_checkpoint, load_style_transformer
from train_gan import save_grid

ATTRS = ['5_o_Clock_Shadow', 'Arched_Eyebrows', 'Attractive', 'Bags_Under_Eyes', 'Bald', 'Bangs', 'Big_Lips', 'Big_Nose',
         'Black_Hair', 'Blond_Hair', 'Blurry', 'Brown_Hair', 'Bushy_Eyebrows', 'Chubby', 'Double_Chin', 'Eyeglasses',
         'Goatee', 'Gray_Hair', 'Heavy_Makeup', 'High_Cheekbones', 'Male', 'Mouth_Slightly_Open', 'Mustache',
         'Narrow_Eyes', 'No_Beard', 'Oval_Face', 'Pale_Skin', 'Pointy_Nose', 'Receding_Hairline', 'Rosy_Cheeks',
         'Sideburns', 'Smiling', 'Straight_Hair', 'Wavy_Hair', 'Wearing_Earrings', 'Wearing_Hat', 'Wearing_Lipstick',
         'Wearing_Necklace', 'Wearing_Necktie', 'Young']


class LCNet40(nn.Module):
    """The official LCNet_40 (fcs -> per-class 512->32 embedding -> 32->1 score); names match the release."""

    def __init__(self, fmaps, n_classes=40):
        super().__init__()
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(fmaps[:-1], fmaps[1:]))
        self.indep_fcs = nn.ModuleList(nn.Linear(fmaps[-1], 32) for _ in range(n_classes))
        self.output_fcs = nn.ModuleList(nn.Linear(32, 1) for _ in range(n_classes))
        self.relu = nn.LeakyReLU(0.2)

    def forward(self, x):
        for layer in self.fcs:
            x = self.relu(layer(x))
        # The 40 heads as one batched product: 1.3-1.4x faster than a loop over 80 small layers (21 vs 28 ms forward +
        # backward at batch 32 on one thread), same outputs to 2e-7.
        embed_w = torch.stack([fc.weight for fc in self.indep_fcs])       # [C, 32, H]
        embed_b = torch.stack([fc.bias for fc in self.indep_fcs])         # [C, 32]
        out_w = torch.stack([fc.weight[0] for fc in self.output_fcs])     # [C, 32]
        out_b = torch.cat([fc.bias for fc in self.output_fcs])            # [C]
        feats = torch.einsum('bh,ceh->bce', x, embed_w) + embed_b
        return (feats * out_w).sum(2) + out_b, feats


class ManifoldDistance:
    """Squared Mahalanobis distance of a code change under the training codes' covariance (flattened W+).

    The generator only ever saw codes near this distribution: a change along a direction the codes barely vary in
    is what turns an edit into noise, while a move along a direction faces really differ in stays a face. Variances
    are floored at 1e-3 of the largest so that the unseen directions cost much, not infinitely much.
    """

    def __init__(self, flat_codes, floor=1e-3):
        variance, self.basis = torch.linalg.eigh(torch.cov((flat_codes - flat_codes.mean(0)).T))
        variance = variance.clamp_min(0)
        self.inverse_sd = (variance + floor * variance.max()).rsqrt()

    def __call__(self, delta):
        return (((delta.reshape(len(delta), -1) @ self.basis) * self.inverse_sd) ** 2).sum(1)


def identity_block(codes, ffn):
    """The official editing block (post-norm decoder layer), initialised to return its queries unchanged.

    Each sublayer's output projection starts at zero, and each LayerNorm's affine at the codes' own per-token
    statistics (every token has about the same channel mean and spread), so training starts from "no edit" and
    never has to find its way back to the code manifold from a random map (a randomly initialised block rendered noise).
    """
    d = codes.shape[2]
    block = TransformerDecoderLayer(d, 4, ffn)
    with torch.no_grad():
        mean, spread = codes.mean(2).mean().item(), codes.std(2, unbiased=False).mean().item()
        for norm in (block.norm1, block.norm2, block.norm3):
            norm.weight.fill_(spread)
            norm.bias.fill_(mean)
        for layer in (block.self_attn.out_proj, block.multihead_attn.out_proj, block.linear2):
            layer.weight.zero_()
            layer.bias.zero_()
    return block


def apply_block(block, source, reference):
    return block(source.permute(1, 0, 2), reference.permute(1, 0, 2)).permute(1, 0, 2)


def train_block(codes, labels, a, cls, distance, steps, smoke=False, batch=32, weight=0.02):
    """The paper's reference loss in our form: the classifier must see the reference's label for attribute `a`, the
    attribute's embedding must become the reference's and the others' stay the source's; the change is paid for by
    its Mahalanobis distance (weight 0.02 per token: chosen on a 4,000-face run where 0.05 transferred eyeglasses
    half as visibly and 0.02 still kept the edits on the manifold by the cycle test in `evaluate_block`)."""
    n, d = codes.shape[1:]
    block = identity_block(codes, 2 * d if smoke or d < 512 else 1024)
    opt = torch.optim.Adam(block.parameters(), lr=1e-4)
    pos = torch.nonzero(labels[:, a] == 1).flatten()
    neg = torch.nonzero(labels[:, a] == 0).flatten()
    keep = torch.ones(labels.shape[1], dtype=torch.bool)
    keep[a] = False
    pick = lambda pool, k: pool[torch.randint(0, len(pool), (k,))]
    half, quarter = batch // 2, batch // 4
    for step in range(steps):
        # Half of the pairs bring the attribute in, a quarter take it out, a quarter keep it (same label).
        src = torch.cat([pick(neg, half), pick(pos, quarter), pick(neg, quarter)])
        ref = torch.cat([pick(pos, half), pick(neg, quarter), pick(neg, quarter)])
        source, reference = codes[src], codes[ref]
        out = apply_block(block, source, reference)
        logits, emb = cls(out.reshape(batch, -1))
        # The classifier is frozen and the targets need no graph (89 ms per step on one thread, measured with
        # another job on the second core; the first version also back-propagated into the classifier: 225 ms).
        with torch.no_grad():
            _, emb_src = cls(source.reshape(batch, -1))
            _, emb_ref = cls(reference.reshape(batch, -1))
        loss = (F.binary_cross_entropy_with_logits(logits[:, a], labels[ref, a]) + F.mse_loss(emb[:, a], emb_ref[:, a])
                + F.mse_loss(emb[:, keep], emb_src[:, keep]) + weight * distance(out - source).mean() / n)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return block.eval()


def evaluate_block(block, codes, labels, validation, a, cls, distance, enc, g, latent_avg, k=64):
    """On validation faces without the attribute and references with it: how often the classifier now sees it, how far
    the codes moved (vs. two random faces), and the cycle test: render the edit and encode it again; a code the
    generator renders as a face comes back (about as well as the source's), one off the manifold does not."""
    pos, neg = validation[labels[validation, a] == 1], validation[labels[validation, a] == 0]
    n = min(k, len(pos), len(neg))
    pos, neg = pos[:n], neg[:n]
    source, reference = codes[neg], codes[pos]
    with torch.no_grad():
        out = apply_block(block, source, reference)
        before, after = cls(source.reshape(len(neg), -1))[0][:, a], cls(out.reshape(len(neg), -1))[0][:, a]

        def render(c):
            return g([c], input_is_latent=True, randomize_noise=False)

        def cycle(c):
            return ((enc(render(c), queries(enc, g, len(c))) + latent_avg - c) ** 2).mean().item()
        report = {'pairs': len(neg), 'classifier sees it before': (before > 0).float().mean().item(),
                  'after': (after > 0).float().mean().item(), 'logit change': (after - before).mean().item(),
                  'Mahalanobis distance': distance(out - source).mean().item(),
                  'cycle error source': cycle(source), 'edited': cycle(out)}
        grid = torch.cat([render(source[:8]), render(reference[:8]), render(out[:8])])
    return report, grid


def encode_all(enc, g, latent_avg, images, batch=256):
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(images[i:i + batch]).float() / 127.5 - 1
            out.append(enc(x, queries(enc, g, len(x))) + latent_avg)
    return torch.cat(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--state', help='folder with faces-gan/ and faces-encoder/ (the GPU recipe: joined by assembled_checkpoint)')
    ap.add_argument('--checkpoint', help='one Style Transformer checkpoint holding encoder and decoder (faces-cpu.pt)')
    ap.add_argument('--out', required=True)
    ap.add_argument('--boundaries', default='Smiling,Young,Male,Eyeglasses,Bangs')
    ap.add_argument('--blocks', default='Bangs,Eyeglasses,Smiling,Blond_Hair')
    ap.add_argument('--limit', type=int)
    ap.add_argument('--classifier-epochs', type=int, default=20)
    ap.add_argument('--classifier-from', help='a faces-classifier.pt from an earlier run: reused instead of trained')
    ap.add_argument('--block-steps', type=int, default=2000)
    ap.add_argument('--smoke', action='store_true')
    args = ap.parse_args()
    started = time.time()
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    if bool(args.state) == bool(args.checkpoint):
        ap.error('give --state or --checkpoint')
    # The CPU recipe's checkpoint holds encoder and generator; the GAN recipe keeps them in two stages' state.
    checkpoint = args.checkpoint or assembled_checkpoint('faces', os.path.join(args.state, 'faces-gan'),
                                                         os.path.join(args.state, 'faces-encoder'))
    enc, g, latent_avg = load_style_transformer(checkpoint, 'faces', args.smoke)
    latent_avg = latent_avg.float()
    g.requires_grad_(False)

    images, rows = data.faces(args.data, 'train', args.limit)
    labels = torch.tensor([[1.0 if r[a] == '1' else 0.0 for a in ATTRS] for r in rows])
    codes = encode_all(enc, g, latent_avg, images)
    n, d = codes.shape[1:]
    print(f'encoded {len(codes)} faces in {time.time() - started:.0f} s', flush=True)

    # 2. LCNet_40
    cls = LCNet40([n * d, 512, 512])
    opt = torch.optim.Adam(cls.parameters(), lr=1e-3)
    flat = codes.reshape(len(codes), -1)
    split = int(len(flat) * 0.9)
    if args.classifier_from:
        cls.load_state_dict(torch.load(args.classifier_from, map_location='cpu')['state_dict'])
    for epoch in range(0 if args.classifier_from else args.classifier_epochs):
        perm = torch.randperm(split)
        for i in range(0, split, 256):
            idx = perm[i:i + 256]
            logits, _ = cls(flat[idx])
            loss = F.binary_cross_entropy_with_logits(logits, labels[idx])
            opt.zero_grad(); loss.backward(); opt.step()
    cls.eval().requires_grad_(False)
    with torch.no_grad():
        accuracy = ((cls(flat[split:])[0] > 0).float() == labels[split:]).float().mean(0)
    print('classifier accuracy on a 10% split: ' + ', '.join(f'{a} {accuracy[ATTRS.index(a)]:.2f}' for a in ['Smiling', 'Male', 'Young', 'Eyeglasses', 'Bangs']), flush=True)
    if not args.classifier_from:
        torch.save({'state_dict': cls.state_dict()}, os.path.join(args.out, 'faces-classifier.pt'))

    # 3. InterFaceGAN boundaries on the mean style
    mean_style = codes.mean(1)
    for name in filter(None, args.boundaries.split(',')):
        y = labels[:, ATTRS.index(name)]
        w = torch.zeros(d, requires_grad=True)
        b = torch.zeros(1, requires_grad=True)
        lbfgs = torch.optim.LBFGS([w, b], max_iter=200)
        x = (mean_style - mean_style.mean(0)) / mean_style.std(0)

        def closure():
            lbfgs.zero_grad()
            loss = F.binary_cross_entropy_with_logits(x @ w + b, y) + 1e-3 * w.square().sum()
            loss.backward()
            return loss
        lbfgs.step(closure)
        normal = (w.detach() / mean_style.std(0))
        normal = normal / normal.norm()
        # One slider unit = one standard deviation of the training codes along the boundary's normal (InterFaceGAN
        # saves unit normals; W of an official generator has a spread of about 1 along them, the codes here need not).
        spread = (mean_style @ normal).std().item()
        accuracy = (((x @ w.detach() + b.detach()) > 0).float() == y).float().mean().item()
        print(f'boundary {name}: training accuracy {accuracy:.3f}, code spread along the normal {spread:.3f}', flush=True)
        normal = normal * spread
        np.save(os.path.join(args.out, f'{name.lower()}.npy'), normal.reshape(1, d).numpy().astype(np.float32))

    # 4. Reference editing blocks
    blocks = list(filter(None, args.blocks.split(',')))
    if blocks:
        distance = ManifoldDistance(flat[:split])
        validation = torch.arange(split, len(codes))
        with torch.no_grad():
            half = min(200, len(validation) // 2)
            pairs = distance(codes[validation[:half]] - codes[validation[half:2 * half]]).mean().item()
        print(f'Mahalanobis distance between random validation faces: {pairs:.0f}', flush=True)
    for name in blocks:
        a = ATTRS.index(name)
        block = train_block(codes[:split], labels[:split], a, cls, distance, args.block_steps, args.smoke)
        report, grid = evaluate_block(block, codes, labels, validation, a, cls, distance, enc, g, latent_avg)
        save_grid(grid, os.path.join(args.out, f'faces-edit-{name.lower()}.png'))
        print(f'editing block {name}: ' + ', '.join(f'{k} {v:.3g}' for k, v in report.items()), flush=True)
        state = {f'encoder.module.transformerlayer.{k}': v for k, v in block.state_dict().items()}
        state.update({f'classifier.module.{k}': v for k, v in cls.state_dict().items()})
        state.update({f'decoder.module.{k}': v for k, v in g.state_dict().items()})
        torch.save({'state_dict': state, 'opts': {'attribute': name}}, os.path.join(args.out, f'faces-edit-{name.lower()}.pt'))
    print(f'done in {(time.time() - started) / 60:.1f} min')


if __name__ == '__main__':
    main()
