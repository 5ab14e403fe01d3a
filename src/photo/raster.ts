import type { RgbImage } from './types';

/** Copies the rectangle [x0, x1) x [y0, y1) out of an RGB image (coordinates already inside it). */
export function cropRgb(image: RgbImage, x0: number, y0: number, x1: number, y1: number): RgbImage {
  const width = x1 - x0;
  const height = y1 - y0;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((y0 + y) * image.width + x0) * 3;
    data.set(image.data.subarray(from, from + width * 3), y * width * 3);
  }
  return { width, height, data };
}

/**
 * Box-filter downscale by an integer factor so that the longer side is at most `maxSide` (face detection does
 * not need 48 MP, and the original stays untouched for paste-back). Returns the image and the factor.
 */
export function downscaleRgb(image: RgbImage, maxSide: number): { image: RgbImage; factor: number } {
  const factor = Math.max(1, Math.ceil(Math.max(image.width, image.height) / maxSide));
  if (factor === 1) return { image, factor };
  const width = Math.floor(image.width / factor);
  const height = Math.floor(image.height / factor);
  const data = new Uint8Array(width * height * 3);
  const sums = new Float64Array(width * 3);
  const area = factor * factor;
  for (let y = 0; y < height; y++) {
    sums.fill(0);
    for (let dy = 0; dy < factor; dy++) {
      const row = (y * factor + dy) * image.width * 3;
      for (let x = 0; x < width; x++) {
        let p = row + x * factor * 3;
        for (let dx = 0; dx < factor; dx++, p += 3) {
          sums[x * 3] += image.data[p];
          sums[x * 3 + 1] += image.data[p + 1];
          sums[x * 3 + 2] += image.data[p + 2];
        }
      }
    }
    for (let i = 0; i < width * 3; i++) data[y * width * 3 + i] = Math.round(sums[i] / area);
  }
  return { image: { width, height, data }, factor };
}
