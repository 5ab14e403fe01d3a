import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../io/errors';
import { countIndexed, RawWeights, TensorOwner } from './weights';

/**
 * rosinality's StyleGAN2 generator (the one the Style Transformer release uses), NHWC inside.
 * Modulation is applied to the activations and demodulation to the output channels, which equals modulating the
 * weights (the official form) but runs one shared-weight convolution for any batch size.
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
export type TunedLayers = Map<string, { conv?: ModConv; bias?: tf.Tensor1D; detail?: tf.Tensor4D }>;

const SQRT2 = Math.SQRT2;
const BLUR_1D = [1, 3, 3, 1];

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
function upsampleConvFilter(w: Float32Array, outC: number, inC: number): tf.Tensor4D {
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
function polyphaseFilter(weight: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [, , inC, outC] = weight.shape;
    const phases = polyphaseProduct(tf.reshape(weight, [9, inC * outC]));
    return tf.reshape(tf.transpose(tf.reshape(phases, [3, 3, 2, 2, inC, outC]), [0, 1, 4, 2, 3, 5]), [3, 3, inC, 4 * outC]) as tf.Tensor4D;
  });
}

/** Filter [3, 3, C, 4C] of upfirdn2d(up=2, pad=(2, 1)) with the blur kernel, per channel, in polyphase form. */
function upsampleFilter(channels: number): tf.Tensor4D {
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
const TRANSPOSED_PHASES: Array<{ taps: number[]; pad: [number, number] }> = [{ taps: [2, 0], pad: [1, 1] }, { taps: [1], pad: [0, 1] }];

/** Phase (ry, rx) -> its filter [taps(ry), taps(rx), in, out], in the order (0, 0), (0, 1), (1, 0), (1, 1). */
function transposedPhaseFilters(weight: tf.Tensor4D): tf.Tensor4D[] {
  return [0, 1].flatMap((ry) => [0, 1].map((rx) => tf.tidy(() =>
    tf.gather(tf.gather(weight, TRANSPOSED_PHASES[ry].taps, 0), TRANSPOSED_PHASES[rx].taps, 1) as tf.Tensor4D)));
}

/** CPU backends count multiply-adds; the GPU ones run the polyphase filter as one pass (and WebGL in bands). */
const countsMultiplyAdds = () => tf.getBackend() === 'wasm' || tf.getBackend() === 'cpu';

/** The blur [1, 3, 3, 1] / 4 per channel, once along rows and once along columns (depthwise filters). */
function separableBlur(channels: number): [tf.Tensor4D, tf.Tensor4D] {
  const taps = new Float32Array(4 * channels).map((_, i) => BLUR_UP_1D[Math.floor(i / channels)]);
  return [tf.tensor4d(taps, [4, 1, channels, 1]), tf.tensor4d(taps, [1, 4, channels, 1])];
}

export interface ModConv {
  modW: tf.Tensor2D; // [styleDim, in], equalised
  modB: tf.Tensor1D; // [in]
  /**
   * [k, k, in, out]; upsampling: 'polyphase', [3, 3, in, 4 * out] (see upsampleConvFilter), or 'transposed',
   * the weight (the convolution is `phases` and `blur`, see TRANSPOSED_PHASES).
   */
  filter: tf.Tensor4D;
  upsampling: 'polyphase' | 'transposed' | null;
  /** 'transposed' only: the four phase filters (transposedPhaseFilters) and the blur's row and column filters. */
  phases: tf.Tensor4D[] | null;
  blur: [tf.Tensor4D, tf.Tensor4D] | null;
  /** Upsampling only: the equalised weight [3, 3, in, out] the filter is made from (for tuning). */
  weight: tf.Tensor4D | null;
  demodSq: tf.Tensor2D | null; // [in, out]: sum over the kernel of the squared equalised weight
  upsample: boolean;
  inChannels: number;
  outChannels: number;
  kernel: number;
}

interface StyledLayer {
  name: string;
  resolution: number;
  conv: ModConv;
  noiseWeight: tf.Scalar;
  bias: tf.Tensor1D;
  noise: tf.Tensor4D; // [1, H, W, 1]
  /** A photo's own detail map [1, H, W, 1], added where the noise is (pivotal tuning, see refine.ts). */
  detail?: tf.Tensor4D;
}

interface RgbLayer {
  name: string;
  resolution: number;
  conv: ModConv;
  bias: tf.Tensor1D;
  upsampleFilter: tf.Tensor4D | null;
}

export class Generator extends TensorOwner {
  readonly config: GeneratorConfig;
  private readonly mlp: Array<{ w: tf.Tensor2D; b: tf.Tensor1D }> = [];
  private readonly constInput: tf.Tensor4D;
  private readonly conv1: StyledLayer;
  private readonly rgb1: RgbLayer;
  private readonly convs: StyledLayer[] = [];
  private readonly rgbs: RgbLayer[] = [];

  constructor(weights: RawWeights, config = inferGeneratorConfig(weights), lrMlp = 0.01) {
    super();
    this.config = config;
    const { styleDim } = config;
    for (let i = 1; i <= config.nMlp; i++) {
      const scale = (1 / Math.sqrt(styleDim)) * lrMlp;
      this.mlp.push({
        w: this.keep(tf.tidy(() => tf.transpose(tf.mul(weights.tensor(`style.${i}.weight`), scale)) as tf.Tensor2D)),
        b: this.keep(tf.tidy(() => tf.mul(weights.tensor(`style.${i}.bias`), lrMlp) as tf.Tensor1D)),
      });
    }
    this.constInput = this.keep(tf.tidy(() => tf.transpose(weights.tensor('input.input'), [0, 2, 3, 1]) as tf.Tensor4D));
    this.conv1 = this.styled(weights, 'conv1', 0, false, 4);
    this.rgb1 = this.rgb(weights, 'to_rgb1', false, 4);
    const blocks = Object.keys(config.channels).length - 1;
    for (let i = 0; i < blocks; i++) {
      this.convs.push(this.styled(weights, `convs.${2 * i}`, 2 * i + 1, true, 2 ** (i + 3)));
      this.convs.push(this.styled(weights, `convs.${2 * i + 1}`, 2 * i + 2, false, 2 ** (i + 3)));
      this.rgbs.push(this.rgb(weights, `to_rgbs.${i}`, true, 2 ** (i + 3)));
    }
  }

  private modConv(weights: RawWeights, name: string, demodulate: boolean, upsample: boolean): ModConv {
    const shape = weights.shape(`${name}.weight`); // [1, out, in, k, k]
    const [, outChannels, inChannels, kernel] = shape;
    const scale = 1 / Math.sqrt(inChannels * kernel * kernel);
    const modShape = weights.shape(`${name}.modulation.weight`); // [in, styleDim]
    const modW = this.keep(tf.tidy(() =>
      tf.transpose(tf.mul(weights.tensor(`${name}.modulation.weight`), 1 / Math.sqrt(modShape[1]))) as tf.Tensor2D));
    const modB = this.keep(weights.tensor(`${name}.modulation.bias`) as tf.Tensor1D);
    const raw = weights.raw(`${name}.weight`).data;
    const scaled = raw.map((v) => v * scale);
    const scaledTensor = tf.tensor4d(scaled, [outChannels, inChannels, kernel, kernel]);
    const weight = tf.tidy(() => tf.transpose(scaledTensor, [2, 3, 1, 0]) as tf.Tensor4D);
    const transposed = upsample && countsMultiplyAdds();
    const filter = this.keep(upsample && !transposed ? upsampleConvFilter(scaled, outChannels, inChannels) : weight);
    if (upsample && !transposed) this.keep(weight);
    const phases = transposed ? transposedPhaseFilters(weight).map((t) => this.keep(t)) : null;
    const blur = transposed ? this.blurFor(outChannels) : null;
    const demodSq = demodulate
      ? this.keep(tf.tidy(() => tf.transpose(tf.sum(tf.square(scaledTensor), [2, 3])) as tf.Tensor2D))
      : null;
    scaledTensor.dispose();
    return {
      modW, modB, filter, upsampling: upsample ? (transposed ? 'transposed' : 'polyphase') : null, phases, blur,
      weight: upsample ? weight : null, demodSq, upsample, inChannels, outChannels, kernel,
    };
  }

  private readonly blurs = new Map<number, [tf.Tensor4D, tf.Tensor4D]>();
  private readonly polyphases = new WeakMap<ModConv, tf.Tensor4D>();

  /**
   * The polyphase filter of a layer kept in the transposed form, for renders under a gradient tape (tuning runs the
   * layers below the tuned ones every step): made once, on first use, and kept.
   */
  private polyphaseOf(conv: ModConv): tf.Tensor4D {
    let filter = this.polyphases.get(conv);
    if (!filter) this.polyphases.set(conv, filter = this.keep(tf.keep(polyphaseFilter(conv.weight!))));
    return filter;
  }

  private blurFor(channels: number): [tf.Tensor4D, tf.Tensor4D] {
    // Kept out of any scope this is first asked from (a tuned layer is built inside tf.tidy).
    if (!this.blurs.has(channels)) this.blurs.set(channels, separableBlur(channels).map((t) => this.keep(tf.keep(t))) as [tf.Tensor4D, tf.Tensor4D]);
    return this.blurs.get(channels)!;
  }

  /**
   * An upsampling layer's filter from its equalised weight, in the form this backend runs fastest; the polyphase
   * one under a gradient tape (its gradient is written for it: polyphaseProduct, engine/gradients.ts).
   */
  private upsamplingFilter(weight: tf.Tensor4D, outChannels: number): Pick<ModConv, 'filter' | 'upsampling' | 'phases' | 'blur'> {
    if (tf.engine().isTapeOn() || !countsMultiplyAdds()) return { filter: polyphaseFilter(weight), upsampling: 'polyphase', phases: null, blur: null };
    return { filter: weight, upsampling: 'transposed', phases: transposedPhaseFilters(weight), blur: this.blurFor(outChannels) };
  }

  private styled(weights: RawWeights, name: string, noiseIndex: number, upsample: boolean, resolution: number): StyledLayer {
    const conv = this.modConv(weights, `${name}.conv`, true, upsample);
    return {
      name,
      resolution,
      conv,
      noiseWeight: this.keep(tf.tidy(() => tf.reshape(weights.tensor(`${name}.noise.weight`), []) as tf.Scalar)),
      bias: this.keep(weights.tensor(`${name}.activate.bias`) as tf.Tensor1D),
      noise: this.keep(tf.tidy(() => {
        const n = weights.tensor(`noises.noise_${noiseIndex}`); // [1, 1, H, W]
        return tf.transpose(n, [0, 2, 3, 1]) as tf.Tensor4D;
      })),
    };
  }

  private rgb(weights: RawWeights, name: string, upsample: boolean, resolution: number): RgbLayer {
    return {
      name,
      resolution,
      conv: this.modConv(weights, `${name}.conv`, false, false),
      bias: this.keep(tf.tidy(() => tf.reshape(weights.tensor(`${name}.bias`), [3]) as tf.Tensor1D)),
      upsampleFilter: upsample ? this.keep(upsampleFilter(3)) : null,
    };
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
      let out: tf.Tensor4D = releasing(tf.tile(this.constInput, [batch, 1, 1, 1]), (x) => this.applyStyled(this.conv1, x, styles[0], noise, 0, tuned));
      let skip = this.applyRgb(this.rgb1, out, styles[1], null, tuned);
      let size = 4;
      for (let i = 0; size < resolution; i++) {
        out = releasing(out, (x) => this.applyStyled(this.convs[2 * i], x, styles[2 * i + 1], noise, 2 * i + 1, tuned));
        out = releasing(out, (x) => this.applyStyled(this.convs[2 * i + 1], x, styles[2 * i + 2], noise, 2 * i + 2, tuned));
        const rgb = this.rgbs[i];
        skip = releasing(skip, (previous) => this.applyRgb(rgb, out, styles[2 * i + 3], previous, tuned));
        size *= 2;
      }
      return skip;
    });
  }

  /** The styled layers (conv1, convs.N) from `from` up to `resolution`, with their output size. */
  styledLayers(resolution: number, from = 4): Array<{ name: string; resolution: number }> {
    return [this.conv1, ...this.convs].filter((l) => l.resolution <= resolution && l.resolution >= from).map((l) => ({ name: l.name, resolution: l.resolution }));
  }

  /** Every synthesis layer that shapes a picture at `resolution`, in order. */
  private layersUpTo(resolution: number): Array<StyledLayer | RgbLayer> {
    const all: Array<StyledLayer | RgbLayer> = [this.conv1, this.rgb1];
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

  private tunable(resolution: number, from: number): Array<StyledLayer | RgbLayer> {
    return this.layersUpTo(resolution).filter((l) => l.resolution >= from);
  }

  /**
   * Layers made from parameters (tuned copies of parameters()): the upsampling filter and the demodulation are
   * computed from the weight with tensor ops, so this runs under a gradient tape. The caller disposes the result
   * (tf.dispose on its values' tensors) unless it runs inside tf.tidy.
   */
  tunedLayers(parameters: Map<string, LayerParameters>): TunedLayers {
    const out: TunedLayers = new Map();
    for (const layer of this.layersUpTo(this.config.size)) {
      const p = parameters.get(layer.name);
      if (!p) continue;
      const template = layer.conv;
      out.set(layer.name, {
        conv: {
          ...template,
          modW: p.modW,
          modB: p.modB,
          ...(template.upsample ? this.upsamplingFilter(p.weight, template.outChannels) : { filter: p.weight }),
          weight: template.upsample ? p.weight : null,
          demodSq: template.demodSq ? tf.sum(tf.square(p.weight), [0, 1]) as tf.Tensor2D : null,
        },
        bias: p.bias,
      });
    }
    return out;
  }

  /**
   * gain x (modulated convolution + bias). One picture (batch 1) is modulated, demodulated and scaled in the
   * filter, as the official fused_modconv path does: the filter (3 x 3 x in x out) is far smaller than the
   * activations it would otherwise scale (at 1024 px each scaled copy is 128 MiB), and the bias rides in the same
   * fused convolution (tfjs would differentiate that through backprop kernels wasm lacks, engine/gradients.ts, so
   * only where no gradient is recorded). A batch scales the activations (one filter for all).
   */
  private modulatedConv(conv: ModConv, x: tf.Tensor4D, style: tf.Tensor2D, bias: tf.Tensor1D | null, gain = 1): tf.Tensor4D {
    const batch = x.shape[0];
    const s = tf.add(tf.matMul(style, conv.modW), conv.modB) as tf.Tensor2D; // [B, in]
    let scale: tf.Tensor2D = tf.fill([batch, conv.outChannels], gain) as tf.Tensor2D; // [B, out]
    if (conv.demodSq) scale = tf.mul(tf.rsqrt(tf.add(tf.matMul(tf.square(s), conv.demodSq), 1e-8)), gain) as tf.Tensor2D;
    // The transposed form has no gradient here (explicit pads): under a tape the polyphase filter stands in.
    const transposed = conv.upsampling === 'transposed' && !tf.engine().isTapeOn();
    const filters = transposed ? conv.phases! : [conv.upsampling === 'transposed' ? this.polyphaseOf(conv) : conv.filter];
    // The polyphase filter's output channels are (phase, out): each phase takes its channel's scale and bias.
    const phases = <T extends tf.Tensor>(t: T) => (conv.upsample && !transposed ? tf.tile(t, t.rank === 1 ? [4] : [1, 4]) : t) as T;
    const pad = conv.upsample || conv.kernel !== 1 ? Math.floor(conv.kernel / 2) : 'valid';
    const run = (input: tf.Tensor4D, kernels: tf.Tensor4D[], withBias?: tf.Tensor1D) => transposed
      ? upsampleTransposed(input, kernels, conv.blur!, withBias)
      : convolution(input, kernels[0], pad, withBias && phases(withBias), conv.upsample);
    // Computed, not reshaped: tfjs-wasm's fused convolution reads the rank its data was made with, and a bias
    // reshaped from [1, C, 1, 1] (ToRGB's) is refused as rank 4.
    const gainedBias = bias && tf.mul(tf.reshape(bias, [-1]), gain) as tf.Tensor1D;
    const addBias = (t: tf.Tensor4D) => gainedBias ? releasing(t, (o) => tf.add(o, gainedBias) as tf.Tensor4D) : t;
    // Under a gradient tape the activations are scaled instead: tuning (refine.ts) runs 20% faster that way on wasm,
    // with less memory (the filter's product would be differentiated at every step).
    // One picture is scaled in the filter only where the filter is the smaller of the two: at 4-16 px the
    // activations are (a 16 px preview of the demo model spent 57 ms modulating 3 x 3 x 256 x 256 filters).
    const activationSize = x.shape[1] * x.shape[2] * (conv.inChannels + conv.outChannels * (conv.upsample ? 4 : 1));
    if (batch === 1 && !tf.engine().isTapeOn() && filters.reduce((n, f) => n + f.size, 0) < activationSize) {
      const modulate = (f: tf.Tensor4D) => tf.mul(tf.mul(f, tf.reshape(s, [1, 1, conv.inChannels, 1])), tf.reshape(phases(scale), [1, 1, 1, -1])) as tf.Tensor4D;
      return run(x, filters.map(modulate), gainedBias ?? undefined);
    }
    const out = releasing(tf.mul(x, tf.reshape(s, [batch, 1, 1, conv.inChannels])) as tf.Tensor4D, (xs) => run(xs, filters));
    return addBias(releasing(out, (o) => tf.mul(o, tf.reshape(scale, [batch, 1, 1, conv.outChannels])) as tf.Tensor4D));
  }

  private applyStyled(layer: StyledLayer, x: tf.Tensor4D, style: tf.Tensor2D, noise: NoiseMode, index: number, tuned?: TunedLayers): tf.Tensor4D {
    // Each layer in its own scope: at 1024 px one activation is 128 MB, and wasm memory stops at 2-4 GB.
    const own = tuned?.get(layer.name);
    return tf.tidy(() => this.styledLayer(own ? { ...layer, ...own } : layer, x, style, noise, index));
  }

  private styledLayer(layer: StyledLayer, x: tf.Tensor4D, style: tf.Tensor2D, noise: NoiseMode, index: number): tf.Tensor4D {
    // fused_leaky_relu's gain sqrt(2) is taken into the convolution, the noise and the detail (leaky ReLU is
    // positively homogeneous), so at full size no activation is scaled on its own.
    let out = this.modulatedConv(layer.conv, x, style, layer.bias, SQRT2);
    if (noise.kind === 'stored') {
      out = releasing(out, (o) => tf.add(o, tf.mul(layer.noise, tf.mul(layer.noiseWeight, SQRT2))));
    } else if (noise.kind === 'seed') {
      const [b, h, w] = out.shape;
      out = releasing(out, (o) => tf.add(o, tf.mul(tf.randomNormal([b, h, w, 1], 0, 1, 'float32', noise.seed * 1000 + index), tf.mul(layer.noiseWeight, SQRT2))));
    }
    if (layer.detail) out = releasing(out, (o) => tf.add(o, tf.mul(layer.detail!, SQRT2)));
    return releasing(out, (o) => tf.leakyRelu(o, 0.2));
  }

  private applyRgb(layer: RgbLayer, x: tf.Tensor4D, style: tf.Tensor2D, skip: tf.Tensor4D | null, tuned?: TunedLayers): tf.Tensor4D {
    const own = tuned?.get(layer.name);
    return tf.tidy(() => this.rgbLayer(own ? { ...layer, ...own } : layer, x, style, skip));
  }

  private rgbLayer(layer: RgbLayer, x: tf.Tensor4D, style: tf.Tensor2D, skip: tf.Tensor4D | null): tf.Tensor4D {
    const out = this.modulatedConv(layer.conv, x, style, layer.bias);
    if (!skip || !layer.upsampleFilter) return out;
    const upsampled = convolution(skip, layer.upsampleFilter, 1, undefined, true);
    return releasing(out, (o) => tf.add(o, upsampled) as tf.Tensor4D);
  }
}

