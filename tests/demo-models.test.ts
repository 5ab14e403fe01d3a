import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { toRgb } from '../src/engine/image';
import { StudioModel } from '../src/engine/model';
import { reencodingError } from '../src/engine/quality';
import { DEFAULT_REFINEMENT } from '../src/engine/refine-presets';
import { EditorSession } from '../src/engine/session';
import { COLOUR_NAMED_BY, judgeFor, measureOnPhoto, summarise, type TrialResult } from '../src/engine/slider-effects';
import { COLOUR_ATTRIBUTES } from '../src/engine/slider-rules';
import { sliderPanel } from '../app/sliders';
import { alignFace } from '../src/photo/align';
import { ffhqQuad } from '../src/photo/geometry';
import { useNodeBackend } from '../src/node/backend';
import { useGradients } from '../src/node/gradients';
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
  return await StudioModel.load(manifest, weights);
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

describe('the default face model, the sliders it offers', () => {
  // Each slider offered by default was calibrated on held-out CelebA faces (npm run evaluate -- --calibrate); this
  // holds its name to its effect on real portraits it never saw, on the composite a user downloads, read by the
  // same judges (face-api's expression and age/gender networks in grayscale, else the latent classifier), and holds
  // its change to one of shape and shading, not of colour (Lab, face region), except for attributes that are colour.
  // These portraits are all men in their fifties and sixties: face-api's "male" or "age" may have no room to move
  // further on one of them, so each slider is held to reading more of its attribute at its + end than at its − end.
  it('moves each refined portrait the way its name says, visibly, and by more than colour', async () => {
    const catalog = JSON.parse(await readFile(join(ROOT, 'models', 'catalog.json'), 'utf8')) as Array<{ id: string; domain: string; path: string; hidden?: boolean }>;
    const entry = catalog.find((c) => !c.hidden)!;
    expect(entry.domain).toBe('face');
    const model = await open(entry.path);
    const aligned: RgbImage[] = [];
    for (const name of FACES) {
      const image = await photo(`faces/${name}`);
      aligned.push((await alignFace(image, ffhqQuad((await detector.detect(image))[0].landmarks), 256)).image);
    }
    // The sliders the panel shows by default (one per attribute), as a person meets them.
    const offered = sliderPanel(model.manifest.directions, model.manifest.classifier!.attributes, 'face').groups
      .flatMap((g) => g.sliders.map((x) => x.direction)).filter((d) => judgeFor(model, d));
    expect(offered.length).toBeGreaterThan(0);
    const trials = offered.flatMap((d) => [d.max, d.min].map((value) => ({ direction: d, value, judge: judgeFor(model, d)! })));
    const results: TrialResult[][] = [];
    // Refined, as the page refines every photo and as the sliders were calibrated.
    useGradients();
    for (const image of aligned) results.push(await measureOnPhoto(model, detector, image, trials, DEFAULT_REFINEMENT));
    const failures: string[] = [];
    const shares: number[] = [];
    offered.forEach((d, i) => {
      const [up, down] = [2 * i, 2 * i + 1];
      const holds = results.filter((r) => r[up].delta !== null && r[down].delta !== null && r[up].delta! > r[down].delta!).length;
      const change = summarise(trials[up].judge, d.max, results.map((r) => r[up]), 'portraits');
      if (!COLOUR_ATTRIBUTES.has(trials[up].judge.attribute)) shares.push(change.chromaShare!);
      console.log(`${d.id}: ${change.judge} reads more of it at + than at − on ${holds}/${FACES.length} portraits; change at + ${change.regionChange}/255, ${change.lightnessChange} L*, colour share ${change.chromaShare}`);
      // 5/255 in the face region: the GAN's hair edits reach past it (a third of their change reaches the photo, issue 35).
      if (holds < 3 || change.regionChange < 5) failures.push(`${d.id} (${holds}/${FACES.length}, ${change.regionChange}/255)`);
    });
    expect(failures).toEqual([]);
    const meanShare = shares.reduce((a, b) => a + b, 0) / shares.length;
    // Measured 0.44 on these portraits (0.354 on the held-out faces it was calibrated on); the autoencoder's Male
    // alone is 0.66 colour: a model that paints fails this.
    console.log(`${entry.id}: mean colour share of the ${shares.length} offered shape sliders on these portraits ${meanShare.toFixed(3)}`);
    expect(meanShare).toBeLessThan(0.45);
    model.dispose();
  }, 600_000);
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

  // The cars' GANSpace components were named by looking at them and calibrated on held-out cars; this holds each
  // offered slider's name to what it claims on these Ferraris, on the composite a user downloads, at its end.
  it('moves each real car the way its GANSpace slider is named', async () => {
    const model = await open('demo-cars-128');
    const crops: RgbImage[] = [];
    for (const name of CARS) {
      const session = new EditorSession(model, null);
      await session.setPhoto(await photo(`cars/${name}`));
      crops.push(await session.frame(session.defaultFraming()));
      session.dispose();
    }
    const offered = model.manifest.directions.filter((d) => d.kind === 'ganspace' && d.offered !== false);
    expect(offered.length).toBeGreaterThan(0);
    for (const d of model.manifest.directions.filter((x) => x.kind === 'ganspace')) expect(Object.keys(COLOUR_NAMED_BY)).toContain(d.label);
    const trials = offered.map((d) => ({ direction: d, value: d.max, judge: judgeFor(model, d)! }));
    const results: TrialResult[][] = [];
    for (const crop of crops) results.push(await measureOnPhoto(model, null, crop, trials));
    trials.forEach((t, k) => {
      const deltas = results.map((r) => r[k].delta!);
      console.log(`${t.direction.label} (${t.judge.sign > 0 ? '+' : '-'}${'measure' in t.judge ? t.judge.measure : ''}) per car: ${deltas.map((c) => c.toFixed(3)).join(' ')}`);
      expect(deltas.reduce((a, b) => a + b, 0) / deltas.length, t.direction.label).toBeGreaterThan(0.005); // [0, 1] units; ~1.3 of 255
    });
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
