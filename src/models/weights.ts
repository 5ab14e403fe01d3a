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
