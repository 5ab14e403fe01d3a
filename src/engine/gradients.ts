import * as tf from '@tensorflow/tfjs-core';

/**
 * What tfjs's gradients lack for pivotal tuning, registered once by the platform modules that load tfjs's own
 * (src/node/gradients.ts, src/browser/gradients.ts): DepthToSpace (the generator's polyphase upsampling) has no
 * gradient; it is the inverse rearrangement, SpaceToDepth, which tfjs lacks as an op too (reshape -> transpose ->
 * reshape does it). And convolution gradients that run on backends without the backprop kernels (wasm).
 */
export function registerMissingGradients(): void {
  registerForwardOnlyConvGradients();
  shareIdentityOnWasm();
  if (tf.getGradient('DepthToSpace')) return;
  tf.registerGradient({
    kernelName: 'DepthToSpace',
    gradFunc: (dy, _saved, attrs) => {
      const { blockSize, dataFormat } = attrs as unknown as { blockSize: number; dataFormat: string };
      if (dataFormat !== 'NHWC') throw new Error('the DepthToSpace gradient is written for NHWC');
      return { x: () => spaceToDepth(dy as tf.Tensor4D, blockSize) };
    },
  });
}

/**
 * tfjs-wasm's Identity copies its input; tfjs clones every tensor a gradient tape saves through it, so tuning held
 * each saved activation and filter twice and spent ~0.5 s a step copying (the official generator at 64 px: 914
 * copies a step). Shared instead, as its Reshape already shares (a reference count on the same data): no wasm
 * kernel writes into its input.
 */
function shareIdentityOnWasm(): void {
  const own = tf.getKernel('Identity', 'wasm');
  if (!own || (own as { shared?: boolean }).shared) return;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    ...own,
    shared: true,
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs.x as tf.TensorInfo;
      if (x.dtype === 'string') return (own.kernelFunc as tf.KernelFunc)({ inputs, backend, attrs: {} });
      (backend as unknown as { incRef(dataId: tf.DataId): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  } as tf.KernelConfig);
}

/** [B, H * s, W * s, C] -> [B, H, W, s * s * C], the inverse of tf.depthToSpace (NHWC). */
export function spaceToDepth(x: tf.Tensor4D, blockSize: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    const s = blockSize;
    const split = tf.reshape(x, [b, h / s, s, w / s, s, c]);
    return tf.reshape(tf.transpose(split, [0, 1, 3, 2, 4, 5]), [b, h / s, w / s, s * s * c]) as tf.Tensor4D;
  });
}

export type Pad = 'valid' | 'same' | number | number[];

/** Explicit [top, bottom, left, right] padding of a stride-1, dilation-1 convolution. */
function padsOf(pad: Pad, kh: number, kw: number): [number, number, number, number] {
  if (pad === 'valid') return [0, 0, 0, 0];
  if (pad === 'same') return [Math.floor((kh - 1) / 2), Math.ceil((kh - 1) / 2), Math.floor((kw - 1) / 2), Math.ceil((kw - 1) / 2)];
  if (typeof pad === 'number') return [pad, pad, pad, pad];
  // explicit, NHWC: [[0, 0], [top, bottom], [left, right], [0, 0]] (the generator's transposed upsampling phases)
  const explicit = pad as unknown as number[][];
  if (explicit.length === 4 && explicit.every((p) => Array.isArray(p) && p.length === 2)) return [explicit[1][0], explicit[1][1], explicit[2][0], explicit[2][1]];
  throw new Error(`padding ${JSON.stringify(pad)} is not handled`);
}

const simple = (attrs: Record<string, unknown>) => {
  const ones = (v: unknown) => v === undefined || v === 1 || (Array.isArray(v) && v.every((x) => x === 1));
  return ones(attrs.strides) && ones(attrs.dilations) && (attrs.dataFormat ?? 'NHWC') === 'NHWC' && attrs.dimRoundingMode == null;
};

/**
 * A filter [kh, kw, ...] turned by 180 degrees. Reversing both spatial axes reverses their flattened index; as a
 * product with the exchange matrix it runs ~10x faster on wasm than its Reverse or GatherV2 kernels.
 */
function flipSpatially(filter: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, a, b] = filter.shape;
    const n = kh * kw;
    const exchange = tf.tensor2d(Array.from({ length: n * n }, (_, i) => (i % n === n - 1 - Math.floor(i / n) ? 1 : 0)), [n, n]);
    return tf.reshape(tf.matMul(exchange, tf.reshape(filter, [n, a * b])), [kh, kw, a, b]) as tf.Tensor4D;
  });
}

