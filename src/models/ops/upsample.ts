import * as tf from '@tensorflow/tfjs-core';

/**
 * StyleGAN2's 2x upsampling (a transposed 3x3 convolution then the [1, 3, 3, 1] blur, upfirdn2d in the official
 * code) in the forms each backend runs fastest: one polyphase filter for the GPU backends and for gradients, four
 * small phase convolutions and a separable blur on the CPU ones. The filters here are exact rearrangements of the
 * official operation; the choice among them is made by the layer (ModulatedConv2d).
 */

const BLUR_1D = [1, 3, 3, 1];

/** The 1-D factor of the blur kernel with the upsampling gain (2 per axis, 4 in all): [1, 3, 3, 1] / 4. */
const BLUR_UP_1D = BLUR_1D.map((v) => (v * 2) / BLUR_1D.reduce((a, b) => a + b, 0));

/**
 * Upsampling convolution in polyphase form. Per axis, the transposed convolution (3 taps, stride 2) followed by
 * the blur with pad (1, 1) gives z[2m+r] = sum_u x[m-1+u] * G[r + 2 - 2u], where G[d] = sum_t w[d+t-1] * blur[t]
 * for d in -2..3. PHASE_TAPS[r][u][k] is the coefficient of w[k] in G[r + 2 - 2u].
 */
const PHASE_TAPS: number[][][] = [0, 1].map((r) => [0, 1, 2].map((u) => [0, 1, 2].map((k) => {
  const d = r + 2 - 2 * u;
  const t = k - d + 1; // w[k] meets blur[t] in G[d] where k = d + t - 1
  return t >= 0 && t < 4 ? BLUR_UP_1D[t] : 0;
})));

/**
 * Filter [3, 3, in, 4 * out] for the polyphase upsampling convolution; output channel (ry * 2 + rx) * out + o is
 * phase (ry, rx) of channel o, the order tf.depthToSpace expects. `w` is the equalised weight [out, in, 3, 3].
 */
export function upsampleConvFilter(w: Float32Array, outC: number, inC: number): tf.Tensor4D {
  const filter = new Float32Array(9 * inC * 4 * outC);
  const rowMix = new Float64Array(2 * 3 * 3); // [ry][u][kx]: the vertical rule applied to each kernel column
  for (let o = 0; o < outC; o++) {
    for (let i = 0; i < inC; i++) {
      const base = (o * inC + i) * 9;
      for (let ry = 0; ry < 2; ry++) for (let u = 0; u < 3; u++) for (let kx = 0; kx < 3; kx++) {
        const taps = PHASE_TAPS[ry][u];
        rowMix[(ry * 3 + u) * 3 + kx] = taps[0] * w[base + kx] + taps[1] * w[base + 3 + kx] + taps[2] * w[base + 6 + kx];
      }
      for (let ry = 0; ry < 2; ry++) for (let u = 0; u < 3; u++) for (let rx = 0; rx < 2; rx++) for (let v = 0; v < 3; v++) {
        const taps = PHASE_TAPS[rx][v];
        const m = (ry * 3 + u) * 3;
        const value = taps[0] * rowMix[m] + taps[1] * rowMix[m + 1] + taps[2] * rowMix[m + 2];
        filter[((u * 3 + v) * inC + i) * 4 * outC + (ry * 2 + rx) * outC + o] = value;
      }
    }
  }
  return tf.tensor4d(filter, [3, 3, inC, 4 * outC]);
}

/** PHASE_TAPS as one matrix [(u, v, ry, rx), (ky, kx)]: the polyphase filter as a product, so it has a gradient. */
const POLYPHASE: number[] = [];
for (let u = 0; u < 3; u++) for (let v = 0; v < 3; v++) for (let ry = 0; ry < 2; ry++) for (let rx = 0; rx < 2; rx++) {
  for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) POLYPHASE.push(PHASE_TAPS[ry][u][ky] * PHASE_TAPS[rx][v][kx]);
}

/** POLYPHASE transposed, [(ky, kx), (u, v, ry, rx)]. */
const POLYPHASE_T: number[] = Array.from({ length: 9 * 36 }, (_, i) => POLYPHASE[(i % 36) * 9 + Math.floor(i / 36)]);

/**
 * POLYPHASE x weight [9, in * out]. Its gradient is written out because tfjs's own, POLYPHASE^T x dy through
 * matMul's transposeA, takes a slow path on wasm (33 ms for a 256 x 128 layer, 17% of a 64 px tuning step);
 * the same product with the transpose stored as a constant takes 6 ms.
 */
