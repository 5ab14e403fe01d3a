import type { AlignTransform } from './align';
import type { CropBox } from './types';
import { applyAffine, invertAffine } from './geometry';
import { cropRgb } from './raster';
import type { Point, RgbImage } from './types';

/**
 * The detail-preserving composite: the photo plus the *change* an edit makes (edit − reconstruction, in the
 * generator's crop), weighted by a soft region mask (for faces: the landmark region joined to wherever the edit
 * changes the picture, followChange), brought back to the photo's resolution through the framing. Whatever the generator cannot reproduce (skin texture, hair strands, the background, the photo's
 * sharpness) stays the photo's own; what the edit changes (a smile, glasses, grey hair) comes from the
 * generator, at the frequencies the generator renders (a 64 px model's change is smooth by nature).
 * With no change the result is the photo, byte for byte; outside the mask nothing changes.
 *
 * Written here rather than with tf ops: it runs pixel by pixel over the region's bounding box only, so a
 * 100 MP photo costs one copy of the photo and no backend memory.
 */

/** How the generator's crop sits in the photo: photo pixel (x, y) -> crop pixel index, and the crop's size. */
export interface Placement {
  toCrop: number[];
  width: number;
  height: number;
}

/** The crop of an aligned face at `cropSize` (the generator's output) placed back through its alignment. */
export function facePlacement(transform: AlignTransform, cropSize: number): Placement {
  const [a0, a1, a2, b0, b1, b2] = invertAffine(transform.toSource);
  const k = cropSize / transform.outputSize;
  // aligned index a -> crop index (a + 0.5) k - 0.5 (pixel centres scale about +0.5)
  return { toCrop: [a0 * k, a1 * k, (a2 + 0.5) * k - 0.5, b0 * k, b1 * k, (b2 + 0.5) * k - 0.5], width: cropSize, height: cropSize };
}

/** A crop box of the photo resized to [height, width] (cars, or a photo used as it is). */
export function boxPlacement(box: CropBox, [height, width]: [number, number]): Placement {
  const kx = width / box.width;
  const ky = height / box.height;
  return { toCrop: [kx, 0, (0.5 - box.x) * kx - 0.5, 0, ky, (0.5 - box.y) * ky - 0.5], width, height };
}

/** Landmarks of the photo mapped into the crop's pixel indices. */
export function toCropPoints(points: Point[], placement: Placement): Point[] {
  return points.map((p) => applyAffine(placement.toCrop, p));
}

/** Andrew's monotone chain, counter-clockwise in image coordinates (y down). */
function convexHull(points: Point[]): Point[] {
  const sorted = [...points].sort((a, b) => a.x - b.x || a.y - b.y);
  const cross = (o: Point, a: Point, b: Point) => (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
  const half = (list: Point[]) => {
    const out: Point[] = [];
    for (const p of list) {
      while (out.length >= 2 && cross(out[out.length - 2], out[out.length - 1], p) <= 0) out.pop();
      out.push(p);
    }
    out.pop();
    return out;
  };
  return [...half(sorted), ...half(sorted.reverse())];
}

/**
 * A soft mask over a convex polygon: 1 deeper than `feather / 2` inside, 0 beyond `feather / 2` outside, linear
 * across. The signed distance to a convex polygon is the smallest signed distance to its edges' lines.
 */
function polygonMask(polygon: Point[], width: number, height: number, feather: number): Float32Array {
  const mask = new Float32Array(width * height);
  const hull = convexHull(polygon);
  const edges = hull.map((a, i) => {
    const b = hull[(i + 1) % hull.length];
    const len = Math.hypot(b.x - a.x, b.y - a.y) || 1;
    // a normal of the edge; turned to face the hull's centre below, whatever the hull's orientation
    return { a, nx: -(b.y - a.y) / len, ny: (b.x - a.x) / len };
  });
  const centre = { x: hull.reduce((s, p) => s + p.x, 0) / hull.length, y: hull.reduce((s, p) => s + p.y, 0) / hull.length };
  for (const e of edges) {
    if ((centre.x - e.a.x) * e.nx + (centre.y - e.a.y) * e.ny < 0) { e.nx = -e.nx; e.ny = -e.ny; }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let d = Infinity;
      for (const e of edges) d = Math.min(d, (x - e.a.x) * e.nx + (y - e.a.y) * e.ny);
      mask[y * width + x] = Math.min(1, Math.max(0, 0.5 + d / feather));
    }
  }
  return mask;
}

