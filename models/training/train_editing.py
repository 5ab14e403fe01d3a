"""Stage (CPU): everything the editor's sliders and reference panel need, from a trained generator + encoder.

1. Codes: the encoder's W+ codes of the training faces (and of the held-out ones, for evaluation).
2. LCNet_40: the latent attribute classifier on those codes and the 40 CelebA attributes (the official
   LCNet_40 structure: fmaps [n*D, 512, 512] here, 40 heads, leaky ReLU 0.2) -> faces-classifier.pt {'state_dict'}.
3. InterFaceGAN: for each attribute in --boundaries, a linear boundary on the mean style (a logistic regression,
   as the paper's linear SVM); its normal, scaled to one standard deviation of the codes along it (so a slider unit
   means the same for every attribute and model), saved as <attribute>.npy [1, D].
4. Editing blocks: for each attribute in --blocks, the paper's reference editing transformer block trained with
   its reference loss, in our form: the classifier must see the reference's label for the attribute, the other
   attributes' embeddings must stay the source's, and the codes may move only a little
   -> faces-edit-<attribute>.pt {'state_dict': encoder.module.transformerlayer.* + classifier.module.* + decoder.module.*}.
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
from train_encoder import load_style_transformer

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
        feats = [fc(x) for fc in self.indep_fcs]
        return torch.cat([o(f) for o, f in zip(self.output_fcs, feats)], 1), torch.stack(feats, 1)


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
    ap.add_argument('--state', help='folder with faces-encoder/ (the GPU recipe; its checkpoint holds the generator too)')
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
    # The encoder stage saves the frozen generator beside the encoder, so one file holds both in either recipe.
    path = args.checkpoint or os.path.join(args.state, 'faces-encoder', 'faces-encoder.pt')
    enc, g, latent_avg = load_style_transformer(path, 'faces', args.smoke)
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
    cls.eval()
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
    for name in filter(None, args.blocks.split(',')):
        a = ATTRS.index(name)
        block = TransformerDecoderLayer(d, 4, 2 * d if args.smoke else 1024 if d >= 512 else 2 * d)
        opt = torch.optim.Adam(block.parameters(), lr=1e-4)
        pos = torch.nonzero(labels[:, a] == 1).flatten()
        neg = torch.nonzero(labels[:, a] == 0).flatten()
        for step in range(args.block_steps):
            src = codes[neg[torch.randint(0, len(neg), (32,))]]
            ref = codes[pos[torch.randint(0, len(pos), (32,))]]
            out = block(src.permute(1, 0, 2), ref.permute(1, 0, 2)).permute(1, 0, 2)
            logits, emb = cls(out.reshape(32, -1))
            _, emb_src = cls(src.reshape(32, -1))
            _, emb_ref = cls(ref.reshape(32, -1))
            keep = torch.ones(40, dtype=torch.bool); keep[a] = False
            loss = (F.binary_cross_entropy_with_logits(logits[:, a], torch.ones(32)) + F.mse_loss(emb[:, a], emb_ref[:, a])
                    + F.mse_loss(emb[:, keep], emb_src[:, keep]) + 0.1 * F.mse_loss(out, src))
            opt.zero_grad(); loss.backward(); opt.step()
        state = {f'encoder.module.transformerlayer.{k}': v for k, v in block.state_dict().items()}
        state.update({f'classifier.module.{k}': v for k, v in cls.state_dict().items()})
        state.update({f'decoder.module.{k}': v for k, v in g.state_dict().items()})
        torch.save({'state_dict': state, 'opts': {'attribute': name}}, os.path.join(args.out, f'faces-edit-{name.lower()}.pt'))
        print(f'editing block {name}: final loss {loss.item():.3f}', flush=True)
    print(f'done in {(time.time() - started) / 60:.1f} min')


if __name__ == '__main__':
    main()
