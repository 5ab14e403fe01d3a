import * as tf from '@tensorflow/tfjs-core';
import { applyAffine, quadToAffine, type FfhqQuad } from './geometry';
import { cropRgb } from './raster';
import type { RgbImage } from './types';

/** How an aligned crop maps back onto its photo: enough to paste an edit back at full resolution. */
export interface AlignTransform {
  outputSize: number;
  /** Output pixel (u, v) -> source pixel (x, y), as [a0, a1, a2, b0, b1, b2]. */
  toSource: number[];
  quad: FfhqQuad;
  sourceWidth: number;
  sourceHeight: number;
}

export interface AlignedFace {
  /** outputSize x outputSize RGB. */
  image: RgbImage;
  transform: AlignTransform;
}

/**
 * Warps the FFHQ quad of a photo to an outputSize square. Only the quad's neighbourhood of the photo is
 * uploaded; when the quad is much larger than the output it is first box-filtered (as the FFHQ script shrinks)
 * to avoid aliasing. Where the quad leaves the photo, the photo is mirrored and, towards the outside, blurred
 * and faded to its median colour (the FFHQ script's feathering).
 */
export async function alignFace(photo: RgbImage, quad: FfhqQuad, outputSize: number): Promise<AlignedFace> {
  const toSource = quadToAffine(quad, outputSize);
  const border = Math.max(Math.round(quad.size * 0.1), 3);
  const xs = quad.corners.map((c) => c.x);
  const ys = quad.corners.map((c) => c.y);
  const x0 = Math.max(0, Math.floor(Math.min(...xs)) - border);
  const y0 = Math.max(0, Math.floor(Math.min(...ys)) - border);
  const x1 = Math.min(photo.width, Math.ceil(Math.max(...xs)) + border);
  const y1 = Math.min(photo.height, Math.ceil(Math.max(...ys)) + border);
  const shrink = Math.max(1, Math.floor((quad.size / outputSize) * 0.5));
  const region = cropRgb(photo, x0, y0, x0 + Math.max(shrink, Math.floor((x1 - x0) / shrink) * shrink),
    y0 + Math.max(shrink, Math.floor((y1 - y0) / shrink) * shrink));
  const median = medianColour(region);

  // Region-local (shrunk) coordinates of a source pixel x: (x - x0 - (shrink - 1) / 2) / shrink.
  const [a0, a1, a2, b0, b1, b2] = toSource;
  const offX = x0 + (shrink - 1) / 2;
  const offY = y0 + (shrink - 1) / 2;
  const local = [a0 / shrink, a1 / shrink, (a2 - offX) / shrink, b0 / shrink, b1 / shrink, (b2 - offY) / shrink, 0, 0];

  const pixels = tf.tidy(() => {
    let source = tf.tensor4d(Float32Array.from(region.data), [1, region.height, region.width, 3]);
    if (shrink > 1) source = tf.avgPool(source, shrink, shrink, 'valid');
    const warped = tf.image.transform(source, tf.tensor2d([local], [1, 8]), 'bilinear', 'reflect', 0, [outputSize, outputSize]);
    const weights = featherWeights(toSource, outputSize, photo.width, photo.height, border);
    if (!weights) return tf.clipByValue(tf.round(warped), 0, 255);
    const blurred = gaussianBlur(warped, Math.max(0.02 * outputSize, 0.5));
    const blurW = tf.tensor4d(weights.blur, [1, outputSize, outputSize, 1]);
    const medianW = tf.tensor4d(weights.median, [1, outputSize, outputSize, 1]);
    let out = tf.add(warped, tf.mul(tf.sub(blurred, warped), blurW));
    out = tf.add(out, tf.mul(tf.sub(tf.tensor1d(median), out), medianW));
    return tf.clipByValue(tf.round(out), 0, 255);
  });
  const data = Uint8Array.from(await pixels.data()); // async: WebGPU cannot read back synchronously
  pixels.dispose();
  return {
    image: { width: outputSize, height: outputSize, data },
    transform: { outputSize, toSource, quad, sourceWidth: photo.width, sourceHeight: photo.height },
  };
}

/** Per output pixel: how far outside the photo its source lies, in units of the border; null if nowhere. */
function featherWeights(toSource: number[], size: number, width: number, height: number, border: number) {
  const blur = new Float32Array(size * size);
  const median = new Float32Array(size * size);
  let outside = false;
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      const p = applyAffine(toSource, { x: u, y: v });
      const inside = Math.min(p.x, width - 1 - p.x, p.y, height - 1 - p.y);
      const m = -inside / border; // <= 0 inside the photo, 1 at one border's distance outside
      blur[v * size + u] = Math.min(1, Math.max(0, m * 3 + 1));
      median[v * size + u] = Math.min(1, Math.max(0, m));
      if (m > -1 / 3) outside = true;
    }
  }
  return outside ? { blur, median } : null;
}

function gaussianBlur(x: tf.Tensor4D, sigma: number): tf.Tensor4D {
  const radius = Math.ceil(sigma * 3);
  const taps = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const sum = taps.reduce((a, b) => a + b, 0);
  const k = taps.map((t) => t / sum);
  const horizontal = tf.tile(tf.tensor4d(k, [1, k.length, 1, 1]), [1, 1, 3, 1]) as tf.Tensor4D;
  const vertical = tf.tile(tf.tensor4d(k, [k.length, 1, 1, 1]), [1, 1, 3, 1]) as tf.Tensor4D;
  const padded = tf.mirrorPad(x, [[0, 0], [radius, radius], [radius, radius], [0, 0]], 'reflect');
  return tf.depthwiseConv2d(tf.depthwiseConv2d(padded, horizontal, 1, 'valid'), vertical, 1, 'valid');
}

function medianColour(image: RgbImage): number[] {
  const out: number[] = [];
  for (let c = 0; c < 3; c++) {
    const histogram = new Uint32Array(256);
    for (let i = c; i < image.data.length; i += 3) histogram[image.data[i]]++;
    let seen = 0;
    const half = image.data.length / 6;
    let value = 0;
    while (value < 255 && seen + histogram[value] < half) seen += histogram[value++];
    out.push(value);
  }
  return out;
}
