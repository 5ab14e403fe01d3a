/**
 * npm run evaluate -- --model <bundle dir> --data ../shared/datasets/faces-64 [--limit N] [--json out.json] [--grid out.png]
 * npm run evaluate -- --model <bundle dir> --data ../shared/datasets/cars-128x96 [--limit N]
 * Reports a demo model on images it never trained on. Faces: the 100 held-out identities of
 * models/training/holdout-faces.txt (500 faces) — reconstruction MSE (images in [-1, 1]) and SSIM at 64x64,
 * identity similarity (face-api descriptors, input vs reconstruction), and per face direction the change of the
 * latent classifier's logit for its attribute per unit of slider. Cars: reconstruction MSE on the last 200
 * images of the index (the training stage holds them out), and per GANSpace slider at its preset the change of
 * the picture's colour statistics (lighting, paint brightness, saturation, warmth), the terms the sliders are named in.
 * --grid writes a sample grid of the first 8 held-out images: input, reconstruction, then one column per slider
 * (InterFaceGAN at +3, GANSpace at its preset) and per editing block (the next held-out face as the reference).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { fromRgb, toRgb } from '../src/engine/image';
import { StudioModel } from '../src/engine/model';
import { colourStatistics, reencodingError, type ColourStatistics } from '../src/engine/quality';
import { useNodeBackend } from '../src/node/backend';
import { nodeFaceDetector } from '../src/node/photo';
import { resizeRgb } from '../src/photo/cars';
import { cosineSimilarity, describeAlignedPair } from '../src/photo/faces';
import type { RgbImage } from '../src/photo/types';
import { loadBundle } from '../src/weights/loader';
import { directoryFiles } from '../src/weights/node-files';

const ROOT = join(import.meta.dirname, '..');
const INTERFACEGAN_ATTRIBUTE: Record<string, string> = { smiling: 'Smiling', smile: 'Smiling', young: 'Young', age: 'Young', male: 'Male', eyeglasses: 'Eyeglasses', bangs: 'Bangs' };

async function tiles(folder: string, rows: Array<Record<string, string>>, [h, w]: [number, number]): Promise<RgbImage[]> {
  const sheets = new Map<string, Buffer>();
  const out: RgbImage[] = [];
  for (const r of rows) {
    const file = `sheet-${String(Number(r.sheet)).padStart(3, '0')}.jpg`;
    if (!sheets.has(file)) sheets.set(file, await readFile(join(folder, file)));
    const slot = Number(r.slot);
    const { data } = await sharp(sheets.get(file)!).extract({ left: (slot % 16) * w, top: Math.floor(slot / 16) * h, width: w, height: h })
      .removeAlpha().raw().toBuffer({ resolveWithObject: true });
    out.push({ width: w, height: h, data: new Uint8Array(data) });
  }
  return out;
}

function csv(text: string): Array<Record<string, string>> {
  const [head, ...lines] = text.trim().split('\n');
  const keys = head.split(',');
  return lines.map((l) => {
    const cells = l.split(',');
    // class names may contain commas: everything past the known columns is the last field
    const row: Record<string, string> = {};
    keys.forEach((k, i) => { row[k] = i === keys.length - 1 ? cells.slice(i).join(',') : cells[i]; });
    return row;
  });
}

/** SSIM with an 11x11 Gaussian window (sigma 1.5) on [0, 1] images, averaged over channels and pixels. */
function ssim(a: tf.Tensor4D, b: tf.Tensor4D): number {
  return tf.tidy(() => {
    const g = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - 5) ** 2) / (2 * 1.5 ** 2)));
    const sum = g.reduce((x, y) => x + y, 0);
    const k: number[] = [];
    for (const y of g) for (const x of g) k.push((x * y) / (sum * sum));
    const kernel = tf.tile(tf.tensor4d(k, [11, 11, 1, 1]), [1, 1, 3, 1]) as tf.Tensor4D;
    const blur = (x: tf.Tensor4D) => tf.depthwiseConv2d(x, kernel, 1, 'valid');
    const [x, y] = [tf.div(tf.add(a, 1), 2) as tf.Tensor4D, tf.div(tf.add(b, 1), 2) as tf.Tensor4D];
    const [mx, my] = [blur(x), blur(y)];
    const vx = tf.sub(blur(tf.mul(x, x) as tf.Tensor4D), tf.square(mx));
    const vy = tf.sub(blur(tf.mul(y, y) as tf.Tensor4D), tf.square(my));
    const cov = tf.sub(blur(tf.mul(x, y) as tf.Tensor4D), tf.mul(mx, my));
    const c1 = 0.01 ** 2;
    const c2 = 0.03 ** 2;
    const map = tf.div(tf.mul(tf.add(tf.mul(tf.mul(mx, my), 2), c1), tf.add(tf.mul(cov, 2), c2)),
      tf.mul(tf.add(tf.add(tf.square(mx), tf.square(my)), c1), tf.add(tf.add(vx, vy), c2)));
    return tf.mean(map).dataSync()[0];
  });
}

