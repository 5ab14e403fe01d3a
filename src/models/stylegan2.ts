import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../io/errors';
import { Conv3x3Kernel, type KernelFilter, type KernelVector, type WinogradTile } from '../kernels/conv3x3';
import { blurPhaseGrid, convolution, fitsTunedConv3x3, tunedConv3x3, tunedUpsample3x3, upsampleTransposed } from './ops/conv2d';
import { recordingGradients, releasing } from './ops/tape';
import { countsMultiplyAdds, polyphaseFilter, separableBlur, transposedPhaseFilters, upsampleConvFilter, upsampleFilter } from './ops/upsample';
import { countIndexed, RawWeights, TensorOwner } from './weights';

/**
 * rosinality's StyleGAN2 generator (the one the Style Transformer release uses), NHWC inside.
 * Modulation is applied to the activations and demodulation to the output channels, which equals modulating the
 * weights (the official form) but runs one shared-weight convolution for any batch size.
 *
 * Its modules, as in rosinality's model.py: ModulatedConv2d, NoiseInjection, StyledConv, ToRGB, Generator. How each
 * backend runs a convolution (the upsampling's forms, WebGL's bands, wasm's phase interleave) and what a gradient
 * tape rules out live in ./ops, as rosinality's CUDA kernels live in op/.
 */

export interface GeneratorConfig {
  size: number;
  styleDim: number;
  nMlp: number;
  /** Output channels at each resolution 4, 8, ..., size. */
  channels: Record<number, number>;
  nLatent: number;
  numLayers: number;
}

export type NoiseMode = { kind: 'stored' } | { kind: 'zero' } | { kind: 'seed'; seed: number };

export interface SynthesisOptions {
  noise?: NoiseMode;
  /** Stop after this resolution and return the RGB skip there: a cheap preview. */
  resolution?: number;
  /** Layers that replace the generator's own (a photo's pivotal tuning, see tunedLayers); the rest are shared. */
  tuned?: TunedLayers;
  /**
   * Called with the picture so far at each resolution from 8 px below the last (the RGB skip, what an early exit
   * there returns), so a slow render can show it while the finer layers run. Synchronous, inside the render's
   * scope: what it keeps it copies.
   */
  onPartial?: (picture: tf.Tensor4D, resolution: number) => void;
}

/**
 * The trainable parameters of one synthesis layer, in the generator's own layouts: the equalised convolution
 * weight [k, k, in, out], the modulation (affine A) [styleDim, in] and [in], and the bias [out].
 */
export interface LayerParameters {
  weight: tf.Tensor4D;
  modW: tf.Tensor2D;
  modB: tf.Tensor1D;
  bias: tf.Tensor1D;
}

/** Layers built from LayerParameters, by layer name (conv1, convs.N, to_rgb1, to_rgbs.N), ready to synthesize with. */
export type TunedLayers = Map<string, TunedLayer>;
export interface TunedLayer { conv?: ModulatedConv2d; bias?: tf.Tensor1D; detail?: tf.Tensor4D }


export function inferGeneratorConfig(weights: RawWeights): GeneratorConfig {
  const nMlp = countIndexed(weights, 'style.', 'weight', 1); // style.0 is the PixelNorm
  if (!weights.has('input.input')) throw new CheckpointError('missing-tensor', 'not a StyleGAN2 generator: input.input is missing');
  const styleDim = weights.shape('conv1.conv.modulation.weight')[1];
  const channels: Record<number, number> = { 4: weights.shape('input.input')[1] };
  const blocks = countIndexed(weights, 'to_rgbs.', 'bias');
  for (let i = 0; i < blocks; i++) channels[2 ** (i + 3)] = weights.shape(`convs.${2 * i}.conv.weight`)[1];
  const size = 2 ** (blocks + 2);
  const logSize = blocks + 2;
  return { size, styleDim, nMlp, channels, nLatent: logSize * 2 - 2, numLayers: (logSize - 2) * 2 + 1 };
}

const SQRT2 = Math.SQRT2;

/** What a layer keeps for the life of its generator (its tensors, filters made on first use, the blur filters). */
interface LayerOwner {
  keep<T extends tf.Tensor>(t: T): T;
  blurFor(channels: number): [tf.Tensor4D, tf.Tensor4D];
  /** The WebAssembly convolution kernel where the backend is wasm (src/kernels/conv3x3), else null. */
  readonly kernel: Conv3x3Kernel | null;
}

