import { describe, expect, it } from 'vitest';
import { checkTaughtDirection, fitBoundary, heldOutAccuracy, meanStyle, orthogonalise, teachDirection } from '../src/engine/teach';

/** A seeded normal sampler (Box-Muller on a linear congruential generator): the same sets on every run. */
function normals(seed: number) {
  let s = seed;
  const uniform = () => ((s = (s * 1664525 + 1013904223) % 4294967296) + 0.5) / 4294967296;
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i], 0);
const norm = (a: ArrayLike<number>) => Math.sqrt(dot(a, a));

/**
 * Two clouds in 64 dimensions (unit spread about a common offset, as codes spread about the mean code) that differ
 * only along a known unit direction `truth`, by `separation`: InterFaceGAN's picture of an attribute in W.
 */
function clouds(separation: number, n: number, seed = 1) {
  const dim = 64;
  const rand = normals(seed);
  const truth = Float64Array.from({ length: dim }, rand);
  const t = norm(truth);
  truth.forEach((v, i) => (truth[i] = v / t));
  const offset = Float64Array.from({ length: dim }, () => 3 * rand());
  const sample = (side: number) => Float64Array.from({ length: dim }, (_, k) => offset[k] + rand() + side * (separation / 2) * truth[k]);
  return { truth, having: Array.from({ length: n }, () => sample(1)), lacking: Array.from({ length: n }, () => sample(-1)) };
}

describe('teaching a slider: the InterFaceGAN boundary between codes with and without an attribute', () => {
  it('finds the direction that separates two known clouds, and says how well it holds on examples it did not see', () => {
    const { truth, having, lacking } = clouds(6, 20);
    const { normal } = fitBoundary(having, lacking);
    expect(norm(normal)).toBeCloseTo(1, 9);
    // 20 + 20 examples in 64 dimensions: the normal leans to the truth well beyond chance (1/sqrt(64) = 0.125)
    expect(dot(normal, truth)).toBeGreaterThan(0.6);
    expect(heldOutAccuracy(having, lacking, 5)).toBeGreaterThanOrEqual(0.9);
    // more examples, a truer normal
    const many = clouds(6, 200, 2);
    expect(dot(fitBoundary(many.having, many.lacking).normal, many.truth)).toBeGreaterThan(0.9);
    // the taught vector points from "without" to "with" and spans the gap between their means (6 along the truth)
    const taught = teachDirection(many.having, many.lacking);
    expect(dot(taught.vector, many.truth) / norm(taught.vector)).toBeGreaterThan(0.9);
    expect(taught.gap).toBeGreaterThan(5);
    expect(taught.gap).toBeLessThan(7.5);
  });

  it('reads chance when the two groups do not differ', () => {
    const { having, lacking } = clouds(0, 40, 3);
    const accuracy = heldOutAccuracy(having, lacking, 5);
    expect(accuracy).toBeGreaterThan(0.25);
    expect(accuracy).toBeLessThan(0.75);
  });

  it('made orthogonal to existing directions, moving along it leaves their projections alone', () => {
    const { having, lacking } = clouds(6, 30, 4);
    const rand = normals(9);
    const others = [Float64Array.from({ length: 64 }, rand), Float64Array.from({ length: 64 }, rand)];
    const conditioned = orthogonalise(fitBoundary(having, lacking).normal, others);
    expect(norm(conditioned)).toBeCloseTo(1, 9);
    for (const o of others) expect(Math.abs(dot(conditioned, o))).toBeLessThan(1e-9);
    const taught = teachDirection(having, lacking, others);
    for (const o of others) expect(Math.abs(dot(taught.vector, o))).toBeLessThan(1e-8);
  });

  it('averages the chosen styles of a W+ code, and checks a saved direction against the model it is applied to', () => {
    const codes = Float32Array.from({ length: 3 * 2 }, (_, i) => i); // styles [0 1], [2 3], [4 5]
    expect(Array.from(meanStyle(codes, 3, 2, { start: 1, end: 3 }))).toEqual([3, 4]);
    expect(() => meanStyle(codes, 3, 2, { start: 2, end: 4 })).toThrow(RangeError);
    const file = { format: 'stst-taught-direction/1', name: 'hat', model: { name: 'm', nLatent: 3, styleDim: 2 }, range: { start: 0, end: 3 }, vector: [1, 0], accuracy: { heldOut: 1, folds: 5, with: 20, without: 20 }, orthogonalTo: [] };
    expect(checkTaughtDirection(file, { nLatent: 3, styleDim: 2 }).name).toBe('hat');
    expect(() => checkTaughtDirection(file, { nLatent: 18, styleDim: 512 })).toThrow(/taught on m \(3 styles of 2\)/);
    expect(() => checkTaughtDirection({ ...file, vector: [1, Number.NaN] }, { nLatent: 3, styleDim: 2 })).toThrow(/finite/);
    expect(() => checkTaughtDirection({ format: 'x' }, { nLatent: 3, styleDim: 2 })).toThrow(/not a taught direction/);
  });
});