/** Floats the filter gradient's single convolution may unfold (64 MiB). */
const IM2COL_LIMIT = 16 * 2 ** 20;

/**
 * The gradient of a stride-1 convolution's filter, from forward operations only. The input, batch and channels
 * swapped, convolved by the incoming gradient as the kernel, is fast, but its im2col buffer holds
 * kh * kw * H * W * B * in floats (1.2 GB at 256 px and 128 channels); above `im2colLimit` it is one product per
 * kernel tap instead (no large buffer).
 */
export function filterGradient(x: tf.Tensor4D, dy: tf.Tensor4D, shape: number[], pad: Pad, im2colLimit = IM2COL_LIMIT): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, inC, outC] = shape;
    const [top, bottom, left, right] = padsOf(pad, kh, kw);
    const padded = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]);
    const [b, h, w] = dy.shape;
    if (kh * kw * h * w * b * inC <= im2colLimit) {
      const swapped = tf.conv2d(tf.transpose(padded, [3, 1, 2, 0]) as tf.Tensor4D, tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D, 1, 'valid');
      return tf.transpose(swapped, [1, 2, 0, 3]) as tf.Tensor4D;
    }
    const incoming = tf.reshape(dy, [b * h * w, outC]) as tf.Tensor2D;
    const taps: tf.Tensor2D[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        // transposed first, not by matMul's transposeA: tfjs-wasm's product takes a slow path for a transposed
        // operand (4096 x 512 by 4096 x 512: 1.95 s, against 80 ms with the transpose done apart)
        taps.push(tf.tidy(() => tf.matMul(tf.transpose(tf.reshape(tf.slice(padded, [0, i, j, 0], [b, h, w, inC]), [b * h * w, inC])) as tf.Tensor2D, incoming)));
      }
    }
    return tf.reshape(tf.stack(taps), [kh, kw, inC, outC]) as tf.Tensor4D;
  });
}

/** The incoming gradient padded so a 'valid' convolution by the flipped filter gives the input's gradient. */
function padForInputGradient(dy: tf.Tensor4D, filter: tf.Tensor4D, pad: Pad): tf.Tensor4D {
  const [kh, kw] = filter.shape;
  const [top, bottom, left, right] = padsOf(pad, kh, kw);
  return tf.pad(dy, [[0, 0], [kh - 1 - top, kh - 1 - bottom], [kw - 1 - left, kw - 1 - right], [0, 0]]);
}

const hasKernel = (name: string) => Boolean(tf.getKernel(name, tf.getBackend()));

/** Input name -> its gradient, computed when the tape asks for it (tfjs's NamedGradientMap, not exported). */
type GradientMap = Record<string, () => tf.Tensor>;

/**
 * Replaces a kernel's registered gradient by one that asks `instead` first and falls back to tfjs's own (`own`,
 * passed in; its closures are lazy, so computing it costs nothing). Once per kernel.
 */
function insteadOf(kernelName: string, instead: (dy: tf.Tensor4D, saved: tf.Tensor4D[], attrs: Record<string, unknown>, own: GradientMap) => GradientMap | null): void {
  const original = tf.getGradient(kernelName);
  if (!original || (original as { forwardOnly?: boolean }).forwardOnly) return;
  tf.registerGradient({
    ...original,
    forwardOnly: true,
    gradFunc: (dy, saved, attrs) => {
      const own = original.gradFunc(dy, saved, attrs);
      return instead(dy as tf.Tensor4D, saved as tf.Tensor4D[], attrs as unknown as Record<string, unknown>, own) ?? own;
    },
  } as tf.GradConfig);
}

/**
 * The wasm backend lacks the kernels tfjs's Conv2D and DepthwiseConv2dNative gradients call
 * (Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropInput), and its Conv2DBackpropInput is slow. Where a backend
 * lacks them, the gradients of stride-1 convolutions (the only stride the generator and the SSIM window use) are
 * taken with forward operations: the filter gradient by filterGradient, the input gradients as convolutions of the
 * padded incoming gradient by the flipped filter. Elsewhere tfjs's own gradients run unchanged.
 */
