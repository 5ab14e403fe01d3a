import * as tf from '@tensorflow/tfjs-core';
import { cropRgb, shrinkRegion } from './raster';
import type { RgbImage } from './types';

/** A crop box in photo pixels. */
export interface CropBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The largest box of the given aspect (width / height, 4:3 for cars) centred in the photo. */
export function centredBox(photo: { width: number; height: number }, aspect = 4 / 3): CropBox {
  let width = photo.width;
  let height = Math.round(width / aspect);
  if (height > photo.height) {
    height = photo.height;
    width = Math.round(height * aspect);
  }
  return { x: Math.floor((photo.width - width) / 2), y: Math.floor((photo.height - height) / 2), width, height };
}

/** Clamps a user's box into the photo, keeping its aspect. */
export function clampBox(box: CropBox, photo: { width: number; height: number }): CropBox {
  const aspect = box.width / box.height;
  let width = Math.max(8, Math.min(box.width, photo.width, photo.height * aspect));
  let height = width / aspect;
  width = Math.round(width);
  height = Math.round(height);
  const x = Math.min(Math.max(0, Math.round(box.x)), photo.width - width);
  const y = Math.min(Math.max(0, Math.round(box.y)), photo.height - height);
  return { x, y, width, height };
}

/**
 * Crops `box` and resizes it to [height, width] = size, box-filtering first when shrinking a lot. The box filter
 * reads the photo in place, so a 100 MP photo reaches the tfjs backend at most about twice the output's size.
 */
export async function cropAndResize(photo: RgbImage, box: CropBox, size: [number, number]): Promise<RgbImage> {
  const [h, w] = size;
  const factor = Math.floor(Math.min(box.width / w, box.height / h) / 2);
  const region = factor > 1
    ? shrinkRegion(photo, box.x, box.y, box.width, box.height, factor)
    : cropRgb(photo, box.x, box.y, box.x + box.width, box.y + box.height);
  const result = tf.tidy(() => {
    const x = tf.tensor4d(Float32Array.from(region.data), [1, region.height, region.width, 3]);
    return tf.clipByValue(tf.round(tf.image.resizeBilinear(x, [h, w], false, true)), 0, 255);
  });
  const data = Uint8Array.from(await result.data());
  result.dispose();
  return { width: w, height: h, data };
}

/** The whole image resized to [height, width] = size. */
export function resizeRgb(photo: RgbImage, size: [number, number]): Promise<RgbImage> {
  return cropAndResize(photo, { x: 0, y: 0, width: photo.width, height: photo.height }, size);
}
