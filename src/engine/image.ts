import * as tf from '@tensorflow/tfjs-core';

/** RGBA pixels, the shape of ImageData without depending on the DOM (workers, Node). */
export interface Pixels {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/** The first image of an NHWC batch in [-1, 1] -> RGBA bytes (clamped, as the official tensor2im does). */
export async function toPixels(images: tf.Tensor4D): Promise<Pixels> {
  const [, height, width] = images.shape;
  const rgb = tf.tidy(() => {
    const first = tf.slice(images, [0, 0, 0, 0], [1, -1, -1, 3]);
    const scaled = tf.clipByValue(tf.mul(tf.add(first, 1), 127.5), 0, 255);
    const alpha = tf.fill([1, height, width, 1], 255);
    return tf.cast(tf.round(tf.concat([scaled, alpha], 3)), 'int32');
  });
  const values = await rgb.data();
  rgb.dispose();
  return { width, height, data: Uint8ClampedArray.from(values) };
}

/** RGBA bytes -> NHWC [1, H, W, 3] in [-1, 1]. */
export function fromPixels(pixels: Pixels): tf.Tensor4D {
  return tf.tidy(() => {
    const rgba = tf.tensor4d(Float32Array.from(pixels.data), [1, pixels.height, pixels.width, 4]);
    return tf.sub(tf.div(tf.slice(rgba, [0, 0, 0, 0], [-1, -1, -1, 3]), 127.5), 1) as tf.Tensor4D;
  });
}

/** The first image of an NHWC batch in [-1, 1] -> 8-bit RGB. */
export async function toRgb(images: tf.Tensor4D): Promise<{ width: number; height: number; data: Uint8Array }> {
  const [, height, width] = images.shape;
  const rgb = tf.tidy(() => tf.cast(tf.round(tf.clipByValue(tf.mul(tf.add(tf.slice(images, [0, 0, 0, 0], [1, -1, -1, 3]), 1), 127.5), 0, 255)), 'int32'));
  const data = Uint8Array.from(await rgb.data());
  rgb.dispose();
  return { width, height, data };
}

/** 8-bit RGB -> NHWC [1, H, W, 3] in [-1, 1]. */
export function fromRgb(image: { width: number; height: number; data: Uint8Array }): tf.Tensor4D {
  return tf.tidy(() => tf.sub(tf.div(tf.tensor4d(Float32Array.from(image.data), [1, image.height, image.width, 3]), 127.5), 1) as tf.Tensor4D);
}
