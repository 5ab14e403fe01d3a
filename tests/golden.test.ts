import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { attendInMemorySpaceIsCheaper } from '../src/models/transformer';
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

  it('reproduces each within 5e-5 on the cpu backend (float32 arithmetic in another order; measured: below 1e-5)', () => {
    for (const r of results) expect(r.maxAbsDiff, r.name).toBeLessThan(5e-5);
  });

  it('holds both cross-attention formulations to the official tensors', () => {
    // The tiny encoder (8 queries, width 64, 4 heads) attends to c3 (16 tokens) by projecting the memory and to
    // p2 (64) and p1 (256) in the memory's space, as the official shapes (18 queries, width 512) do for all three.
    expect([16, 64, 256].map((m) => attendInMemorySpaceIsCheaper(8, m, 64, 4))).toEqual([false, true, true]);
    expect([256, 1024, 4096].map((m) => attendInMemorySpaceIsCheaper(18, m, 512, 4))).toEqual([true, true, true]);
    expect(attendInMemorySpaceIsCheaper(18, 18, 512, 4), 'self-attention').toBe(false);
  });
});
