import * as tf from '@tensorflow/tfjs-core';
import { Conv3x3Kernel } from '../../kernels/conv3x3';
import { recordingGradients, releasing } from './tape';
import { TRANSPOSED_PHASES } from './upsample';

/**
 * Stride-1 convolution ('same' for odd kernels given pad = k // 2, or 'valid'), with a bias when given (fused),
 * followed for a polyphase filter by depthToSpace (the 2x upsampled picture). On WebGL it runs in bands of rows:
 * tfjs convolves there through an im2col matrix [H W, k k C_in] held in one texture, and its depthToSpace writes
 * one value a texel; at 1024 px (the upsampling layer reads 512 x 512 x 64, the next writes 1024 x 1024 x 32)
 * both need more texels than any GPU's MAX_TEXTURE_SIZE allows (8689^2 and 5793^2). Each band reads its rows
 * plus the kernel's halo from the once-padded input, so the result is the same convolution.
 */
export function convolution(x: tf.Tensor4D, filter: tf.Tensor4D, pad: number | 'valid', bias?: tf.Tensor1D, upsample = false): tf.Tensor4D {
  const run = (input: tf.Tensor4D, p: number | 'valid') => {
    const out = bias ? tf.fused.conv2d({ x: input, filter, strides: 1, pad: p, bias }) : tf.conv2d(input, filter, 1, p);
    return upsample ? releasing(out, interleavePhases) : out;
  };
  const bands = webglBands(x.shape, filter.shape);
  if (bands === 1) return run(x, pad);
  const halo = filter.shape[0] - 1;
  const padded = pad === 'valid' ? x : tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]);
  const outRows = padded.shape[1] - halo;
  const rows = Math.ceil(outRows / bands);
  const parts: tf.Tensor4D[] = [];
  for (let top = 0; top < outRows; top += rows) {
    parts.push(releasing(tf.slice(padded, [0, top, 0, 0], [-1, Math.min(rows, outRows - top) + halo, -1, -1]), (band) => run(band, 'valid')));
  }
  if (padded !== x && !recordingGradients()) padded.dispose();
  const out = tf.concat(parts, 1);
  if (!recordingGradients()) tf.dispose(parts);
  return out;
}

/**
 * The upsampling convolution in its transposed form (see TRANSPOSED_PHASES): the four phases of the transposed
 * convolution, each (H + 1) x (W + 1), interleaved into T[0 .. 2H + 1] (the last row and column are 0), then the
 * blur along rows and along columns, each with one zero before (T[-1]) and giving 2H; the bias rides in the last pass.
 */
export function upsampleTransposed(x: tf.Tensor4D, phaseFilters: tf.Tensor4D[], blur: [tf.Tensor4D, tf.Tensor4D], bias?: tf.Tensor1D): tf.Tensor4D {
  const parts = phaseFilters.map((filter, i) => tf.conv2d(x, filter, 1, [[0, 0], TRANSPOSED_PHASES[i >> 1].pad, TRANSPOSED_PHASES[i & 1].pad, [0, 0]]));
  const stacked = tf.concat(parts, 3);
  if (!recordingGradients()) tf.dispose(parts);
  return blurPhaseGrid(releasing(stacked, interleavePhases), blur, bias);
}

/**
 * The phase grid T [B, 2H + 2, 2W + 2, C] of the transposed convolution (upsampleTransposed's, or the WebAssembly
 * kernel's transposedPhases) blurred into the picture [B, 2H, 2W, C]; the bias rides in the last pass. Releases T.
 */
export function blurPhaseGrid(t: tf.Tensor4D, [rows, cols]: [tf.Tensor4D, tf.Tensor4D], bias?: tf.Tensor1D): tf.Tensor4D {
  const blurredRows = releasing(t, (grid) => tf.depthwiseConv2d(grid, rows, 1, [[0, 0], [1, 0], [0, 0], [0, 0]]));
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [0, 0], [1, 0], [0, 0]];
  // The fused op's typing omits explicit pads, which it passes on as the plain op does (computeConv2DInfo).
  return releasing(blurredRows, (t) => bias
    ? tf.fused.depthwiseConv2d({ x: t, filter: cols, strides: 1, pad: pad as unknown as 'valid', bias })
    : tf.depthwiseConv2d(t, cols, 1, pad));
}

/**
 * depthToSpace with block 2 (channel (ry * 2 + rx) * c + o of pixel (y, x) goes to pixel (2y + ry, 2x + rx)).
 * tfjs-wasm's DepthToSpace kernel moves one value per call of an index function; the same move as a 6-D
 * transpose runs 6-9x faster there (Node, one thread: 64 x 64 x 256 38 -> 6 ms; 512 x 512 x 128 1.46 -> 0.17 s). Other
 * backends keep their own kernel (WebGL's is one shader pass).
 */
function interleavePhases(x: tf.Tensor4D): tf.Tensor4D {
  if (tf.getBackend() !== 'wasm') return tf.depthToSpace(x, 2);
  const [b, h, w, c] = x.shape;
  // The reshapes are views, but tfjs counts each view's bytes in its memory figures: each goes as soon as used.
  const moved = releasing(tf.reshape(x, [b, h, w, 2, 2, c / 4]), (phases) => tf.transpose(phases, [0, 1, 3, 2, 4, 5]));
  return releasing(moved, (m) => tf.reshape(m, [b, 2 * h, 2 * w, c / 4]));
}

