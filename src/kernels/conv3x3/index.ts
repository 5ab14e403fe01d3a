import * as tf from '@tensorflow/tfjs-core';
import { CONV3X3_RELAXED_SIMD, CONV3X3_RELAXED_SIMD_SHARED, CONV3X3_SIMD, CONV3X3_SIMD_SHARED } from './wasm';

/**
 * The encoder's and the generator's 3×3 zero-padded convolutions in our own WebAssembly kernel
 * (src/kernels/conv3x3/assembly/conv3x3.ts), on every core: stride 1 by Winograd's F(2×2, 3×3) or F(4×4, 3×3) (4 or
 * 2.25 multiply-adds per output and input channel where tfjs-wasm's direct convolution does 9), stride 2 directly,
 * StyleGAN2's upsampling as a transposed convolution and its blur; with fused multiply-add where the browser has
 * relaxed SIMD. On one thread
 * (Node, relaxed SIMD, the encoder's layer shapes) Winograd's ran 2.6-2.9× faster than XNNPACK, the direct
 * stride-2 one 1.5-1.8×. Filters are kept in the kernel's memory in its own layouts (Winograd's G g Gᵀ made in
 * float64); activations are copied from tfjs-wasm's heap and back, one copy each way.
 */

interface KernelExports {
  runUnit(job: number, unit: number): void;
}

/** A per-channel vector kept in the kernel's memory. */
export interface KernelVector { offset: number; length: number }

/** Elementwise steps fused into a convolution (`Conv3x3Kernel.conv`), and the scratch's bound. */
export interface ConvSteps {
  /** Before: x * scale + shift per input channel (an eval-mode BatchNorm); the padding stays zero. */
  scale?: KernelVector;
  shift?: KernelVector;
  /**
   * After (stride 1): times outScale per output channel, + noise per pixel ([H, W], the same for every channel),
   * + bias, then PReLU with these slopes per output channel: StyleGAN2's demodulation, noise, bias and leaky ReLU
   * in the output transform, where tfjs read and wrote the whole activation once for each.
   */
  outScale?: KernelVector;
  noise?: KernelVector;
  bias?: KernelVector;
  alpha?: KernelVector;
  /** Bytes of each transformed band (default 8 MiB): the image is done in bands of tile rows no larger. */
  bandBytes?: number;
}

/**
 * A 3×3 filter at `offset` in the kernel's memory: stride 1 in Winograd's form ([16 or 36, Cout / 8, C, 8]), stride 2 as
 * taps ([Cout / 8, 9, C, 8]); both in panels of 8 output channels.
 */
export interface KernelFilter {
  offset: number; c: number; cout: number; stride: 1 | 2; tile?: WinogradTile;
  /** A stride-2 filter for the transposed convolution by Winograd's F(2, 2) (addTransposedFilter), not as taps. */
  transposed?: true;
}

/**
 * Winograd's output tile for a stride-1 filter: 2, F(2×2, 3×3) (16 products for 4 outputs); or 4, F(4×4, 3×3) (36 for
 * 16: the products, most of a deep layer's time, fall by 44%, and the transforms read and write less per output), whose
 * filter takes 2.25× the memory, for the layers that pay for it. Both are exact up to float32 rounding; F(4×4)'s
 * transform has larger coefficients (up to 8), and its results differ from the direct convolution's by a few more ulps.
 */
export type WinogradTile = 2 | 4;

/**
 * A helper thread running the kernel on the same memory (a Web Worker, or Node's worker_threads); `started` settles
 * when it has its instance and takes units (its first message), or when it failed to start.
 */
export interface HelperThread { started: Promise<void>; terminate(): void }
/** Starts a thread that runs `source` (a classic script) and posts it `message` (a module and a shared memory). */
export type SpawnHelper = (source: string, message: unknown) => HelperThread;

const PAGE = 65536;
/** Bytes of each transformed band (v or m): the image is done in bands of tile rows no larger. */
const BAND_BYTES = 8 * 2 ** 20;
/** A shared memory must declare its largest size up front: 1 GiB (the official encoder holds about 250 MiB). */
const SHARED_MAXIMUM_PAGES = 16384;
/** Threads past 8 gain little on these products (memory bandwidth), and each holds a worker. */
const MOST_THREADS = 8;
/** How long `ready` waits for helpers that do not start (a policy that forbids workers): the kernel runs without them. */
const START_TIMEOUT_MS = 3000;

/** Bytes of one transform position's plane of `tiles` × `channels` values: the kernel's planeBytes (a cache line more). */
const planeBytes = (tiles: number, channels: number) => tiles * channels * 4 + 64;

/**
 * The job block at address 0 of the kernel's memory, in i32 words. Scheduling (ours): the job's generation (helpers
 * sleep on it), the claim word (generation's low 16 bits, then the next unit), units done, units, and whether a
 * helper's unit failed. The step (the kernel's, src/kernels/conv3x3/assembly/conv3x3.ts): its number at word 8, then STEP_WORDS.
 */
const JOB_BYTES = 128;
const GENERATION = 0, CLAIM = 1, DONE = 2, UNITS = 3, FAILED = 4, STEP = 8;
/**
 * The step's words from word 9, in the kernel's order (X = 9 … NOISE = 28, TILE = 29); a word a step does not name is 0. PACK and
 * MATMUL read some under other names (src/kernels/conv3x3/assembly/conv3x3.ts: SRC = x, PACKED = v, A = x, CMAT = y, ROWS = h,
 * DEPTH = c, COLS = cout, TRANSPOSED = ty0, COL_GROUPS = ty1).
 */
