import * as tf from '@tensorflow/tfjs-core';

/**
 * Whether a gradient is being recorded (pivotal tuning, src/engine/refine.ts). The generator's fast forms —
 * filters scaled in place, the transposed upsampling with explicit pads, intermediates freed as soon as used —
 * have no gradient in tfjs or would free what the backward pass needs, so each asks this first.
 */
export const recordingGradients = (): boolean => tf.engine().isTapeOn();

/**
 * next(t), with t disposed as soon as it is used when no gradient is being recorded: a tidy scope frees its
 * intermediates only at its end, and at 1024 px a layer makes five of 128 MiB each. Under a gradient tape the
 * intermediates are the backward pass's, so they stay to the scope's end.
 */
export function releasing<T extends tf.Tensor, U extends tf.Tensor>(t: T, next: (t: T) => U): U {
  const out = next(t);
  if (!recordingGradients() && out !== (t as tf.Tensor)) t.dispose();
  return out;
}