/**
 * A 3×3 layer's weight kept in the kernel, with a slot for the style's input scale. Stride 1: Winograd's form, so the
 * kernel convolves x * style in one pass, 1.5-2.8x tfjs-wasm's convolution at the official generator's shapes (Node,
 * one thread: 64 px x 512 channels 602 -> 275 ms, 1024 px x 32 channels 633 -> 433 ms). Upsampling: the transposed
 * convolution by Winograd's F(2, 2) into the phase grid (25 products where the direct form has 36: 15-40% faster
 * than its taps, Node, 2 threads), which the kernel then blurs (kernel.upsample).
 */
interface KernelConv {
  filter: KernelFilter;
  /** The input scale (the style), and the epilogue's demodulation, bias and leaky ReLU slopes (StyledConv's). */
  style: KernelVector;
  epilogue: { outScale: KernelVector; bias: KernelVector; alpha: KernelVector } | null;
}

/**
 * Winograd's output tile for a stride-1 layer in the kernel (WinogradTile): F(4×4, 3×3) from 32 px with 128 channels
 * or more, where the products are most of the time; below, F(2×2, 3×3), whose transforms cost less at few channels
 * and whose filter is 2.25× smaller at 4-16 px with 512 (the official generator: +48 MB for its F(4×4) layers).
 */
function winogradTile(resolution: number, inChannels: number): WinogradTile {
  return resolution >= 32 && inChannels >= 128 ? 4 : 2;
}

type ConvForm = Pick<ModulatedConv2d, 'filter' | 'upsampling' | 'phases' | 'blur'>;

/**
 * rosinality's ModulatedConv2d: the style's affine (A) scales the input channels, the equalised convolution (2x
 * upsampling on its first layer of a resolution), and the demodulation divides each output channel by its norm.
 */
export class ModulatedConv2d {
  readonly modW: tf.Tensor2D; // [styleDim, in], equalised
  readonly modB: tf.Tensor1D; // [in]
  /**
   * [k, k, in, out]; upsampling: 'polyphase', [3, 3, in, 4 * out] (ops/upsample.ts upsampleConvFilter), or
   * 'transposed', the weight (the convolution is `phases` and `blur`, see TRANSPOSED_PHASES).
   */
  readonly filter: tf.Tensor4D;
  readonly upsampling: 'polyphase' | 'transposed' | null;
  /** 'transposed' only: the four phase filters (transposedPhaseFilters) and the blur's row and column filters. */
  readonly phases: tf.Tensor4D[] | null;
  readonly blur: [tf.Tensor4D, tf.Tensor4D] | null;
  /** Upsampling only: the equalised weight [3, 3, in, out] the filter is made from (for tuning). */
  readonly weight: tf.Tensor4D | null;
  readonly demodSq: tf.Tensor2D | null; // [in, out]: sum over the kernel of the squared equalised weight
  readonly upsample: boolean;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: number;
  /** The weight in the WebAssembly kernel (wasm, stride-1 3×3 layers of the checkpoint; a tuned layer has none). */
  readonly inKernel: KernelConv | null;

  private constructor(parts: Omit<ModulatedConv2d, 'forward' | 'forwardWithEpilogue' | 'tuned'>, private readonly owner: LayerOwner) {
    this.modW = parts.modW;
    this.modB = parts.modB;
    this.filter = parts.filter;
    this.upsampling = parts.upsampling;
    this.phases = parts.phases;
    this.blur = parts.blur;
    this.weight = parts.weight;
    this.demodSq = parts.demodSq;
    this.upsample = parts.upsample;
    this.inChannels = parts.inChannels;
    this.outChannels = parts.outChannels;
    this.kernel = parts.kernel;
    this.inKernel = parts.inKernel;
  }