const STEP_WORDS = ['x', 'v', 'm', 'y', 'u', 'h', 'w', 'c', 'cout', 'ty0', 'ty1', 'per', 'scale', 'shift', 'bias', 'alpha', 'sums', 'zeros', 'outScale', 'noise', 'tile'] as const;
type StepWords = Partial<Record<(typeof STEP_WORDS)[number], number>>;
const STOP = -1;
const INPUT_TRANSFORM = 0, PRODUCTS = 1, OUTPUT_TRANSFORM = 2, CONV_STRIDE_2 = 3, PACK = 4, MATMUL = 5, TRANSPOSED_PHASES = 6, SCALE_CHANNELS = 7, BLUR_PHASE_GRID = 8,
  TRANSPOSED_INPUT = 9, TRANSPOSED_PRODUCTS = 10, TRANSPOSED_OUTPUT = 11, WINOGRAD_FILTER = 12, TRANSPOSED_FILTER = 13;

/**
 * A helper's script: it instantiates the kernel on the shared memory, sleeps until a job's generation changes, and
 * claims units with compare-and-swap on the claim word, which carries the generation, so a helper that wakes late
 * can never claim a unit of a later job with the step it read for an earlier one. Plain JavaScript (no imports),
 * as it runs from a Blob URL in a browser and from a string in Node.
 */
const HELPER_SOURCE = `"use strict";
const start = ({ module, memory, spin }, post) => {
  const runUnit = new WebAssembly.Instance(module, { env: { memory } }).exports.runUnit;
  const job = new Int32Array(memory.buffer, 0, ${JOB_BYTES / 4});
  post('started');
  let seen = 0;
  for (;;) {
    let generation = Atomics.load(job, ${GENERATION});
    for (let i = 0; generation === seen && i < spin; i++) generation = Atomics.load(job, ${GENERATION});
    if (generation === seen) { Atomics.wait(job, ${GENERATION}, seen); continue; }
    if (generation === ${STOP}) return;
    seen = generation;
    let done = 0;
    for (;;) {
      const claim = Atomics.load(job, ${CLAIM});
      const unit = claim & 0xffff;
      if ((claim >>> 16) !== (generation & 0xffff) || unit >= Atomics.load(job, ${UNITS})) break;
      if (Atomics.compareExchange(job, ${CLAIM}, claim, claim + 1) !== claim) continue;
      try { runUnit(0, unit); } catch { Atomics.store(job, ${FAILED}, 1); }
      done++;
    }
    if (done) Atomics.add(job, ${DONE}, done);
  }
};
if (typeof require === 'function') {
  const { parentPort } = require('node:worker_threads');
  parentPort.once('message', (message) => start(message, (m) => parentPort.postMessage(m)));
} else {
  self.onmessage = (event) => start(event.data, (m) => self.postMessage(m));
}
`;

/**
 * Web Workers from a Blob URL, where the runtime has them (a page or a worker); null elsewhere (Node: see src/node).
 * The URL is made once and kept: a worker fetches its script after the constructor returns, so revoking it at once
 * left the worker without one.
 */
let helperUrl: string | null = null;
function browserHelper(): SpawnHelper | null {
  if (typeof Worker !== 'function' || typeof Blob !== 'function' || typeof URL?.createObjectURL !== 'function') return null;
  return (source, message) => {
    helperUrl ??= URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    const worker = new Worker(helperUrl);
    const started = new Promise<void>((resolve) => {
      worker.onmessage = () => resolve();
      worker.onerror = () => resolve();
    });
    worker.postMessage(message);
    return { started, terminate: () => worker.terminate() };
  };
}

let runtimeThreads: { spawn: SpawnHelper | null; threads?: number } | null = null;
/**
 * How this runtime starts the kernel's helper threads and how many it has cores for (src/node sets worker_threads'
 * and the machine's cores); browsers need nothing. Null: back to the browser's defaults.
 */
export function setKernelThreads(threads: { spawn: SpawnHelper | null; threads?: number } | null): void {
  runtimeThreads = threads;
}

/** Whether this runtime can share memory between threads (a page must be cross-origin isolated). */
function canShareMemory(): boolean {
  return typeof SharedArrayBuffer === 'function' && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== false;
}

/**
 * tfjs-wasm's own heap, where the backend is wasm: activations are copied straight from it and into a tensor it
 * allocates (makeOutput and typedArrayFromHeap are the methods its kernels use), one copy each way where dataSync
 * and tf.tensor took two (120 ms of an official encode's 850 in Chromium). The view is taken again after every
 * allocation, as the heap may have grown.
 */
interface WasmHeap {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}
function wasmHeap(): WasmHeap | null {
  const backend = tf.backend() as unknown as Partial<WasmHeap>;
  return tf.getBackend() === 'wasm' && typeof backend.makeOutput === 'function' && typeof backend.typedArrayFromHeap === 'function' ? backend as WasmHeap : null;
}

/**
 * t's values: a view of tfjs-wasm's heap where they are there (take it again after any tfjs allocation), else a copy
 * (another backend, or a tensor made on one that has not moved yet: it moves only when a tfjs kernel reads it).
 */
function valuesOf(t: tf.Tensor): Float32Array {
  const wasm = wasmHeap();
  try {
    const view = wasm?.typedArrayFromHeap(t);
    if (view instanceof Float32Array && view.length === t.size) return view;
  } catch {
    // not on this heap
  }
  return t.dataSync() as Float32Array;
}

/** A tensor being made: its values to write (on tfjs-wasm's heap where the backend is wasm), then the tensor. */
function outputTensor(shape: number[]): { values(): Float32Array; tensor(): tf.Tensor } {
  const wasm = wasmHeap();
  const info = wasm?.makeOutput(shape, 'float32');
  if (!wasm || !info) {
    const values = new Float32Array(shape.reduce((p, d) => p * d, 1));
    return { values: () => values, tensor: () => tf.tensor(values, shape) };
  }
  return { values: () => wasm.typedArrayFromHeap(info) as Float32Array, tensor: () => tf.engine().makeTensorFromTensorInfo(info) };
}

