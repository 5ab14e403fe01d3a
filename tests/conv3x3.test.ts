import { readFile } from 'node:fs/promises';
import { setFlagsFromString } from 'node:v8';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { Worker } from 'node:worker_threads';
import { Conv3x3Kernel, type SpawnHelper } from '../src/kernels/conv3x3';
import { blurPhaseGrid, fitsTunedConv3x3, tunedConv3x3, tunedUpsample3x3 } from '../src/models/ops/conv2d';
import { separableBlur } from '../src/models/ops/upsample';
import { useNodeBackend } from '../src/node/backend';
import { useGradients } from '../src/node/gradients';
import { buildKernels, KERNEL_MODULE, kernelModuleText } from '../scripts/build-kernels';
import { GOLDEN } from './helpers/golden';
import { runGoldenSuite } from './suite/golden-suite';

// Node 20 has relaxed SIMD behind a flag (Chromium ships it): turned on so both builds of the kernel run here.
setFlagsFromString('--experimental-wasm-relaxed-simd');

function random(n: number, scale: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) % 4294967296;
    return (s / 4294967296 - 0.5) * 2 * scale;
  });
}

/** Helper threads from worker_threads, as src/node starts them (kept referenced: the test awaits them). */
const nodeHelper: SpawnHelper = (source, message) => {
  const worker = new Worker(source, { eval: true });
  const started = new Promise<void>((resolve) => worker.once('message', () => resolve()));
  worker.postMessage(message);
  return { started, terminate: () => void worker.terminate() };
};

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/**
 * A fixed readout of `ours(x, weight)` has the value and the gradients (the input's and the filter's) of the same
 * readout of `reference`, tfjs's own ops differentiated on cpu, to float32 rounding.
 */
function expectSameGradients(reference: Op, ours: Op, x: tf.Tensor4D, weight: tf.Tensor4D, readout: tf.Tensor4D, where: string) {
  const of = (op: Op) => tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(op(a as tf.Tensor4D, b as tf.Tensor4D), readout)))([x, weight]);
  const [expected, got] = [of(reference), of(ours)];
  expect(Math.abs(got.value.dataSync()[0] - expected.value.dataSync()[0]) / Math.abs(expected.value.dataSync()[0]), where).toBeLessThan(1e-5);
  for (const [i, name] of ['input', 'filter'].entries()) {
    const scale = tf.max(tf.abs(expected.grads[i])).dataSync()[0];
    expect(got.grads[i].shape, `${name}, ${where}`).toEqual(expected.grads[i].shape);
    expect(tf.max(tf.abs(tf.sub(got.grads[i], expected.grads[i]))).dataSync()[0] / scale, `${name}, ${where}`).toBeLessThan(1e-5);
  }
}
type Op = (x: tf.Tensor4D, weight: tf.Tensor4D) => tf.Tensor4D;

