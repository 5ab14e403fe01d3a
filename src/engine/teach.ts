import type { StyleRange } from '../models/editing';

/**
 * Teaching a slider from examples (issue 33), InterFaceGAN's way (Shen et al., 2020): the codes of photos with an
 * attribute and of photos without it, a linear boundary between them, and its unit normal as the editing direction.
 * The codes are the mean of the chosen styles (W+ -> one W vector), as the boundaries of the demo models were fitted.
 * Plain arrays and no tf: a boundary in 256 or 512 dimensions from tens of examples is microseconds of arithmetic,
 * and this runs the same in the page's worker, in Node and in tests.
 */

/** A taught direction as it is saved, exported and applied (`npm run direction`, `npm run invert -- --direction`). */
export interface TaughtDirection {
  format: 'stst-taught-direction/1';
  name: string;
  /** The model it was taught on: its name and code shape (a direction is meaningless in another model's space). */
  model: { name: string; nLatent: number; styleDim: number };
  /** The styles it was learned on and edits. */
  range: StyleRange;
  /** The edit of one slider unit: the unit normal times the gap between the two groups' mean codes along it. */
  vector: number[];
  /** Leave-some-out accuracy of the boundary (k folds) and the examples it was fitted on. */
  accuracy: { heldOut: number; folds: number; with: number; without: number };
  /** Directions the normal was made orthogonal to (InterFaceGAN's conditional editing), by id. */
  orthogonalTo: string[];
}

/** Examples on each side below which a boundary is a guess (the page refuses fewer; the CLI warns). */
export const ENOUGH_EXAMPLES = 10;

