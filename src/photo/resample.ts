import * as tf from '@tensorflow/tfjs-core';
import { cropRgb, shrinkRegion } from './raster';
import type { CropBox, RgbImage } from './types';

/*
 * Resampling a photo for the networks: the raster code that needs a tf backend (bilinear resizing), kept apart from
 * raster.ts, which the page's own bundle and the composite use without one.
 */

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