  /** The layer `name` (…conv) of an official checkpoint, its tensors kept by `owner`; `resolution` is its output's side. */
  static fromCheckpoint(owner: LayerOwner, weights: RawWeights, name: string, demodulate: boolean, upsample: boolean, resolution: number): ModulatedConv2d {
    const keep = <T extends tf.Tensor>(t: T) => owner.keep(t);
    const [, outChannels, inChannels, kernel] = weights.shape(`${name}.weight`); // [1, out, in, k, k]
    const scale = 1 / Math.sqrt(inChannels * kernel * kernel);
    const modShape = weights.shape(`${name}.modulation.weight`); // [in, styleDim]
    const modW = keep(tf.tidy(() => tf.transpose(tf.mul(weights.tensor(`${name}.modulation.weight`), 1 / Math.sqrt(modShape[1]))) as tf.Tensor2D));
    const modB = keep(weights.tensor(`${name}.modulation.bias`) as tf.Tensor1D);
    const { values, shape } = weights.filter(`${name}.weight`, scale); // [k, k, in, out]
    const weight = tf.tensor4d(values, shape);
    const transposed = upsample && countsMultiplyAdds();
    const polyphase = upsample && !transposed;
    const filter = keep(polyphase ? upsampleConvFilter(weights.raw(`${name}.weight`).data.map((v) => v * scale), outChannels, inChannels) : weight);
    if (polyphase) keep(weight);
    const demodSq = demodulate ? keep(tf.tensor2d(squaresOverTaps(values, kernel * kernel, inChannels * outChannels), [inChannels, outChannels])) : null;
    const k = owner.kernel;
    const inKernel = !k || kernel !== 3 || inChannels % 8 !== 0 || outChannels % 8 !== 0 ? null : {
      filter: upsample
        ? k.addTransposedFilter(values, inChannels, outChannels)
        : k.addFilter(values, inChannels, outChannels, winogradTile(resolution, inChannels)),
      style: k.addVector(new Float32Array(inChannels)),
      epilogue: !demodulate ? null : {
        outScale: k.addVector(new Float32Array(outChannels)), bias: k.addVector(new Float32Array(outChannels)),
        alpha: k.addVector(new Float32Array(outChannels).fill(0.2)),
      },
    };
    return new ModulatedConv2d({
      modW, modB, filter, upsampling: upsample ? (transposed ? 'transposed' : 'polyphase') : null,
      phases: transposed ? transposedPhaseFilters(weight).map(keep) : null, blur: transposed ? owner.blurFor(outChannels) : null,
      weight: upsample ? weight : null, demodSq, upsample, inChannels, outChannels, kernel, inKernel,
    }, owner);
  }

  /**
   * This layer with tuned parameters (a photo's pivotal tuning): the upsampling filter and the demodulation are
   * computed from the weight with tensor ops, so this runs under a gradient tape. The caller owns what it makes.
   */
  tuned(p: LayerParameters): ModulatedConv2d {
    return new ModulatedConv2d({
      ...this,
      modW: p.modW,
      modB: p.modB,
      ...(this.upsample ? this.upsamplingForm(p.weight) : { filter: p.weight }),
      weight: this.upsample ? p.weight : null,
      demodSq: this.demodSq ? tf.sum(tf.square(p.weight), [0, 1]) as tf.Tensor2D : null,
      inKernel: null, // the kernel holds the checkpoint's weight, not these
    }, this.owner);
  }

  /**
   * An upsampling layer's filter from its equalised weight, in the form this backend runs fastest, under a gradient
   * tape too (the polyphase filter's gradient is written for it: polyphaseProduct; the transposed form's phases are
   * slices and its convolutions have explicit pads, engine/gradients.ts).
   */
  private upsamplingForm(weight: tf.Tensor4D): ConvForm {
    if (!countsMultiplyAdds()) return { filter: polyphaseFilter(weight), upsampling: 'polyphase', phases: null, blur: null };
    // Under the tape the kernel takes the weight itself (tunedUpsample3x3); a tuned photo's renders keep tfjs's four
    // phase filters, made once (the kernel would put the weight in its form at every render).
    const inKernel = recordingGradients() && this.owner.kernel && tf.getBackend() === 'wasm' && Conv3x3Kernel.fitsTransposed([1, 4, 4, this.inChannels], this.outChannels);
    return { filter: weight, upsampling: 'transposed', phases: inKernel ? null : transposedPhaseFilters(weight), blur: this.owner.blurFor(this.outChannels) };
  }

