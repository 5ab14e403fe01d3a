import type { EncoderConfig } from '../models/encoder';
import type { StyleRange } from '../models/editing';
import type { GeneratorConfig } from '../models/stylegan2';
import { halfToFloat } from '../io/torch';
import { CheckpointError } from '../io/errors';
import type { RawTensor } from '../models/weights';

/**
 * A model bundle: `model.json` (architecture, domain, sizes, edits, licence) holding a standard tfjs weights
 * manifest, plus its binary shards. Tensors keep their official PyTorch names and layouts, so a bundle and a
 * checkpoint feed the same network code.
 */
export const BUNDLE_FORMAT = 'style-transformer-studio/bundle@1';
export const SHARD_BYTES = 4 * 1024 * 1024;

export type Domain = 'face' | 'car';

export interface WeightEntry {
  name: string;
  shape: number[];
  dtype: 'float32';
  quantization?: { dtype: 'float16' };
}

export interface WeightsGroup {
  paths: string[];
  weights: WeightEntry[];
}

/**
 * What a slider was measured to do at `at` (its end), on `images` photos it never trained on, read by `judge`
 * (src/engine/slider-effects.ts): the share of photos the judge moves the way the label says, its mean change,
 * and the mean pixel change (of 255) inside the face-and-hair region or the car's crop.
 */
export interface SliderMeasurement {
  judge: string;
  at: number;
  on: string;
  images: number;
  judged: number;
  movesLabelledWay: number;
  meanJudgeChange: number;
  regionChange: number;
  /** Mean |ΔL*| in the face region (bundles calibrated before the Lab measure have none). */
  lightnessChange?: number;
  /** Of the change in the face region, the share that is colour: chroma / (chroma + lightness), Lab. */
  chromaShare?: number;
  /** For attributes that should keep the person: how often face-api still reads the photo's person. */
  samePerson?: number;
  /** Share of the generated change's energy that the blend region lets into the photo. */
  reach?: number;
  /** Median over the photos of the edited codes' re-encoding error over the photo's own. */
  reencodingRatio?: number;
}

/**
 * Calibration, written by `npm run evaluate -- --calibrate`: `scale` turns slider units into the direction's own
 * (its sign makes + the labelled way), `measured` is the effect at the slider's end, `offered: false` keeps a
 * slider whose judge does not move clearly out of the default list (still under "more").
 */
interface Calibration {
  scale?: number;
  measured?: SliderMeasurement;
  offered?: boolean;
}

export type DirectionSpec = Calibration & (
  | { id: string; label: string; kind: 'interfacegan'; tensor: string; range: StyleRange; min: number; max: number }
  | { id: string; label: string; kind: 'ganspace'; pcs: string; component: number; range: StyleRange; min: number; max: number; preset: number }
  | { id: string; label: string; kind: 'label'; attribute: number; range: StyleRange; min: number; max: number });

export interface ClassifierSpec {
  prefix: string;
  fmaps: number[];
  nClasses: number;
  activation: 'leakyrelu' | 'relu';
  attributes: string[];
}

export interface EditBlockSpec {
  id: string;
  attribute: string;
  prefix: string;
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  name: string;
  domain: Domain;
  /** The encoder's input, [height, width]. */
  inputSize: [number, number];
  outputSize: number;
  /** Rows of the generated square that hold the picture (cars: the middle band); null = all. */
  outputCrop: { top: number; height: number } | null;
  nQueries: number;
  nLatent: number;
  heads: number;
  generator: GeneratorConfig;
  encoder: EncoderConfig | null;
  classifier: ClassifierSpec | null;
  editBlocks: EditBlockSpec[];
  directions: DirectionSpec[];
  parameters: Record<string, number>;
  license: string;
  /** Where the directions come from when not from the checkpoint's own source (the published ones: their credit and licence). */
  directionsCredit?: string;
  source: string;
  weightsManifest: WeightsGroup[];
}

export function weightByteLength(entry: WeightEntry): number {
  const n = entry.shape.reduce((a, b) => a * b, 1);
  return n * (entry.quantization?.dtype === 'float16' ? 2 : 4);
}

export function manifestByteLength(manifest: BundleManifest): number {
  return manifest.weightsManifest.reduce((sum, g) => sum + g.weights.reduce((s, w) => s + weightByteLength(w), 0), 0);
}

