import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { StudioModel } from '../src/engine/model';
import { isBackendFailure, restartNodeBackend, useNodeBackend } from '../src/node/backend';
import { decodePhoto, forgetFaceDetector, nodeFaceDetector } from '../src/node/photo';
import { loadBundle, memoryFiles } from '../src/weights/loader';
import { FIXTURES, goldenImage } from './helpers/golden';
import { convertGolden } from './helpers/golden-bundle';

async function goldenModel(): Promise<StudioModel> {
  const { manifest, shards } = await convertGolden(false);
  return await StudioModel.load(manifest, (await loadBundle(memoryFiles(manifest, shards))).weights);
}

describe('a WASM backend that breaks mid-batch (issue 15)', () => {
  it('is recognised, restarted, and the reloaded model and face detector work as before', async () => {
    await useNodeBackend('wasm');
    const input = () => goldenImage('style-transformer-tiny/input.npy');
    const before = await goldenModel();
    const rendered = tf.tidy(() => before.render(before.invert(input())).dataSync());
    const obama = await decodePhoto(new Uint8Array(await readFile(join(FIXTURES, 'photos', 'faces', 'obama.jpg'))), 'obama.jpg');
    const found = (await (await nodeFaceDetector()).detect(obama))[0].box;

    // A real trap: an op whose output does not fit WASM's 4 GB memory ("memory access out of bounds"). What the
    // module is worth afterwards varies (run alone, every later op traps too), so a batch restarts it.
    const trapped = (() => { try { tf.tile(tf.ones([1]), [1_100_000_000]); return null; } catch (error) { return error; } })();
    expect(isBackendFailure(trapped)).toBe(true);
    expect(isBackendFailure(new Error('the photo has no face'))).toBe(false);

    const broken = tf.backend();
    expect(await restartNodeBackend()).toBe('wasm');
    expect(tf.backend()).not.toBe(broken);
    forgetFaceDetector();
    const model = await goldenModel();
    const again = tf.tidy(() => model.render(model.invert(input())).dataSync());
    expect(again).toEqual(rendered);
    const refound = (await (await nodeFaceDetector()).detect(obama))[0].box;
    expect(refound.x).toBeCloseTo(found.x, 3);
    expect(refound.width).toBeCloseTo(found.width, 3);
  });
});
