import { checkPhotoMemory, MAX_PIXELS, PhotoError } from './types';

/**
 * Recognises image files by their first bytes and reads the pixel size from the header where that is cheap
 * (PNG, GIF, JPEG, WebP), so that a non-image gets a clear message and an absurdly large photo is refused before
 * the browser decodes it. Written by hand: it is a few header fields, and no decoder library exposes them alone.
 */
export type ImageKind = 'jpeg' | 'png' | 'gif' | 'webp' | 'bmp' | 'avif' | 'heic' | 'tiff';

export function sniffImage(head: Uint8Array): ImageKind | null {
  const ascii = (from: number, to: number) => String.fromCharCode(...head.subarray(from, to));
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (head[0] === 0x89 && ascii(1, 4) === 'PNG') return 'png';
  if (ascii(0, 4) === 'GIF8') return 'gif';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (ascii(0, 2) === 'BM') return 'bmp';
  if (ascii(4, 8) === 'ftyp') {
    const brand = ascii(8, 12);
    if (brand.startsWith('avi')) return 'avif';
    if (brand.startsWith('hei') || brand.startsWith('mif')) return 'heic';
  }
  if ((head[0] === 0x49 && head[1] === 0x49) || (head[0] === 0x4d && head[1] === 0x4d)) return 'tiff';
  return null;
}

/** Width and height from the header, or null where the format keeps them deep in the file. */
export function headerSize(kind: ImageKind, bytes: Uint8Array): { width: number; height: number } | null {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    if (kind === 'png') return { width: dv.getUint32(16), height: dv.getUint32(20) };
    if (kind === 'gif') return { width: dv.getUint16(6, true), height: dv.getUint16(8, true) };
    if (kind === 'jpeg') {
      let p = 2;
      while (p + 9 < bytes.length) {
        if (bytes[p] !== 0xff) { p++; continue; }
        const marker = bytes[p + 1];
        const length = dv.getUint16(p + 2);
        // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC)
        if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
          return { height: dv.getUint16(p + 5), width: dv.getUint16(p + 7) };
        }
        p += 2 + length;
      }
    }
  } catch {
    return null;
  }
  return null;
}

/**
 * Throws the PhotoError a user should see for bytes that are empty, not an image, or too large (for the pixel
 * limit, or for `memoryBudget` bytes when the header gives the size).
 */
export function checkImageBytes(head: Uint8Array, name: string, fileSize: number, memoryBudget?: number): ImageKind {
  if (fileSize === 0) throw new PhotoError('empty-file', `${name} is empty`);
  const kind = sniffImage(head);
  if (!kind) throw new PhotoError('not-an-image', `${name} is not an image that can be read (JPEG, PNG, WebP or GIF)`);
  const size = headerSize(kind, head);
  if (size && size.width * size.height > MAX_PIXELS) {
    throw new PhotoError('too-large', `${name} is ${size.width}x${size.height} (${((size.width * size.height) / 1e6).toFixed(0)} MP); photos up to ${MAX_PIXELS / 1e6} MP are supported: please downscale it`);
  }
  if (size) checkPhotoMemory(name, size.width, size.height, memoryBudget);
  return kind;
}
