import type { Point } from './types';

/**
 * The FFHQ alignment rule as pSp / e4e apply it (align_all_parallel.py), on 68-point landmarks:
 * eye centres from points 36-41 and 42-47, mouth centre from the mouth corners 48 and 54;
 * x = e2e - flipud(e2m) * [-1, 1], normalised and scaled by max(2|e2e|, 1.8|e2m|); y = flipud(x) * [-1, 1];
 * centre = eye midpoint + 0.1 e2m. The crop is the square (quad) c -/+ x -/+ y.
 */
export interface FfhqQuad {
  center: Point;
  /** Half the quad's horizontal side, as a vector. */
  x: Point;
  /** Half the quad's vertical side, as a vector (points from the eyes towards the mouth). */
  y: Point;
  /** Corners: top-left, bottom-left, bottom-right, top-right (the order of the FFHQ script). */
  corners: [Point, Point, Point, Point];
  /** Side length of the quad in source pixels. */
  size: number;
  eyeLeft: Point;
  eyeRight: Point;
  mouth: Point;
}

const add = (a: Point, b: Point): Point => ({ x: a.x + b.x, y: a.y + b.y });
const sub = (a: Point, b: Point): Point => ({ x: a.x - b.x, y: a.y - b.y });
const scale = (a: Point, s: number): Point => ({ x: a.x * s, y: a.y * s });
const length = (a: Point) => Math.hypot(a.x, a.y);
const mean = (points: Point[]): Point => scale(points.reduce(add, { x: 0, y: 0 }), 1 / points.length);

export function ffhqQuadFromEyesAndMouth(eyeLeft: Point, eyeRight: Point, mouth: Point): FfhqQuad {
  const eyeAvg = scale(add(eyeLeft, eyeRight), 0.5);
  const e2e = sub(eyeRight, eyeLeft);
  const e2m = sub(mouth, eyeAvg);
  // flipud(e2m) * [-1, 1] = (-e2m.y, e2m.x)
  let x = sub(e2e, { x: -e2m.y, y: e2m.x });
  x = scale(x, Math.max(length(e2e) * 2, length(e2m) * 1.8) / length(x));
  const y = { x: -x.y, y: x.x };
  const center = add(eyeAvg, scale(e2m, 0.1));
  const corners: [Point, Point, Point, Point] = [
    sub(sub(center, x), y), add(sub(center, x), y), add(add(center, x), y), sub(add(center, x), y),
  ];
  return { center, x, y, corners, size: length(x) * 2, eyeLeft, eyeRight, mouth };
}

export function ffhqQuad(landmarks: Point[]): FfhqQuad {
  if (landmarks.length !== 68) throw new RangeError(`the FFHQ rule needs 68 landmarks, got ${landmarks.length}`);
  const eyeLeft = mean(landmarks.slice(36, 42));
  const eyeRight = mean(landmarks.slice(42, 48));
  const mouth = scale(add(landmarks[48], landmarks[54]), 0.5);
  return ffhqQuadFromEyesAndMouth(eyeLeft, eyeRight, mouth);
}

/**
 * Output pixel (u, v) of an S x S crop -> source point: TL + (u + 0.5) / S * 2x + (v + 0.5) / S * 2y, as the
 * 6 coefficients [a0, a1, a2, b0, b1, b2] of x = a0 u + a1 v + a2, y = b0 u + b1 v + b2 (pixel centres at +0.5).
 */
export function quadToAffine(quad: FfhqQuad, outputSize: number): number[] {
  const [tl] = quad.corners;
  const s = 2 / outputSize;
  const a0 = quad.x.x * s;
  const a1 = quad.y.x * s;
  const b0 = quad.x.y * s;
  const b1 = quad.y.y * s;
  // source pixel index = continuous coordinate - 0.5
  return [a0, a1, tl.x + 0.5 * (a0 + a1) - 0.5, b0, b1, tl.y + 0.5 * (b0 + b1) - 0.5];
}

export function invertAffine([a0, a1, a2, b0, b1, b2]: number[]): number[] {
  const det = a0 * b1 - a1 * b0;
  const i0 = b1 / det;
  const i1 = -a1 / det;
  const j0 = -b0 / det;
  const j1 = a0 / det;
  return [i0, i1, -(i0 * a2 + i1 * b2), j0, j1, -(j0 * a2 + j1 * b2)];
}

export function applyAffine([a0, a1, a2, b0, b1, b2]: number[], p: Point): Point {
  return { x: a0 * p.x + a1 * p.y + a2, y: b0 * p.x + b1 * p.y + b2 };
}