describe('the 3×3 convolution kernel (src/kernels/conv3x3/assembly/conv3x3.ts)', () => {
  it('is the build of its source that the engine loads', async () => {
    expect(await readFile(KERNEL_MODULE, 'utf8')).toBe(kernelModuleText(await buildKernels()));
  });

  /** Winograd's results against tfjs's direct convolution, relative to the output's largest value (float32 rounding). */
  const TOLERANCE = { 2: 3e-6, 4: 2e-5 } as const; // F(4×4)'s transforms have coefficients up to 8 (measured: 512 channels 2.3e-5)

  for (const fusedMultiplyAdd of [true, false]) {
    it(`convolves as tf.conv2d does (3×3, stride 1, same padding, F(2×2) and F(4×4); ${fusedMultiplyAdd ? 'relaxed SIMD' : 'SIMD'})`, () => {
      const kernel = Conv3x3Kernel.create({ fusedMultiplyAdd })!;
      expect(kernel.fusedMultiplyAdd).toBe(fusedMultiplyAdd);
      // The encoder's widths at small sides, a batch of two, non-square images and the golden tiny model's 24 channels.
      const shapes = [[2, 16, 16, 64, 64], [1, 8, 12, 24, 32], [1, 4, 4, 128, 256], [1, 32, 32, 16, 24], [1, 8, 16, 24, 16]];
      for (const tile of [2, 4] as const) {
        const taken = shapes.filter(([b, h, w, c, cout]) => Conv3x3Kernel.fits([b, h, w, c], { c, cout, tile }));
        expect(taken.length, `shapes F(${tile}×${tile}) takes`).toBeGreaterThanOrEqual(3);
        for (const [b, h, w, c, cout] of taken) {
          const x = tf.tensor4d(random(b * h * w * c, 1, b + h + c), [b, h, w, c]);
          const filterData = random(9 * c * cout, 0.1, cout);
          const filter = kernel.addFilter(filterData, c, cout, tile);
          const ours = kernel.conv(x, filter);
          // In bands of tile rows (the scratch bounded): 1 or 2 tile rows a band.
          const banded = kernel.conv(x, filter, { bandBytes: (tile + 2) ** 2 * (w / tile) * Math.max(c, cout) * 4 * 1.5 });
          expect(tf.max(tf.abs(tf.sub(banded, ours))).dataSync()[0], 'banded').toBe(0);
          const reference = tf.conv2d(x, tf.tensor4d(filterData, [3, 3, c, cout]), 1, 'same');
          const scale = tf.max(tf.abs(reference)).dataSync()[0];
          const diff = tf.max(tf.abs(tf.sub(ours, reference))).dataSync()[0];
          expect(ours.shape).toEqual([b, h, w, cout]);
          expect(diff / scale, `F(${tile}×${tile}) [${b}, ${h}, ${w}, ${c}] → ${cout}`).toBeLessThan(TOLERANCE[tile]);
        }
      }
      // F(4×4) takes sides in 4s only
      expect(Conv3x3Kernel.fits([1, 8, 12, 24], { c: 24, cout: 32, tile: 4 })).toBe(false);
      expect(Conv3x3Kernel.fits([1, 6, 8, 24], { c: 24, cout: 32, tile: 4 })).toBe(false);
    });
  }

  it('fuses the BatchNorm before, the bias and PReLU after, and the mean of its output, as tfjs computes them apart', () => {
    const kernel = Conv3x3Kernel.create({ threads: 1 })!;
    for (const [b, h, w, c, cout] of [[2, 16, 12, 32, 64], [1, 8, 8, 8, 16]]) {
      const x = tf.tensor4d(random(b * h * w * c, 1, 3 + c), [b, h, w, c]);
      const filterData = random(9 * c * cout, 0.1, 5 + cout);
      const [scale, shift, bias, alpha] = [random(c, 2, 11), random(c, 1, 12), random(cout, 1, 13), random(cout, 0.5, 14)];
      const filter = kernel.addFilter(filterData, c, cout);
      const steps = { scale: kernel.addVector(scale), shift: kernel.addVector(shift), bias: kernel.addVector(bias), alpha: kernel.addVector(alpha) };
      const { y, mean } = kernel.convAndMean(x, filter, { ...steps, bandBytes: 16 * (w / 2) * Math.max(c, cout) * 4 * 2 });
      // the padding is of the normalised input (zeros after the BatchNorm, as the official module pads)
      const normalised = tf.add(tf.mul(x, tf.tensor1d(scale)), tf.tensor1d(shift));
      const reference = tf.prelu(tf.add(tf.conv2d(normalised as tf.Tensor4D, tf.tensor4d(filterData, [3, 3, c, cout]), 1, 'same'), tf.tensor1d(bias)), tf.tensor1d(alpha));
      const scaleOf = (t: tf.Tensor) => tf.max(tf.abs(t)).dataSync()[0];
      expect(scaleOf(tf.sub(y, reference)) / scaleOf(reference), `[${b}, ${h}, ${w}, ${c}] → ${cout}`).toBeLessThan(3e-6);
      const referenceMean = tf.mean(reference, [1, 2]);
      expect(mean.shape).toEqual([b, cout]);
      expect(scaleOf(tf.sub(mean, referenceMean)) / scaleOf(referenceMean), 'mean').toBeLessThan(3e-6);
      // without steps, a plain convolution still
      expect(scaleOf(tf.sub(kernel.conv(x, filter, { bias: steps.bias }), tf.add(tf.conv2d(x, tf.tensor4d(filterData, [3, 3, c, cout]), 1, 'same'), tf.tensor1d(bias))))).toBeLessThan(1e-4);
    }
    expect(() => kernel.conv(tf.zeros([1, 8, 8, 8]) as tf.Tensor4D, kernel.addFilter(new Float32Array(9 * 64), 8, 8), { bias: kernel.addVector(new Float32Array(16)) })).toThrow(/16 values for 8 channels/);
  });

  it('fuses StyleGAN2\'s epilogue after: the demodulation per output channel, the noise per pixel, the bias and leaky ReLU, on one thread and on three', async () => {
    const single = Conv3x3Kernel.create({ threads: 1 })!;
    const threaded = Conv3x3Kernel.create({ threads: 3, spawn: nodeHelper })!;
    try {
      await threaded.ready;
      for (const [h, w, c, cout] of [[16, 12, 32, 24], [8, 8, 8, 16]]) {
        const x = tf.tensor4d(random(h * w * c, 1, 3 + c), [1, h, w, c]);
        const filterData = random(9 * c * cout, 0.1, 5 + cout);
        const [style, demod, noise, bias] = [random(c, 2, 11), random(cout, 1, 12).map(Math.abs), random(h * w, 1, 13), random(cout, 1, 14)];
        const reference = tf.leakyRelu(tf.add(tf.add(tf.mul(tf.conv2d(tf.mul(x, tf.tensor1d(style)) as tf.Tensor4D, tf.tensor4d(filterData, [3, 3, c, cout]), 1, 'same'), tf.tensor1d(demod)),
          tf.tensor4d(noise, [1, h, w, 1])), tf.tensor1d(bias)), 0.2);
        const scaleOf = (t: tf.Tensor) => tf.max(tf.abs(t)).dataSync()[0];
        for (const kernel of [single, threaded]) for (const tile of [2, 4] as const) {
          const steps = { scale: kernel.addVector(style), outScale: kernel.addVector(demod), noise: kernel.addVector(noise), bias: kernel.addVector(bias), alpha: kernel.addVector(new Float32Array(cout).fill(0.2)) };
          // in bands of two tile rows: the noise is read at each band's own rows
          const y = kernel.conv(x, kernel.addFilter(filterData, c, cout, tile), { ...steps, bandBytes: (tile + 2) ** 2 * (w / tile) * Math.max(c, cout) * 4 * 2 });
          expect(scaleOf(tf.sub(y, reference)) / scaleOf(reference), `F(${tile}×${tile}) [${h}, ${w}, ${c}] → ${cout}, ${kernel.threads} threads`).toBeLessThan(TOLERANCE[tile]);
        }
      }
      expect(() => single.conv(tf.zeros([1, 8, 8, 8]) as tf.Tensor4D, single.addFilter(new Float32Array(9 * 64), 8, 8), { noise: single.addVector(new Float32Array(60)) })).toThrow(/60 values for 64 pixels/);
    } finally {
      threaded.dispose();
    }
  });

  it('convolves with stride 2 (direct, zero padding 1 on every side, as the official stride-2 convolutions)', () => {
    const kernel = Conv3x3Kernel.create({ threads: 1 })!;
    for (const [b, h, w, c, cout] of [[2, 16, 16, 64, 64], [1, 8, 16, 3, 8], [1, 32, 8, 20, 16]]) {
      const x = tf.tensor4d(random(b * h * w * c, 1, 21 + c), [b, h, w, c]);
      const filterData = random(9 * c * cout, 0.1, 22 + cout);
      const bias = random(cout, 1, 23);
      const filter = kernel.addStride2Filter(filterData, c, cout);
      expect(Conv3x3Kernel.fits(x.shape, filter)).toBe(true);
      const { y, mean } = kernel.convAndMean(x, filter, { bias: kernel.addVector(bias) });
      const reference = tf.add(tf.conv2d(x, tf.tensor4d(filterData, [3, 3, c, cout]), 2, 1), tf.tensor1d(bias));
      const scaleOf = (t: tf.Tensor) => tf.max(tf.abs(t)).dataSync()[0];
      expect(y.shape).toEqual([b, h / 2, w / 2, cout]);
      expect(scaleOf(tf.sub(y, reference)) / scaleOf(reference), `[${b}, ${h}, ${w}, ${c}] → ${cout}`).toBeLessThan(3e-6);
      const referenceMean = tf.mean(reference, [1, 2]);
      expect(scaleOf(tf.sub(mean, referenceMean)) / scaleOf(referenceMean), 'mean').toBeLessThan(3e-6);
    }
    expect(Conv3x3Kernel.fits([1, 12, 12, 8], { c: 8, cout: 8, stride: 2 })).toBe(false); // output width 6, not in 4s
  });

  it('multiplies matrices as tf.matMul does (b packed, or transposed while packed), on one thread and on three', async () => {
    const single = Conv3x3Kernel.create({ threads: 1 })!;
    const threaded = Conv3x3Kernel.create({ threads: 3, spawn: nodeHelper })!;
    try {
      await threaded.ready;
      // the encoder's attention over p1: weights × tokens, tokens × (queries in the memory's space)ᵀ; and a small one
      for (const [m, k, n, transposeB] of [[72, 4096, 512, false], [4096, 512, 72, true], [8, 20, 24, false], [12, 16, 8, true]] as const) {
        const a = tf.tensor2d(random(m * k, 1, m + k), [m, k]);
        const b = tf.tensor2d(random(k * n, 1, k + n), transposeB ? [n, k] : [k, n]);
        const reference = tf.matMul(a, b, false, transposeB);
        const scale = tf.max(tf.abs(reference)).dataSync()[0];
        for (const kernel of [single, threaded]) {
          const ours = kernel.matMul(a, b, transposeB);
          expect(ours.shape).toEqual([m, n]);
          expect(tf.max(tf.abs(tf.sub(ours, reference))).dataSync()[0] / scale, `[${m}, ${k}] × [${k}, ${n}], ${kernel.threads} threads`).toBeLessThan(1e-5); // sums of 4096 in another order
        }
      }
      expect(Conv3x3Kernel.fitsMatMul(18, 512)).toBe(false);
      expect(() => single.matMul(tf.zeros([18, 8]) as tf.Tensor2D, tf.zeros([8, 8]) as tf.Tensor2D)).toThrow(/does not take/);
    } finally {
      threaded.dispose();
    }
  });

  it('upsamples as tf.conv2dTranspose does with stride 2 (the phase grid StyleGAN2 blurs), on one thread and on three', async () => {
    const single = Conv3x3Kernel.create({ threads: 1 })!;
    const threaded = Conv3x3Kernel.create({ threads: 3, spawn: nodeHelper })!;
    try {
      await threaded.ready;
      // odd and even sides; F(2, 2)'s bands of super-tiles with a ragged last one (16 x 22: 9 x 12 super-tiles)
      for (const [h, w, c, cout] of [[5, 6, 16, 16], [4, 4, 8, 24], [8, 12, 32, 8], [16, 22, 8, 8]] as const) {
        const x = tf.tensor4d(random(h * w * c, 1, h + c), [1, h, w, c]);
        const weight = random(9 * c * cout, 1, w + cout); // [3, 3, C, Cout]
        // conv2dTranspose's filter is [3, 3, Cout, C]; its output 2H + 1 by 2W + 1, the phase grid's last row and column zero
        const transposed = tf.transpose(tf.tensor4d(weight, [3, 3, c, cout]), [0, 1, 3, 2]) as tf.Tensor4D;
        const reference = tf.pad(tf.conv2dTranspose(x, transposed, [1, 2 * h + 1, 2 * w + 1, cout], 2, 'valid'), [[0, 0], [0, 1], [0, 1], [0, 0]]);
        const scale = tf.max(tf.abs(reference)).dataSync()[0];
        for (const kernel of [single, threaded]) {
          // as taps (direct), and by Winograd's F(2, 2) where the sides are even
          const taps = kernel.addStride2Filter(weight, c, cout), winograd = kernel.addTransposedFilter(weight, c, cout);
          const even = h % 2 === 0 && w % 2 === 0;
          expect(Conv3x3Kernel.fitsUpsample(x.shape, winograd), `F(2, 2) takes even sides only: [${h}, ${w}]`).toBe(even);
          if (!even) expect(() => kernel.transposedPhases(x, winograd)).toThrow(/does not take/);
          const forms = [taps, ...(even ? [winograd] : [])];
          for (const filter of forms) {
            const ours = kernel.transposedPhases(x, filter);
            expect(ours.shape).toEqual([1, 2 * h + 2, 2 * w + 2, cout]);
            const where = `${filter.transposed ? 'F(2, 2)' : 'taps'} [${h}, ${w}, ${c}] → ${cout}, ${kernel.threads} threads`;
            expect(tf.max(tf.abs(tf.sub(ours, reference))).dataSync()[0] / scale, where).toBeLessThan(filter.transposed ? 2e-6 : 1e-6);
          }
        }
      }
    } finally {
      threaded.dispose();
    }
  });

  it('runs StyleGAN2\'s whole upsampling layer as tfjs\'s ops do: the style, the transposed convolution, the blur and the epilogue, on one thread and on three', async () => {
    const single = Conv3x3Kernel.create({ threads: 1 })!;
    const threaded = Conv3x3Kernel.create({ threads: 3, spawn: nodeHelper })!;
    try {
      await threaded.ready;
      for (const [h, w, c, cout] of [[5, 6, 16, 16], [8, 4, 8, 24]] as const) {
        const x = tf.tensor4d(random(h * w * c, 1, h + c), [1, h, w, c]);
        const weight = random(9 * c * cout, 1, w + cout);
        const [style, demod, noise, bias] = [random(c, 2, 21), random(cout, 1, 22).map(Math.abs), random(4 * h * w, 1, 23), random(cout, 1, 24)];
        // the engine's tfjs path (ops/conv2d upsampleTransposed): the phase grid by tf.conv2dTranspose, blurred by depthwise convolutions
        const transposed = tf.transpose(tf.tensor4d(weight, [3, 3, c, cout]), [0, 1, 3, 2]) as tf.Tensor4D;
        const grid = tf.pad(tf.conv2dTranspose(tf.mul(x, tf.tensor1d(style)) as tf.Tensor4D, transposed, [1, 2 * h + 1, 2 * w + 1, cout], 2, 'valid'), [[0, 0], [0, 1], [0, 1], [0, 0]]) as tf.Tensor4D;
        const picture = blurPhaseGrid(grid, separableBlur(cout));
        const reference = tf.leakyRelu(tf.add(tf.add(tf.mul(picture, tf.tensor1d(demod)), tf.tensor4d(noise, [1, 2 * h, 2 * w, 1])), tf.tensor1d(bias)), 0.2);
        const scale = tf.max(tf.abs(reference)).dataSync()[0];
        for (const kernel of [single, threaded]) {
          const steps = { scale: kernel.addVector(style), outScale: kernel.addVector(demod), noise: kernel.addVector(noise), bias: kernel.addVector(bias), alpha: kernel.addVector(new Float32Array(cout).fill(0.2)) };
          for (const filter of [kernel.addStride2Filter(weight, c, cout), ...(h % 2 === 0 ? [kernel.addTransposedFilter(weight, c, cout)] : [])]) {
            // F(2, 2) in bands of 4 super-tile rows (the last one ragged: 5 rows of 3)
            const ours = kernel.upsample(x, filter, { ...steps, bandBytes: 25 * 3 * 4 * Math.max(c, cout) * 4 });
            expect(ours.shape).toEqual([1, 2 * h, 2 * w, cout]);
            expect(tf.max(tf.abs(tf.sub(ours, reference))).dataSync()[0] / scale, `${filter.transposed ? 'F(2, 2)' : 'taps'} [${h}, ${w}, ${c}] → ${cout}, ${kernel.threads} threads`).toBeLessThan(2e-6);
          }
          // the style alone: the blurred picture
          const plain = kernel.upsample(x, kernel.addStride2Filter(weight, c, cout), { scale: steps.scale });
          expect(tf.max(tf.abs(tf.sub(plain, picture))).dataSync()[0] / tf.max(tf.abs(picture)).dataSync()[0], 'without the epilogue').toBeLessThan(1e-6);
        }
      }
      expect(() => single.upsample(tf.zeros([1, 4, 4, 8]) as tf.Tensor4D, single.addStride2Filter(new Float32Array(9 * 64), 8, 8), { noise: single.addVector(new Float32Array(16)) })).toThrow(/16 values for 64 pixels/);
    } finally {
      threaded.dispose();
    }
  });

  it('differentiates a tuned layer as tfjs does (cpu): the convolution, its input\'s and its filter\'s gradients, on one thread and on three', async () => {
    const single = Conv3x3Kernel.create({ threads: 1 })!;
    const threaded = Conv3x3Kernel.create({ threads: 3, spawn: nodeHelper })!;
    useGradients(); // tfjs's own; on cpu its backprop kernels run
    try {
      await threaded.ready;
      for (const [h, w, c, cout] of [[8, 8, 16, 24], [4, 8, 8, 16], [16, 8, 32, 8]] as const) {
        const x = tf.tensor4d(random(h * w * c, 1, h + c), [1, h, w, c]);
        const weight = tf.tensor4d(random(9 * c * cout, 0.3, w + cout), [3, 3, c, cout]);
        const readout = tf.tensor4d(random(h * w * cout, 1, 7 + cout), [1, h, w, cout]);
        expect(fitsTunedConv3x3(x.shape, weight.shape)).toBe(true);
        for (const kernel of [single, threaded]) {
          expectSameGradients((a, b) => tf.conv2d(a, b, 1, 'same'), (a, b) => tunedConv3x3(kernel, a, b), x, weight, readout, `[${h}, ${w}, ${c}] → ${cout}, ${kernel.threads} threads`);
        }
      }
      expect(fitsTunedConv3x3([1, 8, 8, 12], [3, 3, 12, 16])).toBe(false); // input channels not in 8s
    } finally {
      threaded.dispose();
    }
  });

  it('differentiates a tuned upsampling layer as tfjs does (cpu): the phase grid of tf.conv2dTranspose, its input\'s and its filter\'s gradients', async () => {
    const single = Conv3x3Kernel.create({ threads: 1 })!;
    const threaded = Conv3x3Kernel.create({ threads: 3, spawn: nodeHelper })!;
    useGradients();
    try {
      await threaded.ready;
      for (const [h, w, c, cout] of [[4, 4, 16, 8], [4, 6, 8, 24], [8, 8, 32, 16]] as const) {
        const x = tf.tensor4d(random(h * w * c, 1, h + c), [1, h, w, c]);
        const weight = tf.tensor4d(random(9 * c * cout, 0.3, w + cout), [3, 3, c, cout]);
        const readout = tf.tensor4d(random((2 * h + 2) * (2 * w + 2) * cout, 1, 5 + cout), [1, 2 * h + 2, 2 * w + 2, cout]);
        // conv2dTranspose's filter is [3, 3, Cout, C]; the phase grid is its output with a last row and column of zeros
        const grid = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.pad(tf.conv2dTranspose(a, tf.transpose(b, [0, 1, 3, 2]) as tf.Tensor4D, [1, 2 * h + 1, 2 * w + 1, cout], 2, 'valid'), [[0, 0], [0, 1], [0, 1], [0, 0]]);
        expect(Conv3x3Kernel.fitsTransposed(x.shape, cout)).toBe(true);
        for (const kernel of [single, threaded]) {
          expectSameGradients(grid, (a, b) => tunedUpsample3x3(kernel, a, b), x, weight, readout, `[${h}, ${w}, ${c}] → ${cout}, ${kernel.threads} threads`);
        }
      }
      expect(Conv3x3Kernel.fitsTransposed([1, 4, 4, 12], 8)).toBe(false);
    } finally {
      threaded.dispose();
    }
  });

  it('runs on helper threads sharing its memory, with the same results as on one', async () => {
    const single = Conv3x3Kernel.create({ threads: 1 })!;
    const threaded = Conv3x3Kernel.create({ threads: 3, spawn: nodeHelper })!;
    try {
      expect(threaded.threads).toBe(3);
      await threaded.ready;
      const [h, w, c, cout] = [64, 48, 32, 64];
      const x = tf.tensor4d(random(2 * h * w * c, 1, 7), [2, h, w, c]);
      const filterData = random(9 * c * cout, 0.1, 8);
      const expected = single.conv(x, single.addFilter(filterData, c, cout)).dataSync();
      const filter = threaded.addFilter(filterData, c, cout);
      for (let i = 0; i < 10; i++) {
        // units run in any order on any thread, each writing its own part: the same bits every time
        expect(Array.from(threaded.conv(x, filter, { bandBytes: 16 * (w / 2) * cout * 4 * 3 }).dataSync())).toEqual(Array.from(single.conv(x, single.addFilter(filterData, c, cout), { bandBytes: 16 * (w / 2) * cout * 4 * 3 }).dataSync()));
      }
      expect(Array.from(threaded.conv(x, filter).dataSync())).toEqual(Array.from(expected));
      expect(threaded.units.helpers, `helpers ran ${threaded.units.helpers} of ${threaded.units.all} units`).toBeGreaterThan(0);
    } finally {
      threaded.dispose();
    }
  });

  it('takes only what it was written for', () => {
    expect(Conv3x3Kernel.fits([1, 16, 16, 64], { c: 64, cout: 64 })).toBe(true);
    expect(Conv3x3Kernel.fits([1, 15, 16, 64], { c: 64, cout: 64 })).toBe(false); // odd side
    expect(Conv3x3Kernel.fits([1, 16, 16, 60], { c: 60, cout: 64 })).toBe(false); // width not in 8s
    expect(Conv3x3Kernel.fits([1, 2, 2, 64], { c: 64, cout: 64 })).toBe(false); // one tile, the products take 4
    const kernel = Conv3x3Kernel.create()!;
    expect(() => kernel.conv(tf.zeros([1, 6, 6, 8]) as tf.Tensor4D, kernel.addFilter(new Float32Array(9 * 8 * 8), 8, 8))).toThrow(/does not take/);
  });

  it('runs the encoder and the generator on wasm, which still reproduce the official tensors', async () => {
    await useNodeBackend('wasm');
    const conv = vi.spyOn(Conv3x3Kernel.prototype, 'conv');
    const convAndMean = vi.spyOn(Conv3x3Kernel.prototype, 'convAndMean');
    const matMul = vi.spyOn(Conv3x3Kernel.prototype, 'matMul');
    const upsample = vi.spyOn(Conv3x3Kernel.prototype, 'upsample');
    try {
      const results = await runGoldenSuite(async (p) => new Uint8Array(await readFile(join(GOLDEN, p))));
      const encoder = results.filter((r) => r.name.startsWith('style-transformer-tiny/'));
      console.log(`golden on wasm with the convolution kernel:\n${encoder.map((r) => `  ${r.name.padEnd(48)} ${r.maxAbsDiff.toExponential(2)}`).join('\n')}`);
      // The tiny encoder's 6 units, each: BN1, conv1 and PReLU in one call; conv2 (stride 1 or 2) and its mean in another.
      expect(conv.mock.calls.length).toBeGreaterThanOrEqual(6);
      expect(convAndMean.mock.calls.length).toBeGreaterThanOrEqual(6);
      const strides = convAndMean.mock.calls.map(([, filter]) => filter.stride);
      expect(new Set(strides)).toEqual(new Set([1, 2]));
      // cross-attention in the memory's space (p1 and p2): its two products with the memory
      expect(matMul.mock.calls.length).toBeGreaterThanOrEqual(4);
      for (const r of encoder) expect(r.maxAbsDiff, r.name).toBeLessThan(1e-3);
      // the generators' stride-1 3×3 layers, the style's input scale fused (conv1 and the second layer of each
      // resolution), and their demodulation, stored noise, bias and leaky ReLU
      const styled = conv.mock.calls.filter(([, , steps]) => steps?.scale && !steps.shift);
      expect(styled.length).toBeGreaterThanOrEqual(4);
      expect(styled.every(([, , steps]) => steps?.outScale && steps.noise && steps.bias && steps.alpha)).toBe(true);
      // and its upsampling layers, one picture at a time, with the same steps (their blur in the kernel too)
      expect(upsample.mock.calls.length).toBeGreaterThanOrEqual(3);
      expect(upsample.mock.calls.every(([, , steps]) => steps?.scale && steps.outScale && steps.noise && steps.bias && steps.alpha)).toBe(true);
      const others = results.filter((r) => !r.name.startsWith('style-transformer-tiny/'));
      console.log(`the rest on wasm:\n${others.map((r) => `  ${r.name.padEnd(48)} ${r.maxAbsDiff.toExponential(2)}`).join('\n')}`);
      for (const r of results) expect(r.maxAbsDiff, r.name).toBeLessThan(1e-3);
    } finally {
      conv.mockRestore();
      convAndMean.mockRestore();
      matMul.mockRestore();
      upsample.mockRestore();
      await tf.setBackend('cpu');
    }
  });
});
