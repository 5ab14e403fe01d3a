import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { StudioModel } from '../src/engine/model';
import { EditorSession } from '../src/engine/session';
import { useNodeBackend } from '../src/node/backend';
import { decodePhoto, nodeFaceDetector } from '../src/node/photo';
import type { FaceDetector } from '../src/photo/faces';
import type { RgbImage } from '../src/photo/types';
import { loadBundle } from '../src/weights/loader';
import { directoryFiles } from '../src/weights/node-files';
import { FIXTURES } from './helpers/golden';

/**
 * The shipped demo models on real photos they never saw. The truth is the photos themselves: every reconstruction
 * must look more like its own photo than like any of the others, and the face sliders must move the attribute
 * the latent classifier (trained on CelebA's labels) reads.
 */
const ROOT = join(import.meta.dirname, '..');
const FACES = ['obama.jpg', 'obama2.jpg', 'obama3.jpg', 'biden.jpg'];
const CARS = ['ferrari-red-3852233337_7593a392c1_b.jpg', 'ferrari-black-3714394095_a28ee188cb_b.jpg',
  'ferrari-white-3863563450_db8cb5f947_b.jpg', 'ferrari-yellow-227416776_2dc8b1ec1e_b.jpg'];

let detector: FaceDetector;
const open = async (dir: string) => {
  const { manifest, weights } = await loadBundle(directoryFiles(join(ROOT, 'models', dir)));
  return new StudioModel(manifest, weights);
};
const photo = async (p: string) => decodePhoto(new Uint8Array(await readFile(join(FIXTURES, 'photos', p))), p);
const mse = (a: RgbImage, b: RgbImage) => {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += ((a.data[i] - b.data[i]) / 127.5) ** 2;
  return sum / a.data.length;
};

/** Inverts each photo; returns [input as the encoder saw it, reconstruction] pairs. */
async function invertAll(model: StudioModel, folder: string, names: string[]) {
  const out: Array<{ input: RgbImage; reconstruction: RgbImage; session: EditorSession }> = [];
  for (const name of names) {
    const session = new EditorSession(model, detector);
    await session.setPhoto(await photo(`${folder}/${name}`));
    const input = await session.frame(session.defaultFraming());
    const { reconstruction } = await session.invert();
    out.push({ input, reconstruction, session });
  }
  return out;
}

function expectEachClosestToItsOwnPhoto(pairs: Array<{ input: RgbImage; reconstruction: RgbImage }>) {
  const table = pairs.map((p) => pairs.map((q) => mse(p.reconstruction, q.input)));
  console.log('reconstruction MSE against each input (rows: reconstructions):\n' + table.map((r) => r.map((v) => v.toFixed(4)).join(' ')).join('\n'));
  table.forEach((row, i) => row.forEach((v, j) => { if (j !== i) expect(row[i]).toBeLessThan(v); }));
}

beforeAll(async () => {
  await useNodeBackend('wasm');
  detector = await nodeFaceDetector();
});

describe('demo face model', () => {
  it('reconstructs each real face closer to itself than to the others, and its sliders move their attribute', async () => {
    const model = await open('demo-faces-64');
    const pairs = await invertAll(model, 'faces', FACES);
    expectEachClosestToItsOwnPhoto(pairs);
    // Every InterFaceGAN slider raises the classifier's logit for its attribute on every photo.
    const attributes = model.manifest.classifier!.attributes;
    const directions = model.manifest.directions.filter((d) => d.kind === 'interfacegan');
    expect(directions.map((d) => d.id).sort()).toEqual(['bangs', 'eyeglasses', 'male', 'smiling', 'young']);
    for (const { session } of pairs) {
      const exported = await session.exportCodes();
      const codes = tf.tensor3d(exported.data, exported.shape as [number, number, number]);
      const before = model.classifier!.logits(codes);
      for (const d of directions) {
        const attribute = attributes.findIndex((a) => a.toLowerCase() === d.id);
        const edited = model.applyEdits(codes, [{ direction: d.id, value: 2 }]);
        const after = model.classifier!.logits(edited);
        const change = (await after.data())[attribute] - (await before.data())[attribute];
        expect(change, d.id).toBeGreaterThan(0);
        tf.dispose([edited, after]);
      }
      tf.dispose([before, codes]);
      session.dispose();
    }
    model.dispose();
  }, 300_000);
});

describe('demo car model', () => {
  it('reconstructs each real car closer to itself than to the others', async () => {
    const model = await open('demo-cars-128');
    const pairs = await invertAll(model, 'cars', CARS);
    expectEachClosestToItsOwnPhoto(pairs);
    expect(model.manifest.directions.filter((d) => d.kind === 'ganspace').length).toBeGreaterThanOrEqual(3);
    for (const p of pairs) p.session.dispose();
    model.dispose();
  }, 300_000);
});
