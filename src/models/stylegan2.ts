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
}

const SQRT2 = Math.SQRT2;
const BLUR_1D = [1, 3, 3, 1];

export function inferGeneratorConfig(weights: RawWeights): GeneratorConfig {
  const nMlp = countStyle(weights);
  if (!weights.has('input.input')) throw new CheckpointError('missing-tensor', 'not a StyleGAN2 generator: input.input is missing');
  const styleDim = weights.shape('conv1.conv.modulation.weight')[1];
  const channels: Record<number, number> = { 4: weights.shape('input.input')[1] };
  const blocks = countIndexed(weights, 'to_rgbs.', 'bias');
  for (let i = 0; i < blocks; i++) channels[2 ** (i + 3)] = weights.shape(`convs.${2 * i}.conv.weight`)[1];
  const size = 2 ** (blocks + 2);
  const logSize = blocks + 2;
  return { size, styleDim, nMlp, channels, nLatent: logSize * 2 - 2, numLayers: (logSize - 2) * 2 + 1 };
}

function countStyle(weights: RawWeights): number {
  let n = 0;
  while (weights.has(`style.${n + 1}.weight`)) n++;
  return n;
}

function blurKernel(channels: number, gain: number): tf.Tensor4D {
  const sum = BLUR_1D.reduce((a, b) => a + b, 0);
  const k: number[] = [];
  for (const a of BLUR_1D) for (const b of BLUR_1D) k.push((a * b * gain) / (sum * sum));
  // depthwise filter [4, 4, C, 1]; the kernel is symmetric, so convolution and correlation agree.
  return tf.tile(tf.tensor4d(k, [4, 4, 1, 1]), [1, 1, channels, 1]);
}

interface ModConv {
  modW: tf.Tensor2D; // [styleDim, in], equalised
  modB: tf.Tensor1D; // [in]
  filter: tf.Tensor4D; // conv: [k, k, in, out]; transposed conv: [k, k, out, in]
  demodSq: tf.Tensor2D | null; // [in, out]: sum over the kernel of the squared equalised weight
  upsample: boolean;
  blur: tf.Tensor4D | null;
  inChannels: number;
  outChannels: number;
  kernel: number;
}

interface StyledLayer {
  conv: ModConv;
  noiseWeight: tf.Scalar;
  bias: tf.Tensor1D;
  noise: tf.Tensor4D; // [1, H, W, 1]
}

interface RgbLayer {
  conv: ModConv;
  bias: tf.Tensor1D;
  upsampleKernel: tf.Tensor4D | null;
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
    this.conv1 = this.styled(weights, 'conv1', 0, false);
    this.rgb1 = this.rgb(weights, 'to_rgb1', false);
    const blocks = Object.keys(config.channels).length - 1;
    for (let i = 0; i < blocks; i++) {
      this.convs.push(this.styled(weights, `convs.${2 * i}`, 2 * i + 1, true));
      this.convs.push(this.styled(weights, `convs.${2 * i + 1}`, 2 * i + 2, false));
      this.rgbs.push(this.rgb(weights, `to_rgbs.${i}`, true));
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
    const scaled = tf.tidy(() => tf.mul(tf.reshape(weights.tensor(`${name}.weight`), [outChannels, inChannels, kernel, kernel]), scale));
    const filter = this.keep(tf.tidy(() =>
      tf.transpose(scaled, upsample ? [2, 3, 0, 1] : [2, 3, 1, 0]) as tf.Tensor4D));
    const demodSq = demodulate
      ? this.keep(tf.tidy(() => tf.transpose(tf.sum(tf.square(scaled), [2, 3])) as tf.Tensor2D))
      : null;
    scaled.dispose();
    const blur = upsample ? this.keep(blurKernel(outChannels, 4)) : null;
    return { modW, modB, filter, demodSq, upsample, blur, inChannels, outChannels, kernel };
  }

  private styled(weights: RawWeights, name: string, noiseIndex: number, upsample: boolean): StyledLayer {
    const conv = this.modConv(weights, `${name}.conv`, true, upsample);
    return {
      conv,
      noiseWeight: this.keep(tf.tidy(() => tf.reshape(weights.tensor(`${name}.noise.weight`), []) as tf.Scalar)),
      bias: this.keep(weights.tensor(`${name}.activate.bias`) as tf.Tensor1D),
      noise: this.keep(tf.tidy(() => {
        const n = weights.tensor(`noises.noise_${noiseIndex}`); // [1, 1, H, W]
        return tf.transpose(n, [0, 2, 3, 1]) as tf.Tensor4D;
      })),
    };
  }