async function main() {
  const { values } = parseArgs({ options: { model: { type: 'string' }, data: { type: 'string' }, limit: { type: 'string' }, json: { type: 'string' }, grid: { type: 'string' } } });
  if (!values.model || !values.data) {
    console.error('usage: npm run evaluate -- --model <bundle dir> --data <dataset folder> [--limit N] [--json file]');
    process.exit(2);
  }
  await useNodeBackend('wasm');
  const { manifest, weights } = await loadBundle(directoryFiles(values.model));
  const model = new StudioModel(manifest, weights);
  const rows = csv(await readFile(join(values.data, 'index.csv'), 'utf8'));
  const face = manifest.domain === 'face';
  let held: Array<Record<string, string>>;
  if (face) {
    const ids = new Set((await readFile(join(ROOT, 'models', 'training', 'holdout-faces.txt'), 'utf8')).split('\n').filter((l) => l && !l.startsWith('#')));
    held = rows.filter((r) => ids.has(r.identity));
  } else {
    held = rows.slice(-200);
  }
  if (values.limit) held = held.slice(0, Number(values.limit));
  const images = await tiles(values.data, held, face ? [64, 64] : [96, 128]);
  const detector = face ? await nodeFaceDetector() : null;
  let mse = 0;
  let ssimSum = 0;
  const described: Array<{ identity: string; input: Float32Array; reconstruction: Float32Array }> = [];
  let undetected = 0;
  const kept: tf.Tensor3D[] = [];
  const perDirection = new Map<string, number[]>();
  const presetEffects = new Map<string, ColourStatistics[]>();
  const ganspace = manifest.directions.filter((d) => d.kind === 'ganspace');
  for (const [index, image] of images.entries()) {
    const codes = await invertImage(model, image);
    const truth = fromRgb(image);
    const resized = renderAt(model, codes, image);
    mse += tf.tidy(() => tf.mean(tf.square(tf.sub(resized, truth))).dataSync()[0]);
    ssimSum += ssim(resized, truth);
    if (detector) {
      const pair = await describeAlignedPair(detector, image, await toRgb(resized));
      if (pair) {
        described.push({ identity: held[index].identity, input: pair.face, reconstruction: pair.rendering });
      } else undetected++;
    }
    if (model.classifier) {
      const attributes = manifest.classifier!.attributes;
      const before = model.classifier.logits(codes);
      for (const d of manifest.directions) {
        const attribute = d.kind === 'label' ? d.attribute : d.kind === 'interfacegan' ? attributes.indexOf(INTERFACEGAN_ATTRIBUTE[d.id] ?? '') : -1;
        if (attribute < 0) continue;
        const edited = model.applyEdits(codes, [{ direction: d.id, value: 1 }]);
        const after = model.classifier.logits(edited);
        const change = tf.tidy(() => tf.mean(tf.sub(tf.slice(after, [0, attribute], [-1, 1]), tf.slice(before, [0, attribute], [-1, 1]))).dataSync()[0]);
        perDirection.set(d.label, [...(perDirection.get(d.label) ?? []), change]);
        tf.dispose([edited, after]);
      }
      before.dispose();
    }
    if (ganspace.length) {
      const before = colourStatistics(resized);
      for (const d of ganspace) {
        const edited = model.applyEdits(codes, [{ direction: d.id, value: d.preset }]);
        const picture = renderAt(model, edited, image);
        const after = colourStatistics(picture);
        const change = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof ColourStatistics]])) as unknown as ColourStatistics;
        presetEffects.set(d.label, [...(presetEffects.get(d.label) ?? []), change]);
        tf.dispose([edited, picture]);
      }
    }
    tf.dispose([truth, resized]);
    if (manifest.editBlocks.length) kept.push(codes); else codes.dispose();
  }
  const blocks = editingBlockReport(model, held, kept);
  tf.dispose(kept);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const report = {
    model: manifest.name, images: images.length, heldOut: face ? '100 identities (holdout-faces.txt)' : 'last 200 of the index',
    reconstructionMse: mse / images.length, ssim: ssimSum / images.length,
    identitySimilarity: face ? identityReport(described, undetected) : undefined,
    classifierLogitChangePerUnit: Object.fromEntries([...perDirection].map(([k, v]) => [k, Number(mean(v).toFixed(4))])),
    editingBlocks: blocks,
    ganspacePresetColourChange: presetEffects.size ? Object.fromEntries([...presetEffects].map(([label, changes]) => [label,
      Object.fromEntries(Object.keys(changes[0]).map((k) => {
        const values = changes.map((c) => c[k as keyof ColourStatistics]);
        return [k, { meanChange: Number(mean(values).toFixed(4)), risesIn: Number(mean(values.map((v) => (v > 0 ? 1 : 0))).toFixed(3)) }];
      }))])) : undefined,
  };
  console.log(JSON.stringify(report, null, 2));
  if (values.json) await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
  if (values.grid) await writeGrid(model, images.slice(0, 9), values.grid);
}

