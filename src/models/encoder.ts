import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../io/errors';
import { tfMatMul, TransformerDecoderLayer, type MatMul } from './transformer';
import { countIndexed, RawWeights, TensorOwner } from './weights';
import { Conv3x3Kernel, type KernelFilter, type KernelVector } from '../kernels/conv3x3';

/**
 * The Style Transformer encoder: an IR-SE backbone (stages of bottleneck_IR_SE units, each stage starting with a
 * stride-2 unit), an FPN over the last units of stages 2, 3 and 4, and three transformer decoder layers that
 * refine the queries against c3, p2 and p1 in turn. NHWC inside; inputs are NHWC in [-1, 1].
 */

interface Affine { scale: tf.Tensor1D; shift: tf.Tensor1D }

/** A convolution with the BatchNorm that follows it folded in (filter times the BN's scale, the BN's shift as bias). */
interface FoldedConv { filter: tf.Tensor4D; bias: tf.Tensor1D }

interface Unit {
  stride: number;
  shortcut: FoldedConv | null;
  /** The BN before conv1 stays apart: conv1 pads with zeros after it, which a folded shift would not see. */
  bn1: Affine;
  conv1: tf.Tensor4D;
  prelu: tf.Tensor1D;
  conv2: FoldedConv;
  seFc1: tf.Tensor2D;
  seFc2: tf.Tensor2D;
  /** On wasm, the unit in the kernel's form: BN1, conv1 and PReLU as one call; conv2 + bias (Winograd, or stride 2). */
  kernel: KernelUnit | null;
}

interface KernelUnit {
  conv1: KernelFilter;
  bn1: { scale: KernelVector; shift: KernelVector };
  prelu: KernelVector;
  conv2: { filter: KernelFilter; bias: KernelVector };
}

export interface EncoderConfig {
  stageUnits: number[];
  stageDepths: number[];
  inputChannels: number;
  stemChannels: number;
  dModel: number;
  nQueries: number;
  ffn: number;
}

export interface EncoderFeatures extends tf.NamedTensorMap {
  c1: tf.Tensor4D; c2: tf.Tensor4D; c3: tf.Tensor4D; p2: tf.Tensor4D; p1: tf.Tensor4D;
}

export interface EncoderTrace extends EncoderFeatures {
  queryCoarse: tf.Tensor3D; queryMedium: tf.Tensor3D; codes: tf.Tensor3D;
}

export function inferEncoderConfig(weights: RawWeights): EncoderConfig {
  const units = countIndexed(weights, 'body.', 'res_layer.1.weight');
  if (units === 0) throw new CheckpointError('missing-tensor', 'not a Style Transformer encoder: no body units');
  const stageUnits: number[] = [];
  const stageDepths: number[] = [];
  for (let i = 0; i < units; i++) {
    const depth = weights.shape(`body.${i}.res_layer.1.weight`)[0];
    if (i === 0 || weights.has(`body.${i}.shortcut_layer.0.weight`)) {
      stageUnits.push(0);
      stageDepths.push(depth);
    }
    stageUnits[stageUnits.length - 1]++;
  }
  if (stageUnits.length !== 4) {
    throw new CheckpointError('shape-mismatch', `the encoder backbone shows ${stageUnits.length} stages where the Style Transformer has 4 ` +
      '(stages are found where the width changes, so consecutive stages must differ in width)');
  }
  const stem = weights.shape('input_layer.0.weight');
  const z = weights.shape('z');
  return {
    stageUnits, stageDepths, inputChannels: stem[1], stemChannels: stem[0],
    dModel: z[2], nQueries: z[1], ffn: weights.shape('transformerlayer_coarse.linear1.weight')[0],
  };
}

