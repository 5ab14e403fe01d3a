import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StudioModel } from '../src/engine/model';
import { fileSource } from '../src/io/node-source';
import { loadCheckpoint } from '../src/io/torch';
import { useNodeBackend } from '../src/node/backend';
import { convertCheckpoint } from '../src/weights/convert';
import { loadBundle, memoryFiles } from '../src/weights/loader';
import { publishedDirections } from '../src/weights/official-directions';
import { officialSpec, randomOfficialCheckpoint } from './helpers/official-checkpoint';

/**
 * Checkpoints with the full released shapes (filled with random numbers: the real ones cannot be downloaded
 * here) go through the whole path a user's download takes: file -> reader -> converter (float16) -> bundle ->
 * networks -> codes and images.
 */
let dir: string;
beforeAll(async () => {
  await useNodeBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'stst-official-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each([
  { model: 'ffhq' as const, domain: 'face', input: [256, 256], output: [1024, 1024], published: ['interfacegan:age', 'interfacegan:smile', 'interfacegan:pose', 'ganspace:eyes', 'ganspace:beard', 'ganspace:lip'] },
  { model: 'cars' as const, domain: 'car', input: [192, 256], output: [384, 512], published: ['ganspace:pose I', 'ganspace:pose II', 'ganspace:cube', 'ganspace:color', 'ganspace:grass'] },
])('official $model layout', ({ model, domain, input, output, published }) => {
  it('converts to a float16 bundle under 150 MB with the official parameter counts, and runs end to end', async () => {
    const spec = officialSpec(model);
    const path = join(dir, `${model}.pt`);
    await writeFile(path, randomOfficialCheckpoint(model));
    const lines: string[] = [];
    const source = await fileSource(path);
    const { manifest, shards } = await convertCheckpoint({
      checkpoint: await loadCheckpoint(source),
      fp16: true,
      log: (l) => lines.push(l),
      publishedDirections: (official) => publishedDirections(official, async (file) => new Uint8Array(await readFile(join(import.meta.dirname, '..', 'public', 'official-directions', file)))),
    });
    await source.close();
    await rm(path);
    console.log(`${model}: ${lines.join(' | ')}`);
    const bytes = shards.reduce((a, s) => a + s.length, 0);
    expect(bytes).toBeLessThan(150 * 1024 * 1024);
    expect(manifest.parameters.encoder).toBe(spec.n_params_encoder);
    expect(manifest.parameters.decoder).toBe(spec.n_params_decoder);
    expect(manifest.domain).toBe(domain);
    expect(manifest.inputSize).toEqual(input);
    expect(manifest.nQueries).toBe(18);
    // recognised by its shapes: the directions published for it are attached, credited, without a flag
    expect(manifest.directions.map((d) => `${d.kind}:${d.label}`)).toEqual(published);
    expect(manifest.directionsCredit).toContain('MIT');

    const studio = await StudioModel.load(manifest, (await loadBundle(memoryFiles(manifest, shards))).weights);
    const image = tf.randomUniform([1, input[0], input[1], 3], -1, 1, 'float32', 7) as tf.Tensor4D;
    let t = performance.now();
    const codes = studio.invert(image);
    expect(codes.shape).toEqual([1, 18, 512]);
    expect((await codes.data()).every(Number.isFinite)).toBe(true);
    const encodeMs = performance.now() - t;
    t = performance.now();
    const preview = studio.render(codes, { resolution: 64 });
    expect(preview.shape).toEqual([1, (64 * output[0]) / output[1], 64, 3]);
    expect((await preview.data()).every(Number.isFinite)).toBe(true);
    const previewMs = performance.now() - t;
    t = performance.now();
    const full = studio.render(codes);
    expect(full.shape).toEqual([1, output[0], output[1], 3]);
    const pixels = await full.data();
    expect(pixels.every(Number.isFinite)).toBe(true);
    console.log(`${model} on wasm: encode ${encodeMs.toFixed(0)} ms, preview 64 ${previewMs.toFixed(0)} ms, full ${(performance.now() - t).toFixed(0)} ms; float16 bundle ${(bytes / 2 ** 20).toFixed(1)} MiB`);
    tf.dispose([image, codes, preview, full]);
    studio.dispose();
  });
});
