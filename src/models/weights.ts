import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../io/errors';

/** One tensor of a checkpoint or bundle, by its official (PyTorch) name, in C order. */
export interface RawTensor {
  shape: number[];
  data: Float32Array;
}

/**
 * The official tensors a network is built from, under a name prefix. Networks read the official names and
 * layouts (so checkpoints and bundles share one code path) and turn them into their own layouts once.
 */
export class RawWeights {
  constructor(
    private readonly tensors: Map<string, RawTensor>,
    private readonly prefix = '',
  ) {}

  scope(prefix: string): RawWeights {
    return new RawWeights(this.tensors, this.prefix + prefix);
  }

  has(name: string): boolean {
    return this.tensors.has(this.prefix + name);
  }

  raw(name: string): RawTensor {
    const found = this.tensors.get(this.prefix + name);
    if (!found) throw new CheckpointError('missing-tensor', `the weights lack ${this.prefix + name}`);
    return found;
  }

  shape(name: string): number[] {
    return this.raw(name).shape;
  }

  tensor(name: string): tf.Tensor {
    const { shape, data } = this.raw(name);
    return tf.tensor(data, shape, 'float32');
  }

  /**
   * A PyTorch convolution weight ([out, in, kh, kw], or StyleGAN2's [1, out, in, kh, kw]) in TensorFlow's filter
   * layout [kh, kw, in, out], times `scale` (one number, or one per output channel), in one pass over the values.
   * The networks keep these values for their WebAssembly kernel as well as the tensor: made with tensor ops (multiply,
   * transpose) and read back, the official model's filters took ~0.6 s of its load.
   */
  filter(name: string, scale: number | Float32Array = 1): { values: Float32Array; shape: [number, number, number, number] } {
    const { shape, data } = this.raw(name);
    const [out, inC, kh, kw] = shape.slice(-4);
    const taps = kh * kw;
    const values = new Float32Array(data.length);
    const scales = typeof scale === 'number' ? new Float32Array(out).fill(scale) : scale;
    // In blocks of 64 output channels: each write a cache line, each read one of 64 forward streams (half the time
    // of one channel at a time, whose every write missed the cache).
    for (let o0 = 0; o0 < out; o0 += 64) {
      const o1 = Math.min(out, o0 + 64);
      for (let i = 0; i < inC; i++) {
        for (let k = 0; k < taps; k++) {
          const to = (k * inC + i) * out;
          for (let o = o0; o < o1; o++) values[to + o] = data[(o * inC + i) * taps + k] * scales[o];
        }
      }
    }
    return { values, shape: [kh, kw, inC, out] };
  }

  /** Names under this scope, without the prefix. */
  names(): string[] {
    return [...this.tensors.keys()].filter((k) => k.startsWith(this.prefix)).map((k) => k.slice(this.prefix.length));
  }
}

/** Counts consecutive indices from `first` for which `${stem}${i}.${suffix}` exists. */
export function countIndexed(weights: RawWeights, stem: string, suffix: string, first = 0): number {
  let n = 0;
  while (weights.has(`${stem}${first + n}.${suffix}`)) n++;
  return n;
}

/** Owns the derived tensors of a network so that dispose() frees every one of them. */
export class TensorOwner {
  private readonly owned: tf.Tensor[] = [];

  protected keep<T extends tf.Tensor>(t: T): T {
    this.owned.push(t);
    return t;
  }

  dispose(): void {
    for (const t of this.owned) t.dispose();
    this.owned.length = 0;
  }
}
