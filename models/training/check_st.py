"""Checks st_encoder.py (with sg2.py's mapping) against the golden tensors of the official modules."""
import os
import sys

import numpy as np
import torch

from golden_check import report
from sg2 import Generator
from st_encoder import StyleTransformerEncoder, queries

golden = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..', 'tests', 'fixtures', 'golden')
ck = torch.load(os.path.join(golden, 'style-transformer-tiny.pt'), map_location='cpu')
sd = ck['state_dict']
enc = StyleTransformerEncoder((1, 2, 2, 1), (16, 24, 32, 64), stem=16, d_model=64, n_queries=8, ffn=128).eval()
gen = Generator(32, 64, 3, {4: 32, 8: 32, 16: 24, 32: 16}).eval()
enc.load_state_dict({k[len('encoder.module.'):]: v for k, v in sd.items() if k.startswith('encoder.module.')}, strict=True)
gen.load_state_dict({k[len('decoder.module.'):]: v for k, v in sd.items() if k.startswith('decoder.module.')}, strict=True)
load = lambda n: torch.from_numpy(np.load(os.path.join(golden, 'style-transformer-tiny', n)))
with torch.no_grad():
    x = load('input.npy')
    q = queries(enc, gen, 2)
    f = enc.features(x)
    codes = enc(x, q) + ck['latent_avg']
    image = gen([codes], input_is_latent=True, randomize_noise=False)
checks = {'query': (q, load('query.npy')), 'c1': (f['c1'], load('c1.npy')), 'p1': (f['p1'], load('p1.npy')),
          'codes': (codes, load('codes.npy')), 'image': (image, load('image.npy'))}
report(checks)
