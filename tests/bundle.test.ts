import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { StudioModel } from '../src/engine/model';
import { useNodeBackend } from '../src/node/backend';
import { decodeWeights, floatToHalf, manifestByteLength, type BundleManifest, type WeightEntry } from '../src/weights/bundle';
import type { CheckpointError } from '../src/io/errors';
import { halfToFloat } from '../src/io/torch';
import { loadBundle, memoryFiles } from '../src/weights/loader';
import { directoryFiles, writeBundle } from '../src/weights/node-files';
import { readFile } from 'node:fs/promises';
import { bytesSource } from '../src/io/byte-source';
import { getEntry, loadCheckpoint, TorchTensor } from '../src/io/torch';
import { ganspaceEdit } from '../src/models/editing';
import { RawWeights } from '../src/models/weights';
import { GOLDEN, golden, goldenImage, goldenTensor, maxAbsDiff } from './helpers/golden';
import { convertGolden } from './helpers/golden-bundle';

beforeAll(async () => {
  await useNodeBackend('cpu');
});

describe('model bundles', () => {
  it('converts the golden checkpoints and, written to disk and loaded back, reproduces the golden outputs', async () => {
    const { manifest, shards } = await convertGolden(false);
    expect(manifest.domain).toBe('face');
    expect(manifest.inputSize).toEqual([64, 64]);
    expect(manifest.encoder?.stageUnits).toEqual([1, 2, 2, 1]);
    expect(manifest.editBlocks.map((b) => b.id)).toEqual(['bangs']);
    expect(manifest.directions.filter((d) => d.kind === 'label')).toHaveLength(5);
    const dir = await mkdtemp(join(tmpdir(), 'stst-bundle-'));
    await writeBundle(dir, manifest, shards);
    const progress: number[] = [];
    const { manifest: loaded, weights } = await loadBundle(directoryFiles(dir), (p) => progress.push(p.loaded / p.total));
    expect(progress.at(-1)).toBe(1);
    const model = await StudioModel.load(loaded, weights);
    const input = goldenImage('style-transformer-tiny/input.npy');
    const codes = model.invert(input);
    const image = model.render(codes);
    const diffs = {
      codes: maxAbsDiff(codes, golden('style-transformer-tiny/codes.npy')),
      image: maxAbsDiff(image, golden('style-transformer-tiny/image.npy'), true),
    };
    console.log('float32 bundle vs golden', diffs);
    expect(diffs.codes).toBeLessThan(1e-5);
    expect(diffs.image).toBeLessThan(1e-4);
    const src = goldenTensor('edit-tiny/src.npy') as tf.Tensor3D;
    const ref = goldenTensor('edit-tiny/ref.npy') as tf.Tensor3D;
    expect(maxAbsDiff(model.transfer(src, ref, 'bangs', 1), golden('edit-tiny/mix.npy'))).toBeLessThan(1e-5);
    tf.dispose([input, codes, image, src, ref]);
    model.dispose();
  });

  it('stores float16 at half the size, within float16 rounding of the float32 results', async () => {
    const f32 = await convertGolden(false);
    const f16 = await convertGolden(true);
    const bytes = (o: typeof f32) => o.shards.reduce((a, s) => a + s.length, 0);
    expect(bytes(f16)).toBe(bytes(f32) / 2);
    expect(manifestByteLength(f16.manifest)).toBe(bytes(f16));
    const model = await StudioModel.load(f16.manifest, (await loadBundle(memoryFiles(f16.manifest, f16.shards))).weights);
    const input = goldenImage('style-transformer-tiny/input.npy');
    const codes = model.invert(input);
    const diff = maxAbsDiff(codes, golden('style-transformer-tiny/codes.npy'));
    console.log('float16 bundle codes vs golden', diff);
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThan(0.05);
    tf.dispose([input, codes]);
    model.dispose();
  });

  it('rounds float16 to nearest even like numpy', () => {
    for (const v of [0, 1, -2.5, 65504, 1e-7, 3.14159, -0.000061035, 1 + 2 ** -11, 1 + 3 * 2 ** -11]) {
      const h = halfToFloat(floatToHalf(v));
      expect(Math.abs(h - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 2 ** -25);
    }
    expect(halfToFloat(floatToHalf(1 + 2 ** -11))).toBe(1); // tie -> even
    expect(halfToFloat(floatToHalf(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9);
    expect(halfToFloat(floatToHalf(1e6))).toBe(Infinity);
  });
});

describe('a bundle is checked before anything of it is used', () => {
  /** The golden bundle written to a fresh folder, then changed by `tamper` (manifest and files). */
  async function tampered(tamper: (manifest: BundleManifest, dir: string) => Promise<void> | void): Promise<string> {
    const { manifest, shards } = await convertGolden(false);
    const dir = await mkdtemp(join(tmpdir(), 'stst-hostile-'));
    await writeBundle(dir, manifest, shards);
    await tamper(manifest, dir);
    await writeFile(join(dir, 'model.json'), JSON.stringify(manifest));
    return dir;
  }
  const refusal = async (dir: string) => loadBundle(directoryFiles(dir)).then(() => null, (e: CheckpointError) => [e.code, e.message]);

  it('refuses weights files outside the bundle, by any spelling', async () => {
    for (const path of ['../../outside/stolen.bin', '/etc/passwd', 'https://example.com/w.bin', 'sub/../../x.bin', '..', 'C:\\x.bin']) {
      const dir = await tampered((m) => { m.weightsManifest[0].paths[0] = path; });
      expect(await refusal(dir), path).toEqual(['invalid-bundle', expect.stringMatching(/not a plain file name inside the bundle's folder/)]);
    }
  });

  it('refuses a shard of the wrong size, a transposed tensor and non-finite values', async () => {
    const longer = await tampered(async (m, dir) => {
      const first = join(dir, m.weightsManifest[0].paths[0]);
      const bytes = await readFile(first);
      await writeFile(first, Buffer.concat([bytes, bytes]));
    });
    expect(await refusal(longer)).toEqual(['invalid-bundle', expect.stringMatching(/hold \d+ bytes where model.json describes \d+/)]);
    const flipped = await tampered((m) => {
      const w = m.weightsManifest[0].weights.find((e) => e.shape.length === 2 && e.shape[0] !== e.shape[1])!;
      w.shape = [...w.shape].reverse();
    });
    expect(await refusal(flipped)).toEqual(['shape-mismatch', expect.stringMatching(/where this architecture needs/)]);
    const nan = await tampered(async (m, dir) => {
      const first = join(dir, m.weightsManifest[0].paths[0]);
      const bytes = await readFile(first);
      bytes.writeFloatLE(Number.NaN, 4 * 10);
      await writeFile(first, bytes);
    });
    expect(await refusal(nan)).toEqual(['non-finite', expect.stringMatching(/holds NaN at index 10/)]);
    const huge = await tampered((m) => { m.weightsManifest[0].weights[0].shape = [1e9, 1e9]; });
    expect(await refusal(huge)).toEqual(['invalid-bundle', expect.stringMatching(/not a float32 tensor of a plausible size/)]);
  });
});

describe('edits', () => {
  let model: StudioModel;
  let codes: tf.Tensor3D;
  beforeAll(async () => {
    const { manifest, shards } = await convertGolden(false);
    model = await StudioModel.load(manifest, (await loadBundle(memoryFiles(manifest, shards))).weights);
    codes = goldenTensor('style-transformer-tiny/codes.npy') as tf.Tensor3D;
  });

  it('InterFaceGAN moves every style by factor * direction, only within the chosen range', () => {
    const d = golden('directions/smile_boundary.npy').data;
    const edited = model.applyEdits(codes, [{ direction: 'smile-npy', value: 2, range: { start: 2, end: 5 } }]);
    const a = codes.arraySync();
    const b = edited.arraySync();
    for (let s = 0; s < 8; s++) {
      for (let c = 0; c < 64; c++) {
        const expected = a[1][s][c] + (s >= 2 && s < 5 ? 2 * d[c] : 0);
        expect(Math.abs(b[1][s][c] - expected)).toBeLessThan(1e-5);
      }
    }
    edited.dispose();
  });

  it('GANSpace follows the published formula on its styles only', async () => {
    const ck = await loadCheckpoint(bytesSource(new Uint8Array(await readFile(join(GOLDEN, 'directions', 'ganspace_pcs.pt')))));
    const read = async (k: string) => Array.from(await (getEntry(ck.root, k) as TorchTensor).toFloat32());
    const [comp, std, mean] = [await read('comp'), await read('std'), await read('mean')];
    const pcs = { comp: tf.tensor2d(comp, [10, 64]), std: tf.tensor1d(std), mean: tf.tensor2d(mean, [1, 64]) };
    const index = 3;
    const strength = 4;
    const edited = ganspaceEdit(codes, pcs, index, strength, { start: 1, end: 3 }).arraySync();
    const a = codes.arraySync();
    for (let b = 0; b < 2; b++) {
      const c = comp.slice(index * 64, index * 64 + 64);
      const coord = a[b][0].reduce((sum, w, i) => sum + (w - mean[i]) * c[i], 0) / std[index];
      for (let s = 0; s < 8; s++) {
        for (let i = 0; i < 64; i++) {
          const expected = a[b][s][i] + (s >= 1 && s < 3 ? (strength - coord) * c[i] * std[index] : 0);
          expect(Math.abs(edited[b][s][i] - expected)).toBeLessThan(1e-4);
        }
      }
    }
    tf.dispose([pcs.comp, pcs.std, pcs.mean]);
  });

  it('the GANSpace slider adds value x std x component on its styles, so it grows continuously from 0', async () => {
    const { manifest, weights } = await loadBundle(directoryFiles(join(import.meta.dirname, '..', 'models', 'golden-tiny-car')));
    const car = await StudioModel.load(manifest, weights);
    const d = car.manifest.directions.find((x) => x.kind === 'ganspace');
    if (d?.kind !== 'ganspace') throw new Error('the golden car bundle has GANSpace directions');
    const ck = await loadCheckpoint(bytesSource(new Uint8Array(await readFile(join(GOLDEN, 'directions', 'ganspace_pcs.pt')))));
    const read = async (k: string) => Array.from(await (getEntry(ck.root, k) as TorchTensor).toFloat32());
    const [comp, std] = [await read('comp'), await read('std')];
    const a = codes.arraySync();
    for (const value of [0.08, -3]) {
      const b = car.applyEdits(codes, [{ direction: d.id, value }]).arraySync();
      for (let s = 0; s < 8; s++) {
        const inside = s >= d.range.start && s < d.range.end;
        for (let i = 0; i < 64; i++) {
          const expected = a[0][s][i] + (inside ? value * std[d.component] * comp[d.component * 64 + i] : 0);
          expect(Math.abs(b[0][s][i] - expected)).toBeLessThan(1e-5);
        }
      }
    }
    car.dispose();
  });

  it('a label direction raises the classifier score of its attribute', () => {
    const before = model.classifier!.logits(codes).arraySync();
    const edited = model.applyEdits(codes, [{ direction: 'label-attribute-2', value: 0.5 }]);
    const after = model.classifier!.logits(edited).arraySync();
    for (let b = 0; b < 2; b++) expect(after[b][2]).toBeGreaterThan(before[b][2]);
    const lowered = model.applyEdits(codes, [{ direction: 'label-attribute-2', value: -0.5 }]);
    const down = model.classifier!.logits(lowered).arraySync();
    for (let b = 0; b < 2; b++) expect(down[b][2]).toBeLessThan(before[b][2]);
    tf.dispose([edited, lowered]);
  });

  it('a label slider moves along the classifier gradient at the codes it edits, photo after photo', () => {
    // The model keeps the direction of the codes last edited (a drag asks for it at every position); another
    // photo's codes must get their own.
    const other = tf.mul(codes, 0.5) as tf.Tensor3D;
    const d = model.manifest.directions.find((x) => x.id === 'label-attribute-2')!;
    expect(d.range).toEqual({ start: 0, end: model.manifest.nLatent });
    const step = (c: tf.Tensor3D, value: number) => tf.tidy(() => tf.div(tf.sub(model.applyEdits(c, [{ direction: d.id, value }]), c), value * (d.scale ?? 1)));
    for (const value of [0.5, 1.5]) {
      step(other, value).dispose();
      expect(maxAbsDiff(step(codes, value), golden('edit-tiny/label_direction_attr2_positive.npy'))).toBeLessThan(1e-5);
      const fresh = model.classifier!.labelDirection(other, 2, 1);
      expect(maxAbsDiff(step(other, value), { data: fresh.dataSync() as Float32Array, shape: fresh.shape })).toBeLessThan(1e-5);
      fresh.dispose();
    }
    other.dispose();
  });

  it('style mixing takes the reference styles on the range only; transfer strength 0 keeps the source', () => {
    const ref = goldenTensor('edit-tiny/ref.npy') as tf.Tensor3D;
    const mixed = model.mixStyles(codes, ref, { start: 4, end: 8 }).arraySync();
    const a = codes.arraySync();
    const r = ref.arraySync();
    expect(mixed[0][0]).toEqual(a[0][0]);
    expect(mixed[0][5].map((v, i) => Math.abs(v - r[0][5][i]) < 1e-6).every(Boolean)).toBe(true);
    const none = model.transfer(codes, ref, 'bangs', 0);
    expect(maxAbsDiff(none, golden('style-transformer-tiny/codes.npy'))).toBe(0);
    tf.dispose([ref, none]);
  });
});

describe('a convolution weight in the filter layout the networks keep', () => {
  it('is PyTorch\'s [out, in, kh, kw] (or StyleGAN2\'s [1, out, in, k, k]) transposed to [kh, kw, in, out] and scaled, as tf.transpose makes it', () => {
    const cases: Array<{ shape: number[]; scale: number | Float32Array }> = [
      { shape: [70, 3, 3, 3], scale: 1 }, // more output channels than a block of 64, not a multiple of it
      { shape: [1, 16, 24, 3, 3], scale: 0.25 },
      { shape: [130, 5, 1, 1], scale: Float32Array.from({ length: 130 }, (_, o) => o / 7 - 3) },
    ];
    for (const { shape, scale } of cases) {
      const data = Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 1.3) * 2);
      const { values, shape: layout } = new RawWeights(new Map([['w', { shape, data }]])).filter('w', scale);
      const [out, inC, kh, kw] = shape.slice(-4);
      const expected = tf.tidy(() => tf.mul(tf.transpose(tf.tensor4d(data, [out, inC, kh, kw]), [2, 3, 1, 0]), typeof scale === 'number' ? scale : tf.tensor1d(scale)));
      expect(layout).toEqual(expected.shape);
      expect(Array.from(values)).toEqual(Array.from(expected.dataSync()));
      expected.dispose();
    }
  });
});

describe('reading a bundle\'s weights', () => {
  it('decodes float16 and float32 tensors wherever they lie: across shards, at odd offsets, and never aliases a float32 tensor to its shard', () => {
    const values = { a: [1.5, -2, 0.25], b: [3, 4, 5, 6, 7], c: [65504, -0.5, 1 / 1024, 2] };
    const weights: WeightEntry[] = [
      { name: 'a', shape: [3], dtype: 'float32', quantization: { dtype: 'float16' } }, // 6 bytes
      { name: 'b', shape: [5], dtype: 'float32' }, // 20 bytes from byte 6: not 4-aligned
      { name: 'c', shape: [2, 2], dtype: 'float32', quantization: { dtype: 'float16' } }, // 8 bytes across the shards' border
    ];
    const bytes = new Uint8Array(6 + 20 + 8);
    const view = new DataView(bytes.buffer);
    values.a.forEach((v, i) => view.setUint16(2 * i, floatToHalf(v), true));
    values.b.forEach((v, i) => view.setFloat32(6 + 4 * i, v, true));
    values.c.forEach((v, i) => view.setUint16(26 + 2 * i, floatToHalf(v), true));
    // shards at odd offsets of one buffer (as a browser may hand them over), split inside c
    const backing = new Uint8Array(1 + bytes.length + 1);
    backing.set(bytes.subarray(0, 30), 1);
    backing.set(bytes.subarray(30), 32);
    // and the same bytes split after 2 bytes, where c lies inside the second shard at an even offset: read in place
    for (const shards of [[backing.subarray(1, 31), backing.subarray(32, 36)], [bytes.subarray(0, 2), bytes.subarray(2)]]) {
      const decoded = decodeWeights({ paths: ['1', '2'], weights }, shards);
      for (const [name, v] of Object.entries(values)) expect(Array.from(decoded.get(name)!.data)).toEqual(v);
      for (const t of decoded.values()) expect(t.data.buffer === backing.buffer || t.data.buffer === bytes.buffer).toBe(false);
    }
  });
});
