import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { StudioModel } from '../src/engine/model';
import { EditorSession } from '../src/engine/session';
import { useNodeBackend } from '../src/node/backend';
import { decodePhoto, nodeFaceDetector } from '../src/node/photo';
import { alignedFaceRegion, boxPlacement, changeReach, composite, compositeRegion, cropExtent, facePlacement, faceRegion, FOLLOW_CHANGE, followChange, maskAt, toCropPoints, type Placement, type PhotoRegion } from '../src/photo/composite';
import type { FaceDetector } from '../src/photo/faces';
import { ffhqQuad, quadToAffine } from '../src/photo/geometry';
import { cropRgb } from '../src/photo/raster';
import type { RgbImage } from '../src/photo/types';
import { loadBundle } from '../src/weights/loader';
import { directoryFiles } from '../src/weights/node-files';
import { FIXTURES } from './helpers/golden';

const ROOT = join(import.meta.dirname, '..');
let detector: FaceDetector;
const photo = async (p: string) => decodePhoto(new Uint8Array(await readFile(join(FIXTURES, 'photos', p))), p);
const model = async (name: string) => {
  const { manifest, weights } = await loadBundle(directoryFiles(join(ROOT, 'models', name)));
  return await StudioModel.load(manifest, weights);
};

/** Every pixel where two photos differ, as [x, y]. */
function changed(a: RgbImage, b: RgbImage): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < a.width * a.height; i++) {
    if (a.data[i * 3] !== b.data[i * 3] || a.data[i * 3 + 1] !== b.data[i * 3 + 1] || a.data[i * 3 + 2] !== b.data[i * 3 + 2]) out.push([i % a.width, Math.floor(i / a.width)]);
  }
  return out;
}

beforeAll(async () => {
  await useNodeBackend('wasm');
  detector = await nodeFaceDetector();
});

