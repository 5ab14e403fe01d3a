/**
 * npm run invert -- --model <bundle dir> --out <dir> [--aligned] [--raw] [--pasteback] [--backend wasm|cpu] <image>...
 * The whole photo pipeline without a browser. Per image, <out>/<name>/: aligned.png, reconstruction.png, codes.npy
 * (W+, float32), report.json, and with --pasteback pasteback.png, with --raw image.npy (the generator's float32
 * output before clamping, NCHW, full resolution). A bad file is reported and the batch goes on; the exit code is 1
 * when any image failed.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { fromRgb, toRgb } from '../src/engine/image';
import { StudioModel } from '../src/engine/model';
import { CheckpointError } from '../src/io/errors';
import { writeNpy } from '../src/io/npy';
import { useNodeBackend, type NodeBackend } from '../src/node/backend';
import { decodePhoto, encodePng, nodeFaceDetector } from '../src/node/photo';
import { alignFace } from '../src/photo/align';
import { centredBox, cropAndResize, type CropBox } from '../src/photo/cars';
import { ffhqQuad } from '../src/photo/geometry';
import { findFaces } from '../src/photo/intake';
import { pasteBack } from '../src/photo/pasteback';
import { PhotoError, type RgbImage } from '../src/photo/types';
import { loadBundle } from '../src/weights/loader';
import { directoryFiles } from '../src/weights/node-files';

interface Options { aligned: boolean; raw: boolean; pasteback: boolean }

async function processImage(model: StudioModel, path: string, outDir: string, options: Options, backend: string) {
  const timings: Record<string, number> = {};
  const time = async <T>(stage: string, run: () => Promise<T> | T): Promise<T> => {
    const t = performance.now();
    const result = await run();
    timings[stage] = Math.round(performance.now() - t);
    return result;
  };
  const name = basename(path, extname(path));
  const dir = join(outDir, name);
  await mkdir(dir, { recursive: true });
  const [h, w] = model.inputSize;
  const photo = await time('decode', async () => decodePhoto(new Uint8Array(await readFile(path)), basename(path)));
  const report: Record<string, unknown> = { file: path, width: photo.width, height: photo.height, backend, domain: model.manifest.domain };
  let input: RgbImage;
  let paste: ((recon: RgbImage) => Promise<RgbImage>) | null = null;
  if (options.aligned) {
    input = await time('resize', () => cropAndResize(photo, { x: 0, y: 0, width: photo.width, height: photo.height }, [h, w]));
  } else if (model.manifest.domain === 'face') {
    const faces = await time('detect', () => findFaces(photo, detector!, basename(path)));
    report.facesFound = faces.length;
    report.chosenFace = { box: roundBox(faces[0].box), score: Number(faces[0].score.toFixed(3)) };
    const aligned = await time('align', () => alignFace(photo, ffhqQuad(faces[0].landmarks), h));
    input = aligned.image;
    paste = async (recon) => (await pasteBack(photo, recon, aligned.transform)).image;
  } else {
    const box: CropBox = centredBox(photo, w / h);
    report.cropBox = box;
    input = await time('crop', () => cropAndResize(photo, box, [h, w]));
    paste = async (recon) => {
      const out: RgbImage = { width: photo.width, height: photo.height, data: photo.data.slice() };
      const resized = await cropAndResize(recon, { x: 0, y: 0, width: recon.width, height: recon.height }, [box.height, box.width]);
      for (let y = 0; y < box.height; y++) out.data.set(resized.data.subarray(y * box.width * 3, (y + 1) * box.width * 3), ((box.y + y) * photo.width + box.x) * 3);
      return out;
    };
  }
  await writeFile(join(dir, 'aligned.png'), await encodePng(input));
  const inputTensor = fromRgb(input);
  const codes = await time('encode', async () => { const c = model.invert(inputTensor); await c.data(); return c; });
  const image = await time('generate', async () => { const i = model.render(codes); await i.data(); return i; });
  const reconstruction = await toRgb(image);
  await writeFile(join(dir, 'reconstruction.png'), await encodePng(reconstruction));
  await writeFile(join(dir, 'codes.npy'), writeNpy(await codes.data() as Float32Array, codes.shape));
  report.reconstructionMse = tf.tidy(() => {
    const resized = tf.image.resizeBilinear(image, [h, w], false, true);
    return tf.mean(tf.square(tf.sub(tf.clipByValue(resized, -1, 1), inputTensor))).dataSync()[0];
  });
  if (options.raw) {
    const raw = tf.tidy(() => tf.transpose(model.generator.synthesize(codes), [0, 3, 1, 2]));
    await writeFile(join(dir, 'image.npy'), writeNpy(await raw.data() as Float32Array, raw.shape));
    raw.dispose();
  }
  if (options.pasteback && paste) {
    await writeFile(join(dir, 'pasteback.png'), await encodePng(await time('pasteback', () => paste!(reconstruction))));
  }
  tf.dispose([inputTensor, codes, image]);
  report.timingsMs = timings;
  report.outputs = ['aligned.png', 'reconstruction.png', 'codes.npy', 'report.json', ...(options.raw ? ['image.npy'] : []), ...(options.pasteback && paste ? ['pasteback.png'] : [])];
  await writeFile(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

function roundBox(b: { x: number; y: number; width: number; height: number }) {
  return { x: Math.round(b.x), y: Math.round(b.y), width: Math.round(b.width), height: Math.round(b.height) };
}

let detector: Awaited<ReturnType<typeof nodeFaceDetector>> | null = null;

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      model: { type: 'string' }, out: { type: 'string' }, backend: { type: 'string', default: 'wasm' },
      aligned: { type: 'boolean', default: false }, raw: { type: 'boolean', default: false }, pasteback: { type: 'boolean', default: false },
    },
  });
  if (!values.model || !values.out || positionals.length === 0) {
    console.error('usage: npm run invert -- --model <bundle dir> --out <dir> [--aligned] [--raw] [--pasteback] [--backend wasm|cpu] <image>...');
    process.exit(2);
  }
  const backend = await useNodeBackend(values.backend as NodeBackend);
  const { manifest, weights } = await loadBundle(directoryFiles(values.model));
  const model = new StudioModel(manifest, weights);
  if (manifest.domain === 'face' && !values.aligned) detector = await nodeFaceDetector();
  let failed = 0;
  for (const path of positionals) {
    try {
      const report = await processImage(model, path, values.out, { aligned: values.aligned, raw: values.raw, pasteback: values.pasteback }, backend);
      console.log(`${path}: ok, MSE ${(report.reconstructionMse as number).toFixed(4)}, ${JSON.stringify(report.timingsMs)}`);
    } catch (error) {
      failed++;
      const message = error instanceof PhotoError || error instanceof CheckpointError ? error.message : `unexpected error: ${(error as Error).stack}`;
      console.error(`${path}: FAILED: ${message}`);
      const dir = join(values.out, basename(path, extname(path)));
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'report.json'), `${JSON.stringify({ file: path, error: message, code: (error as PhotoError).code ?? null }, null, 2)}\n`);
    }
  }
  console.log(`${positionals.length - failed} of ${positionals.length} images done${failed ? `, ${failed} failed` : ''}`);
  process.exit(failed ? 1 : 0);
}

void main();