/** float32 -> IEEE half, round to nearest even (what numpy and torch do). */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++; // a carry into the exponent rounds correctly
  return sign | half;
}

/** Packs tensors into shards of at most SHARD_BYTES; a tensor may straddle shards, as in tfjs. */
export function encodeWeights(tensors: Map<string, RawTensor>, fp16: boolean, progress: (done: number) => void = () => {}): { group: WeightsGroup; shards: Uint8Array[] } {
  const weights: WeightEntry[] = [];
  let total = 0;
  for (const [name, t] of tensors) {
    const entry: WeightEntry = { name, shape: t.shape, dtype: 'float32', ...(fp16 ? { quantization: { dtype: 'float16' as const } } : {}) };
    weights.push(entry);
    total += weightByteLength(entry);
  }
  const shards: Uint8Array[] = [];
  for (let offset = 0; offset < total; offset += SHARD_BYTES) shards.push(new Uint8Array(Math.min(SHARD_BYTES, total - offset)));
  let position = 0;
  const put = (bytes: Uint8Array) => {
    let done = 0;
    while (done < bytes.length) {
      const shard = shards[Math.floor(position / SHARD_BYTES)];
      const at = position % SHARD_BYTES;
      const n = Math.min(bytes.length - done, shard.length - at);
      shard.set(bytes.subarray(done, done + n), at);
      done += n;
      position += n;
    }
  };
  const elements = [...tensors.values()].reduce((n, t) => n + t.data.length, 0) || 1;
  let written = 0;
  for (const t of tensors.values()) {
    written += t.data.length;
    progress(written / elements);
    if (fp16) {
      const half = new Uint16Array(t.data.length);
      for (let i = 0; i < half.length; i++) half[i] = floatToHalf(t.data[i]);
      put(new Uint8Array(half.buffer));
    } else {
      put(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
  }
  const paths = shards.map((_, i) => `group1-shard${i + 1}of${shards.length}.bin`);
  return { group: { paths, weights }, shards };
}

let halves: Float32Array | null = null;

/** Every float16 value as float32, indexed by its bits: decoding 70M halves becomes a table look-up each. */
function halfTable(): Float32Array {
  if (!halves) {
    halves = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halves[h] = halfToFloat(h);
  }
  return halves;
}

/**
 * Reads tensors out of a group's shards without concatenating them (that would double the memory of a
 * 300 MB model). tf.io.decodeWeights would do the same job but makes backend tensors, while the networks
 * want plain arrays to derive their own layouts from.
 */
export function decodeWeights(group: WeightsGroup, shards: Uint8Array[]): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  let shard = 0;
  let at = 0;
  /**
   * The next `length` bytes, copied; or, `decoded` (the caller makes its own values of them: float16), a view where they
   * lie in one shard aligned for 2-byte values (141 MB less to copy for the official model). A float32 tensor is never
   * a view: it would keep its whole shard alive for as long as the network keeps it.
   */
  const take = (length: number, decoded: boolean): Uint8Array => {
    if (decoded && shard < shards.length && at + length <= shards[shard].length && (shards[shard].byteOffset + at) % 2 === 0) {
      const view = shards[shard].subarray(at, at + length);
      at += length;
      if (at === shards[shard].length) { shard++; at = 0; }
      return view;
    }
    const bytes = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      if (shard >= shards.length) throw new CheckpointError('truncated', 'the bundle\'s weight files are shorter than its manifest says');
      const n = Math.min(length - done, shards[shard].length - at);
      bytes.set(shards[shard].subarray(at, at + n), done);
      done += n;
      at += n;
      if (at === shards[shard].length) { shard++; at = 0; }
    }
    return bytes;
  };
  for (const entry of group.weights) {
    const n = entry.shape.reduce((a, b) => a * b, 1);
    const half = entry.quantization?.dtype === 'float16';
    const bytes = take(weightByteLength(entry), half);
    let data: Float32Array;
    if (half) {
      const bits = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
      const table = halfTable();
      data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = table[bits[i]];
    } else {
      data = new Float32Array(bytes.buffer, bytes.byteOffset, n);
    }
    out.set(entry.name, { shape: entry.shape, data });
  }
  return out;
}
