import type { RawTensor } from '../../src/models/weights';

/** Deterministic pseudo-random normal numbers (xorshift32 + Box-Muller). */
export function randomNormal(n: number, seed: number, scale = 1): Float32Array {
  let x = seed >>> 0 || 1;
  const next = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return (x + 0.5) / 4294967296; };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(next()));
    const t = 2 * Math.PI * next();
    out[i] = r * Math.cos(t) * scale;
    if (i + 1 < n) out[i + 1] = r * Math.sin(t) * scale;
  }
  return out;
}

/**
 * Random weights for a layout (name -> shape), scaled so a forward pass stays finite: fan-in scaled matrices
 * and kernels, unit-ish BatchNorm / LayerNorm / PReLU parameters, small biases. Adds `latent_avg` [D].
 */
export function randomWeights(layout: Record<string, number[]>, seed = 1): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  let n = seed;
  for (const [name, shape] of Object.entries(layout)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const noise = randomNormal(size, n++);
    let data: Float32Array;
    if (shape.length >= 2) {
      const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
      data = noise.map((v) => v / Math.sqrt(fanIn));
    } else if (name.endsWith('running_var')) {
      data = noise.map((v) => 1 + Math.abs(v) * 0.1);
    } else if (name.endsWith('.weight') && !name.includes('noise.weight')) {
      data = noise.map((v) => 1 + v * 0.1);
    } else {
      data = noise.map((v) => v * 0.1);
    }
    out.set(name, { shape, data });
  }
  const styleDim = layout['encoder.module.z']?.[2] ?? layout['decoder.module.style.1.weight']?.[0] ?? 512;
  out.set('latent_avg', { shape: [styleDim], data: randomNormal(styleDim, 999, 0.1) });
  return out;
}
