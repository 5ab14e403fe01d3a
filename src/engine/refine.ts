import * as tf from '@tensorflow/tfjs-core';
import type { LayerParameters, TunedLayers } from '../models/stylegan2';
import type { RgbImage } from '../photo/types';
import { gradientsAvailable, minimizeReleasing } from './gradients';
import { toRgb } from './image';
import type { BundleManifest } from '../weights/bundle';
import type { StudioModel } from './model';
import { multiScaleSsim, ssim } from './quality';

/**
 * Pivotal tuning (Roich et al., "Pivotal Tuning for Latent-based Editing of Real Images", 2021), per photo:
 * the encoder's codes (optionally optimised a little first) are the pivot; the generator's synthesis layers up to
 * the tuning resolution are then tuned so that the pivot renders the photo, while codes moved away from the pivot
 * (along the model's own edit directions, and at random) must keep rendering as the untouched generator renders
 * them (PTI's locality regulariser), so edits keep working. Gradients are tfjs's own (tf.variableGrads through
 * the generator), with DepthToSpace's registered by src/engine/gradients.ts, the tuned 3×3 layers' from the
 * WebAssembly kernel on wasm (ops/conv2d.ts tunedConv3x3, tunedUpsample3x3), and each freed once used
 * (minimizeReleasing).
 */
/** What refinement needs of a model: its generator, how it renders and edits, its output geometry and sliders. */
export type RefineModel = Pick<StudioModel, 'generator' | 'render' | 'applyEdits'> & {
  manifest: Pick<BundleManifest, 'outputSize' | 'outputCrop' | 'directions'>;
};

export interface RefineOptions {
  /** Generator tuning steps. */
  steps?: number;
  /** Adam steps on the W+ codes before the generator is tuned (0: the encoder's codes are the pivot). */
  codeSteps?: number;
  /** Resolution the picture is compared at; layers above it are not tuned. Default: the output size, at most 256. */
  resolution?: number;
  learningRate?: number;
  /**
   * Where the generator's rate ends, cosine from learningRate over the steps (default: it stays). A rate that
   * starts high and cools reaches in fewer steps what a constant one does.
   */
  learningRateEnd?: number;
  codeLearningRate?: number;
  /** The lowest resolution whose layers are tuned (PTI tunes them all, from 4). */
  fromResolution?: number;
  /**
   * Weight of the locality regulariser: the drift's MSE against the reconstruction loss (default 1; PTI weighs
   * 0.1 against L2 + LPIPS). 0.1 reconstructs a little closer (obama.jpg, 100 steps: MSE 0.0125 against 0.0186),
   * 1 keeps the sliders' effect closer to the untuned generator's.
   */
  locality?: number;
  /**
   * Adam's rate for the photo's detail maps: one single-channel map per styled layer from fromResolution on, added
   * where StyleGAN2 adds its noise (the StyleGAN2 projector tunes the noise maps themselves; this model's noise
   * strengths are ~1e-4, so a map of its own is added instead). They hold what the smooth generator cannot make:
   * per-pixel detail that every edit of the photo keeps. 0: none.
   */
  detailLearningRate?: number;
  /** The lowest resolution with a detail map (coarser maps hold the face's shape, which edits must move). */
  detailFrom?: number;
  /** Keep only what is finer than a 5-tap binomial blur in the detail maps (shapes stay the generator's). */
  detailHighPass?: boolean;
  /** The regulariser runs every this many steps (it costs a second pass through the generator). */
  localityEvery?: number;
  /** Every this many generator steps, progress carries the pivot's current rendering (a live preview). */
  previewEvery?: number;
  /** Called after each step; a returned promise is awaited (a worker can post progress and read a cancel). */
  onProgress?: (progress: RefineProgress) => void | Promise<void>;
  /** Stops at the next step; refine then throws RefineCancelled and keeps nothing. */
  signal?: { readonly aborted: boolean };
  /** Seed of the locality samples (reproducible runs). */
  seed?: number;
}

