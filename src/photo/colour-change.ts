import { convertRgbToLab65 } from 'culori';
import type { RgbImage } from './types';

/**
 * How much of a change between two pictures of the same pixels is colour and how much is lightness, in CIE Lab
 * (D65): a magenta cheek moves a* and b* and hardly L*; a jaw, a mouth or hair that moves changes L*. An edit that
 * only paints can pass a judge reading colour pictures, so every slider and reference block is also held to this.
 */
export interface ColourChange {
  /** Mean |ΔL*| over the region (L* runs 0..100). */
  lightness: number;
  /** Mean √(Δa*² + Δb*²) over the region. */
  chroma: number;
  /** chroma / (chroma + lightness): 0 a change of lightness only, 1 of colour only; 0 where nothing changed. */
  chromaShare: number;
}

/** Lab of every pixel, [L, a, b] interleaved. */
export function labPixels(image: RgbImage): Float32Array {
  const out = new Float32Array(image.width * image.height * 3);
  const { data } = image;
  for (let i = 0; i < out.length; i += 3) {
    const { l, a, b } = convertRgbToLab65({ r: data[i] / 255, g: data[i + 1] / 255, b: data[i + 2] / 255 });
    out[i] = l;
    out[i + 1] = a;
    out[i + 2] = b;
  }
  return out;
}

/**
 * The change from `before` to `after` (same size) over the pixels where `region` (one weight a pixel, 0..1) is at
 * least one half: the face region the sliders are judged in. `before` may be given as its Lab pixels when one
 * picture is compared with many.
 */
export function colourChange(before: RgbImage | Float32Array, after: RgbImage, region: Float32Array): ColourChange {
  if (region.length !== after.width * after.height) throw new Error(`region of ${region.length} weights for a ${after.width}x${after.height} picture`);
  const a = before instanceof Float32Array ? before : labPixels(before);
  const b = labPixels(after);
  if (a.length !== b.length) throw new Error('colourChange compares pictures of the same size');
  let lightness = 0;
  let chroma = 0;
  let n = 0;
  for (let p = 0; p < region.length; p++) {
    if (region[p] < 0.5) continue;
    const i = p * 3;
    lightness += Math.abs(b[i] - a[i]);
    chroma += Math.hypot(b[i + 1] - a[i + 1], b[i + 2] - a[i + 2]);
    n++;
  }
  lightness /= Math.max(1, n);
  chroma /= Math.max(1, n);
  return { lightness, chroma, chromaShare: lightness + chroma > 0 ? chroma / (lightness + chroma) : 0 };
}

/**
 * The picture in grayscale (Rec. 709 luma of the sRGB values, in all three channels): what the face-api judges read,
 * so that a change of colour alone moves none of them.
 */
export function grayscale(image: RgbImage): RgbImage {
  const data = new Uint8Array(image.data.length);
  const src = image.data;
  for (let i = 0; i < data.length; i += 3) {
    const y = Math.round(0.2126 * src[i] + 0.7152 * src[i + 1] + 0.0722 * src[i + 2]);
    data[i] = y;
    data[i + 1] = y;
    data[i + 2] = y;
  }
  return { width: image.width, height: image.height, data };
}
