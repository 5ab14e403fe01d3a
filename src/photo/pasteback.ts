import * as tf from '@tensorflow/tfjs-core';
import type { AlignTransform } from './align';
import { applyAffine, invertAffine } from './geometry';
import type { RgbImage } from './types';

/**
 * Warps an edited crop back through the inverse of its alignment and blends it into the photo at full
 * resolution, with a mask that is 1 inside and fades out over `feather` (a fraction of the crop side) at the
 * crop's edges. Only the crop's bounding box of the photo is touched. The crop may be at any square size (the
 * generator's output size differs from the encoder's input).
 */
export async function pasteBack(photo: RgbImage, crop: RgbImage, transform: AlignTransform, feather = 0.08): Promise<{ image: RgbImage; mask: Float32Array; box: { x0: number; y0: number; x1: number; y1: number } }> {
  const corners = transform.quad.corners;
  const x0 = Math.max(0, Math.floor(Math.min(...corners.map((c) => c.x))));
  const y0 = Math.max(0, Math.floor(Math.min(...corners.map((c) => c.y))));
  const x1 = Math.min(photo.width, Math.ceil(Math.max(...corners.map((c) => c.x))) + 1);
  const y1 = Math.min(photo.height, Math.ceil(Math.max(...corners.map((c) => c.y))) + 1);
  const width = x1 - x0;
  const height = y1 - y0;
  const out: RgbImage = { width: photo.width, height: photo.height, data: photo.data.slice() };
  const mask = new Float32Array(width * height);
  if (width <= 0 || height <= 0) return { image: out, mask, box: { x0, y0, x1, y1 } };

  // region pixel (i, j) -> photo pixel (x0 + i, y0 + j) -> aligned pixel (u, v) -> crop pixel (u', v')
  const toOutput = invertAffine(transform.toSource);
  const k = crop.width / transform.outputSize;
  const [c0, c1, c2, d0, d1, d2] = toOutput;
  const m = [c0 * k, c1 * k, (c0 * x0 + c1 * y0 + c2 + 0.5) * k - 0.5, d0 * k, d1 * k, (d0 * x0 + d1 * y0 + d2 + 0.5) * k - 0.5];
  const warped = tf.tidy(() => {
    const source = tf.tensor4d(Float32Array.from(crop.data), [1, crop.height, crop.width, 3]);
    return tf.image.transform(source, tf.tensor2d([[...m, 0, 0]], [1, 8]), 'bilinear', 'nearest', 0, [height, width]);
  });
  const pixels = await warped.data();
  warped.dispose();

  const size = transform.outputSize;
  const fade = Math.max(feather * size, 1);
  for (let j = 0; j < height; j++) {
    for (let i = 0; i < width; i++) {
      const p = applyAffine(toOutput, { x: x0 + i, y: y0 + j });
      const edge = Math.min(p.x + 0.5, size - 0.5 - p.x, p.y + 0.5, size - 0.5 - p.y);
      const w = Math.min(1, Math.max(0, edge / fade));
      mask[j * width + i] = w;
      if (w === 0) continue;
      const at = ((y0 + j) * photo.width + x0 + i) * 3;
      const from = (j * width + i) * 3;
      for (let c = 0; c < 3; c++) {
        out.data[at + c] = Math.round(photo.data[at + c] * (1 - w) + Math.min(255, Math.max(0, pixels[from + c])) * w);
      }
    }
  }
  return { image: out, mask, box: { x0, y0, x1, y1 } };
}

/** Peak signal-to-noise ratio (dB) between two photos over the pixels where `weight` (of the box) is 1. */
export function psnrInside(a: RgbImage, b: RgbImage, mask: Float32Array, box: { x0: number; y0: number; x1: number; y1: number }): number {
  let sum = 0;
  let n = 0;
  const width = box.x1 - box.x0;
  for (let j = 0; j < box.y1 - box.y0; j++) {
    for (let i = 0; i < width; i++) {
      if (mask[j * width + i] < 1) continue;
      const at = ((box.y0 + j) * a.width + box.x0 + i) * 3;
      for (let c = 0; c < 3; c++) sum += (a.data[at + c] - b.data[at + c]) ** 2;
      n += 3;
    }
  }
  return 10 * Math.log10((255 * 255) / (sum / n));
}