/**
 * Each reference editing block on held-out pairs: a source without the attribute (by its CelebA label) and a
 * reference with it. How often the latent classifier reads the attribute before and after the transfer, and the
 * re-encoding error of the edit next to the source's (an edit that renders noise does not re-encode).
 */
function editingBlockReport(model: StudioModel, rows: Array<Record<string, string>>, codes: tf.Tensor3D[], pairs = 64) {
  const classifier = model.classifier;
  if (!classifier || !codes.length) return undefined;
  const report: Record<string, object> = {};
  for (const block of model.manifest.editBlocks) {
    // Blocks, classifier outputs and the dataset's label columns all use CelebA's names (e.g. Blond_Hair).
    const column = block.attribute;
    const attribute = model.manifest.classifier!.attributes.indexOf(column);
    if (!(column in rows[0]) || attribute < 0) continue;
    const having = rows.flatMap((r, i) => (r[column] === '1' ? [i] : []));
    const lacking = rows.flatMap((r, i) => (r[column] === '1' ? [] : [i]));
    const n = Math.min(pairs, having.length, lacking.length);
    let before = 0;
    let after = 0;
    let sourceError = 0;
    let editedError = 0;
    for (let i = 0; i < n; i++) {
      const source = codes[lacking[i]];
      const edited = model.transfer(source, codes[having[i]], block.id, 1);
      const read = (c: tf.Tensor3D) => tf.tidy(() => classifier.logits(c).dataSync()[attribute] > 0 ? 1 : 0);
      before += read(source);
      after += read(edited);
      sourceError += reencodingError(model, source);
      editedError += reencodingError(model, edited);
      edited.dispose();
    }
    report[block.attribute] = {
      pairs: n, classifierSeesAttributeBefore: Number((before / n).toFixed(3)), after: Number((after / n).toFixed(3)),
      reencodingErrorSource: Number((sourceError / n).toFixed(5)), reencodingErrorEdited: Number((editedError / n).toFixed(5)),
    };
  }
  return report;
}

/**
 * Cosine similarity of face-api descriptors: each input with its own reconstruction, and as the scale to read it
 * against, each input with the reconstruction of the next face of another identity. face-api's own rule calls two
 * descriptors the same person below a Euclidean distance of 0.6.
 */
