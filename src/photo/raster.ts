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
  return { image: shrinkRegion(image, 0, 0, image.width, image.height, factor), factor };
}

/**
 * The mean of each `factor` x `factor` block of the region [x0, x0 + width) x [y0, y0 + height), read in place:
 * a large photo is shrunk without a copy of it (the region's last partial blocks are dropped, as a 'valid' pool).
 */
export function shrinkRegion(image: RgbImage, x0: number, y0: number, width: number, height: number, factor: number): RgbImage {
  const w = Math.floor(width / factor);
  const h = Math.floor(height / factor);
  const data = new Uint8Array(w * h * 3);
  const sums = new Float64Array(w * 3);
  const area = factor * factor;
  for (let y = 0; y < h; y++) {
    sums.fill(0);
    for (let dy = 0; dy < factor; dy++) {
      const row = ((y0 + y * factor + dy) * image.width + x0) * 3;
      for (let x = 0; x < w; x++) {
        let p = row + x * factor * 3;
        for (let dx = 0; dx < factor; dx++, p += 3) {
          sums[x * 3] += image.data[p];
          sums[x * 3 + 1] += image.data[p + 1];
          sums[x * 3 + 2] += image.data[p + 2];
        }
      }
    }
    for (let i = 0; i < w * 3; i++) data[y * w * 3 + i] = Math.round(sums[i] / area);
  }
  return { width: w, height: h, data };
}

/** Whether every pixel has the same colour (a broken model's black or grey square; a photo almost never is). */
export function isFlat(image: RgbImage): boolean {
  const [r, g, b] = image.data;
  for (let i = 3; i < image.data.length; i += 3) {
    if (image.data[i] !== r || image.data[i + 1] !== g || image.data[i + 2] !== b) return false;
  }
  return true;
}