const polyphaseProduct = tf.customGrad((weight) => ({
  value: tf.matMul(tf.tensor2d(POLYPHASE, [36, 9]), weight as tf.Tensor2D),
  gradFunc: (dy) => tf.matMul(tf.tensor2d(POLYPHASE_T, [9, 36]), dy as tf.Tensor2D),
})) as (weight: tf.Tensor2D) => tf.Tensor2D;

/** upsampleConvFilter in tensor ops: equalised weight [3, 3, in, out] -> [3, 3, in, 4 * out]. */
export function polyphaseFilter(weight: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [, , inC, outC] = weight.shape;
    const phases = polyphaseProduct(tf.reshape(weight, [9, inC * outC]));
    return tf.reshape(tf.transpose(tf.reshape(phases, [3, 3, 2, 2, inC, outC]), [0, 1, 4, 2, 3, 5]), [3, 3, inC, 4 * outC]) as tf.Tensor4D;
  });
}

/** Filter [3, 3, C, 4C] of upfirdn2d(up=2, pad=(2, 1)) with the blur kernel, per channel, in polyphase form. */
export function upsampleFilter(channels: number): tf.Tensor4D {
  // z[2m] = x[m-1] b[0] + x[m] b[2];  z[2m+1] = x[m] b[1] + x[m+1] b[3]
  const taps = [[BLUR_UP_1D[0], BLUR_UP_1D[2], 0], [0, BLUR_UP_1D[1], BLUR_UP_1D[3]]];
  const filter = new Float32Array(9 * channels * 4 * channels);
  for (let c = 0; c < channels; c++) {
    for (let ry = 0; ry < 2; ry++) for (let u = 0; u < 3; u++) for (let rx = 0; rx < 2; rx++) for (let v = 0; v < 3; v++) {
      filter[((u * 3 + v) * channels + c) * 4 * channels + (ry * 2 + rx) * channels + c] = taps[ry][u] * taps[rx][v];
    }
  }
  return tf.tensor4d(filter, [3, 3, channels, 4 * channels]);
}

/**
 * The upsampling convolution as the official code runs it, for CPU backends: the transposed convolution (3 taps,
 * stride 2) in phases, then the blur. Per axis, T[2m] = x[m-1] w[2] + x[m] w[0] and T[2m+1] = x[m] w[1] for
 * m = 0..H (x is 0 outside 0..H-1), and the picture is z[n] = sum_t T[n-1+t] blur[t]. Phase r reads the weight at
 * TRANSPOSED_PHASES[r].taps from the input padded by .pad. Its four phases are four small convolutions, 9 taps in
 * all against the polyphase filter's 36 (each of its phases mixes the blur in): on CPUs the multiply-adds are the
 * time (wasm: the 3 x 3 convolutions were 95% of a 1024 px render), and four convolutions ran 40% faster than one
 * 2 x 2 filter with zero taps.
 */
export const TRANSPOSED_PHASES: Array<{ taps: number[]; pad: [number, number] }> = [{ taps: [2, 0], pad: [1, 1] }, { taps: [1], pad: [0, 1] }];

/**
 * Phase (ry, rx) -> its filter [taps(ry), taps(rx), in, out], in the order (0, 0), (0, 1), (1, 0), (1, 1). The taps
 * are cut out with slices, not tf.gather: tfjs-wasm's gather walks every element and took 1.2 s of the official
 * generator's 3 s load in Node (its 16 upsampling layers, 4 phases each); slices copy rows.
 */
export function transposedPhaseFilters(weight: tf.Tensor4D): tf.Tensor4D[] {
  const taps = (t: tf.Tensor4D, which: number[], axis: 0 | 1) => {
    const parts = which.map((tap) => tf.slice(t, axis === 0 ? [tap, 0, 0, 0] : [0, tap, 0, 0], axis === 0 ? [1, -1, -1, -1] : [-1, 1, -1, -1]));
    return parts.length === 1 ? parts[0] : tf.concat(parts, axis);
  };
  return [0, 1].flatMap((ry) => [0, 1].map((rx) => tf.tidy(() => taps(taps(weight, TRANSPOSED_PHASES[ry].taps, 0), TRANSPOSED_PHASES[rx].taps, 1))));
}

/** CPU backends count multiply-adds; the GPU ones run the polyphase filter as one pass (and WebGL in bands). */
export const countsMultiplyAdds = () => tf.getBackend() === 'wasm' || tf.getBackend() === 'cpu';

/** The blur [1, 3, 3, 1] / 4 per channel, once along rows and once along columns (depthwise filters). */
export function separableBlur(channels: number): [tf.Tensor4D, tf.Tensor4D] {
  const taps = new Float32Array(4 * channels).map((_, i) => BLUR_UP_1D[Math.floor(i / channels)]);
  return [tf.tensor4d(taps, [4, 1, channels, 1]), tf.tensor4d(taps, [1, 4, channels, 1])];
}
