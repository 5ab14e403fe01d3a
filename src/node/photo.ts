import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { faceApiDetector, type FaceApi, type FaceDetector } from '../photo/faces';
import { checkImageBytes } from '../photo/sniff';
import { checkPhotoMemory, MAX_PIXELS, PhotoError, type RgbImage } from '../photo/types';
import { totalmem } from 'node:os';

/** Memory a photo may use in Node: 60% of what this process may have (its cgroup's limit, else the machine's). */
export function nodeMemoryBudget(): number {
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  return 0.6 * (constrained && constrained < totalmem() ? constrained : totalmem());
}

const require = createRequire(import.meta.url);

/**
 * Decodes a photo in Node with sharp (libvips): JPEG, PNG, WebP, GIF (first frame), TIFF, AVIF/HEIF...
 * EXIF orientation applied, transparency composited over neutral grey, grayscale expanded to RGB.
 */
export async function decodePhoto(bytes: Uint8Array, name = 'photo', memoryBudget = nodeMemoryBudget()): Promise<RgbImage> {
  checkImageBytes(bytes.subarray(0, 64 * 1024), name, bytes.length, memoryBudget);
  let metadata;
  try {
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw new PhotoError('not-an-image', `${name} is not an image that can be read (JPEG, PNG, WebP or GIF)`);
  }
  const pixels = (metadata.width ?? 0) * (metadata.height ?? 0);
  if (pixels > MAX_PIXELS) {
    throw new PhotoError('too-large', `${name} is ${metadata.width}x${metadata.height} (${(pixels / 1e6).toFixed(0)} MP); photos up to ${MAX_PIXELS / 1e6} MP are supported: please downscale it`);
  }
  checkPhotoMemory(name, metadata.width ?? 0, metadata.height ?? 0, memoryBudget);
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: MAX_PIXELS, pages: 1 })
      .rotate()
      .flatten({ background: { r: 128, g: 128, b: 128 } })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`${info.channels} channels`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (error) {
    throw new PhotoError('decode-failed', `${name} could not be decoded (${(error as Error).message}); it may be damaged`);
  }
}

export async function encodePng(image: RgbImage): Promise<Buffer> {
  return sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.length), { raw: { width: image.width, height: image.height, channels: 3 } }).png().toBuffer();
}

let detector: Promise<FaceDetector> | null = null;

/**
 * face-api's SSD MobileNet v1, 68-landmark and recognition nets, and its expression and age/gender nets (the
 * judges of what an edit does), from the weights inside its npm package, on our tfjs.
 */
/** Drops the loaded face-api nets (after a backend restart their weights are gone); the next call reloads them. */
export function forgetFaceDetector(): void {
  detector = null;
}

export function nodeFaceDetector(): Promise<FaceDetector> {
  detector ??= (async () => {
    const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
    const models = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
    for (const [net, name] of [[faceapi.nets.ssdMobilenetv1, 'ssd_mobilenetv1_model'], [faceapi.nets.faceLandmark68Net, 'face_landmark_68_model'], [faceapi.nets.faceRecognitionNet, 'face_recognition_model'],
      [faceapi.nets.faceExpressionNet, 'face_expression_model'], [faceapi.nets.ageGenderNet, 'age_gender_model']]) {
      const manifest = JSON.parse(await readFile(join(models, `${name}-weights_manifest.json`), 'utf8'));
      const bins = await Promise.all(manifest[0].paths.map((p: string) => readFile(join(models, p))));
      const bytes = new Uint8Array(Buffer.concat(bins));
      await net.loadFromWeightMap(tf.io.decodeWeights(bytes.buffer, manifest[0].weights));
    }
    return faceApiDetector(faceapi as FaceApi);
  })();
  return detector;
}
