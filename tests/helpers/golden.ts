import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { readNpy } from '../../src/io/npy';
import type { RawTensor } from '../../src/models/weights';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
export const GOLDEN = join(FIXTURES, 'golden');

export function golden(name: string): RawTensor {
  return readNpy(new Uint8Array(readFileSync(join(GOLDEN, name))), name);
}

export function goldenTensor(name: string): tf.Tensor {
  const g = golden(name);
  return tf.tensor(g.data, g.shape);
}

/** NCHW golden image -> NHWC tensor. */
export function goldenImage(name: string): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(goldenTensor(name), [0, 2, 3, 1]) as tf.Tensor4D);
}

/** Max |a - b| where a is a tensor (NHWC images are compared as NCHW when `nchw`), b a golden array. */
export function maxAbsDiff(actual: tf.Tensor, expected: RawTensor, nchw = false): number {
  const a = nchw ? tf.tidy(() => tf.transpose(actual, [0, 3, 1, 2])) : actual;
  if (a.shape.join(',') !== expected.shape.join(',')) {
    throw new Error(`shape [${a.shape}] differs from the golden [${expected.shape}]`);
  }
  const data = a.dataSync();
  if (nchw) a.dispose();
  let max = 0;
  for (let i = 0; i < data.length; i++) max = Math.max(max, Math.abs(data[i] - expected.data[i]));
  return max;
}