  /**
   * StyledConv's whole layer in one pass of the WebAssembly kernel, for a 3×3 layer of the checkpoint: leaky
   * ReLU(conv(x · style) · demodulation · gain + noise + bias · gain, 0.2), the noise a map the kernel keeps (null:
   * none); an upsampling layer's convolution is its transposed convolution and blur. tfjs read and wrote the
   * activation once for each of the scale, the blurs, the bias, the noise and the activation (official generate
   * 1024 on Node wasm: ~0.45 s of its 1.9 s). Null where the kernel does not take it.
   */
  forwardWithEpilogue(x: tf.Tensor4D, style: tf.Tensor2D, bias: tf.Tensor1D, gain: number, noise: (kernel: Conv3x3Kernel) => KernelVector | null): tf.Tensor4D | null {
    const kernel = this.owner.kernel;
    const fused = this.inKernel;
    if (!kernel || !fused?.epilogue || !this.demodSq || x.shape[0] !== 1 || recordingGradients() || tf.getBackend() !== 'wasm') return null;
    if (!(this.upsample ? Conv3x3Kernel.fitsUpsample(x.shape, fused.filter) : Conv3x3Kernel.fits(x.shape, fused.filter))) return null;
    const [s, scale] = tf.tidy(() => {
      const s = tf.add(tf.matMul(style, this.modW), this.modB) as tf.Tensor2D;
      return [s.dataSync() as Float32Array, tf.mul(tf.rsqrt(tf.add(tf.matMul(tf.square(s), this.demodSq!), 1e-8)), gain).dataSync() as Float32Array];
    });
    kernel.setVector(fused.style, s);
    kernel.setVector(fused.epilogue.outScale, scale);
    kernel.setVector(fused.epilogue.bias, (bias.dataSync() as Float32Array).map((b) => b * gain));
    const map = noise(kernel);
    const steps = { scale: fused.style, ...fused.epilogue, ...(map ? { noise: map } : {}) };
    return this.upsample ? kernel.upsample(x, fused.filter, steps) : kernel.conv(x, fused.filter, steps);
  }

  /**
   * gain x (modulated convolution + bias). One picture (batch 1) is modulated, demodulated and scaled in the
   * filter, as the official fused_modconv path does: the filter (3 x 3 x in x out) is far smaller than the
   * activations it would otherwise scale (at 1024 px each scaled copy is 128 MiB), and the bias rides in the same
   * fused convolution (tfjs would differentiate that through backprop kernels wasm lacks, engine/gradients.ts, so
   * only where no gradient is recorded). A batch scales the activations (one filter for all).
   */
  forward(x: tf.Tensor4D, style: tf.Tensor2D, bias: tf.Tensor1D | null, gain = 1): tf.Tensor4D {
    const batch = x.shape[0];
    const s = tf.add(tf.matMul(style, this.modW), this.modB) as tf.Tensor2D; // [B, in]
    let scale: tf.Tensor2D = tf.fill([batch, this.outChannels], gain) as tf.Tensor2D; // [B, out]
    if (this.demodSq) scale = tf.mul(tf.rsqrt(tf.add(tf.matMul(tf.square(s), this.demodSq), 1e-8)), gain) as tf.Tensor2D;
    // Under a tape too: the polyphase filter that stood in there did 4x the multiply-adds (36 taps against 9) and
    // held 36 MiB a 512-channel layer; tuning the official generator at 128 px ran out of wasm's 4 GiB.
    const transposed = this.upsampling === 'transposed';
    // a tuned upsampling layer on wasm has no phase filters: the kernel convolves by its weight (tunedUpsample3x3)
    const filters = transposed && this.phases ? this.phases : [this.filter];
    // The polyphase filter's output channels are (phase, out): each phase takes its channel's scale and bias.
    const phases = <T extends tf.Tensor>(t: T) => (this.upsample && !transposed ? tf.tile(t, t.rank === 1 ? [4] : [1, 4]) : t) as T;
    const pad = this.upsample || this.kernel !== 1 ? Math.floor(this.kernel / 2) : 'valid';
    const kernel = this.owner.kernel;
    const run = (input: tf.Tensor4D, kernels: tf.Tensor4D[], withBias?: tf.Tensor1D) => {
      if (transposed && kernels.length === 1) {
        if (kernel && tf.getBackend() === 'wasm') return blurPhaseGrid(tunedUpsample3x3(kernel, input, kernels[0]), this.blur!, withBias);
        return upsampleTransposed(input, transposedPhaseFilters(kernels[0]), this.blur!, withBias); // the backend changed since
      }
      if (transposed) return upsampleTransposed(input, kernels, this.blur!, withBias);
      // a tuned stride-1 layer under the tape: the kernel convolves both ways and takes the filter's gradient
      if (kernel && !withBias && !this.upsample && recordingGradients() && tf.getBackend() === 'wasm' && fitsTunedConv3x3(input.shape, kernels[0].shape)) {
        return tunedConv3x3(kernel, input, kernels[0]);
      }
      return convolution(input, kernels[0], pad, withBias && phases(withBias), this.upsample);
    };
    // Computed, not reshaped: tfjs-wasm's fused convolution reads the rank its data was made with, and a bias
    // reshaped from [1, C, 1, 1] (ToRGB's) is refused as rank 4.
    const gainedBias = bias && tf.mul(tf.reshape(bias, [-1]), gain) as tf.Tensor1D;
    const addBias = (t: tf.Tensor4D) => gainedBias ? releasing(t, (o) => tf.add(o, gainedBias) as tf.Tensor4D) : t;
    // On wasm a 3×3 layer of the checkpoint runs in our kernel, the style scaling its input channels there (and an
    // upsampling layer's blur after its transposed convolution).
    if (this.inKernel && kernel && batch === 1 && !recordingGradients() && tf.getBackend() === 'wasm') {
      const { filter, style } = this.inKernel;
      if (this.upsample ? Conv3x3Kernel.fitsUpsample(x.shape, filter) : Conv3x3Kernel.fits(x.shape, filter)) {
        kernel.setVector(style, s.dataSync() as Float32Array);
        const out = this.upsample ? kernel.upsample(x, filter, { scale: style }) : kernel.conv(x, filter, { scale: style });
        return addBias(releasing(out, (o) => tf.mul(o, tf.reshape(scale, [1, 1, 1, this.outChannels])) as tf.Tensor4D));
      }
    }
    // Under a gradient tape the activations are scaled instead: tuning (refine.ts) runs 20% faster that way on wasm,
    // with less memory (the filter's product would be differentiated at every step).
    // One picture is scaled in the filter only where the filter is the smaller of the two: at 4-16 px the
    // activations are (a 16 px preview of the demo model spent 57 ms modulating 3 x 3 x 256 x 256 filters).
    const activationSize = x.shape[1] * x.shape[2] * (this.inChannels + this.outChannels * (this.upsample ? 4 : 1));
    if (batch === 1 && !recordingGradients() && filters.reduce((n, f) => n + f.size, 0) < activationSize) {
      const modulate = (f: tf.Tensor4D) => tf.mul(tf.mul(f, tf.reshape(s, [1, 1, this.inChannels, 1])), tf.reshape(phases(scale), [1, 1, 1, -1])) as tf.Tensor4D;
      return run(x, filters.map(modulate), gainedBias ?? undefined);
    }
    const out = releasing(tf.mul(x, tf.reshape(s, [batch, 1, 1, this.inChannels])) as tf.Tensor4D, (xs) => run(xs, filters));
    return addBias(releasing(out, (o) => tf.mul(o, tf.reshape(scale, [batch, 1, 1, this.outChannels])) as tf.Tensor4D));
  }
}