/**
 * The face-and-hair region of a crop from the face's 68 landmarks (iBUG order, in crop pixels): their hull,
 * extended up over the forehead and the hair (the brows raised by 0.8 of the brow-to-chin height) and out at the
 * sides, feathered over `feather` of the crop's side. What a face edit changes lies in it (expression, age,
 * glasses, hair line); the background and the shoulders stay the photo's.
 */
export function faceRegion(landmarks: Point[], size: number, feather = 0.08): Float32Array {
  if (landmarks.length !== 68) throw new RangeError(`the face region needs 68 landmarks, got ${landmarks.length}`);
  const brows = landmarks.slice(17, 27);
  const chin = landmarks[8];
  const browY = brows.reduce((s, p) => s + p.y, 0) / brows.length;
  const browX = brows.reduce((s, p) => s + p.x, 0) / brows.length;
  const height = chin.y - browY;
  const lift = 0.8 * height;
  const top = brows.map((p) => ({ x: browX + (p.x - browX) * 1.15, y: p.y - lift }));
  const jaw = landmarks.slice(0, 17);
  const jawX = jaw.reduce((s, p) => s + p.x, 0) / jaw.length;
  const sides = jaw.map((p) => ({ x: jawX + (p.x - jawX) * 1.1, y: p.y }));
  return withinCrop(polygonMask([...landmarks, ...top, ...sides], size, size, Math.max(1, feather * size)), size);
}

/**
 * The face-and-hair region of an FFHQ-aligned crop without landmarks (eyes and mouth placed by hand, or an
 * already aligned photo): where the FFHQ rule puts a face (eyes at ~0.38-0.40 of the height, mouth at ~0.63-0.66).
 */
export function alignedFaceRegion(size: number, feather = 0.08): Float32Array {
  const s = size;
  const ellipse: Point[] = [];
  for (let i = 0; i < 32; i++) {
    const t = (i / 32) * 2 * Math.PI;
    ellipse.push({ x: s * (0.5 + 0.3 * Math.cos(t)), y: s * (0.44 + 0.38 * Math.sin(t)) });
  }
  return withinCrop(polygonMask(ellipse, s, s, Math.max(1, feather * s)), s);
}

/**
 * The whole crop, feathered at its edges (cars: what the crop box holds). The outermost pixels are 0, so the
 * change, sampled bilinearly, ends at the crop's edge.
 */
export function boxRegion(width: number, height: number, feather = 0.08): Float32Array {
  const mask = new Float32Array(width * height);
  const fade = Math.max(1, feather * Math.min(width, height));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const edge = Math.min(x, width - 1 - x, y, height - 1 - y);
      mask[y * width + x] = Math.min(1, edge / fade);
    }
  }
  return mask;
}

/** A region mask faded out before the crop's edge (a face filling its crop must not spill past it). */
function withinCrop(mask: Float32Array, size: number): Float32Array {
  const edge = cropExtent(size, size);
  return mask.map((w, i) => w * edge[i]);
}

/**
 * How the blend weight follows an edit (issue 35): where the generated picture changes by more than `from` (of 255,
 * the change's RMS over the channels, smoothed over `smooth` of the crop's side) the weight rises, reaching 1 at
 * `full`; that region keeps weight 1 to its edge and is feathered outwards over `feather` of the side, then joined
 * to the landmark region. A GAN's edit moves hair and the face's outline past the face's hull; the region goes where
 * the change goes, and its feather lies where the change is already small, so it crosses no strong change (no seam).
 */
export const FOLLOW_CHANGE = { from: 8, full: 16, smooth: 0.03, feather: 0.08 };

/** Everything a face edit may ever reach: the whole crop, faded out over its outermost 3% (what the generator saw). */
export function cropExtent(width: number, height: number): Float32Array {
  return boxRegion(width, height, 0.03);
}

/**
 * The blend weight for one edit: the landmark region `base` joined to where the edit changes the picture
 * (FOLLOW_CHANGE), within the crop's extent. `edit` and `reconstruction` as maskedChange() takes them.
 */