export interface RefineProgress {
  phase: 'codes' | 'generator';
  step: number;
  steps: number;
  /** MSE + (1 - multi-scale SSIM) of the pivot's rendering against the photo (plus the regulariser's term). */
  loss: number;
  /** The pivot as the tuned layers render it now, every previewEvery steps. */
  preview?: RgbImage;
}

export class RefineCancelled extends Error {
  constructor() {
    super('refinement cancelled');
  }
}

/**
 * A photo's tuned generator layers (and its pivot codes), kept apart from the bundle's generator. Plain data for
 * storage (toData) and back (fromData).
 */
export class Refinement {
  readonly layers: TunedLayers;

  constructor(
    readonly model: RefineModel,
    readonly parameters: Map<string, LayerParameters>,
    readonly resolution: number,
    readonly steps: number,
    /** The lowest resolution whose layers were tuned. */
    readonly from: number,
    /** The photo's detail maps by styled layer (see RefineOptions.detailLearningRate); empty when none were tuned. */
    readonly details: Map<string, tf.Tensor4D> = new Map(),
  ) {
    // Built once (upsampling filters, demodulation), so a tuned render costs what an untuned one does.
    let built: TunedLayers = new Map();
    tf.tidy(() => {
      built = model.generator.tunedLayers(parameters);
      for (const { conv } of built.values()) {
        tf.keep(conv!.filter);
        conv!.phases?.forEach((t) => tf.keep(t));
        if (conv!.demodSq) tf.keep(conv!.demodSq);
      }
    });
    this.layers = withDetails(built, details);
  }

  toData(): RefinementData {
    const layers: RefinementData['layers'] = {};
    for (const [name, p] of this.parameters) {
      const plain = (t: tf.Tensor) => ({ shape: t.shape, data: t.dataSync() as Float32Array });
      layers[name] = { weight: plain(p.weight), modW: plain(p.modW), modB: plain(p.modB), bias: plain(p.bias) };
    }
    const details: NonNullable<RefinementData['details']> = {};
    for (const [name, d] of this.details) details[name] = { shape: d.shape, data: d.dataSync() as Float32Array };
    return { resolution: this.resolution, steps: this.steps, from: this.from, layers, ...(this.details.size ? { details } : {}) };
  }

  static fromData(model: RefineModel, data: RefinementData): Refinement {
    const parameters = new Map<string, LayerParameters>();
    try {
      for (const [name, shapes] of model.generator.parameterShapes(data.resolution, data.from)) {
        const saved = data.layers[name];
        if (!saved) throw new RangeError(`the saved refinement lacks layer ${name}`);
        const tensor = <T extends tf.Tensor>(key: keyof LayerParameters): T => {
          const { shape, data: values } = saved[key];
          if (shape.join() !== shapes[key].join()) throw new RangeError(`the saved refinement's ${name} ${key} is [${shape}], this model's [${shapes[key]}]`);
          return tf.tensor(values, shape) as T;
        };
        parameters.set(name, { weight: tensor('weight'), modW: tensor('modW'), modB: tensor('modB'), bias: tensor('bias') });
      }
    } catch (error) {
      for (const p of parameters.values()) tf.dispose([p.weight, p.modW, p.modB, p.bias]);
      throw error;
    }
    const details = new Map<string, tf.Tensor4D>();
    const layers = new Map(model.generator.styledLayers(data.resolution, data.from).map((l) => [l.name, l.resolution]));
    for (const [name, { shape, data: values }] of Object.entries(data.details ?? {})) {
      const size = layers.get(name);
      if (!size || shape.join() !== [1, size, size, 1].join()) {
        for (const d of details.values()) d.dispose();
        for (const p of parameters.values()) tf.dispose([p.weight, p.modW, p.modB, p.bias]);
        throw new RangeError(`the saved refinement's detail map ${name} is [${shape}], which this model has no layer for`);
      }
      details.set(name, tf.tensor4d(values, [1, size, size, 1]));
    }
    return new Refinement(model, parameters, data.resolution, data.steps, data.from, details);
  }