/** rosinality's NoiseInjection: per-pixel noise, scaled by a learned weight (the stored noise, none, or seeded). */
class NoiseInjection {
  /** The stored noise times its weight and a gain, kept by the WebAssembly kernel for a fused layer (once). */
  private kernelMap: { kernel: Conv3x3Kernel; gain: number; map: KernelVector } | null = null;

  constructor(readonly weight: tf.Scalar, readonly stored: tf.Tensor4D) {}

  /** What forward adds in 'stored' mode, as a map [H, W] in `kernel`'s memory (ModulatedConv2d.forwardWithEpilogue). */
  inKernel(kernel: Conv3x3Kernel, gain: number): KernelVector {
    if (this.kernelMap?.kernel !== kernel || this.kernelMap.gain !== gain) {
      // read outside tf.tidy: a tidy walks what it returns key by key, and a typed array's million keys took the
      // official model's first render 0.3 s
      const scaled = tf.tidy(() => tf.mul(this.stored, tf.mul(this.weight, gain)));
      const values = scaled.dataSync() as Float32Array;
      scaled.dispose();
      this.kernelMap = { kernel, gain, map: kernel.addVector(values) };
    }
    return this.kernelMap.map;
  }

  /** x plus the noise, both times `gain` (the activation's gain, taken in here: see StyledConv). */
  forward(x: tf.Tensor4D, mode: NoiseMode, index: number, gain: number): tf.Tensor4D {
    if (mode.kind === 'stored') return releasing(x, (o) => tf.add(o, tf.mul(this.stored, tf.mul(this.weight, gain))));
    if (mode.kind === 'zero') return x;
    const [b, h, w] = x.shape;
    return releasing(x, (o) => tf.add(o, tf.mul(tf.randomNormal([b, h, w, 1], 0, 1, 'float32', mode.seed * 1000 + index), tf.mul(this.weight, gain))));
  }
}