export function followChange(base: Float32Array, edit: Float32Array, reconstruction: Float32Array, width: number, height: number, rule = FOLLOW_CHANGE): Float32Array {
  const n = width * height;
  if (base.length !== n || edit.length !== n * 3 || reconstruction.length !== n * 3) throw new RangeError('the region, the edit and the reconstruction differ in size');
  const side = Math.min(width, height);
  const magnitude = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let energy = 0;
    for (let c = 0; c < 3; c++) energy += (Math.min(1, Math.max(-1, edit[i * 3 + c])) - Math.min(1, Math.max(-1, reconstruction[i * 3 + c]))) ** 2;
    magnitude[i] = Math.sqrt(energy / 3) * 127.5;
  }
  const smoothed = boxBlur(magnitude, width, height, Math.max(1, Math.round(rule.smooth * side)));
  const changed = smoothed.map((m) => Math.min(1, Math.max(0, (m - rule.from) / (rule.full - rule.from))));
  // A box mean of radius R over a region's edge falls from 1 to 0 across 2R, passing 0.5 on the edge: doubled and
  // clipped, it is 1 up to the edge and fades to 0 at R outside it (a dilation and a feather in one O(n) pass).
  const grown = boxBlur(changed, width, height, Math.max(1, Math.round(rule.feather * side)));
  const extent = cropExtent(width, height);
  return grown.map((w, i) => Math.max(base[i], Math.min(1, 2 * w) * extent[i]));
}

/**
 * A separable box mean of radius `r` (the window clipped at the edges), by running sums: O(pixels) whatever the
 * radius, so a 1024 px crop costs milliseconds. Written here because the engine's photo code runs without a tf
 * backend (the worker's composite, Node scripts).
 */
function boxBlur(field: Float32Array, width: number, height: number, r: number): Float32Array {
  const pass = (input: Float32Array, count: number, lines: number, at: (line: number, k: number) => number) => {
    const out = new Float32Array(input.length);
    for (let line = 0; line < lines; line++) {
      let sum = 0;
      for (let k = 0; k < Math.min(count, r); k++) sum += input[at(line, k)];
      for (let k = 0; k < count; k++) {
        if (k + r < count) sum += input[at(line, k + r)];
        if (k - r - 1 >= 0) sum -= input[at(line, k - r - 1)];
        out[at(line, k)] = sum / (Math.min(count - 1, k + r) - Math.max(0, k - r) + 1);
      }
    }
    return out;
  };
  const rows = pass(field, width, height, (line, k) => line * width + k);
  return pass(rows, height, width, (line, k) => k * width + line);
}

/**
 * The change to bring back: (edit − reconstruction) × mask, per pixel and channel, in 8-bit units. `edit` and
 * `reconstruction` are the generator's pictures as float HWC in [-1, 1] (clipped as shown).
 */
export function maskedChange(edit: Float32Array, reconstruction: Float32Array, mask: Float32Array): Float32Array {
  if (edit.length !== reconstruction.length || edit.length !== mask.length * 3) throw new RangeError('the edit, the reconstruction and the mask differ in size');
  const change = new Float32Array(edit.length);
  for (let i = 0; i < mask.length; i++) {
    const w = mask[i] * 127.5;
    if (w === 0) continue;
    for (let c = 0; c < 3; c++) change[i * 3 + c] = (Math.min(1, Math.max(-1, edit[i * 3 + c])) - Math.min(1, Math.max(-1, reconstruction[i * 3 + c]))) * w;
  }
  return change;
}

/**
 * How much of the generated change reaches the photo: the change's energy (edit − reconstruction, squared, clipped as
 * shown) under the blend weight, over all of it, in the generator's crop. 1 when the region holds all of it; the
 * share of an edit that moves hair or the face's outline past the region is lower. 1 when nothing changed.
 */
export function changeReach(edit: Float32Array, reconstruction: Float32Array, mask: Float32Array): number {
  if (edit.length !== reconstruction.length || edit.length !== mask.length * 3) throw new RangeError('the edit, the reconstruction and the mask differ in size');
  let inside = 0;
  let all = 0;
  for (let i = 0; i < mask.length; i++) {
    let energy = 0;
    for (let c = 0; c < 3; c++) energy += (Math.min(1, Math.max(-1, edit[i * 3 + c])) - Math.min(1, Math.max(-1, reconstruction[i * 3 + c]))) ** 2;
    inside += mask[i] * energy;
    all += energy;
  }
  return all > 0 ? inside / all : 1;
}

/** The photo's pixels the crop covers (clipped to the photo), from the crop's corners mapped back. */
export function coveredBox(photo: { width: number; height: number }, placement: Placement): { x0: number; y0: number; x1: number; y1: number } {
  return photoBox(photo, placement, { x0: 0, y0: 0, x1: placement.width - 1, y1: placement.height - 1 });
}