/**
 * Bands a convolution needs on WebGL so that its im2col matrix and its output each fit half of a 4096^2 texture
 * at one value a texel (4096 is what phones offer; tfjs's squarish layouts are not tight). 1 elsewhere.
 */
function webglBands([, h, w, c]: number[], [kh, kw, , out]: number[]): number {
  if (tf.getBackend() !== 'webgl' || kh * kw === 1) return 1;
  const side = Math.min(4096, tf.env().getNumber('WEBGL_MAX_TEXTURE_SIZE'));
  return Math.max(1, Math.ceil((h * w * Math.max(kh * kw * c, out)) / (side * side / 2)));
}

/**
 * conv2d(x, filter, 1, 'same') of a 3×3 layer being tuned (a photo's pivotal tuning), in the WebAssembly kernel on
 * every thread, its gradients too: the input's is the same convolution of dy by the filter turned 180° with its
 * channels swapped, the filter's the kernel's products per tap (kernel.filterGradient). tfjs-wasm runs these on one
 * thread in Node and has no backprop kernels (engine/gradients.ts builds them from its forward ones).
 */
export function tunedConv3x3(kernel: Conv3x3Kernel, x: tf.Tensor4D, filter: tf.Tensor4D): tf.Tensor4D {
  const [, , c, cout] = filter.shape;
  return kernelOp(x, filter, (input, weight) => kernel.convWith(input, weight, c, cout), (dy, input, weight) => [
    kernel.convWith(dy, turnedAndSwapped(weight, c, cout), cout, c),
    kernel.filterGradient(input, dy),
  ]);
}

/**
 * The phase grid of an upsampling layer being tuned (kernel.transposedPhases, which upsampleTransposed's blur
 * follows), in the WebAssembly kernel with its gradients (kernel.transposedGradients): tfjs ran it as four
 * convolutions with explicit pads, each differentiated apart, and the weight's four slices.
 */
export function tunedUpsample3x3(kernel: Conv3x3Kernel, x: tf.Tensor4D, filter: tf.Tensor4D): tf.Tensor4D {
  const [, , c, cout] = filter.shape;
  return kernelOp(x, filter, (input, weight) => kernel.transposedPhasesWith(input, weight, c, cout), (dy, input, weight) => {
    const gradients = kernel.transposedGradients(input, dy, weight);
    return [gradients.input, gradients.filter];
  });
}

/**
 * A kernel operation of x and a 3×3 filter [3, 3, C, Cout] that the tape differentiates (tf.customGrad): `forward`
 * and `backward` take the filter's values; backward gives the input's gradient (a tensor, or values in x's shape)
 * and the filter's values.
 */
function kernelOp(
  x: tf.Tensor4D, filter: tf.Tensor4D,
  forward: (input: tf.Tensor4D, weight: Float32Array) => tf.Tensor4D,
  backward: (dy: tf.Tensor4D, input: tf.Tensor4D, weight: Float32Array) => [tf.Tensor4D | Float32Array, Float32Array],
): tf.Tensor4D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, weight, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([input, weight]);
    return {
      value: forward(input, weight.dataSync() as Float32Array),
      gradFunc: (dy: tf.Tensor, [saved, savedWeight]: tf.Tensor[]) => {
        const [dx, dw] = backward(dy as tf.Tensor4D, saved as tf.Tensor4D, savedWeight.dataSync() as Float32Array);
        return [dx instanceof Float32Array ? tf.tensor4d(dx, saved.shape as [number, number, number, number]) : dx, tf.tensor4d(dw, savedWeight.shape as [number, number, number, number])];
      },
    };
  });
  return op(x, filter) as tf.Tensor4D;
}

/**
 * Whether tunedConv3x3 takes x with this 3×3 filter [3, 3, C, Cout]: the kernel's convolution both ways (C to Cout,
 * and back for the input's gradient) and its products for the filter's.
 */
export function fitsTunedConv3x3(x: readonly number[], filter: readonly number[]): boolean {
  const [kh, kw, c, cout] = filter;
  return kh === 3 && kw === 3 && Conv3x3Kernel.fits(x, { c, cout }) && Conv3x3Kernel.fits([x[0], x[1], x[2], cout], { c: cout, cout: c })
    && Conv3x3Kernel.fitsFilterGradient(x, cout);
}

/** A 3×3 filter [3, 3, C, Cout] turned by 180 degrees, its channels swapped: [3, 3, Cout, C]. */
function turnedAndSwapped(filter: Float32Array, c: number, cout: number): Float32Array {
  const out = new Float32Array(filter.length);
  for (let t = 0; t < 9; t++) {
    const from = (8 - t) * c * cout, to = t * c * cout;
    for (let i = 0; i < c; i++) for (let o = 0; o < cout; o++) out[to + o * c + i] = filter[from + i * cout + o];
  }
  return out;
}
