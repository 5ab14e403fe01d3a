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

const GAUSSIAN_11: number[] = (() => {
  const g = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - 5) ** 2) / (2 * 1.5 ** 2)));
  const sum = g.reduce((x, y) => x + y, 0);
  const k: number[] = [];
  for (const y of g) for (const x of g) k.push((x * y) / (sum * sum));
  return k;
})();

/**
 * SSIM (Wang et al.) with an 11x11 Gaussian window (sigma 1.5), on pictures in [-1, 1] ([B, H, W, 3]) seen as
 * [0, 1], averaged over channels, pixels and the batch. A tensor, so it can be a loss (it has a gradient).
 */
export function ssim(a: tf.Tensor4D, b: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => {
    const kernel = tf.tile(tf.tensor4d(GAUSSIAN_11, [11, 11, 1, 1]), [1, 1, 3, 1]) as tf.Tensor4D;
    const blur = (x: tf.Tensor4D) => tf.depthwiseConv2d(x, kernel, 1, 'valid');
    const [x, y] = [tf.div(tf.add(a, 1), 2) as tf.Tensor4D, tf.div(tf.add(b, 1), 2) as tf.Tensor4D];
    const [mx, my] = [blur(x), blur(y)];
    const vx = tf.sub(blur(tf.mul(x, x) as tf.Tensor4D), tf.square(mx));
    const vy = tf.sub(blur(tf.mul(y, y) as tf.Tensor4D), tf.square(my));
    const cov = tf.sub(blur(tf.mul(x, y) as tf.Tensor4D), tf.mul(mx, my));
    const c1 = 0.01 ** 2;
    const c2 = 0.03 ** 2;
    const map = tf.div(tf.mul(tf.add(tf.mul(tf.mul(mx, my), 2), c1), tf.add(tf.mul(cov, 2), c2)),
      tf.mul(tf.add(tf.add(tf.square(mx), tf.square(my)), c1), tf.add(tf.add(vx, vy), c2)));
    return tf.mean(map) as tf.Scalar;
  });
}

/**
 * SSIM averaged over the picture and its half-size version (while both are at least the window's 11 pixels):
 * the "multi-scale" term of the refinement loss, which weighs shapes as well as fine texture.
 */
export function multiScaleSsim(a: tf.Tensor4D, b: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => {
    const scores: tf.Scalar[] = [];
    let [x, y] = [a, b];
    while (Math.min(x.shape[1], x.shape[2]) >= 11 && scores.length < 2) {
      scores.push(ssim(x, y));
      if (Math.min(x.shape[1], x.shape[2]) < 22) break;
      [x, y] = [tf.avgPool(x, 2, 2, 'valid') as tf.Tensor4D, tf.avgPool(y, 2, 2, 'valid') as tf.Tensor4D];
    }
    return tf.mean(tf.stack(scores)) as tf.Scalar;
  });
}