/** rosinality's StyledConv: a modulated convolution, noise, bias and leaky ReLU; a photo's detail map rides with the noise. */
export class StyledConv {
  constructor(
    readonly name: string,
    readonly resolution: number,
    readonly conv: ModulatedConv2d,
    private readonly noise: NoiseInjection,
    readonly bias: tf.Tensor1D,
    /** Which of the generator's noises (noises.noise_N) this layer takes. */
    private readonly noiseIndex: number,
  ) {}

  static fromCheckpoint(owner: LayerOwner, weights: RawWeights, name: string, noiseIndex: number, upsample: boolean, resolution: number): StyledConv {
    const noise = new NoiseInjection(
      owner.keep(tf.tidy(() => tf.reshape(weights.tensor(`${name}.noise.weight`), []) as tf.Scalar)),
      owner.keep(tf.tidy(() => tf.transpose(weights.tensor(`noises.noise_${noiseIndex}`), [0, 2, 3, 1]) as tf.Tensor4D)), // [1, H, W, 1]
    );
    const conv = ModulatedConv2d.fromCheckpoint(owner, weights, `${name}.conv`, true, upsample, resolution);
    return new StyledConv(name, resolution, conv, noise, owner.keep(weights.tensor(`${name}.activate.bias`) as tf.Tensor1D), noiseIndex);
  }

  /** Each layer in its own scope: at 1024 px one activation is 128 MB, and wasm memory stops at 2-4 GB. */
  forward(x: tf.Tensor4D, style: tf.Tensor2D, noise: NoiseMode, own?: TunedLayer): tf.Tensor4D {
    const conv = own?.conv ?? this.conv;
    const bias = own?.bias ?? this.bias;
    const detail = own?.detail;
    return tf.tidy(() => {
      if (!own && noise.kind !== 'seed') {
        const fused = conv.forwardWithEpilogue(x, style, bias, SQRT2, (kernel) => (noise.kind === 'stored' ? this.noise.inKernel(kernel, SQRT2) : null));
        if (fused) return fused;
      }
      // fused_leaky_relu's gain sqrt(2) is taken into the convolution, the noise and the detail (leaky ReLU is
      // positively homogeneous), so at full size no activation is scaled on its own.
      let out = conv.forward(x, style, bias, SQRT2);
      out = this.noise.forward(out, noise, this.noiseIndex, SQRT2);
      if (detail) out = releasing(out, (o) => tf.add(o, tf.mul(detail, SQRT2)));
      return releasing(out, (o) => tf.leakyRelu(o, 0.2));
    });
  }
}

/** rosinality's ToRGB: a modulated 1x1 convolution without demodulation, plus the upsampled picture so far (the skip). */
export class ToRGB {
  constructor(
    readonly name: string,
    readonly resolution: number,
    readonly conv: ModulatedConv2d,
    readonly bias: tf.Tensor1D,
    private readonly upsampleFilter: tf.Tensor4D | null,
  ) {}

  static fromCheckpoint(owner: LayerOwner, weights: RawWeights, name: string, upsample: boolean, resolution: number): ToRGB {
    return new ToRGB(
      name, resolution, ModulatedConv2d.fromCheckpoint(owner, weights, `${name}.conv`, false, false, resolution),
      owner.keep(tf.tidy(() => tf.reshape(weights.tensor(`${name}.bias`), [3]) as tf.Tensor1D)),
      upsample ? owner.keep(upsampleFilter(3)) : null,
    );
  }

  forward(x: tf.Tensor4D, style: tf.Tensor2D, skip: tf.Tensor4D | null, own?: TunedLayer): tf.Tensor4D {
    const conv = own?.conv ?? this.conv;
    const bias = own?.bias ?? this.bias;
    return tf.tidy(() => {
      const out = conv.forward(x, style, bias);
      if (!skip || !this.upsampleFilter) return out;
      const upsampled = convolution(skip, this.upsampleFilter, 1, undefined, true);
      return releasing(out, (o) => tf.add(o, upsampled) as tf.Tensor4D);
    });
  }
}

/** Σ over the taps of a [taps, n] filter's squares, per (in, out) pair: the demodulation's [in, out] matrix. */
function squaresOverTaps(values: Float32Array, taps: number, n: number): Float32Array {
  const sums = new Float32Array(n);
  for (let t = 0; t < taps; t++) for (let j = 0; j < n; j++) sums[j] += values[t * n + j] ** 2;
  return sums;
}

