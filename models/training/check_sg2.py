"""Checks sg2.py against the golden tensors of the official modules (run: /usr/bin/python3 check_sg2.py)."""
import os
import sys

import numpy as np
import torch

from golden_check import report
from sg2 import Generator

golden = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..', 'tests', 'fixtures', 'golden')
ck = torch.load(os.path.join(golden, 'stylegan2-tiny.pt'), map_location='cpu')
g = Generator(32, 64, 3, {4: 32, 8: 32, 16: 24, 32: 16}).eval()
g.load_state_dict(ck['g_ema'], strict=True)
load = lambda n: torch.from_numpy(np.load(os.path.join(golden, 'stylegan2-tiny', n)))
with torch.no_grad():
    checks = {
        'w': (g.style(load('z.npy')), load('w.npy')),
        'image_from_wplus': (g([load('wplus.npy')], input_is_latent=True, randomize_noise=False), load('image_from_wplus.npy')),
        'image_from_z_trunc0.7': (g([ck['latent_avg'] + 0.7 * (g.style(load('z.npy')) - ck['latent_avg'])], input_is_latent=True, randomize_noise=False),
                                  load('image_from_z_trunc0.7.npy')),
    }
report(checks)