function helpersStarted(helpers: HelperThread[]): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, START_TIMEOUT_MS); });
  return Promise.race([Promise.all(helpers.map((h) => h.started)).then(() => undefined), timeout]).finally(() => clearTimeout(timer));
}

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/**
 * Winograd's bands: the tile rows a band holds, as many as keep its transforms (`positions` planes of its tiles ×
 * `channels`) under `bandBytes`, in steps that keep a band's tiles in 4s (the products take tiles in 4s); and the
 * tiles a band holds at most, in 4s (what its planes are reserved for).
 */
function winogradBands(rows: number, perRow: number, positions: number, channels: number, bandBytes = BAND_BYTES): { bandRows: number; bandTiles: number } {
  const rowStep = perRow % 4 === 0 ? 1 : perRow % 2 === 0 ? 2 : 4;
  const bandRows = Math.max(rowStep, Math.floor(bandBytes / (positions * perRow * channels * 4) / rowStep) * rowStep);
  return { bandRows, bandTiles: Math.ceil((Math.min(bandRows, rows) * perRow) / 4) * 4 };
}

export interface KernelOptions {
  /** Which build: relaxed SIMD's fused multiply-add or plain SIMD (default: the first this runtime validates). */
  fusedMultiplyAdd?: boolean;
  /** Threads to run on, this one included (default: the cores the runtime reports, at most 8). */
  threads?: number;
  /** How to start a helper thread (default: Web Workers in a browser, worker_threads where src/node set it). */
  spawn?: SpawnHelper | null;
  /** Loads a helper checks the job's generation before it sleeps (waking one costs tens of microseconds). */
  spin?: number;
}

export class Conv3x3Kernel {
  private readonly kernel: KernelExports;
  private readonly memory: WebAssembly.Memory;
  private readonly helpers: HelperThread[] = [];
  /** The end of the filters kept so far; scratch space for a convolution starts here. */
  private filtersEnd = JOB_BYTES;
  private generation = 0;
  /**
   * Settles when the helper threads have started. A browser starts a worker only when its creator's thread returns
   * to its event loop: until then (and for any helper that never starts) this thread runs every unit itself, so an
   * encode that runs straight after loading, in the same task, had one thread. Await this before the first one.
   */
  ready: Promise<void> = Promise.resolve();
  /** Units the helper threads ran, of all units run (a check that they take their share). */
  readonly units = { helpers: 0, all: 0 };