/** The mean of styles [start, end) of W+ codes laid out [nLatent, dim]: one vector of `dim`. */
export function meanStyle(codes: ArrayLike<number>, nLatent: number, dim: number, range: StyleRange): Float64Array {
  if (codes.length !== nLatent * dim) throw new RangeError(`codes of ${codes.length} numbers are not ${nLatent} styles of ${dim}`);
  if (!(range.start >= 0 && range.end <= nLatent && range.start < range.end)) throw new RangeError(`styles ${range.start}-${range.end} are not within 0-${nLatent}`);
  const out = new Float64Array(dim);
  for (let s = range.start; s < range.end; s++) for (let k = 0; k < dim; k++) out[k] += codes[s * dim + k];
  return out.map((v) => v / (range.end - range.start));
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const unit = (v: Float64Array) => {
  const n = Math.sqrt(dot(v, v));
  if (!(n > 0)) throw new RangeError('the direction has no length');
  return v.map((x) => x / n);
};

/**
 * Removes from `normal` its components along `others` (Gram-Schmidt on the others first), then unit-normalises:
 * moving along the result changes none of the others' projections (InterFaceGAN's conditional manipulation).
 */
export function orthogonalise(normal: Float64Array, others: ArrayLike<number>[]): Float64Array {
  const basis: Float64Array[] = [];
  for (const o of others) {
    let v = Float64Array.from(o);
    for (const b of basis) { const p = dot(v, b); v = v.map((x, i) => x - p * b[i]); }
    const n = Math.sqrt(dot(v, v));
    if (n > 1e-9) basis.push(v.map((x) => x / n));
  }
  let out = Float64Array.from(normal);
  for (const b of basis) { const p = dot(out, b); out = out.map((x, i) => x - p * b[i]); }
  return unit(out);
}

/**
 * A linear boundary between two groups of vectors: L2-regularised logistic regression by gradient descent on the
 * codes centred on their mean and scaled by their overall spread (the fit does not depend on the code space's
 * scale). Returns the boundary's unit normal (pointing to the `having` side) in the codes' own space and its offset.
 */
export function fitBoundary(having: Float64Array[], lacking: Float64Array[], options: { l2?: number; steps?: number } = {}): { normal: Float64Array; offset: number; centre: Float64Array; scale: number } {
  if (!having.length || !lacking.length) throw new RangeError('a boundary needs examples on each side');
  const dim = having[0].length;
  const all = [...having, ...lacking];
  if (all.some((x) => x.length !== dim)) throw new RangeError('the examples differ in length');
  const centre = new Float64Array(dim);
  for (const x of all) for (let k = 0; k < dim; k++) centre[k] += x[k] / all.length;
  let spread = 0;
  for (const x of all) for (let k = 0; k < dim; k++) spread += (x[k] - centre[k]) ** 2;
  const scale = Math.sqrt(spread / all.length) || 1;
  const xs = all.map((x) => x.map((v, k) => (v - centre[k]) / scale));
  const ys = all.map((_, i) => (i < having.length ? 1 : 0));
  // each group weighs the same, whatever its size
  const weights = all.map((_, i) => (i < having.length ? 0.5 / having.length : 0.5 / lacking.length));
  const l2 = options.l2 ?? 1e-2;
  const w = new Float64Array(dim);
  let b = 0;
  const rate = 1;
  for (let step = 0; step < (options.steps ?? 500); step++) {
    const gw = w.map((v) => l2 * v);
    let gb = 0;
    for (let i = 0; i < xs.length; i++) {
      const p = 1 / (1 + Math.exp(-(dot(w, xs[i]) + b)));
      const e = (p - ys[i]) * weights[i];
      for (let k = 0; k < dim; k++) gw[k] += e * xs[i][k];
      gb += e;
    }
    for (let k = 0; k < dim; k++) w[k] -= rate * gw[k];
    b -= rate * gb;
  }
  const normal = unit(w);
  // the boundary w.x + b = 0 in the scaled space, as normal . (code - centre) = offset in the codes' own
  const offset = (-b / Math.sqrt(dot(w, w))) * scale;
  return { normal, offset, centre, scale };
}

/** The share of `having` and `lacking` on their own side of a boundary. */
function accuracyOf(boundary: ReturnType<typeof fitBoundary>, having: Float64Array[], lacking: Float64Array[]): number {
  const side = (x: Float64Array) => dot(boundary.normal, x.map((v, k) => v - boundary.centre[k])) - boundary.offset;
  return (having.filter((x) => side(x) > 0).length + lacking.filter((x) => side(x) <= 0).length) / (having.length + lacking.length);
}

/**
 * Leave-some-out accuracy: each of `folds` interleaved parts held out in turn, the boundary fitted on the rest and
 * scored on it; the share of all examples placed on their own side.
 */
export function heldOutAccuracy(having: Float64Array[], lacking: Float64Array[], folds = 5, options: { l2?: number; steps?: number } = {}): number {
  let right = 0;
  for (let f = 0; f < folds; f++) {
    const keep = (_: unknown, i: number) => i % folds !== f;
    const out = (_: unknown, i: number) => i % folds === f;
    const boundary = fitBoundary(having.filter(keep), lacking.filter(keep), options);
    const h = having.filter(out);
    const l = lacking.filter(out);
    if (h.length + l.length) right += accuracyOf(boundary, h, l) * (h.length + l.length);
  }
  return right / (having.length + lacking.length);
}

/**
 * Teaches a direction from the mean-style vectors of photos with and without an attribute: the boundary's unit normal
 * (made orthogonal to `orthogonalTo` if given), scaled by the gap between the groups' means along it, so that one
 * slider unit moves a code from the average without to the average with.
 */
export function teachDirection(having: Float64Array[], lacking: Float64Array[], orthogonalTo: ArrayLike<number>[] = [], folds = 5): { vector: Float64Array; heldOut: number; folds: number; gap: number } {
  // two on each side at least, so that every fold of the accuracy keeps one of each to fit on
  if (having.length < 2 || lacking.length < 2) throw new RangeError('a direction needs at least two examples on each side');
  const boundary = fitBoundary(having, lacking);
  const normal = orthogonalTo.length ? orthogonalise(boundary.normal, orthogonalTo) : boundary.normal;
  const mean = (xs: Float64Array[]) => xs.reduce((s, x) => s + dot(normal, x), 0) / xs.length;
  const gap = mean(having) - mean(lacking);
  const k = Math.min(folds, having.length, lacking.length);
  return { vector: normal.map((v) => v * gap), heldOut: heldOutAccuracy(having, lacking, k), folds: k, gap };
}

/** The file of a taught direction (what the page keeps and exports, and `npm run direction` writes). */
export function taughtDirectionFile(
  name: string, model: TaughtDirection['model'], range: StyleRange, taught: ReturnType<typeof teachDirection>,
  examples: { with: number; without: number }, orthogonalTo: string[],
): TaughtDirection {
  return {
    format: 'stst-taught-direction/1', name, model, range,
    vector: Array.from(taught.vector, (v) => Number(v.toPrecision(7))),
    accuracy: { heldOut: Number(taught.heldOut.toFixed(3)), folds: taught.folds, ...examples },
    orthogonalTo,
  };
}

/** Checks a parsed file is a taught direction for a model of this shape; a sentence naming what is wrong otherwise. */
export function checkTaughtDirection(value: unknown, model: { nLatent: number; styleDim: number }): TaughtDirection {
  const t = value as TaughtDirection;
  if (!t || t.format !== 'stst-taught-direction/1') throw new Error('not a taught direction (its format is not stst-taught-direction/1)');
  if (t.model.nLatent !== model.nLatent || t.model.styleDim !== model.styleDim) {
    throw new Error(`the direction "${t.name}" was taught on ${t.model.name} (${t.model.nLatent} styles of ${t.model.styleDim}); this model has ${model.nLatent} of ${model.styleDim}`);
  }
  if (!Array.isArray(t.vector) || t.vector.length !== model.styleDim || !t.vector.every(Number.isFinite)) throw new Error(`the direction "${t.name}" is not ${model.styleDim} finite numbers`);
  if (!(t.range.start >= 0 && t.range.end <= model.nLatent && t.range.start < t.range.end)) throw new Error(`the direction "${t.name}" edits styles ${t.range.start}-${t.range.end}, outside 0-${model.nLatent}`);
  return t;
}