export class StyleTransformerEncoder extends TensorOwner {
  readonly config: EncoderConfig;
  /** The learned query seeds z [1, N, D]; the queries are the generator's mapping of them. */
  readonly z: tf.Tensor3D;
  private readonly stem: { conv: FoldedConv; prelu: tf.Tensor1D };
  private readonly units: Unit[] = [];
  private readonly taps: number[];
  private readonly lat1: { filter: tf.Tensor4D; bias: tf.Tensor1D };
  private readonly lat2: { filter: tf.Tensor4D; bias: tf.Tensor1D };
  private readonly layers: TransformerDecoderLayer[];
  /**
   * On wasm the units' 3×3 convolutions (32.4 of the official backbone's 32.6 G multiply-adds) with the BatchNorm,
   * PReLU, bias and SE mean around them, and cross-attention's products with a long memory, run in our kernel
   * (src/kernels/conv3x3/index.ts: Winograd's for stride 1, direct for stride 2) where their shapes fit it; elsewhere, and
   * on the GPU backends, tfjs's. The kernel's outputs carry no gradient: the encoder only ever runs forward
   * (refinement tunes the generator).
   */
  private readonly convKernel: Conv3x3Kernel | null;

  constructor(weights: RawWeights, config = inferEncoderConfig(weights), heads = 4) {
    super();
    this.config = config;
    this.convKernel = tf.getBackend() === 'wasm' ? Conv3x3Kernel.create() : null;
    this.z = this.keep(weights.tensor('z') as tf.Tensor3D);
    this.stem = {
      conv: this.folded(weights, 'input_layer.0.weight', 'input_layer.1'),
      prelu: this.keep(weights.tensor('input_layer.2.weight') as tf.Tensor1D),
    };
    let index = 0;
    this.taps = [];
    for (const count of config.stageUnits) {
      for (let u = 0; u < count; u++, index++) this.units.push(this.unit(weights.scope(`body.${index}.`), u === 0 ? 2 : 1));
      this.taps.push(index - 1);
    }
    this.lat1 = { filter: this.keep(convFilter(weights, 'latlayer1.weight')), bias: this.keep(weights.tensor('latlayer1.bias') as tf.Tensor1D) };
    this.lat2 = { filter: this.keep(convFilter(weights, 'latlayer2.weight')), bias: this.keep(weights.tensor('latlayer2.bias') as tf.Tensor1D) };
    const matMul: MatMul = (a, b, transposeB) => {
      const kernel = tf.getBackend() === 'wasm' ? this.convKernel : null;
      return kernel && Conv3x3Kernel.fitsMatMul(a.shape[0], transposeB ? b.shape[0] : b.shape[1]) ? kernel.matMul(a, b, transposeB) : tfMatMul(a, b, transposeB);
    };
    this.layers = ['coarse', 'medium', 'fine'].map((n) => new TransformerDecoderLayer(weights.scope(`transformerlayer_${n}.`), heads, matMul));
  }

  /**
   * A convolution and the eval-mode BatchNorm after it as one convolution with a bias, folded once at load: an
   * encode then runs one fused kernel where it ran a convolution, a multiply and an add over the whole activation.
   * With the values, for the kernel.
   */
  private folded(weights: RawWeights, conv: string, bn: string): FoldedConv & { values: Float32Array; shift: Float32Array } {
    const { scale, shift } = batchNormAffine(weights, bn);
    const { values, shape } = weights.filter(conv, scale);
    return { filter: this.keep(tf.tensor4d(values, shape)), bias: this.keep(tf.tensor1d(shift)), values, shift };
  }

  private unit(weights: RawWeights, stride: number): Unit {
    const dense = (name: string) => this.keep(tf.tidy(() => {
      const t = weights.tensor(name);
      return tf.transpose(tf.reshape(t, [t.shape[0]!, t.shape[1]!])) as tf.Tensor2D;
    }));
    const conv1 = weights.filter('res_layer.1.weight');
    const conv2 = this.folded(weights, 'res_layer.3.weight', 'res_layer.4');
    const bn1 = batchNormAffine(weights, 'res_layer.0');
    const prelu = weights.raw('res_layer.2.weight').data;
    return {
      stride,
      shortcut: weights.has('shortcut_layer.0.weight') ? this.folded(weights, 'shortcut_layer.0.weight', 'shortcut_layer.1') : null,
      bn1: { scale: this.keep(tf.tensor1d(bn1.scale)), shift: this.keep(tf.tensor1d(bn1.shift)) },
      conv1: this.keep(tf.tensor4d(conv1.values, conv1.shape)),
      prelu: this.keep(tf.tensor1d(prelu)),
      conv2,
      seFc1: dense('res_layer.5.fc1.weight'),
      seFc2: dense('res_layer.5.fc2.weight'),
      kernel: this.convKernel && kernelUnit(this.convKernel, { conv1: conv1.values, bn1, prelu, conv2: { filter: conv2.values, bias: conv2.shift }, stride }),
    };
  }