/**
 * Stride-1 convolution ('same' for odd kernels given pad = k // 2, or 'valid'), with a bias when given (fused),
 * followed for a polyphase filter by depthToSpace (the 2x upsampled picture). On WebGL it runs in bands of rows:
 * tfjs convolves there through an im2col matrix [H W, k k C_in] held in one texture, and its depthToSpace writes
 * one value a texel; at 1024 px (the upsampling layer reads 512 x 512 x 64, the next writes 1024 x 1024 x 32)
 * both need more texels than any GPU's MAX_TEXTURE_SIZE allows (8689^2 and 5793^2). Each band reads its rows
 * plus the kernel's halo from the once-padded input, so the result is the same convolution.
 */
function convolution(x: tf.Tensor4D, filter: tf.Tensor4D, pad: number | 'valid', bias?: tf.Tensor1D, upsample = false): tf.Tensor4D {
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
  if (padded !== x && !tf.engine().isTapeOn()) padded.dispose();
  const out = tf.concat(parts, 1);
  if (!tf.engine().isTapeOn()) tf.dispose(parts);
  return out;
}

/**
 * The upsampling convolution in its transposed form (see TRANSPOSED_PHASES): the four phases of the transposed
 * convolution, each (H + 1) x (W + 1), interleaved into T[0 .. 2H + 1] (the last row and column are 0), then the
 * blur along rows and along columns, each with one zero before (T[-1]) and giving 2H; the bias rides in the last pass.
 */