export function registerForwardOnlyConvGradients(): void {
  insteadOf('Conv2D', (dy, [x, filter], attrs) => {
    if (hasKernel('Conv2DBackpropFilter') || !simple(attrs)) return null;
    const pad = attrs.pad as Pad;
    return {
      // wasm's Conv2DBackpropInput is a plain loop, 5x slower than its convolution
      x: () => tf.conv2d(padForInputGradient(dy, filter, pad), tf.transpose(flipSpatially(filter), [0, 1, 3, 2]) as tf.Tensor4D, 1, 'valid'),
      filter: () => filterGradient(x, dy, filter.shape, pad),
    };
  });
  insteadOf('DepthwiseConv2dNative', (dy, [, filter], attrs, own) => {
    if (hasKernel('DepthwiseConv2dNativeBackpropInput') || !simple(attrs) || filter.shape[3] !== 1) return null;
    return { ...own, x: () => tf.depthwiseConv2d(padForInputGradient(dy, filter, attrs.pad as Pad), flipSpatially(filter), 1, 'valid') };
  });
}

/** True when the kernels pivotal tuning differentiates through have gradients here. */
export function gradientsAvailable(): boolean {
  return ['Conv2D', 'DepthToSpace', 'BatchMatMul', 'LeakyRelu', 'Rsqrt', 'DepthwiseConv2dNative', 'Unpack', 'Tile']
    .every((k) => Boolean(tf.getGradient(k)));
}

/** The part of a tfjs tape node this module touches (tfjs-core's TapeNode, not exported). */
interface TapeNode {
  gradient?: (dys: tf.Tensor[]) => GradientMap;
  saved?: tf.Tensor[];
  inputs: Record<string, tf.Tensor>;
}

/**
 * optimizer.minimize(f, true, variables), holding far less at once. tfjs's backward pass keeps every gradient it
 * computes, and every tensor the forward pass saved for it, until the whole pass ends: tuning the official generator
 * at 64 px held 2.5 GB that way, most of it weight-sized gradients already used. It walks the tape one node at a
 * time, last first (tape.ts backpropagateGradients), summing a tensor's gradients as they come; so when a node's
 * gradient is asked for, the node walked before it is done, and these go: its incoming gradients (each the sum for
 * one of its outputs, whose producer it is), its saved tensors, and the gradients it passed to inputs that already
 * had one (tfjs has added them into a new sum). A tensor that is the first gradient of several inputs (passed on
 * as it is, as Identity's) goes only when all of them are done. tfjs has no option for this: it reaches into the
 * tape (the engine's private state.activeTape) from inside f, where the tape is still open.
 */
export function minimizeReleasing(optimizer: tf.Optimizer, f: () => tf.Scalar, variables: tf.Variable[]): tf.Scalar {
  const engine = tf.engine() as unknown as { state: { activeTape: TapeNode[] | null } };
  const hasGradient = new Set<number>(); // tensor ids that have received a gradient
  const sums = new Map<tf.Tensor, number>(); // a first gradient -> how many tensors hold it as their sum
  let done: { dys: tf.Tensor[]; saved: tf.Tensor[]; added: tf.Tensor[] } | null = null;
  const release = () => {
    if (!done) return;
    for (const t of done.added) if (!sums.has(t)) t.dispose();
    for (const dy of done.dys) {
      if (!dy) continue;
      const holders = (sums.get(dy) ?? 1) - 1;
      if (holders > 0) sums.set(dy, holders);
      else sums.delete(dy), dy.dispose();
    }
    for (const t of done.saved) t.dispose();
    done = null;
  };
  const { value, grads } = tf.variableGrads(() => {
    const y = f();
    for (const node of engine.state.activeTape ?? []) {
      const gradient = node.gradient;
      if (!gradient) continue;
      node.gradient = (dys) => {
        release();
        const own = gradient(dys);
        const added: tf.Tensor[] = [];
        done = { dys, saved: node.saved ?? [], added };
        return Object.fromEntries(Object.entries(own).map(([input, dx]) => [input, () => {
          const t = dx();
          const id = node.inputs[input].id;
          if (hasGradient.has(id)) added.push(t);
          else hasGradient.add(id), sums.set(t, (sums.get(t) ?? 0) + 1);
          return t;
        }]));
      };
    }
    return y;
  }, variables);
  release();
  optimizer.applyGradients(variables.filter((v) => grads[v.name]).map((v) => ({ name: v.name, tensor: grads[v.name] })));
  tf.dispose(grads);
  return value;
}