  private rgb(weights: RawWeights, name: string, upsample: boolean): RgbLayer {
    return {
      conv: this.modConv(weights, `${name}.conv`, false, false),
      bias: this.keep(tf.tidy(() => tf.reshape(weights.tensor(`${name}.bias`), [3]) as tf.Tensor1D)),
      upsampleKernel: upsample ? this.keep(blurKernel(3, 4)) : null,
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
    return tf.tidy(() => {
      const batch = codes.shape[0];
      const styles = tf.unstack(codes, 1) as tf.Tensor2D[];
      let out: tf.Tensor4D = tf.tile(this.constInput, [batch, 1, 1, 1]);
      out = this.applyStyled(this.conv1, out, styles[0], noise, 0);
      let skip = this.applyRgb(this.rgb1, out, styles[1], null);
      let size = 4;
      for (let i = 0; size < resolution; i++) {
        out = this.applyStyled(this.convs[2 * i], out, styles[2 * i + 1], noise, 2 * i + 1);
        out = this.applyStyled(this.convs[2 * i + 1], out, styles[2 * i + 2], noise, 2 * i + 2);
        skip = this.applyRgb(this.rgbs[i], out, styles[2 * i + 3], skip);
        size *= 2;
      }
      return skip;
    });
  }

  private modulatedConv(conv: ModConv, x: tf.Tensor4D, style: tf.Tensor2D): tf.Tensor4D {
    const [batch, height, width] = x.shape;
    const s = tf.add(tf.matMul(style, conv.modW), conv.modB) as tf.Tensor2D; // [B, in]
    const xs = tf.mul(x, tf.reshape(s, [batch, 1, 1, conv.inChannels])) as tf.Tensor4D;
    let out: tf.Tensor4D;
    if (conv.upsample) {
      out = tf.conv2dTranspose(xs, conv.filter, [batch, 2 * height + 1, 2 * width + 1, conv.outChannels], 2, 'valid');
    } else {
      out = tf.conv2d(xs, conv.filter, 1, conv.kernel === 1 ? 'valid' : Math.floor(conv.kernel / 2));
    }
    if (conv.demodSq) {
      const demod = tf.rsqrt(tf.add(tf.matMul(tf.square(s), conv.demodSq), 1e-8)); // [B, out]
      out = tf.mul(out, tf.reshape(demod, [batch, 1, 1, conv.outChannels]));
    }
    if (conv.blur) out = tf.depthwiseConv2d(tf.pad(out, [[0, 0], [1, 1], [1, 1], [0, 0]]), conv.blur, 1, 'valid');
    return out;
  }

  private applyStyled(layer: StyledLayer, x: tf.Tensor4D, style: tf.Tensor2D, noise: NoiseMode, index: number): tf.Tensor4D {
    let out = this.modulatedConv(layer.conv, x, style);
    if (noise.kind === 'stored') {
      out = tf.add(out, tf.mul(layer.noise, layer.noiseWeight));
    } else if (noise.kind === 'seed') {
      const [b, h, w] = out.shape;
      out = tf.add(out, tf.mul(tf.randomNormal([b, h, w, 1], 0, 1, 'float32', noise.seed * 1000 + index), layer.noiseWeight));
    }
    return fusedLeakyRelu(out, layer.bias) as tf.Tensor4D;
  }

  private applyRgb(layer: RgbLayer, x: tf.Tensor4D, style: tf.Tensor2D, skip: tf.Tensor4D | null): tf.Tensor4D {
    let out = tf.add(this.modulatedConv(layer.conv, x, style), layer.bias) as tf.Tensor4D;
    if (skip && layer.upsampleKernel) out = tf.add(out, upsample2x(skip, layer.upsampleKernel));
    return out;
  }
}

function fusedLeakyRelu(x: tf.Tensor, bias: tf.Tensor1D): tf.Tensor {
  return tf.mul(tf.leakyRelu(tf.add(x, bias), 0.2), SQRT2);
}

/** upfirdn2d(up=2, pad=(2, 1)) with the 4x4 blur kernel: zero insertion, padding, then the FIR filter. */
function upsample2x(x: tf.Tensor4D, kernel: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const zeros = tf.zerosLike(x);
  const cols = tf.reshape(tf.stack([x, zeros], 3), [b, h, 2 * w, c]);
  const rows = tf.reshape(tf.stack([cols, tf.zerosLike(cols)], 2), [b, 2 * h, 2 * w, c]);
  return tf.depthwiseConv2d(tf.pad(rows as tf.Tensor4D, [[0, 0], [2, 1], [2, 1], [0, 0]]), kernel, 1, 'valid');
}