describe('the detail-preserving composite (photo + the edit\'s change under a soft mask)', () => {
  it('places the generator\'s crop where the alignment took it from', async () => {
    const faces = await detector.detect(await photo('faces/obama.jpg'));
    const quad = ffhqQuad(faces[0].landmarks);
    const transform = { outputSize: 64, toSource: quadToAffine(quad, 64), quad, sourceWidth: 0, sourceHeight: 0 };
    const placement = facePlacement(transform, 256);
    // the quad's top-left corner is the crop's top-left pixel edge: index -0.5
    const [tl] = toCropPoints([{ x: quad.corners[0].x - 0.5, y: quad.corners[0].y - 0.5 }], placement);
    expect(tl.x).toBeCloseTo(-0.5, 6);
    expect(tl.y).toBeCloseTo(-0.5, 6);
    const box = boxPlacement({ x: 100, y: 50, width: 400, height: 300 }, [96, 128]);
    const [a, b] = toCropPoints([{ x: 99.5, y: 49.5 }, { x: 499.5, y: 349.5 }], box);
    expect([a.x, a.y, b.x, b.y].map((v) => Number(v.toFixed(6)))).toEqual([-0.5, -0.5, 127.5, 95.5]);
    // the face region covers the face's landmarks and leaves the crop's corners out
    const landmarks = toCropPoints(faces[0].landmarks, facePlacement(transform, 64));
    const mask = faceRegion(landmarks, 64);
    const at = (p: { x: number; y: number }) => mask[Math.round(p.y) * 64 + Math.round(p.x)];
    expect([at(landmarks[30]), at(landmarks[51]), at(landmarks[8]) > 0.3]).toEqual([1, 1, true]);
    expect([mask[0], mask[63], mask[64 * 63], mask[64 * 64 - 1]]).toEqual([0, 0, 0, 0]);
    // a forehead point half the face's height above the brows is in
    expect(at({ x: landmarks[27].x, y: landmarks[19].y - 0.4 * (landmarks[8].y - landmarks[19].y) })).toBe(1);
  });

  it('a zero change leaves the photo as it was, byte for byte', async () => {
    const image = await photo('faces/obama.jpg');
    const placement = boxPlacement({ x: 10, y: 20, width: 200, height: 200 }, [64, 64]);
    expect(changed(composite(image, new Float32Array(64 * 64 * 3), placement), image)).toHaveLength(0);
  });

  it('faces: no edit gives the photo exactly; an edit changes only the face-and-hair region, and visibly', async () => {
    const demo = await model('demo-faces-64');
    const session = new EditorSession(demo, detector);
    const obama = await photo('faces/obama.jpg');
    await session.setPhoto(obama);
    await session.frame(session.defaultFraming());
    await session.invert();
    expect(changed(await session.composite([]), obama)).toHaveLength(0);
    expect(changed(await session.composite([{ direction: 'smiling', value: 0 }]), obama)).toHaveLength(0);

    const edited = await session.composite([{ direction: 'male', value: -3 }]);
    const moved = changed(edited, obama);
    expect(moved.length).toBeGreaterThan(1000);
    // every changed pixel lies inside the generator's crop (the region follows the change, never past the crop)
    const faces = session.faces();
    const quad = ffhqQuad(faces[0].landmarks);
    const placement = facePlacement({ outputSize: 64, toSource: quadToAffine(quad, 64), quad, sourceWidth: 0, sourceHeight: 0 }, 64);
    const extent = cropExtent(64, 64);
    expect(moved.filter(([x, y]) => maskAt(extent, placement, x, y) === 0)).toHaveLength(0);
    // the blend weight is the landmark region joined to where the edit changed the picture
    const { weight } = await session.renderWithComposite([{ direction: 'male', value: -3 }], null, { reach: true });
    const landmarkRegion = faceRegion(toCropPoints(faces[0].landmarks, placement), 64);
    expect(Array.from(weight.base)).toEqual(Array.from(landmarkRegion));
    expect(weight.mask.every((w, i) => w >= landmarkRegion[i] && w <= 1)).toBe(true);
    // the landmark rule alone (the rule before issue 35) changes only the face-and-hair region, and less of the crop
    session.regionRule = 'landmarks';
    const byLandmarks = changed(await session.composite([{ direction: 'male', value: -3 }]), obama);
    session.regionRule = 'follows the change';
    expect(byLandmarks.filter(([x, y]) => maskAt(landmarkRegion, placement, x, y) === 0)).toHaveLength(0);
    expect(byLandmarks.length).toBeLessThanOrEqual(moved.length);
    // the generated-crop paste replaces the whole square, feathered only at its edge; the composite keeps the photo
    // where the edit changes nothing much (a corner of the square, 10% in, is the photo's or close to it)
    const corner = quad.corners[0];
    const inside = { x: Math.round(corner.x + (quad.x.x + quad.y.x) * 0.1), y: Math.round(corner.y + (quad.x.y + quad.y.y) * 0.1) };
    const pasted = await session.pasteBack((await session.render([{ direction: 'male', value: -3 }])).image);
    const px = (im: RgbImage, p: { x: number; y: number }) => [...im.data.subarray((p.y * im.width + p.x) * 3, (p.y * im.width + p.x) * 3 + 3)];
    expect(px(pasted, inside)).not.toEqual(px(obama, inside));
    // A slider's release renders once for both pictures: the same generator picture as render(), the same photo as composite()
    const both = await session.renderWithComposite([{ direction: 'male', value: -3 }]);
    expect(Buffer.from(both.image.data).equals(Buffer.from((await session.render([{ direction: 'male', value: -3 }])).image.data))).toBe(true);
    expect(changed(both.result, edited)).toHaveLength(0);
    // What the page repaints: only the region any edit can change; pasted over the photo it is the whole result,
    // for another edit too (the region does not depend on the edit), and with no edit it is the photo there.
    const paste = (region: PhotoRegion, patch: RgbImage) => {
      const out = { ...obama, data: obama.data.slice() };
      for (let y = 0; y < region.height; y++) out.data.set(patch.data.subarray(y * region.width * 3, (y + 1) * region.width * 3), ((region.y + y) * obama.width + region.x) * 3);
      return out;
    };
    for (const edits of [[{ direction: 'male', value: -3 }], [{ direction: 'smiling', value: 2 }], []]) {
      const part = await session.renderWithComposite(edits, null, { inRegion: true });
      expect(part.region).not.toBeNull();
      expect(part.region!.width * part.region!.height).toBeLessThan(obama.width * obama.height); // the crop's part of the photo
      expect([part.result.width, part.result.height]).toEqual([part.region!.width, part.region!.height]);
      expect(changed(paste(part.region!, part.result), await session.composite(edits))).toHaveLength(0);
    }
    session.dispose();
    demo.dispose();
  });

  it('the region follows the change: from the landmark region to where the edit changes the picture, and no further', () => {
    const size = 64;
    const base = alignedFaceRegion(size);
    const reconstruction = new Float32Array(size * size * 3).fill(-0.2);
    // no change, or a drift below the threshold everywhere: the landmark region itself
    expect(Array.from(followChange(base, reconstruction, reconstruction, size, size))).toEqual(Array.from(base));
    const drift = reconstruction.map((v) => v + ((FOLLOW_CHANGE.from - 1) / 255) * 2);
    expect(Array.from(followChange(base, drift, reconstruction, size, size))).toEqual(Array.from(base));
    // hair grown at the crop's top left (12 x 12 px, 64/255 brighter), outside the landmark region
    const hair = reconstruction.slice();
    for (let y = 4; y < 16; y++) for (let x = 4; x < 16; x++) for (let c = 0; c < 3; c++) hair[(y * size + x) * 3 + c] += 0.5;
    const weight = followChange(base, hair, reconstruction, size, size);
    const at = (x: number, y: number) => weight[y * size + x];
    expect(base[10 * size + 10]).toBe(0);
    expect(at(10, 10)).toBe(1); // the change in full where it is
    expect(at(4, 4)).toBe(1);
    // fading out within the feather and the smoothing past its edge; far from it, the landmark region's own weight
    const reachPx = Math.round(FOLLOW_CHANGE.feather * size) + Math.round(FOLLOW_CHANGE.smooth * size);
    expect(at(15 + reachPx + 1, 10)).toBe(base[10 * size + 15 + reachPx + 1]);
    expect(at(20, 40)).toBe(base[40 * size + 20]);
    // never past what the generator saw: the crop's outermost pixels stay 0; never below the landmark region
    expect([at(0, 0), at(0, 10), at(10, 0)]).toEqual([0, 0, 0]);
    expect(weight.every((w, i) => w >= base[i] && w <= 1)).toBe(true);
    // all of the hair's change reaches the photo now; through the landmark region alone, next to none of it
    expect(changeReach(hair, reconstruction, weight)).toBeGreaterThan(0.99);
    expect(changeReach(hair, reconstruction, base)).toBeLessThan(0.05);
  });

  it('cars: the change stays inside the crop box', async () => {
    const demo = await model('demo-cars-128');
    const session = new EditorSession(demo, null);
    const car = await photo('cars/ferrari-red-3852233337_7593a392c1_b.jpg');
    await session.setPhoto(car);
    const framing = session.defaultFraming();
    await session.frame(framing);
    await session.invert();
    expect(changed(await session.composite([]), car)).toHaveLength(0);
    const colour = demo.manifest.directions.find((d) => d.kind === 'ganspace')!;
    const moved = changed(await session.composite([{ direction: colour.id, value: colour.max }]), car);
    expect(moved.length).toBeGreaterThan(1000);
    const box = framing.box!;
    expect(moved.filter(([x, y]) => x < box.x || y < box.y || x >= box.x + box.width || y >= box.y + box.height)).toHaveLength(0);
    session.dispose();
    demo.dispose();
  });

  // The rule composite() documents, written out plainly per pixel: photo + the change sampled bilinearly at the
  // pixel's crop position (outside the crop: 0; taps summed left-right, top-bottom), rounded and clamped.
  function reference(photoImage: RgbImage, change: Float32Array, placement: Placement): RgbImage {
    const { width, height, toCrop: [a0, a1, a2, b0, b1, b2] } = placement;
    const out = { ...photoImage, data: photoImage.data.slice() };
    for (let y = 0; y < photoImage.height; y++) {
      for (let x = 0; x < photoImage.width; x++) {
        const u = a0 * x + a1 * y + a2;
        const v = b0 * x + b1 * y + b2;
        if (u <= -1 || v <= -1 || u >= width || v >= height) continue;
        const sum = [0, 0, 0];
        for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
          const xx = Math.floor(u) + dx;
          const yy = Math.floor(v) + dy;
          const w = (dx ? u - Math.floor(u) : 1 - (u - Math.floor(u))) * (dy ? v - Math.floor(v) : 1 - (v - Math.floor(v)));
          if (xx < 0 || yy < 0 || xx >= width || yy >= height || w === 0) continue;
          for (let c = 0; c < 3; c++) sum[c] += w * change[(yy * width + xx) * 3 + c];
        }
        if (sum.every((value) => value === 0)) continue;
        for (let c = 0; c < 3; c++) out.data[(y * photoImage.width + x) * 3 + c] = Math.min(255, Math.max(0, Math.round(photoImage.data[(y * photoImage.width + x) * 3 + c] + sum[c])));
      }
    }
    return out;
  }

  it('is photo + the bilinearly sampled change, pixel for pixel, for a rotated face crop and a car\'s crop box', () => {
    // A noisy photo and change (a seeded generator): every rounding case comes up somewhere.
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const photoImage: RgbImage = { width: 203, height: 151, data: Uint8Array.from({ length: 203 * 151 * 3 }, () => Math.floor(random() * 256)) };
    const crop = 24;
    const change = Float32Array.from({ length: crop * crop * 3 }, () => (random() - 0.5) * 80);
    const angle = 0.3;
    const rotated: Placement = { toCrop: [Math.cos(angle) * 0.2, Math.sin(angle) * 0.2, -9.7, -Math.sin(angle) * 0.2, Math.cos(angle) * 0.2, 3.1], width: crop, height: crop };
    const box = boxPlacement({ x: 31.5, y: 20, width: 150, height: 112.5 }, [crop, crop]); // no rotation: the fast path
    for (const placement of [rotated, box]) {
      const expected = reference(photoImage, change, placement);
      const whole = composite(photoImage, change, placement);
      expect(changed(whole, photoImage).length).toBeGreaterThan(1000);
      expect(changed(whole, expected)).toHaveLength(0);
      const region: PhotoRegion = { x: 20, y: 10, width: 170, height: 130 };
      const part = compositeRegion(photoImage, change, placement, region);
      expect(changed(part, cropRgb(expected, region.x, region.y, region.x + region.width, region.y + region.height))).toHaveLength(0);
    }
  });
});

describe('how much of the generated change reaches the photo', () => {
  it('is the change energy under the blend weight over all of it', () => {
    const mask = new Float32Array([1, 1, 0, 0.5]);
    const reconstruction = new Float32Array(12);
    const only = (pixel: number, v = 0.5) => { const e = new Float32Array(12); e.fill(v, pixel * 3, pixel * 3 + 3); return e; };
    expect(changeReach(only(0), reconstruction, mask)).toBe(1);
    expect(changeReach(only(2), reconstruction, mask)).toBe(0);
    expect(changeReach(only(3), reconstruction, mask)).toBe(0.5);
    expect(changeReach(new Float32Array(12).fill(0.2), reconstruction, mask)).toBeCloseTo(2.5 / 4, 6);
    expect(changeReach(reconstruction, reconstruction, mask)).toBe(1); // nothing changed: nothing is lost
    // clipped as shown: a value past 1 changes no more than 1
    expect(changeReach(only(2, 3), reconstruction, mask)).toBe(changeReach(only(2, 1), reconstruction, mask));
    expect(() => changeReach(new Float32Array(3), reconstruction, mask)).toThrow(RangeError);
  });
});
