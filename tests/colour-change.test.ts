import { describe, expect, it } from 'vitest';
import { colourChange, grayscale, labPixels } from '../src/photo/colour-change';
import type { RgbImage } from '../src/photo/types';

/** The judges of colour against lightness, held to CIE Lab's own reference values and to changes we construct. */
const solid = (rgb: [number, number, number], width = 4, height = 4): RgbImage => {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return { width, height, data };
};
const everywhere = (image: RgbImage) => new Float32Array(image.width * image.height).fill(1);

describe('colour change in Lab', () => {
  it('reads sRGB as CIE Lab (D65): white, black, and the sRGB primaries as published', () => {
    // Published CIELAB (D65) values of the sRGB primaries: red 53.24 80.09 67.20, green 87.73 -86.18 83.18, blue 32.30 79.19 -107.86.
    const expected: Array<[[number, number, number], [number, number, number]]> = [
      [[255, 255, 255], [100, 0, 0]], [[0, 0, 0], [0, 0, 0]],
      [[255, 0, 0], [53.24, 80.09, 67.2]], [[0, 255, 0], [87.73, -86.18, 83.18]], [[0, 0, 255], [32.3, 79.19, -107.86]],
    ];
    for (const [rgb, lab] of expected) {
      const [l, a, b] = labPixels(solid(rgb, 1, 1));
      expect(l).toBeCloseTo(lab[0], 1);
      expect(a).toBeCloseTo(lab[1], 0);
      expect(b).toBeCloseTo(lab[2], 0);
    }
  });

  it('a change of grey level is all lightness; a change of hue at the same lightness is all colour', () => {
    const grey = colourChange(solid([100, 100, 100]), solid([140, 140, 140]), everywhere(solid([0, 0, 0])));
    expect(grey.chromaShare).toBeLessThan(0.01);
    expect(grey.lightness).toBeGreaterThan(10);
    // A grey skin tone painted magenta and green at the same L*: the failure the issue saw on the cheeks.
    const skin = solid([180, 140, 120]);
    const [l] = labPixels(skin);
    const magenta = solid([196, 126, 150]);
    expect(Math.abs(labPixels(magenta)[0] - l)).toBeLessThan(1);
    const painted = colourChange(skin, magenta, everywhere(skin));
    expect(painted.chromaShare).toBeGreaterThan(0.9);
    expect(painted.lightness).toBeLessThan(1);
  });

  it('counts only the region (weights of at least one half), and nothing changed is no change', () => {
    const before = solid([90, 90, 90], 2, 1);
    const after: RgbImage = { width: 2, height: 1, data: new Uint8Array([90, 90, 90, 250, 20, 20]) };
    expect(colourChange(before, after, new Float32Array([1, 0.4]))).toEqual({ lightness: 0, chroma: 0, chromaShare: 0 });
    expect(colourChange(before, after, new Float32Array([0.4, 0.5])).chroma).toBeGreaterThan(50);
    expect(() => colourChange(before, after, new Float32Array(3))).toThrow(/region/);
  });

  it('grayscale keeps luminance (Rec. 709) and drops colour', () => {
    const image: RgbImage = { width: 2, height: 1, data: new Uint8Array([255, 0, 0, 10, 200, 30]) };
    const gray = grayscale(image);
    expect(Array.from(gray.data)).toEqual([54, 54, 54, 147, 147, 147]);
    for (let i = 0; i < 2; i++) expect(Math.abs(labPixels(gray)[i * 3 + 1])).toBeLessThan(0.01);
  });
});