/**
 * Bilinear sample of an HWC field at a crop position into `out`. 'zero': outside the crop counts as 0, and the
 * answer says whether any neighbour was non-zero; 'clamp': the nearest edge pixel (colours), always true inside
 * the crop's extent.
 */
function sample(field: ArrayLike<number>, width: number, height: number, channels: number, u: number, v: number, out: Float32Array, edge: 'zero' | 'clamp' = 'zero'): boolean {
  if (u <= -1 || v <= -1 || u >= width || v >= height) return false;
  const x = Math.floor(u);
  const y = Math.floor(v);
  const fx = u - x;
  const fy = v - y;
  out.fill(0);
  let any = false;
  // the four taps, unrolled: this runs once per photo pixel of the region (tens of millions on a large photo)
  for (let tap = 0; tap < 4; tap++) {
    const dx = tap & 1;
    const dy = tap >> 1;
    const w = (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy);
    if (w === 0) continue;
    let xx = x + dx;
    let yy = y + dy;
    if (edge === 'clamp') {
      xx = xx < 0 ? 0 : xx >= width ? width - 1 : xx;
      yy = yy < 0 ? 0 : yy >= height ? height - 1 : yy;
    } else if (xx < 0 || yy < 0 || xx >= width || yy >= height) continue;
    const at = (yy * width + xx) * channels;
    for (let c = 0; c < channels; c++) {
      const value = field[at + c];
      if (value !== 0) any = true;
      out[c] += w * value;
    }
  }
  return edge === 'clamp' || any;
}

/** The bounding box of a field's non-zero pixels (crop pixels, inclusive), or null when it is all zero. */
function support(field: Float32Array, width: number, height: number, channels: number): { x0: number; y0: number; x1: number; y1: number } | null {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        if (field[(y * width + x) * channels + c] === 0) continue;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
        break;
      }
    }
  }
  return x1 < 0 ? null : { x0, y0, x1, y1 };
}

/** The photo pixels a part of the crop (crop pixels [x0, x1] x [y0, y1], grown by the bilinear reach) maps onto. */
function photoBox(photo: { width: number; height: number }, placement: Placement, part: { x0: number; y0: number; x1: number; y1: number }) {
  const toPhoto = invertAffine(placement.toCrop);
  const corners = [[part.x0 - 1, part.y0 - 1], [part.x1 + 1, part.y0 - 1], [part.x0 - 1, part.y1 + 1], [part.x1 + 1, part.y1 + 1]]
    .map(([x, y]) => applyAffine(toPhoto, { x, y }));
  return {
    x0: Math.max(0, Math.floor(Math.min(...corners.map((c) => c.x)))),
    y0: Math.max(0, Math.floor(Math.min(...corners.map((c) => c.y)))),
    x1: Math.min(photo.width, Math.ceil(Math.max(...corners.map((c) => c.x))) + 1),
    y1: Math.min(photo.height, Math.ceil(Math.max(...corners.map((c) => c.y))) + 1),
  };
}

/**
 * The generated crop itself put into the photo under `mask` (photo·(1 − w) + crop·w): what the model makes,
 * without the photo's detail. Pixel by pixel over the crop's bounding box, like composite().
 */
export function pasteCrop(photo: RgbImage, crop: RgbImage, mask: Float32Array, placement: Placement): RgbImage {
  const { width, height } = placement;
  if (crop.width !== width || crop.height !== height || mask.length !== width * height) throw new RangeError('the crop, its mask and its placement differ in size');
  const out: RgbImage = { width: photo.width, height: photo.height, data: photo.data.slice() };
  const { x0, y0, x1, y1 } = coveredBox(photo, placement);
  const [a0, a1, a2, b0, b1, b2] = placement.toCrop;
  const weight = new Float32Array(1);
  const colour = new Float32Array(3);
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const u = a0 * x + a1 * y + a2;
      const v = b0 * x + b1 * y + b2;
      if (!sample(mask, width, height, 1, u, v, weight)) continue;
      sample(crop.data, width, height, 3, u, v, colour, 'clamp');
      const w = weight[0];
      const at = (y * photo.width + x) * 3;
      for (let c = 0; c < 3; c++) out.data[at + c] = Math.min(255, Math.max(0, Math.round(photo.data[at + c] * (1 - w) + colour[c] * w)));
    }
  }
  return out;
}

