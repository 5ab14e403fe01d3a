import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { StudioModel } from '../src/engine/model';
import { bytesSource } from '../src/io/byte-source';
import { CheckpointError } from '../src/io/errors';
import { loadCheckpoint } from '../src/io/torch';
import { openZip } from '../src/io/zip';
import { useNodeBackend } from '../src/node/backend';
import { convertCheckpoint } from '../src/weights/convert';
import { loadBundle, memoryFiles } from '../src/weights/loader';
import { GOLDEN, golden, goldenTensor, maxAbsDiff } from './helpers/golden';
import { officialSpec } from './helpers/official-checkpoint';
import { torchZip, type PickleDict } from './helpers/torch-writer';

async function checkpoint(name: string) {
  return loadCheckpoint(bytesSource(new Uint8Array(await readFile(join(GOLDEN, name))), name));
}

async function rejection(promise: Promise<unknown>): Promise<CheckpointError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(CheckpointError);
  return error as CheckpointError;
}

/** A layout-only checkpoint: every tensor of `layout` (zeros), minus `drop`, plus `extra`. */
function layoutCheckpoint(layout: Record<string, number[]>, drop: string[] = [], extra: Record<string, number[]> = {}) {
  const state: PickleDict = {};
  for (const [name, shape] of Object.entries({ ...layout, ...extra })) {
    if (!drop.includes(name)) state[name] = { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
  }
  return loadCheckpoint(bytesSource(torchZip({ state_dict: state, latent_avg: { shape: [512], data: new Float32Array(512) } })));
}

beforeAll(async () => {
  await useNodeBackend('cpu');
});

describe('converter', () => {
  it('turns a rosinality StyleGAN2 checkpoint (g_ema, latent_avg) into a generator-only bundle', async () => {
    let asked = 0; // only a released model gets the published directions (tests/official-shapes.test.ts)
    const { manifest, shards } = await convertCheckpoint({ checkpoint: await checkpoint('stylegan2-tiny-legacy.pt'), publishedDirections: async () => { asked++; return []; } });
    expect([asked, manifest.directions.length, manifest.directionsCredit]).toEqual([0, 0, undefined]);
    expect(manifest.encoder).toBeNull();
    expect(manifest.generator.size).toBe(32);
    const model = await StudioModel.load(manifest, (await loadBundle(memoryFiles(manifest, shards))).weights);
    const wplus = goldenTensor('stylegan2-tiny/wplus.npy') as tf.Tensor3D;
    const image = model.render(wplus);
    expect(maxAbsDiff(image, golden('stylegan2-tiny/image_from_wplus.npy'), true)).toBeLessThan(1e-5);
    expect(() => model.invert(tf.zeros([1, 64, 64, 3]))).toThrow(/no encoder/);
    tf.dispose([wplus, image]);
    model.dispose();
  });

  it('says which checkpoint an editing or classifier file is, and how to add it', async () => {
    expect((await rejection(convertCheckpoint({ checkpoint: await checkpoint('edit-tiny.pt') }))).message).toMatch(/--edit/);
    expect((await rejection(convertCheckpoint({ checkpoint: await checkpoint('classifier-tiny.pt') }))).message).toMatch(/--classifier/);
    expect((await rejection(convertCheckpoint({ checkpoint: await checkpoint('storage-views.pt') }))).code).toBe('not-a-checkpoint');
  });

  it('names missing, unexpected and mis-shaped tensors against the official layout', async () => {
    const layout = officialSpec('cars').tensors;
    const missing = await rejection(convertCheckpoint({ checkpoint: await layoutCheckpoint(layout, ['encoder.module.body.5.res_layer.2.weight']) }));
    expect(missing.code).toBe('missing-tensor');
    expect(missing.message).toContain('encoder.module.body.5.res_layer.2.weight');
    const unexpected = await rejection(convertCheckpoint({ checkpoint: await layoutCheckpoint(layout, [], { 'encoder.module.extra_head.weight': [4, 4] }) }));
    expect(unexpected.code).toBe('unexpected-tensor');
    expect(unexpected.message).toContain('encoder.module.extra_head.weight');
    const wrong = await rejection(convertCheckpoint({ checkpoint: await layoutCheckpoint(layout, [], { 'encoder.module.latlayer1.bias': [256] }) }));
    expect(wrong.code).toBe('shape-mismatch');
    expect(wrong.message).toMatch(/latlayer1\.bias is \[256\] where \[512\] is expected/);
  });

  it('refuses a direction whose width does not match the model', async () => {
    const error = await rejection(convertCheckpoint({
      checkpoint: await checkpoint('style-transformer-tiny.pt'),
      directions: [{ name: 'smile', value: { shape: [1, 512], data: new Float32Array(512) } }],
    }));
    expect(error.message).toMatch(/512 wide; this model's styles are 64/);
    const pca = await loadCheckpoint(bytesSource(new Uint8Array(await readFile(join(import.meta.dirname, '..', 'public', 'official-directions', 'cars_pca.pt')))));
    const ganspace = await rejection(convertCheckpoint({ checkpoint: await checkpoint('style-transformer-tiny.pt'), directions: [{ name: 'cars_pca', value: pca.root }] }));
    expect(ganspace.message).toMatch(/GANSpace file cars_pca is 512 wide/);
  });

  it('npm run convert answers a missing file, a folder or a non-finite weight in one line, with no stack trace', async () => {
    const run = promisify(execFile);
    const out = await mkdtemp(join(tmpdir(), 'stst-convert-'));
    for (const [input, expected] of [['missing.pt', /^convert: .*missing\.pt does not exist\n$/], [out, /^convert: .* is a folder, not a checkpoint\n$/]] as const) {
      const failure = await run('npx', ['tsx', 'scripts/convert.ts', input, '--out', join(out, 'bundle')], { cwd: join(import.meta.dirname, '..') })
        .then(() => null, (e: { code: number; stderr: string }) => e);
      expect(failure?.code).toBe(1);
      expect(failure?.stderr).toMatch(expected);
    }
    // a non-finite weight is refused at conversion, by name
    const finite = await rejection(convertCheckpoint({ checkpoint: await layoutCheckpointWithNaN() }));
    expect(finite.code).toBe('non-finite');
  });
});

/** The tiny golden checkpoint with one float of a storage overwritten by NaN in the file's bytes. */
async function layoutCheckpointWithNaN() {
  const bytes = new Uint8Array(await readFile(join(GOLDEN, 'style-transformer-tiny.pt')));
  const zip = await openZip(bytesSource(bytes, 'tiny.pt'));
  const entry = [...zip.entries.values()].find((e) => /\/data\/\d+$/.test(e.name) && e.size >= 16)!;
  new DataView(bytes.buffer, bytes.byteOffset).setFloat32((await zip.dataOffset(entry)) + 4, Number.NaN, true);
  return loadCheckpoint(bytesSource(bytes, 'nan.pt'));
}