  /** Backbone and FPN features for images NHWC in [-1, 1]. */
  features(images: tf.Tensor4D): EncoderFeatures {
    return tf.tidy(() => {
      let x = tf.fused.conv2d({
        x: images, filter: this.stem.conv.filter, strides: 1, pad: 1, bias: this.stem.conv.bias, activation: 'prelu', preluActivationWeights: this.stem.prelu,
      });
      const tapped: tf.Tensor4D[] = [];
      const kernel = tf.getBackend() === 'wasm' ? this.convKernel : null;
      this.units.forEach((unit, i) => {
        x = applyUnit(unit, x, kernel);
        if (this.taps.includes(i)) tapped.push(x);
      });
      const [, c1, c2, c3] = tapped;
      const p2 = tf.add(upsampleAlignCorners(c3, c2), tf.fused.conv2d({ x: c2, filter: this.lat1.filter, strides: 1, pad: 'valid', bias: this.lat1.bias })) as tf.Tensor4D;
      const p1 = tf.add(upsampleAlignCorners(p2, c1), tf.fused.conv2d({ x: c1, filter: this.lat2.filter, strides: 1, pad: 'valid', bias: this.lat2.bias })) as tf.Tensor4D;
      return { c1, c2, c3, p2, p1 };
    });
  }

  /** Runs the three transformer layers; queries [B, N, D]. Returns the codes before latent_avg is added. */
  trace(images: tf.Tensor4D, queries: tf.Tensor3D): EncoderTrace {
    return tf.tidy(() => {
      const f = this.features(images);
      const tokens = (x: tf.Tensor4D) => tf.reshape(x, [x.shape[0], x.shape[1] * x.shape[2], x.shape[3]]) as tf.Tensor3D;
      const queryCoarse = this.layers[0].apply(queries, tokens(f.c3));
      const queryMedium = this.layers[1].apply(queryCoarse, tokens(f.p2));
      const codes = this.layers[2].apply(queryMedium, tokens(f.p1));
      return { ...f, queryCoarse, queryMedium, codes };
    });
  }

  encode(images: tf.Tensor4D, queries: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => this.trace(images, queries).codes);
  }

  /** The convolution kernel's threads and the units its helpers ran (for benchmarks), or null where tfjs convolves. */
  get kernelThreads(): { threads: number; helperUnits: number; units: number } | null {
    return this.convKernel && { threads: this.convKernel.threads, helperUnits: this.convKernel.units.helpers, units: this.convKernel.units.all };
  }

  /** Settles when the convolution kernel's helper threads have started (src/kernels/conv3x3/index.ts: `ready`). */
  ready(): Promise<void> {
    return this.convKernel?.ready ?? Promise.resolve();
  }

  override dispose(): void {
    super.dispose();
    for (const layer of this.layers) layer.dispose();
    this.convKernel?.dispose();
  }
}

function convFilter(weights: RawWeights, name: string): tf.Tensor4D {
  const { values, shape } = weights.filter(name);
  return tf.tensor4d(values, shape);
}

/** Eval-mode BatchNorm2d as y = x * scale + shift per channel (PyTorch's eps 1e-5). */
function batchNormAffine(weights: RawWeights, name: string): { scale: Float32Array; shift: Float32Array } {
  const w = weights.raw(`${name}.weight`).data;
  const b = weights.raw(`${name}.bias`).data;
  const mean = weights.raw(`${name}.running_mean`).data;
  const variance = weights.raw(`${name}.running_var`).data;
  const scale = new Float32Array(w.length);
  const shift = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) {
    scale[i] = w[i] / Math.sqrt(variance[i] + 1e-5);
    shift[i] = b[i] - mean[i] * scale[i];
  }
  return { scale, shift };
}