/**
 * The photo with `change` (a crop-sized HWC field in 8-bit units, already masked) added through `placement`.
 * Only the pixels the crop covers are visited; a pixel whose change rounds to nothing keeps its value.
 */
export function composite(photo: RgbImage, change: Float32Array, placement: Placement): RgbImage {
  const { width, height } = placement;
  if (change.length !== width * height * 3) throw new RangeError(`the change is ${change.length / 3} pixels; the crop is ${width}x${height}`);
  const out: RgbImage = { width: photo.width, height: photo.height, data: photo.data.slice() };
  const changed = support(change, width, height, 3);
  // only the photo pixels the change can reach are visited (a face's region of a 100 MP photo, not all of it)
  if (changed) addChange(out, photo, change, placement, photoBox(photo, placement, changed), { x: 0, y: 0 });
  return out;
}

/** A rectangle of photo pixels: [x, x + width) x [y, y + height). */
export interface PhotoRegion { x: number; y: number; width: number; height: number }

/**
 * The photo pixels an edit under `mask` can ever change (the mask's support mapped into the photo, clipped):
 * the same for every edit of one photo, so a picture of it replaces the last one whole. Null: no pixel.
 */
export function editableRegion(photo: { width: number; height: number }, mask: Float32Array, placement: Placement): PhotoRegion | null {
  const part = support(mask, placement.width, placement.height, 1);
  if (!part) return null;
  const { x0, y0, x1, y1 } = photoBox(photo, placement, part);
  return x1 > x0 && y1 > y0 ? { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } : null;
}

/**
 * composite() over `region` only, as an image of the region's size: what a page showing the photo repaints after
 * an edit (a face's region, not the 12 MP around it). `change` must lie inside the region (editableRegion of the
 * mask it was made with).
 */
export function compositeRegion(photo: RgbImage, change: Float32Array, placement: Placement, region: PhotoRegion): RgbImage {
  const out = cropRgb(photo, region.x, region.y, region.x + region.width, region.y + region.height);
  const changed = support(change, placement.width, placement.height, 3);
  if (changed) {
    const box = photoBox(photo, placement, changed);
    const clipped = { x0: Math.max(box.x0, region.x), y0: Math.max(box.y0, region.y), x1: Math.min(box.x1, region.x + region.width), y1: Math.min(box.y1, region.y + region.height) };
    addChange(out, photo, change, placement, clipped, region);
  }
  return out;
}

/**
 * Writes photo + change over the photo pixels of `box` into `out`, whose pixel (0, 0) is photo pixel `origin`.
 * sample() written out for three channels: this runs once per photo pixel of the region (half a million for a
 * car filling a 1024 px photo), and the general form took 45 ms of a slider's release there.
 */
function addChange(out: RgbImage, photo: RgbImage, change: Float32Array, placement: Placement, box: { x0: number; y0: number; x1: number; y1: number }, origin: { x: number; y: number }): void {
  const { width, height } = placement;
  const [a0, a1, a2, b0, b1, b2] = placement.toCrop;
  if (a1 === 0 && b0 === 0) {
    addChangeAxisAligned(out, photo, change, placement, box, origin);
    return;
  }
  const source = photo.data;
  const target = out.data;
  for (let y = box.y0; y < box.y1; y++) {
    for (let x = box.x0; x < box.x1; x++) {
      const u = a0 * x + a1 * y + a2;
      const v = b0 * x + b1 * y + b2;
      if (u <= -1 || v <= -1 || u >= width || v >= height) continue;
      const xi = Math.floor(u);
      const yi = Math.floor(v);
      const fx = u - xi;
      const fy = v - yi;
      let r = 0;
      let g = 0;
      let b = 0;
      // the four taps in sample()'s order (the same sums, bit for bit); outside the crop counts as 0
      for (let dy = 0; dy < 2; dy++) {
        const yy = yi + dy;
        const wy = dy ? fy : 1 - fy;
        if (yy < 0 || yy >= height || wy === 0) continue;
        for (let dx = 0; dx < 2; dx++) {
          const xx = xi + dx;
          const w = (dx ? fx : 1 - fx) * wy;
          if (xx < 0 || xx >= width || w === 0) continue;
          const at = (yy * width + xx) * 3;
          r += w * change[at];
          g += w * change[at + 1];
          b += w * change[at + 2];
        }
      }
      if (r === 0 && g === 0 && b === 0) continue; // no change reaches this pixel: the photo's own
      const from = (y * photo.width + x) * 3;
      const to = ((y - origin.y) * out.width + (x - origin.x)) * 3;
      target[to] = Math.min(255, Math.max(0, Math.round(source[from] + r)));
      target[to + 1] = Math.min(255, Math.max(0, Math.round(source[from + 1] + g)));
      target[to + 2] = Math.min(255, Math.max(0, Math.round(source[from + 2] + b)));
    }
  }
}

