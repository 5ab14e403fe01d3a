import * as tf from '@tensorflow/tfjs-core';
import type { StudioModel } from './model';

/**
 * Mean squared difference between codes and the encoder's codes of their own rendering. Codes the generator
 * renders as a picture of the kind it was trained on come back close to themselves (about as close as an
 * inverted photo's); codes pushed off that manifold render something the encoder cannot map back. It needs no
 * reference picture, so it judges edits, for which there is none.
 */
export function reencodingError(model: StudioModel, codes: tf.Tensor3D): number {
  return tf.tidy(() => {
    const [h, w] = model.inputSize;
    let picture = tf.clipByValue(model.render(codes), -1, 1) as tf.Tensor4D;
    if (picture.shape[1] !== h || picture.shape[2] !== w) picture = tf.image.resizeBilinear(picture, [h, w], false, true);
    return tf.mean(tf.square(tf.sub(model.invert(picture), codes))).dataSync()[0];
  });
}
