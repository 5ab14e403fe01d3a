import * as tf from '@tensorflow/tfjs-core';

/** The first image of an NHWC batch in [-1, 1] -> 8-bit RGB. */
export async function toRgb(images: tf.Tensor4D): Promise<{ width: number; height: number; data: Uint8Array }> {
  const [, height, width] = images.shape;
  const rgb = bytes(images);
  const data = Uint8Array.from(await rgb.data());
  rgb.dispose();
  return { width, height, data };
}

/** toRgb, read at once (inside a render, where awaiting is not possible: Generator.synthesize's onPartial). */
export function toRgbSync(images: tf.Tensor4D): { width: number; height: number; data: Uint8Array } {
  const [, height, width] = images.shape;
  const rgb = bytes(images);
  const data = Uint8Array.from(rgb.dataSync());
  rgb.dispose();
  return { width, height, data };
}

const bytes = (images: tf.Tensor4D) => tf.tidy(() => tf.cast(tf.round(tf.clipByValue(tf.mul(tf.add(tf.slice(images, [0, 0, 0, 0], [1, -1, -1, 3]), 1), 127.5), 0, 255)), 'int32'));

/** 8-bit RGB -> NHWC [1, H, W, 3] in [-1, 1]. */
export function fromRgb(image: { width: number; height: number; data: Uint8Array }): tf.Tensor4D {
  return tf.tidy(() => tf.sub(tf.div(tf.tensor4d(Float32Array.from(image.data), [1, image.height, image.width, 3]), 127.5), 1) as tf.Tensor4D);
}