/** rosinality's Generator: the mapping network (z -> w) and the synthesis network (W+ codes -> picture). */
export class Generator extends TensorOwner implements LayerOwner {
  readonly config: GeneratorConfig;
  private readonly mlp: Array<{ w: tf.Tensor2D; b: tf.Tensor1D }> = [];
  private readonly constInput: tf.Tensor4D;
  private readonly conv1: StyledConv;
  private readonly rgb1: ToRGB;
  private readonly convs: StyledConv[] = [];
  private readonly rgbs: ToRGB[] = [];
  private readonly blurs = new Map<number, [tf.Tensor4D, tf.Tensor4D]>();
  readonly kernel: Conv3x3Kernel | null;

  constructor(weights: RawWeights, config = inferGeneratorConfig(weights), lrMlp = 0.01) {
    super();
    this.config = config;
    this.kernel = tf.getBackend() === 'wasm' ? Conv3x3Kernel.create() : null;
    const { styleDim } = config;
    for (let i = 1; i <= config.nMlp; i++) {
      const scale = (1 / Math.sqrt(styleDim)) * lrMlp;
      this.mlp.push({
        w: this.keep(tf.tidy(() => tf.transpose(tf.mul(weights.tensor(`style.${i}.weight`), scale)) as tf.Tensor2D)),
        b: this.keep(tf.tidy(() => tf.mul(weights.tensor(`style.${i}.bias`), lrMlp) as tf.Tensor1D)),
      });
    }
    this.constInput = this.keep(tf.tidy(() => tf.transpose(weights.tensor('input.input'), [0, 2, 3, 1]) as tf.Tensor4D));
    this.conv1 = StyledConv.fromCheckpoint(this, weights, 'conv1', 0, false, 4);
    this.rgb1 = ToRGB.fromCheckpoint(this, weights, 'to_rgb1', false, 4);
    const blocks = Object.keys(config.channels).length - 1;
    for (let i = 0; i < blocks; i++) {
      const resolution = 2 ** (i + 3);
      this.convs.push(StyledConv.fromCheckpoint(this, weights, `convs.${2 * i}`, 2 * i + 1, true, resolution));
      this.convs.push(StyledConv.fromCheckpoint(this, weights, `convs.${2 * i + 1}`, 2 * i + 2, false, resolution));
      this.rgbs.push(ToRGB.fromCheckpoint(this, weights, `to_rgbs.${i}`, true, resolution));
    }
  }

  override keep<T extends tf.Tensor>(t: T): T {
    return super.keep(t);
  }

  /** Settles when the kernel's helper threads have started (src/kernels/conv3x3/index.ts: `ready`). */
  ready(): Promise<void> {
    return this.kernel?.ready ?? Promise.resolve();
  }

  override dispose(): void {
    super.dispose();
    this.kernel?.dispose();
  }

  blurFor(channels: number): [tf.Tensor4D, tf.Tensor4D] {
    // Kept out of any scope this is first asked from (a tuned layer is built inside tf.tidy).
    if (!this.blurs.has(channels)) this.blurs.set(channels, separableBlur(channels).map((t) => this.keep(tf.keep(t))) as [tf.Tensor4D, tf.Tensor4D]);
    return this.blurs.get(channels)!;
  }

