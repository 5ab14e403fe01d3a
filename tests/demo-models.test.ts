import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromRgb, toRgb } from '../src/engine/image';
import { StudioModel } from '../src/engine/model';
import { colourStatistics, reencodingError, type ColourStatistics } from '../src/engine/quality';
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
  const out: Array<{ input: RgbImage; reconstruction: RgbImage; identity: number | null; session: EditorSession }> = [];
  for (const name of names) {
    const session = new EditorSession(model, detector);
    await session.setPhoto(await photo(`${folder}/${name}`));
    const input = await session.frame(session.defaultFraming());
    const { reconstruction, identity } = await session.invert();
    out.push({ input, reconstruction, identity, session });
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
    // The identity distance is measured for every photo (on the face box found in the aligned photo); without
    // refinement these 64 px reconstructions are mostly other people by face-api's rule (tests/refine.test.ts
    // holds refinement to bringing a portrait closer).
    console.log(`identity distance: ${pairs.map((p, i) => `${FACES[i]} ${p.identity?.toFixed(3)}`).join(', ')}`);
    for (const p of pairs) expect(p.identity).toBeGreaterThan(0);
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

describe('demo face model, reference editing blocks', () => {
  it('transfer one attribute between real photos: towards the reference, keeping the face, on the manifold', async () => {
    const model = await open('demo-faces-64');
    const blocks = model.manifest.editBlocks;
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    const pairs = await invertAll(model, 'faces', FACES);
    const codes = await Promise.all(pairs.map(async ({ session }) => {
      const exported = await session.exportCodes();
      return tf.tensor3d(exported.data, exported.shape as [number, number, number]);
    }));
    const attributes = model.manifest.classifier!.attributes;
    const picture = async (c: tf.Tensor3D) => {
      const image = tf.tidy(() => tf.clipByValue(model.render(c), -1, 1) as tf.Tensor4D);
      const rgb = await toRgb(image);
      image.dispose();
      return rgb;
    };
    for (const block of blocks) {
      const attribute = attributes.indexOf(block.attribute);
      expect(attribute, block.attribute).toBeGreaterThanOrEqual(0);
      let towardsReference = 0;
      const lines: string[] = [];
      for (const [i, source] of codes.entries()) {
        for (const [j, reference] of codes.entries()) {
          if (i === j) continue;
          const edited = model.transfer(source, reference, block.id, 1);
          const logit = (c: tf.Tensor3D) => tf.tidy(() => model.classifier!.logits(c).dataSync()[attribute]);
          const [before, after, target] = [logit(source), logit(edited), logit(reference)];
          towardsReference += (after - before) * Math.sign(target - before);
          // On the manifold: the edit re-encodes about as well as the photo's own codes.
          const [sourceError, editedError] = [reencodingError(model, source), reencodingError(model, edited)];
          expect(editedError, `${block.attribute} ${FACES[j]} -> ${FACES[i]}`).toBeLessThan(2 * sourceError);
          // One attribute, not the whole face: the edit still looks more like the source photo than the reference's.
          const look = await picture(edited);
          expect(mse(look, pairs[i].input)).toBeLessThan(mse(look, pairs[j].input));
          lines.push(`${FACES[j]} -> ${FACES[i]}: logit ${before.toFixed(2)} -> ${after.toFixed(2)} (reference ${target.toFixed(2)}), re-encoding ${sourceError.toFixed(4)} -> ${editedError.toFixed(4)}`);
          edited.dispose();
        }
      }
      console.log(`${block.attribute} block:\n  ${lines.join('\n  ')}`);
      expect(towardsReference, block.attribute).toBeGreaterThan(0);
    }
    tf.dispose(codes);
    for (const p of pairs) p.session.dispose();
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

  // The cars' GANSpace components were named by looking at them; this holds each name to what it claims, on the
  // pictures a user gets (the session's render at the slider's preset). A new model's presets need a row here.
  // 'deeper colour' is darker, richer paint: on the held-out cars it darkens 99.5% and saturates 94% (evaluation.json),
  // but these Ferraris' paint is saturated already, so only the darkening is asked of it.
  const NAMED_BY: Record<string, [keyof ColourStatistics, 1 | -1]> = {
    lighting: ['brightness', 1], 'lighter paint': ['centreBrightness', 1], 'deeper colour': ['centreBrightness', -1], 'warmer colour': ['warmth', 1],
  };
  it('moves each real car the way its GANSpace slider is named', async () => {
    const model = await open('demo-cars-128');
    const pairs = await invertAll(model, 'cars', CARS);
    const statistics = (image: RgbImage) => {
      const picture = fromRgb(image);
      const out = colourStatistics(picture);
      picture.dispose();
      return out;
    };
    const unedited = await Promise.all(pairs.map(async (p) => statistics((await p.session.render([])).image)));
    for (const d of model.manifest.directions.filter((x) => x.kind === 'ganspace')) {
      expect(Object.keys(NAMED_BY)).toContain(d.label);
      const [measure, sign] = NAMED_BY[d.label];
      const changes: number[] = [];
      for (const [i, p] of pairs.entries()) {
        const after = statistics((await p.session.render([{ direction: d.id, value: d.preset }])).image)[measure];
        changes.push(sign * (after - unedited[i][measure]));
      }
      console.log(`${d.label} (${sign > 0 ? '+' : '-'}${measure}) per photo: ${changes.map((c) => c.toFixed(3)).join(' ')}`);
      expect(changes.reduce((a, b) => a + b, 0) / changes.length).toBeGreaterThan(0.005); // [0, 1] units; ~1.3 of 255
    }
    for (const p of pairs) p.session.dispose();
    model.dispose();
  }, 300_000);
});

describe('demo bundles carry their data terms', () => {
  // A re-conversion without --license/--source silently wrote the converter's defaults into both bundles once.
  it.each([['demo-faces-64', 'CelebA'], ['demo-cars-128', 'Stanford Cars']])('%s names %s and its terms', async (dir, data) => {
    const manifest = JSON.parse(await readFile(join(ROOT, 'models', dir, 'model.json'), 'utf8'));
    expect(manifest.license).toContain(data);
    expect(manifest.license).toContain('non-commercial research use');
    expect(manifest.license).toContain(`models/${dir}/README.md`);
    expect(manifest.source).toContain('models/training/');
  });
});
