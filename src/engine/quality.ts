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

/** How a picture looks, in the terms the car sliders are named by. All on [0, 1] images. */
export interface ColourStatistics {
  /** Mean of all pixels and channels: the scene's lighting. */
  brightness: number;
  /** The same over the middle of the frame (rows 25-83%, columns 10-90%), where a framed car sits: its paint. */
  centreBrightness: number;
  /** Mean of max(R, G, B) - min(R, G, B) over the middle: how deep the colour is. */
  saturation: number;
  /** Mean of R - B over the middle: warm (red, brown) against cool (blue). */
  warmth: number;
}

/** Colour statistics of pictures in [-1, 1] ([B, H, W, 3]), averaged over the batch. */
export function colourStatistics(picture: tf.Tensor4D): ColourStatistics {
  return tf.tidy(() => {
    const [, h, w] = picture.shape;
    const image = tf.div(tf.add(tf.clipByValue(picture, -1, 1), 1), 2) as tf.Tensor4D;
    const top = Math.round(h * 0.25);
    const left = Math.round(w * 0.1);
    const middle = tf.slice(image, [0, top, left, 0], [-1, Math.round(h * 0.83) - top, Math.round(w * 0.9) - left, 3]);
    const [r, , b] = tf.split(middle, 3, 3);
    // one read-back for the four numbers: each dataSync waits for the GPU
    const [brightness, centreBrightness, saturation, warmth] = tf.stack([
      tf.mean(image), tf.mean(middle), tf.mean(tf.sub(tf.max(middle, 3), tf.min(middle, 3))), tf.mean(tf.sub(r, b)),
    ]).dataSync();
    return { brightness, centreBrightness, saturation, warmth };
  });
}