  private constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, readonly fusedMultiplyAdd: boolean, readonly threads: number) {
    this.memory = memory;
    this.kernel = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
  }

  /**
   * The kernel this runtime can run (relaxed SIMD first, then SIMD), on as many threads as `options.threads` where
   * memory can be shared and helper threads started (one otherwise), or null where it has no WebAssembly SIMD.
   */
  static create(options: KernelOptions = {}): Conv3x3Kernel | null {
    const cores = runtimeThreads?.threads ?? (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
    const spawn = options.spawn !== undefined ? options.spawn : runtimeThreads ? runtimeThreads.spawn : browserHelper();
    let threads = Math.max(1, Math.min(MOST_THREADS, options.threads ?? cores));
    if (!spawn || !canShareMemory()) threads = 1;
    const builds = [
      { fma: true, shared: CONV3X3_RELAXED_SIMD_SHARED, single: CONV3X3_RELAXED_SIMD },
      { fma: false, shared: CONV3X3_SIMD_SHARED, single: CONV3X3_SIMD },
    ];
    for (const build of builds) {
      if (options.fusedMultiplyAdd !== undefined && options.fusedMultiplyAdd !== build.fma) continue;
      if (typeof WebAssembly !== 'object' || !WebAssembly.validate(decode(build.single))) continue;
      if (threads > 1) {
        try {
          const memory = new WebAssembly.Memory({ initial: 1, maximum: SHARED_MAXIMUM_PAGES, shared: true });
          const module = new WebAssembly.Module(decode(build.shared));
          const kernel = new Conv3x3Kernel(module, memory, build.fma, threads);
          for (let i = 1; i < threads; i++) kernel.helpers.push(spawn!(HELPER_SOURCE, { module, memory, spin: options.spin ?? 2000 }));
          kernel.ready = helpersStarted(kernel.helpers);
          return kernel;
        } catch {
          // a runtime that refuses a shared memory or a worker: one thread
        }
      }
      return new Conv3x3Kernel(new WebAssembly.Module(decode(build.single)), new WebAssembly.Memory({ initial: 1 }), build.fma, 1);
    }
    return null;
  }

  /**
   * Whether a convolution of x [B, H, W, C] with this filter fits the kernel: even sides, output channels in 8s;
   * stride 1 (Winograd): sides in Winograd's tiles, input channels in 8s and tiles in 4s; stride 2 (direct): output
   * width in 4s.
   */
  static fits(x: readonly number[], f: { c: number; cout: number; stride?: 1 | 2; tile?: WinogradTile }): boolean {
    const [, h, w, c] = x;
    if (f.stride === 2) return h % 2 === 0 && w % 2 === 0 && (w / 2) % 4 === 0 && c === f.c && f.cout % 8 === 0;
    const s = f.tile ?? 2;
    return h % s === 0 && w % s === 0 && ((h / s) * (w / s)) % 4 === 0 && c === f.c && c % 8 === 0 && f.cout % 8 === 0;
  }

  /** Whether transposedPhases and upsample take x [B, H, W, C] with this stride-2 filter (F(2, 2)'s takes even sides). */
  static fitsUpsample(x: readonly number[], f: KernelFilter): boolean {
    const [b, h, w, c] = x;
    return b === 1 && f.stride === 2 && c === f.c && f.cout % 8 === 0 && (!f.transposed || (h % 2 === 0 && w % 2 === 0));
  }

  /** Keeps filter [3, 3, C, Cout] (HWIO, tfjs's layout) in Winograd's form for output tiles of `tile`. */
  addFilter(filter: Float32Array, c: number, cout: number, tile: WinogradTile = 2): KernelFilter {
    if (filter.length !== 9 * c * cout) throw new RangeError(`a 3×3 filter of ${c} → ${cout} channels has ${9 * c * cout} values, not ${filter.length}`);
    const n = tile + 2; // positions per side
    const offset = this.filtersEnd;
    const source = offset + n * n * c * cout * 4;
    this.reserve(source + 9 * c * cout * 4);
    // G g Gᵀ in the kernel, on every thread (winogradFilter), from the filter copied in after where its form goes
    new Float32Array(this.memory.buffer, source, 9 * c * cout).set(filter);
    const per = this.share(c);
    this.run(WINOGRAD_FILTER, { x: source, u: offset, c, cout, tile, per }, Math.ceil(c / per));
    this.filtersEnd = offset + n * n * c * cout * 4;
    return { offset, c, cout, stride: 1, tile };
  }

  /** Keeps filter [3, 3, C, Cout] (HWIO) for the direct stride-2 convolution: panels [Cout / 8, 9, C, 8]. */
  addStride2Filter(filter: Float32Array, c: number, cout: number): KernelFilter {
    if (filter.length !== 9 * c * cout) throw new RangeError(`a 3×3 filter of ${c} → ${cout} channels has ${9 * c * cout} values, not ${filter.length}`);
    const offset = this.filtersEnd;
    this.reserve(offset + 9 * c * cout * 4);
    const panels = new Float32Array(this.memory.buffer, offset, 9 * c * cout);
    for (let t = 0; t < 9; t++) {
      for (let ci = 0; ci < c; ci++) {
        for (let co = 0; co < cout; co++) panels[(((co >> 3) * 9 + t) * c + ci) * 8 + (co & 7)] = filter[(t * c + ci) * cout + co];
      }
    }
    this.filtersEnd = offset + 9 * c * cout * 4;
    return { offset, c, cout, stride: 2 };
  }

  /**
   * Keeps filter [3, 3, C, Cout] (HWIO) for the transposed convolution with stride 2 (StyleGAN2's upsampling) by
   * Winograd's F(2, 2): its 16 distinct positions [16, Cout / 8, C, 8] (see transposedInput in the kernel's source),
   * 25 products for 36 multiply-adds of the direct form, as batched products. Only transposedPhases and upsample take it.
   */
  addTransposedFilter(filter: Float32Array, c: number, cout: number): KernelFilter {
    if (filter.length !== 9 * c * cout) throw new RangeError(`a 3×3 filter of ${c} → ${cout} channels has ${9 * c * cout} values, not ${filter.length}`);
    const offset = this.filtersEnd;
    const source = offset + 16 * c * cout * 4;
    this.reserve(source + 9 * c * cout * 4);
    // its positions in the kernel, on every thread (transposedFilterForm), from the filter copied in after where they go
    new Float32Array(this.memory.buffer, source, 9 * c * cout).set(filter);
    const per = this.share(c);
    this.run(TRANSPOSED_FILTER, { x: source, u: offset, c, cout, per }, Math.ceil(c / per));
    this.filtersEnd = offset + 16 * c * cout * 4;
    return { offset, c, cout, stride: 2, transposed: true };
  }

  /** Keeps a per-channel vector (a BatchNorm's scale or shift, a bias, PReLU's slopes) for `conv`'s fused steps. */
  addVector(values: Float32Array): KernelVector {
    const offset = this.filtersEnd;
    this.reserve(offset + values.length * 4);
    new Float32Array(this.memory.buffer, offset, values.length).set(values);
    this.filtersEnd = offset + Math.ceil(values.length / 4) * 16;
    return { offset, length: values.length };
  }

  /** Writes new values into a vector kept by addVector (a style's input scale, different for every picture). */
  setVector(vector: KernelVector, values: Float32Array): void {
    if (values.length !== vector.length) throw new RangeError(`the vector holds ${vector.length} values, not ${values.length}`);
    new Float32Array(this.memory.buffer, vector.offset, vector.length).set(values);
  }

  /**
   * conv2d(x * scale + shift, filter, strides 1, pad 'same') + bias, then PReLU(alpha) — each step only where given —
   * for x [B, H, W, C] that `fits`; with a stride-2 filter (addStride2Filter), strides 2, pad 1, + bias. The
   * elementwise steps run inside the kernel's transforms, where tfjs would have read and written the whole
   * activation once for each.
   */
  conv(x: tf.Tensor4D, f: KernelFilter, steps: ConvSteps = {}): tf.Tensor4D {
    return this.convolve(x, f, steps, null);
  }

  /** `conv`, and the mean of its output over height and width ([B, Cout]: a squeeze-and-excitation block's input). */
  convAndMean(x: tf.Tensor4D, f: KernelFilter, steps: ConvSteps = {}): { y: tf.Tensor4D; mean: tf.Tensor2D } {
    const sums = new Float64Array(x.shape[0] * f.cout);
    const y = this.convolve(x, f, steps, sums);
    const [, h, w] = y.shape;
    return { y, mean: tf.tensor2d(Float32Array.from(sums, (v) => v / (h * w)), [x.shape[0], f.cout]) };
  }

  private convolve(x: tf.Tensor4D, f: KernelFilter, steps: ConvSteps, sums: Float64Array | null): tf.Tensor4D {
    const [b, h, w, c] = x.shape;
    if (!Conv3x3Kernel.fits(x.shape, f)) throw new RangeError(`the kernel does not take [${x.shape}] with ${f.c} → ${f.cout} channels, stride ${f.stride}`);
    for (const [name, v, n] of [['scale', steps.scale, c], ['shift', steps.shift, c], ['bias', steps.bias, f.cout], ['alpha', steps.alpha, f.cout], ['outScale', steps.outScale, f.cout], ['noise', steps.noise, h * w]] as const) {
      if (v && v.length !== n) throw new RangeError(`${name} has ${v.length} values for ${n} ${name === 'noise' ? 'pixels' : 'channels'}`);
      if (v && f.stride === 2 && name !== 'bias') throw new RangeError(`the stride-2 convolution fuses a bias only, not ${name}`);
    }
    const [ho, wo] = [h / f.stride, w / f.stride];
    const tile = f.tile ?? 2, positions = (tile + 2) ** 2;
    const tw = w / tile, th = h / tile;
    // the stride-2 form is direct: no bands, no transforms
    const { bandRows, bandTiles } = f.stride === 1 ? winogradBands(th, tw, positions, Math.max(c, f.cout), steps.bandBytes) : { bandRows: 0, bandTiles: 0 };
    const at = { x: this.filtersEnd, v: 0, m: 0, y: 0, zeros: 0, sums: 0 };
    at.v = at.x + h * w * c * 4;
    at.m = at.v + (f.stride === 1 ? positions * planeBytes(bandTiles, c) : 0);
    at.y = at.m + (f.stride === 1 ? positions * planeBytes(bandTiles, f.cout) : 0);
    at.zeros = at.y + ho * wo * f.cout * 4;
    at.sums = at.zeros + Math.ceil(c / 4) * 16;
    this.reserve(at.sums + Math.max(bandTiles, ho) * f.cout * 4);
    if (f.stride === 2) new Float32Array(this.memory.buffer, at.zeros, c).fill(0);
    const output = outputTensor([b, ho, wo, f.cout]);
    const fused = {
      x: at.x, y: at.y, u: f.offset, h, w, c, cout: f.cout,
      scale: steps.scale?.offset, shift: steps.shift?.offset, bias: steps.bias?.offset, alpha: steps.alpha?.offset, sums: sums ? at.sums : 0, zeros: at.zeros,
      outScale: steps.outScale?.offset, noise: steps.noise?.offset, tile,
    };
    /** Runs a step whose units each sum into their own row of at.sums (when sums are asked for), and adds them up. */
    const runSumming = (step: number, words: StepWords, units: number, image: number) => {
      const partial = new Float32Array(this.memory.buffer, at.sums, units * f.cout);
      if (sums) partial.fill(0);
      this.run(step, words, units);
      if (sums) for (let u = 0; u < units; u++) for (let o = 0; o < f.cout; o++) sums[image * f.cout + o] += partial[u * f.cout + o];
    };
    for (let i = 0; i < b; i++) {
      new Float32Array(this.memory.buffer, at.x, h * w * c).set(valuesOf(x).subarray(i * h * w * c, (i + 1) * h * w * c));
      if (f.stride === 2) {
        const rowsPer = this.share(ho);
        runSumming(CONV_STRIDE_2, { ...fused, per: rowsPer }, Math.ceil(ho / rowsPer), i);
      } else {
        this.inBands(th, tw, bandRows, positions, [INPUT_TRANSFORM, PRODUCTS, OUTPUT_TRANSFORM], (ty0, ty1, per) => ({ ...fused, v: at.v, m: at.m, ty0, ty1, per }),
          (step, words, units) => runSumming(step, words, units, i));
      }
      output.values().set(new Float32Array(this.memory.buffer, at.y, ho * wo * f.cout), i * ho * wo * f.cout);
    }
    return output.tensor() as tf.Tensor4D;
  }

  /**
   * conv2d(x, filter, 1, 'same') for a filter given as values, put in Winograd's form for this call only: a layer
   * being tuned, whose filter changes at every step (src/models/ops/conv2d.ts tunedConv3x3 differentiates it).
   */
  convWith(x: tf.Tensor4D, filter: Float32Array, c: number, cout: number): tf.Tensor4D {
    const kept = this.filtersEnd;
    try {
      return this.convolve(x, this.addFilter(filter, c, cout), {}, null);
    } finally {
      this.filtersEnd = kept;
    }
  }

  /** Whether filterGradient takes x [1, H, W, C] and an output gradient of Cout channels (the products' sides). */
  static fitsFilterGradient(x: readonly number[], cout: number): boolean {
    return x[0] === 1 && Conv3x3Kernel.fitsMatMul(cout, x[3]);
  }

  /**
   * The gradient of conv2d(x, filter, 1, 'same')'s filter [3, 3, C, Cout] (HWIO) from its output's gradient dy
   * [1, H, W, Cout]: for each tap, dyᵀ [Cout, HW] by x's window at that tap [HW, C] (zeros outside), on every
   * thread. tfjs-wasm has no backprop kernel for it and runs the same products on one thread.
   */
  filterGradient(x: tf.Tensor4D, dy: tf.Tensor4D): Float32Array {
    const [b, h, w, c] = x.shape;
    const cout = dy.shape[3];
    if (!Conv3x3Kernel.fitsFilterGradient(x.shape, cout) || dy.shape[0] !== b || dy.shape[1] !== h || dy.shape[2] !== w) {
      throw new RangeError(`the kernel does not take the filter gradient of [${x.shape}] with [${dy.shape}]`);
    }
    const n = h * w;
    const at = { a: this.filtersEnd, b: 0, packed: 0, c: 0 };
    at.b = at.a + cout * n * 4;
    at.packed = at.b + n * c * 4;
    at.c = at.packed + n * c * 4;
    this.reserve(at.c + cout * c * 4);
    const memory = this.memory.buffer;
    const incoming = valuesOf(dy);
    const a = new Float32Array(memory, at.a, cout * n);
    for (let p = 0; p < n; p++) for (let o = 0; o < cout; o++) a[o * n + p] = incoming[p * cout + o];
    const input = valuesOf(x);
    const window = new Float32Array(memory, at.b, n * c);
    const product = new Float32Array(memory, at.c, cout * c);
    const gradient = new Float32Array(9 * c * cout);
    for (let ty = 0; ty < 3; ty++) {
      for (let tx = 0; tx < 3; tx++) {
        // the window's row i, column j is x[i + ty - 1, j + tx - 1] ('same' pads one pixel of zeros)
        window.fill(0);
        const j0 = Math.max(0, 1 - tx), j1 = Math.min(w, w + 1 - tx);
        for (let i = 0; i < h; i++) {
          const row = i + ty - 1;
          if (row < 0 || row >= h) continue;
          window.set(input.subarray((row * w + j0 + tx - 1) * c, (row * w + j1 + tx - 1) * c), (i * w + j0) * c);
        }
        this.product(at, cout, n, c, false);
        const tap = (ty * 3 + tx) * c * cout;
        for (let o = 0; o < cout; o++) for (let i = 0; i < c; i++) gradient[tap + i * cout + o] = product[o * c + i];
      }
    }
    return gradient;
  }

  /**
   * The transposed 3×3 convolution with stride 2 of x [1, H, W, C] by a filter kept as taps (addStride2Filter), in
   * StyleGAN2's phase grid before its blur: [1, 2H + 2, 2W + 2, Cout] (see transposedPhases in
   * src/kernels/conv3x3/assembly/conv3x3.ts; ops/conv2d.ts upsampleTransposed blurs it).
   */
  transposedPhases(x: tf.Tensor4D, f: KernelFilter): tf.Tensor4D {
    const [, h, w] = x.shape;
    const at = this.phaseGrid(x, f, null);
    const output = outputTensor([1, 2 * h + 2, 2 * w + 2, f.cout]);
    output.values().set(new Float32Array(this.memory.buffer, at, (2 * h + 2) * (2 * w + 2) * f.cout));
    return output.tensor() as tf.Tensor4D;
  }

  /**
   * StyleGAN2's whole upsampling layer for x [1, H, W, C] by a stride-2 filter (addStride2Filter): the input times
   * `steps.scale` per channel (the style), the transposed convolution's phase grid (transposedPhases), its blur
   * [1, 3, 3, 1] (upfirdn2d's, with the upsampling's gain), then the epilogue as `conv`'s: times outScale, + noise
   * ([2H, 2W]), + bias, PReLU. [1, 2H, 2W, Cout], in one pass of the kernel after the products where tfjs read and
   * wrote the picture once for the scale, each blur and each step (official generate 1024 on Node wasm: ~0.2 s).
   */
  upsample(x: tf.Tensor4D, f: KernelFilter, steps: ConvSteps = {}): tf.Tensor4D {
    const [, h, w] = x.shape;
    const [h2, w2] = [2 * h, 2 * w];
    for (const [name, v, n] of [['scale', steps.scale, f.c], ['bias', steps.bias, f.cout], ['alpha', steps.alpha, f.cout], ['outScale', steps.outScale, f.cout], ['noise', steps.noise, h2 * w2]] as const) {
      if (v && v.length !== n) throw new RangeError(`${name} has ${v.length} values for ${n} ${name === 'noise' ? 'pixels' : 'channels'}`);
    }
    const grid = this.phaseGrid(x, f, steps.scale ?? null, steps.bandBytes);
    const at = { z: grid + (h2 + 2) * (w2 + 2) * f.cout * 4, rows: 0 };
    at.rows = at.z + h2 * w2 * f.cout * 4;
    const rowsPer = this.share(h2);
    const units = Math.ceil(h2 / rowsPer);
    this.reserve(at.rows + units * (w2 + 2) * f.cout * 4);
    this.run(BLUR_PHASE_GRID, {
      x: grid, y: at.z, m: at.rows, h: h2, w: w2, c: f.cout, per: rowsPer,
      outScale: steps.outScale?.offset, noise: steps.noise?.offset, bias: steps.bias?.offset, alpha: steps.alpha?.offset,
    }, units);
    const output = outputTensor([1, h2, w2, f.cout]);
    output.values().set(new Float32Array(this.memory.buffer, at.z, h2 * w2 * f.cout));
    return output.tensor() as tf.Tensor4D;
  }

  /** The phase grid of x by f (times `scale` per input channel where given) in the kernel's memory; its address. */
  private phaseGrid(x: tf.Tensor4D, f: KernelFilter, scale: KernelVector | null, bandBytes = BAND_BYTES): number {
    const [, h, w, c] = x.shape;
    if (!Conv3x3Kernel.fitsUpsample(x.shape, f)) throw new RangeError(`the kernel does not take [${x.shape}] with ${f.c} → ${f.cout} channels as a transposed convolution`);
    const [th, tw] = [2 * h + 2, 2 * w + 2];
    const at = { x: this.filtersEnd, y: 0, zeros: 0 };
    at.y = at.x + h * w * c * 4;
    at.zeros = at.y + th * tw * f.cout * 4;
    this.reserve(at.zeros + Math.ceil(c / 4) * 16);
    new Float32Array(this.memory.buffer, at.zeros, c).fill(0);
    new Float32Array(this.memory.buffer, at.x, h * w * c).set(valuesOf(x));
    if (scale) {
      const pixelsPer = this.share(h * w);
      this.run(SCALE_CHANNELS, { x: at.x, h, w, c, scale: scale.offset, per: pixelsPer }, Math.ceil((h * w) / pixelsPer));
    }
    if (!f.transposed) {
      const rowsPer = this.share(h + 1);
      this.run(TRANSPOSED_PHASES, { x: at.x, u: f.offset, y: at.y, h, w, c, cout: f.cout, zeros: at.zeros, per: rowsPer }, Math.ceil((h + 1) / rowsPer));
      return at.y;
    }
    // Winograd's F(2, 2): super-tiles of 2×2 (m, n), 25 products each
    const [sh, sw] = [h / 2 + 1, w / 2 + 1];
    const { bandRows, bandTiles } = winogradBands(sh, sw, 25, Math.max(c, f.cout), bandBytes);
    const v = at.zeros + Math.ceil(c / 4) * 16;
    const m = v + 25 * planeBytes(bandTiles, c);
    this.reserve(m + 25 * planeBytes(bandTiles, f.cout));
    this.inBands(sh, sw, bandRows, 25, [TRANSPOSED_INPUT, TRANSPOSED_PRODUCTS, TRANSPOSED_OUTPUT], (ty0, ty1, per) => ({ x: at.x, v, m, y: at.y, u: f.offset, h, w, c, cout: f.cout, ty0, ty1, per }));
    return at.y;
  }

  /** Items a unit takes of a step's `n`: enough units for every thread to take several (claimed as threads come free). */
  private share(n: number): number {
    return Math.max(1, Math.ceil(n / (4 * this.threads)));
  }

  /**
   * A Winograd convolution's three steps, band by band of `rows` tile rows (`perRow` tiles each): the input's
   * transform (units of tile rows), the `positions` batched products (units of tile rows in 4s, the tiles split among
   * threads where they outnumber the positions' units), the output's transform (units of tiles). `job` gives a
   * step's words for a band and a unit's share; `runOutput` runs the last step (convolve sums its output there).
   * Shared by the stride-1 convolution (F(2×2) and F(4×4)) and the transposed one (F(2, 2)).
   */
  private inBands(
    rows: number, perRow: number, bandRows: number, positions: number, [input, products, output]: [number, number, number],
    job: (ty0: number, ty1: number, per: number) => StepWords,
    runOutput = (step: number, words: StepWords, units: number) => this.run(step, words, units),
  ): void {
    for (let ty0 = 0; ty0 < rows; ty0 += bandRows) {
      const ty1 = Math.min(rows, ty0 + bandRows);
      const tiles = (ty1 - ty0) * perRow;
      const rowsPer = this.share(ty1 - ty0);
      this.run(input, job(ty0, ty1, rowsPer), Math.ceil((ty1 - ty0) / rowsPer));
      const productRows = Math.ceil(tiles / Math.ceil(this.threads / 4) / 4) * 4;
      this.run(products, job(ty0, ty1, productRows), positions * Math.ceil(tiles / productRows));
      const tilesPer = this.share(tiles);
      runOutput(output, job(ty0, ty1, tilesPer), Math.ceil(tiles / tilesPer));
    }
  }

  /** Whether `matMul` takes a product with these sides: rows in 4s, columns in 8s. */
  static fitsMatMul(rows: number, columns: number): boolean {
    return rows % 4 === 0 && columns % 8 === 0;
  }

  /**
   * a [M, K] × b [K, N] (or × bᵀ for b [N, K]) on every thread: b is packed into panels of 8 columns, then the same
   * products as the convolutions'. For the encoder's attention over long memories (72 × 4096 by 4096 × 512), where
   * tfjs-wasm packs an activation operand on one thread and took 3-5× longer.
   */
  matMul(a: tf.Tensor2D, b: tf.Tensor2D, transposeB = false): tf.Tensor2D {
    const [m, k] = a.shape;
    const [kb, n] = transposeB ? [b.shape[1], b.shape[0]] : b.shape;
    if (k !== kb || !Conv3x3Kernel.fitsMatMul(m, n)) throw new RangeError(`the kernel does not take [${a.shape}] × [${b.shape}]${transposeB ? 'ᵀ' : ''}`);
    const at = { a: this.filtersEnd, b: 0, packed: 0, c: 0 };
    at.b = at.a + m * k * 4;
    at.packed = at.b + k * n * 4;
    at.c = at.packed + k * n * 4;
    this.reserve(at.c + m * n * 4);
    new Float32Array(this.memory.buffer, at.a, a.size).set(valuesOf(a));
    new Float32Array(this.memory.buffer, at.b, b.size).set(valuesOf(b));
    this.product(at, m, k, n, transposeB);
    const output = outputTensor([m, n]);
    output.values().set(new Float32Array(this.memory.buffer, at.c, m * n));
    return output.tensor() as tf.Tensor2D;
  }

  /**
   * The transposed 3×3 convolution with stride 2 (transposedPhases) for a filter given as values, for this call
   * only: an upsampling layer being tuned (src/models/ops/conv2d.ts tunedUpsample3x3).
   */
  transposedPhasesWith(x: tf.Tensor4D, filter: Float32Array, c: number, cout: number): tf.Tensor4D {
    const kept = this.filtersEnd;
    try {
      return this.transposedPhases(x, this.addStride2Filter(filter, c, cout));
    } finally {
      this.filtersEnd = kept;
    }
  }

  /** Whether transposedGradients takes x [1, H, W, C] to Cout channels (the products' sides). */
  static fitsTransposed(x: readonly number[], cout: number): boolean {
    return x[0] === 1 && x[3] % 8 === 0 && cout % 8 === 0 && (x[1] * x[2]) % 4 === 0;
  }

  /**
   * The gradients of transposedPhases(x, filter) from the phase grid's gradient dT [1, 2H + 2, 2W + 2, Cout]:
   * T[2i + a, 2j + b] sums x[i, j] · filter[a, b], so with G [HW, 9 Cout] (row (i, j), column (tap, o): dT at
   * (2i + a, 2j + b)), the input's is G × F, F [9 Cout, C] the filter's taps as rows, and the filter's is xᵀ × G:
   * two products on every thread.
   */
  transposedGradients(x: tf.Tensor4D, dT: tf.Tensor4D, filter: Float32Array): { input: Float32Array; filter: Float32Array } {
    const [, h, w, c] = x.shape;
    const cout = dT.shape[3];
    const [th, tw] = [2 * h + 2, 2 * w + 2];
    if (!Conv3x3Kernel.fitsTransposed(x.shape, cout) || dT.shape[1] !== th || dT.shape[2] !== tw || filter.length !== 9 * c * cout) {
      throw new RangeError(`the kernel does not take the gradients of [${x.shape}] upsampled to [${dT.shape}]`);
    }
    const n = h * w, k = 9 * cout;
    const at = { g: this.filtersEnd, f: 0, xt: 0, packed: 0, input: 0, filter: 0 };
    at.f = at.g + n * k * 4;
    at.xt = at.f + c * k * 4;
    at.packed = at.xt + c * n * 4;
    at.input = at.packed + Math.max(n, c) * k * 4;
    at.filter = at.input + n * c * 4;
    this.reserve(at.filter + c * k * 4);
    const memory = this.memory.buffer;
    const grid = valuesOf(dT);
    const g = new Float32Array(memory, at.g, n * k);
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) for (let t = 0; t < 9; t++) {
      const from = ((2 * i + Math.floor(t / 3)) * tw + 2 * j + (t % 3)) * cout;
      g.set(grid.subarray(from, from + cout), (i * w + j) * k + t * cout);
    }
    // F as bᵀ: row ci holds the taps' rows filter[t, ci, :]
    const f = new Float32Array(memory, at.f, c * k);
    for (let ci = 0; ci < c; ci++) for (let t = 0; t < 9; t++) f.set(filter.subarray((t * c + ci) * cout, (t * c + ci + 1) * cout), ci * k + t * cout);
    const input = valuesOf(x);
    const xt = new Float32Array(memory, at.xt, c * n);
    for (let p = 0; p < n; p++) for (let ci = 0; ci < c; ci++) xt[ci * n + p] = input[p * c + ci];
    this.product({ a: at.g, b: at.f, packed: at.packed, c: at.input }, n, k, c, true);
    this.product({ a: at.xt, b: at.g, packed: at.packed, c: at.filter }, c, n, k, false);
    const byTap = new Float32Array(memory, at.filter, c * k);
    const filterGradient = new Float32Array(9 * c * cout);
    for (let ci = 0; ci < c; ci++) for (let t = 0; t < 9; t++) filterGradient.set(byTap.subarray(ci * k + t * cout, ci * k + (t + 1) * cout), (t * c + ci) * cout);
    return { input: new Float32Array(memory, at.input, n * c).slice(), filter: filterGradient };
  }

  /**
   * c [M, N] = a [M, K] × b [K, N] (or × bᵀ, b [N, K]), all in the kernel's memory at `at`: b packed into panels of
   * 8 columns, then the products, on every thread.
   */
  private product(at: { a: number; b: number; packed: number; c: number }, m: number, k: number, n: number, transposeB: boolean): void {
    const panels = n / 8;
    const packPer = this.share(panels);
    // PACK: SRC = x, PACKED = v, DEPTH = c, COLS = cout, TRANSPOSED = ty0 (src/kernels/conv3x3/assembly/conv3x3.ts)
    this.run(PACK, { x: at.b, v: at.packed, c: k, cout: n, ty0: transposeB ? 1 : 0, per: packPer }, Math.ceil(panels / packPer));
    const rowBlocks = Math.ceil(m / 64);
    const perGroup = Math.ceil(panels / Math.min(panels, Math.max(1, Math.ceil(4 * this.threads / rowBlocks))));
    const groups = Math.ceil(panels / perGroup);
    // MATMUL: A = x, PACKED = v, CMAT = y, ROWS = h, DEPTH = c, COLS = cout, COL_GROUPS = ty1
    this.run(MATMUL, { x: at.a, v: at.packed, y: at.c, h: m, c: k, cout: n, ty1: groups, per: perGroup }, rowBlocks * groups);
  }

  /**
   * Runs `units` units of a step on every thread: this one claims units as the helpers do, then waits (spinning:
   * a page's main thread may not block) for the units they are still running.
   */
  private run(step: number, words: StepWords, units: number): void {
    const job = new Int32Array(this.memory.buffer, 0, JOB_BYTES / 4);
    job.set([step, ...STEP_WORDS.map((name) => words[name] ?? 0)], STEP);
    if (this.helpers.length === 0) {
      for (let unit = 0; unit < units; unit++) this.kernel.runUnit(0, unit);
      return;
    }
    this.generation = this.generation >= 0x3fffffff ? 1 : this.generation + 1;
    job[UNITS] = units;
    Atomics.store(job, DONE, 0);
    Atomics.store(job, CLAIM, (this.generation & 0xffff) << 16);
    Atomics.store(job, GENERATION, this.generation);
    Atomics.notify(job, GENERATION);
    let done = 0;
    let failure: unknown = null;
    for (;;) {
      const claim = Atomics.load(job, CLAIM);
      const unit = claim & 0xffff;
      if (unit >= units) break;
      if (Atomics.compareExchange(job, CLAIM, claim, claim + 1) !== claim) continue;
      try {
        this.kernel.runUnit(0, unit);
      } catch (error) {
        failure ??= error; // the others' units still finish before the next job rewrites the step
      }
      done++;
    }
    Atomics.add(job, DONE, done);
    this.units.helpers += units - done;
    this.units.all += units;
    while (Atomics.load(job, DONE) < units) { /* a helper is finishing its last unit */ }
    if (failure) throw failure;
    if (Atomics.exchange(job, FAILED, 0)) throw new Error('a helper thread of the convolution kernel failed');
  }

  /** Bytes of memory the kernel holds (filters and the largest convolution's scratch). */
  get bytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** Stops the helper threads. */
  dispose(): void {
    if (this.helpers.length === 0) return;
    const job = new Int32Array(this.memory.buffer, 0, JOB_BYTES / 4);
    Atomics.store(job, GENERATION, STOP);
    Atomics.notify(job, GENERATION);
    for (const helper of this.helpers.splice(0)) helper.terminate();
  }

  private reserve(end: number): void {
    const pages = Math.ceil(end / PAGE) - this.memory.buffer.byteLength / PAGE;
    if (pages > 0) this.memory.grow(pages);
  }
}