/**
 * addChange() for a placement without rotation (a car's crop box): a column's crop position and weights do not
 * depend on the row, nor a row's on the column, so they are worked out once per column and per row. The taps,
 * their weights (horizontal x vertical) and their order are addChange()'s, so every pixel is the same, bit for bit
 * (tests/composite.test.ts); a car filling a 1024 px photo repaints ~0.5 MP per release, 20-25 ms the general way.
 */
function addChangeAxisAligned(out: RgbImage, photo: RgbImage, change: Float32Array, placement: Placement, box: { x0: number; y0: number; x1: number; y1: number }, origin: { x: number; y: number }): void {
  const { width, height } = placement;
  const [a0, , a2, , b1, b2] = placement.toCrop;
  const columns = Math.max(0, box.x1 - box.x0);
  // per column: the change's offset of its left tap, and the left and right taps' weights (0: off the crop)
  const offset = new Int32Array(columns);
  const left = new Float64Array(columns);
  const right = new Float64Array(columns);
  const inside = new Uint8Array(columns);
  for (let i = 0; i < columns; i++) {
    const u = a0 * (box.x0 + i) + a2;
    if (u <= -1 || u >= width) continue;
    const xi = Math.floor(u);
    const fx = u - xi;
    inside[i] = 1;
    offset[i] = xi * 3;
    left[i] = xi >= 0 ? 1 - fx : 0;
    right[i] = xi + 1 < width ? fx : 0;
  }
  const source = photo.data;
  const target = out.data;
  const row = width * 3;
  for (let y = box.y0; y < box.y1; y++) {
    const v = b1 * y + b2;
    if (v <= -1 || v >= height) continue;
    const yi = Math.floor(v);
    const fy = v - yi;
    const top = yi >= 0 ? 1 - fy : 0; // the rows' weights (0: off the crop)
    const bottom = yi + 1 < height ? fy : 0;
    const topRow = yi * row;
    const bottomRow = topRow + row;
    const from = (y * photo.width + box.x0) * 3;
    const to = ((y - origin.y) * out.width + (box.x0 - origin.x)) * 3;
    for (let i = 0; i < columns; i++) {
      if (!inside[i]) continue;
      const wl = left[i];
      const wr = right[i];
      let r = 0;
      let g = 0;
      let b = 0;
      if (top !== 0) {
        if (wl !== 0) { const w = wl * top; const at = topRow + offset[i]; r += w * change[at]; g += w * change[at + 1]; b += w * change[at + 2]; }
        if (wr !== 0) { const w = wr * top; const at = topRow + offset[i] + 3; r += w * change[at]; g += w * change[at + 1]; b += w * change[at + 2]; }
      }
      if (bottom !== 0) {
        if (wl !== 0) { const w = wl * bottom; const at = bottomRow + offset[i]; r += w * change[at]; g += w * change[at + 1]; b += w * change[at + 2]; }
        if (wr !== 0) { const w = wr * bottom; const at = bottomRow + offset[i] + 3; r += w * change[at]; g += w * change[at + 1]; b += w * change[at + 2]; }
      }
      if (r === 0 && g === 0 && b === 0) continue;
      const p = from + i * 3;
      const q = to + i * 3;
      target[q] = Math.min(255, Math.max(0, Math.round(source[p] + r)));
      target[q + 1] = Math.min(255, Math.max(0, Math.round(source[p + 1] + g)));
      target[q + 2] = Math.min(255, Math.max(0, Math.round(source[p + 2] + b)));
    }
  }
}

/** The mask's weight at a photo pixel (bilinear, as composite() samples the change): > 0 where it may differ. */
export function maskAt(mask: Float32Array, placement: Placement, x: number, y: number): number {
  const [a0, a1, a2, b0, b1, b2] = placement.toCrop;
  const value = new Float32Array(1);
  sample(mask, placement.width, placement.height, 1, a0 * x + a1 * y + a2, b0 * x + b1 * y + b2, value);
  return value[0];
}