function affine(x: tf.Tensor4D, a: Affine): tf.Tensor4D {
  return tf.add(tf.mul(x, a.scale), a.shift) as tf.Tensor4D;
}

/**
 * A unit's filters and per-channel vectors in the kernel's memory (read once, at load). Stride 1 by F(4×4, 3×3) up to
 * 256 channels, where it ran 21-38% faster than F(2×2) (Node, 2 threads, interleaved: 32 px × 256 9.1 -> 5.6 ms,
 * 128 px × 64 8.1 -> 5.9 ms) for 2.25× the filter's memory (the official encoder's kernel: 246 -> 388 MiB); its 512-channel stage
 * stays F(2×2), where the same gain would cost another 110 MB.
 */
function kernelUnit(kernel: Conv3x3Kernel, u: { conv1: Float32Array; bn1: { scale: Float32Array; shift: Float32Array }; prelu: Float32Array; conv2: { filter: Float32Array; bias: Float32Array }; stride: number }): KernelUnit {
  const c = u.bn1.scale.length;
  const filter = (values: Float32Array, cin: number, stride = 1) => {
    const cout = values.length / (9 * cin);
    return stride === 2 ? kernel.addStride2Filter(values, cin, cout) : kernel.addFilter(values, cin, cout, cin * cout <= 256 * 256 ? 4 : 2);
  };
  const conv1 = filter(u.conv1, c);
  return {
    conv1,
    bn1: { scale: kernel.addVector(u.bn1.scale), shift: kernel.addVector(u.bn1.shift) },
    prelu: kernel.addVector(u.prelu),
    conv2: { filter: filter(u.conv2.filter, conv1.cout, u.stride), bias: kernel.addVector(u.conv2.bias) },
  };
}

function applyUnit(u: Unit, x: tf.Tensor4D, kernel: Conv3x3Kernel | null): tf.Tensor4D {
  const b = x.shape[0];
  const shortcut = u.shortcut
    ? tf.fused.conv2d({ x, filter: u.shortcut.filter, strides: u.stride, pad: 'valid', bias: u.shortcut.bias })
    // The official MaxPool2d(1, stride): as fast as a copy on wasm, where the same subsampling by stridedSlice
    // took 6% of a 256 px encode (260 ms against 9 ms for 256 x 256 x 64).
    : u.stride === 1 ? x : tf.maxPool(x, 1, u.stride, 'valid');
  const w = kernel ? u.kernel : null;
  // On wasm: BN1, conv1 and PReLU in one kernel call; conv2 (stride 1 or 2) with its bias, and the SE block's mean,
  // in another.
  let r = kernel && w && Conv3x3Kernel.fits(x.shape, w.conv1)
    ? kernel.conv(x, w.conv1, { scale: w.bn1.scale, shift: w.bn1.shift, alpha: w.prelu })
    : tf.fused.conv2d({ x: affine(x, u.bn1), filter: u.conv1, strides: 1, pad: 1, activation: 'prelu', preluActivationWeights: u.prelu });
  let pooled: tf.Tensor2D;
  if (kernel && w && Conv3x3Kernel.fits(r.shape, w.conv2.filter)) {
    ({ y: r, mean: pooled } = kernel.convAndMean(r, w.conv2.filter, { bias: w.conv2.bias }));
  } else {
    r = tf.fused.conv2d({ x: r, filter: u.conv2.filter, strides: u.stride, pad: 1, bias: u.conv2.bias });
    pooled = tf.mean(r, [1, 2]) as tf.Tensor2D;
  }
  const gate = tf.sigmoid(tf.matMul(tf.relu(tf.matMul(pooled, u.seFc1)), u.seFc2));
  r = tf.mul(r, tf.reshape(gate, [b, 1, 1, r.shape[3]])) as tf.Tensor4D;
  return tf.add(r, shortcut) as tf.Tensor4D;
}

/** F.interpolate(x, size=like's, mode='bilinear', align_corners=True). */
function upsampleAlignCorners(x: tf.Tensor4D, like: tf.Tensor4D): tf.Tensor4D {
  return tf.image.resizeBilinear(x, [like.shape[1], like.shape[2]], true);
}