function identityReport(described: Array<{ identity: string; input: Float32Array; reconstruction: Float32Array }>, undetected: number) {
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  const distance = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((sum, v, i) => sum + (v - b[i]) ** 2, 0));
  const own = described.map((d) => cosineSimilarity(d.input, d.reconstruction));
  const pairs = described.flatMap((d, i) => {
    const next = described.slice(i + 1).concat(described.slice(0, i)).find((e) => e.identity !== d.identity);
    return next ? [{ input: d.input, reconstruction: next.reconstruction }] : [];
  });
  const other = pairs.map((p) => cosineSimilarity(p.input, p.reconstruction));
  const samePerson = (xs: typeof pairs) => mean(xs.map((d) => (distance(d.input, d.reconstruction) < 0.6 ? 1 : 0)));
  const round = (v: number | null) => (v === null ? null : Number(v.toFixed(4)));
  return {
    facesDetectedInInput: described.length,
    facesNotDetected: undetected,
    mean: round(mean(own)),
    otherIdentityMean: round(mean(other)),
    samePersonByFaceApiRule: round(samePerson(described)),
    otherIdentitySamePersonByFaceApiRule: round(samePerson(pairs)),
  };
}

/** The whole image resized to the model's input, inverted to W+ codes. */
async function invertImage(model: StudioModel, image: RgbImage): Promise<tf.Tensor3D> {
  const input = fromRgb(await resizeRgb(image, model.inputSize));
  const codes = model.invert(input);
  input.dispose();
  return codes;
}

/** The picture of `codes`, resized to the size of `like` and clipped to [-1, 1], for comparing with it. */
function renderAt(model: StudioModel, codes: tf.Tensor3D, like: RgbImage): tf.Tensor4D {
  return tf.tidy(() => tf.clipByValue(tf.image.resizeBilinear(model.render(codes), [like.height, like.width], false, true), -1, 1) as tf.Tensor4D);
}

/** Rows: held-out images; columns: input, reconstruction, each slider, each editing block. */
async function writeGrid(model: StudioModel, images: RgbImage[], path: string) {
  const sliders = model.manifest.directions.filter((d) => d.kind === 'interfacegan' || d.kind === 'ganspace');
  const blocks = model.manifest.editBlocks;
  const rows = images.slice(0, 8);
  const tiles: RgbImage[][] = [];
  const invert = (image: RgbImage) => invertImage(model, image);
  const picture = async (codes: tf.Tensor3D) => {
    const resized = renderAt(model, codes, images[0]);
    const rgb = await toRgb(resized);
    resized.dispose();
    return rgb;
  };
  for (let r = 0; r < rows.length; r++) {
    const codes = await invert(rows[r]);
    const reference = blocks.length ? await invert(images[(r + 1) % images.length]) : null;
    const row = [rows[r], await picture(codes)];
    for (const d of sliders) {
      const edited = model.applyEdits(codes, [{ direction: d.id, value: d.kind === 'ganspace' ? d.preset : 3 }]);
      row.push(await picture(edited));
      edited.dispose();
    }
    for (const b of blocks) {
      const edited = model.transfer(codes, reference!, b.id);
      row.push(await picture(edited));
      edited.dispose();
    }
    tf.dispose([codes, reference].filter((t): t is tf.Tensor3D => t !== null));
    tiles.push(row);
  }
  const { width, height } = rows[0];
  const columns = tiles[0].length;
  const canvas = new Uint8Array(rows.length * height * columns * width * 3);
  tiles.forEach((row, r) => row.forEach((tile, c) => {
    for (let y = 0; y < height; y++) {
      canvas.set(tile.data.subarray(y * width * 3, (y + 1) * width * 3), ((r * height + y) * columns * width + c * width) * 3);
    }
  }));
  await sharp(canvas, { raw: { width: columns * width, height: rows.length * height, channels: 3 } })
    .resize(columns * width * 2, rows.length * height * 2, { kernel: 'nearest' }).png().toFile(path);
  console.log(`grid ${path}: columns input, reconstruction, ${[...sliders.map((d) => d.label), ...blocks.map((b) => `${b.attribute} from the next row's face`)].join(', ')}`);
}

void main();
