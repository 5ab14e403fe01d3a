import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { GOLDEN } from './helpers/golden';
import { runGoldenSuite, type GoldenResult } from './suite/golden-suite';

describe('golden tensors of the official modules, tfjs cpu backend (Node)', () => {
  let results: GoldenResult[];
  beforeAll(async () => {
    await tf.setBackend('cpu');
    results = await runGoldenSuite(async (p) => new Uint8Array(await readFile(join(GOLDEN, p))));
    console.log(`golden maxima on ${tf.getBackend()}:\n${results.map((r) => `  ${r.name.padEnd(64)} ${r.maxAbsDiff.toExponential(2)}`).join('\n')}`);
  });

  it('covers every .npy output of the golden set', async () => {
    const names = new Set(results.map((r) => r.name.split(' ')[0]));
    const inputs = new Set(['stylegan2-tiny/z.npy', 'stylegan2-tiny/wplus.npy', 'stylegan2-tiny/latent_avg.npy',
      'style-transformer-tiny/input.npy', 'edit-tiny/src.npy', 'edit-tiny/ref.npy']);
    const { readdir } = await import('node:fs/promises');
    for (const dir of ['stylegan2-tiny', 'style-transformer-tiny', 'edit-tiny']) {
      for (const f of await readdir(join(GOLDEN, dir))) {
        const name = `${dir}/${f}`;
        if (!inputs.has(name)) expect(names, name).toContain(name);
      }
    }
  });

  it('reproduces each within 1e-3 (float32 precision)', () => {
    for (const r of results) expect(r.maxAbsDiff, r.name).toBeLessThan(1e-3);
  });
});
