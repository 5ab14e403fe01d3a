import { CodedError } from '../errors';

/** A decoded photo: 8-bit RGB, row-major, no alpha (transparency is composited on decode). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface Point {
  x: number;
  y: number;
}

export type PhotoErrorCode = 'empty-file' | 'not-an-image' | 'too-large' | 'decode-failed' | 'no-face';

/** Failures a user can act on: each message says what happened and what to do. */
export class PhotoError extends CodedError<PhotoErrorCode> {
  override name = 'PhotoError';
}

/** Photos above this many pixels are refused (a 100 MP photo already needs 300 MB as RGB). */
export const MAX_PIXELS = 100_000_000;

/**
 * Memory a photo of `pixels` needs at the peak of editing it: the decoded RGB, the composite's copy, the PNG
 * encoder's input and a working margin, plus the model (measured: a 99 MP photo with --aligned --pasteback peaked
 * at 1.33 GB of RSS in Node; this gives 1.49 GB).
 */
export function photoMemoryEstimate(pixels: number): number {
  return pixels * 3 * 4 + 300e6;
}

/** The largest photo (in pixels) that fits `budget` bytes by photoMemoryEstimate. */
export function pixelsWithin(budget: number): number {
  return Math.max(0, (budget - 300e6) / 12);
}

/** The refusal of a photo too large for the memory this device can give it: the figures, and what to do. */
export function checkPhotoMemory(name: string, width: number, height: number, budget: number | undefined): void {
  if (!budget) return;
  const needed = photoMemoryEstimate(width * height);
  if (needed <= budget) return;
  const gb = (b: number) => `${(b / 1e9).toFixed(1)} GB`;
  throw new PhotoError('too-large', `${name} is ${width}x${height} (${((width * height) / 1e6).toFixed(0)} MP) and needs about ${gb(needed)} of memory to edit; ` +
    `this device can give it about ${gb(budget)}: downscale it to ${Math.floor(pixelsWithin(budget) / 1e6)} MP or less`);
}

/** A crop box in photo pixels. */
export interface CropBox {
  x: number;
  y: number;
  width: number;
  height: number;
}