  /** z [B, styleDim] -> w [B, styleDim]. */
  mapping(z: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      let x = tf.mul(z, tf.rsqrt(tf.add(tf.mean(tf.square(z), 1, true), 1e-8))) as tf.Tensor2D;
      for (const { w, b } of this.mlp) x = fusedLeakyRelu(tf.matMul(x, w), b) as tf.Tensor2D;
      return x;
    });
  }

  /** Truncation towards an average latent: avg + psi * (w - avg). */
  truncate(w: tf.Tensor, average: tf.Tensor, psi: number): tf.Tensor {
    return tf.tidy(() => tf.add(average, tf.mul(tf.sub(w, average), psi)));
  }

  /** W+ codes [B, >= nLatent, styleDim] -> image NHWC [B, S, S, 3] (S = size, or options.resolution). */
  synthesize(codes: tf.Tensor3D, options: SynthesisOptions = {}): tf.Tensor4D {
    const noise = options.noise ?? { kind: 'stored' };
    const resolution = options.resolution ?? this.config.size;
    if (!(resolution in this.config.channels)) {
      throw new RangeError(`resolution ${resolution} is not one of ${Object.keys(this.config.channels).join(', ')}`);
    }
    if (codes.shape[1] < this.config.nLatent) {
      throw new RangeError(`the generator reads ${this.config.nLatent} styles; got ${codes.shape[1]}`);
    }
    const tuned = options.tuned;
    return tf.tidy(() => {
      const batch = codes.shape[0];
      const styles = tf.unstack(codes, 1) as tf.Tensor2D[];
      const own = (layer: StyledConv | ToRGB) => tuned?.get(layer.name);
      let out: tf.Tensor4D = releasing(tf.tile(this.constInput, [batch, 1, 1, 1]), (x) => this.conv1.forward(x, styles[0], noise, own(this.conv1)));
      let skip = this.rgb1.forward(out, styles[1], null, own(this.rgb1));
      let size = 4;
      for (let i = 0; size < resolution; i++) {
        const [up, conv, rgb] = [this.convs[2 * i], this.convs[2 * i + 1], this.rgbs[i]];
        out = releasing(out, (x) => up.forward(x, styles[2 * i + 1], noise, own(up)));
        out = releasing(out, (x) => conv.forward(x, styles[2 * i + 2], noise, own(conv)));
        skip = releasing(skip, (previous) => rgb.forward(out, styles[2 * i + 3], previous, own(rgb)));
        size *= 2;
        if (size < resolution) options.onPartial?.(skip, size);
      }
      return skip;
    });
  }

  /** The styled layers (conv1, convs.N) from `from` up to `resolution`, with their output size. */
  styledLayers(resolution: number, from = 4): Array<{ name: string; resolution: number }> {
    return [this.conv1, ...this.convs].filter((l) => l.resolution <= resolution && l.resolution >= from).map((l) => ({ name: l.name, resolution: l.resolution }));
  }

  /** Every synthesis layer that shapes a picture at `resolution`, in order. */
  private layersUpTo(resolution: number): Array<StyledConv | ToRGB> {
    const all: Array<StyledConv | ToRGB> = [this.conv1, this.rgb1];
    this.rgbs.forEach((rgb, i) => all.push(this.convs[2 * i], this.convs[2 * i + 1], rgb));
    return all.filter((l) => l.resolution <= resolution);
  }

  /**
   * Copies (the caller's to own) of the parameters of the layers that shape a picture at `resolution`, from the
   * layers at `from` on.
   */
  parameters(resolution: number, from = 4): Map<string, LayerParameters> {
    return new Map(this.tunable(resolution, from).map((l) => [l.name, {
      weight: tf.clone(l.conv.weight ?? l.conv.filter),
      modW: tf.clone(l.conv.modW),
      modB: tf.clone(l.conv.modB),
      bias: tf.clone(l.bias),
    }]));
  }

  /** The shapes of what parameters() returns, without copying anything (to check stored parameters against). */
  parameterShapes(resolution: number, from = 4): Map<string, Record<keyof LayerParameters, number[]>> {
    return new Map(this.tunable(resolution, from).map((l) => [l.name, {
      weight: (l.conv.weight ?? l.conv.filter).shape, modW: l.conv.modW.shape, modB: l.conv.modB.shape, bias: l.bias.shape,
    }]));
  }

  private tunable(resolution: number, from: number): Array<StyledConv | ToRGB> {
    return this.layersUpTo(resolution).filter((l) => l.resolution >= from);
  }

  /**
   * Layers made from parameters (tuned copies of parameters()), under a gradient tape if need be (see
   * ModulatedConv2d.tuned). The caller disposes the result (tf.dispose on its values' tensors) unless it runs
   * inside tf.tidy.
   */
  tunedLayers(parameters: Map<string, LayerParameters>): TunedLayers {
    const out: TunedLayers = new Map();
    for (const layer of this.layersUpTo(this.config.size)) {
      const p = parameters.get(layer.name);
      if (p) out.set(layer.name, { conv: layer.conv.tuned(p), bias: p.bias });
    }
    return out;
  }
}

/** The mapping network's activation: leaky ReLU of x + bias, times sqrt(2) (rosinality's fused_leaky_relu). */
function fusedLeakyRelu(x: tf.Tensor, bias: tf.Tensor1D): tf.Tensor {
  return tf.mul(tf.leakyRelu(tf.add(x, bias), 0.2), SQRT2);
}