function upsampleTransposed(x: tf.Tensor4D, phaseFilters: tf.Tensor4D[], [rows, cols]: [tf.Tensor4D, tf.Tensor4D], bias?: tf.Tensor1D): tf.Tensor4D {
  const parts = phaseFilters.map((filter, i) => tf.conv2d(x, filter, 1, [[0, 0], TRANSPOSED_PHASES[i >> 1].pad, TRANSPOSED_PHASES[i & 1].pad, [0, 0]]));
  const stacked = tf.concat(parts, 3);
  if (!tf.engine().isTapeOn()) tf.dispose(parts);
  const blurredRows = releasing(releasing(stacked, interleavePhases), (t) => tf.depthwiseConv2d(t, rows, 1, [[0, 0], [1, 0], [0, 0], [0, 0]]));
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
 * next(t), with t disposed as soon as it is used when no gradient is being recorded: a tidy scope frees its
 * intermediates only at its end, and at 1024 px a layer makes five of 128 MiB each. Under a gradient tape the
 * intermediates are the backward pass's, so they stay to the scope's end.
 */
function releasing<T extends tf.Tensor, U extends tf.Tensor>(t: T, next: (t: T) => U): U {
  const out = next(t);
  if (!tf.engine().isTapeOn() && out !== (t as tf.Tensor)) t.dispose();
  return out;
}

function fusedLeakyRelu(x: tf.Tensor, bias: tf.Tensor1D): tf.Tensor {
  return tf.mul(tf.leakyRelu(tf.add(x, bias), 0.2), SQRT2);
}