  dispose(): void {
    for (const [name, { conv }] of this.layers) {
      const p = this.parameters.get(name);
      if (!conv || !p) continue;
      if (conv.filter !== p.weight) conv.filter.dispose();
      tf.dispose(conv.phases ?? []);
      conv.demodSq?.dispose();
    }
    for (const p of this.parameters.values()) tf.dispose([p.weight, p.modW, p.modB, p.bias]);
    for (const d of this.details.values()) d.dispose();
  }
}

export interface RefinementData {
  resolution: number;
  steps: number;
  from: number;
  layers: Record<string, Record<'weight' | 'modW' | 'modB' | 'bias', { shape: number[]; data: Float32Array }>>;
  details?: Record<string, { shape: number[]; data: Float32Array }>;
}

/** Tuned layers with the photo's detail maps added to their styled layers (a layer may have only its map). */
function withDetails(layers: TunedLayers, details: Map<string, tf.Tensor4D>): TunedLayers {
  const out: TunedLayers = new Map(layers);
  for (const [name, detail] of details) out.set(name, { ...out.get(name), detail });
  return out;
}

/** Reconstruction error of codes rendered through `layers` against the photo: MSE ([-1, 1]) and SSIM. */
export function reconstructionError(model: RefineModel, codes: tf.Tensor3D, target: tf.Tensor4D, layers?: TunedLayers): { mse: number; ssim: number } {
  return tf.tidy(() => {
    const picture = renderLike(model, codes, target, layers);
    const [mse, score] = tf.stack([tf.mean(tf.square(tf.sub(picture, target))), ssim(picture, target)]).dataSync();
    return { mse, ssim: score };
  });
}

/** The codes rendered at the target's resolution (clipped to [-1, 1], as shown), with the given tuned layers. */
function renderLike(model: RefineModel, codes: tf.Tensor3D, target: tf.Tensor4D, layers?: TunedLayers): tf.Tensor4D {
  const resolution = targetResolution(model, target);
  const picture = tf.clipByValue(model.render(codes, { resolution, tuned: layers }), -1, 1) as tf.Tensor4D;
  const [, h, w] = target.shape;
  return picture.shape[1] === h && picture.shape[2] === w ? picture : tf.image.resizeBilinear(picture, [h, w], false, true);
}

function targetResolution(model: RefineModel, target: tf.Tensor4D): number {
  const size = model.manifest.outputSize;
  const crop = model.manifest.outputCrop;
  const width = target.shape[2];
  return Math.min(size, 2 ** Math.ceil(Math.log2(crop ? width : Math.max(width, target.shape[1]))));
}

/**
 * The photo resized to what the generator renders at `resolution` (the model's output crop applied), the target
 * of refinement. `aligned` is NHWC [1, H, W, 3] in [-1, 1] at the encoder's input size.
 */
export function refinementTarget(model: RefineModel, aligned: tf.Tensor4D, resolution: number): tf.Tensor4D {
  return tf.tidy(() => {
    const size = model.manifest.outputSize;
    const crop = model.manifest.outputCrop;
    const k = resolution / size;
    const [h, w] = crop ? [Math.round(crop.height * k), resolution] : [resolution, resolution];
    return tf.image.resizeBilinear(aligned, [h, w], false, true) as tf.Tensor4D;
  });
}

/** A small seeded generator (mulberry32): the locality samples of a run are reproducible. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Refines a photo's inversion: returns the pivot codes (the caller owns them) and the tuned layers. `aligned` is
 * the framed photo at the encoder's input size ([1, H, W, 3] in [-1, 1]); `codes` the encoder's [1, N, D].
 */
