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