export async function refine(model: RefineModel, aligned: tf.Tensor4D, codes: tf.Tensor3D, options: RefineOptions = {}): Promise<{ codes: tf.Tensor3D; refinement: Refinement; ms: number }> {
  if (!gradientsAvailable()) throw new Error('refinement needs tfjs gradients: load src/node/gradients or src/browser/gradients first');
  const started = performance.now();
  const resolution = options.resolution ?? Math.min(model.manifest.outputSize, 256);
  const steps = options.steps ?? 100;
  const every = options.localityEvery ?? 2;
  const codeSteps = options.codeSteps ?? 0;
  const localityWeight = options.locality ?? 1;
  const next = random(options.seed ?? 1);
  const target = refinementTarget(model, aligned, resolution);
  const pivot = tf.variable(codes, true, undefined, 'float32') as tf.Variable<tf.Rank.R3>;
  const from = Math.min(options.fromResolution ?? 16, resolution);
  const own = model.generator.parameters(resolution, from);
  // Adam runs on the parameters as PyTorch stores them, before StyleGAN2's equalised-learning-rate scale (1 /
  // sqrt(fan-in)): a step then moves every layer by the same relative amount, as in PTI's own optimiser.
  const variables = new Map<string, LayerParameters & { scales: [number, number] }>();
  const trainable: tf.Variable[] = [];
  // A detail map is stored as a variable times the ratio of its rate to the layers' rate: one Adam then moves it
  // at its own rate (Adam's step is invariant to the gradient's scale, so the step on the map scales by the ratio).
  const learningRate = options.learningRate ?? 2e-3;
  const detailRatio = (options.detailLearningRate ?? 0) / learningRate;
  const detailVariables = new Map<string, tf.Variable<tf.Rank.R4>>();
  if (detailRatio > 0) {
    for (const layer of model.generator.styledLayers(resolution, Math.max(from, options.detailFrom ?? resolution))) {
      const v = tf.tidy(() => tf.variable(tf.zeros([1, layer.resolution, layer.resolution, 1]))) as tf.Variable<tf.Rank.R4>;
      detailVariables.set(layer.name, v);
      trainable.push(v);
    }
  }
  const binomial = [1, 4, 6, 4, 1].map((a) => [1, 4, 6, 4, 1].map((b) => (a * b) / 256)).flat();
  const highPass = (map: tf.Tensor4D) => options.detailHighPass
    ? tf.sub(map, tf.conv2d(map, tf.tensor4d(binomial, [5, 5, 1, 1]), 1, 'same')) as tf.Tensor4D
    : map;
  // Under the tape every intermediate is the tape's; outside it (the result) each map is made in its own scope.
  const details = () => new Map([...detailVariables].map(([name, v]) => [name, tf.tidy(() => highPass(tf.mul(v, detailRatio) as tf.Tensor4D))]));
  for (const [name, p] of own) {
    const [kh, kw, inC] = p.weight.shape;
    const scales: [number, number] = [1 / Math.sqrt(kh * kw * inC), 1 / Math.sqrt(p.modW.shape[0])];
    const unscaled = tf.tidy(() => [tf.div(p.weight, scales[0]), tf.div(p.modW, scales[1])]);
    const v = {
      weight: tf.variable(unscaled[0]) as tf.Variable<tf.Rank.R4>,
      modW: tf.variable(unscaled[1]) as tf.Variable<tf.Rank.R2>,
      modB: tf.variable(p.modB) as tf.Variable<tf.Rank.R1>, bias: tf.variable(p.bias) as tf.Variable<tf.Rank.R1>,
      scales,
    };
    tf.dispose(unscaled); // the variables hold copies
    variables.set(name, v);
    trainable.push(v.weight, v.modW, v.modB, v.bias);
  }
  /** The layers' parameters in the generator's (equalised) units: under a tape, differentiable in the variables. */
  const equalised = () => new Map([...variables].map(([name, v]) => [name, {
    weight: tf.mul(v.weight, v.scales[0]) as tf.Tensor4D, modW: tf.mul(v.modW, v.scales[1]) as tf.Tensor2D, modB: v.modB, bias: v.bias,
  }]));
  const loss = (layers?: TunedLayers, at: tf.Tensor3D = pivot) => {
    const picture = renderLike(model, at, target, layers);
    return tf.add(tf.mean(tf.square(tf.sub(picture, target))), tf.sub(1, multiScaleSsim(picture, target))) as tf.Scalar;
  };
  const sliders = model.manifest.directions.filter((d) => d.kind === 'interfacegan' || d.kind === 'ganspace');
  const codeOptimizer = tf.train.adam(options.codeLearningRate ?? 0.01);
  const optimizer = tf.train.adam(learningRate);
  const cleanup = () => {
    codeOptimizer.dispose();
    optimizer.dispose();
    tf.dispose([target, pivot, ...trainable]);
    for (const p of own.values()) tf.dispose([p.weight, p.modW, p.modB, p.bias]);
  };
  try {
    for (let step = 1; step <= codeSteps; step++) {
      if (options.signal?.aborted) throw new RefineCancelled();
      const cost = minimizeReleasing(codeOptimizer, () => loss(), [pivot]);
      const value = (await cost.data())[0];
      cost.dispose();
      await options.onProgress?.({ phase: 'codes', step, steps: codeSteps, loss: value });
    }

    for (let step = 1; step <= steps; step++) {
      if (options.signal?.aborted) throw new RefineCancelled();
      if (options.learningRateEnd !== undefined) {
        // tfjs's Adam reads its rate at every step; its typings call the field protected, and no setter exists
        const cooled = steps > 1 ? (1 - Math.cos((Math.PI * (step - 1)) / (steps - 1))) / 2 : 0;
        (optimizer as unknown as { learningRate: number }).learningRate = learningRate + (options.learningRateEnd - learningRate) * cooled;
      }
      // PTI's locality sample: the pivot moved along one of the model's sliders (or at random, when it has none),
      // rendered by the untouched generator: what the tuned layers must still render there.
      const regularise = localityWeight > 0 && step % every === 0;
      const sample = !regularise ? null : tf.tidy(() => {
        if (sliders.length) {
          const d = sliders[Math.floor(next() * sliders.length)];
          return model.applyEdits(pivot, [{ direction: d.id, value: (next() * 2 - 1) * Math.max(Math.abs(d.min), Math.abs(d.max)) }]);
        }
        return tf.add(pivot, tf.mul(tf.randomNormal(pivot.shape, 0, 1, 'float32', Math.floor(next() * 1e9)), tf.sqrt(tf.moments(pivot).variance))) as tf.Tensor3D;
      });
      // The untouched generator with the photo's current detail maps: the regulariser holds the tuned layers, not
      // the maps (every code of this photo keeps its detail).
      const untouched = sample && tf.tidy(() => renderLike(model, sample, target, detailVariables.size ? withDetails(new Map(), details()) : undefined));
      const cost = minimizeReleasing(optimizer, () => {
        const layers = withDetails(model.generator.tunedLayers(equalised()), details());
        const reconstruction = loss(layers);
        if (!sample || !untouched) return reconstruction;
        const drift = tf.mean(tf.square(tf.sub(renderLike(model, sample, target, layers), untouched)));
        return tf.add(reconstruction, tf.mul(drift, localityWeight * every)) as tf.Scalar;
      }, trainable);
      sample?.dispose();
      untouched?.dispose();
      const value = (await cost.data())[0];
      cost.dispose();
      let preview: RgbImage | undefined;
      if (options.previewEvery && step % options.previewEvery === 0 && step < steps) {
        const picture = tf.tidy(() => renderLike(model, pivot, target, withDetails(model.generator.tunedLayers(equalised()), details())));
        preview = await toRgb(picture);
        picture.dispose();
      }
      await options.onProgress?.({ phase: 'generator', step, steps, loss: value, preview });
    }
    const tuned = new Map<string, LayerParameters>();
    for (const [name, p] of equalised()) tuned.set(name, { ...p, modB: p.modB.clone(), bias: p.bias.clone() });
    const out = pivot.clone() as tf.Tensor3D;
    return { codes: out, refinement: new Refinement(model, tuned, resolution, steps, from, details()), ms: performance.now() - started };
  } finally {
    cleanup();
  }
}
