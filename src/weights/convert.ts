import { CheckpointError } from '../io/errors';
import { collectTensors, getEntry, type Checkpoint, TorchTensor } from '../io/torch';
import { inferEncoderConfig } from '../models/encoder';
import {
  classifierLayout, compareLayout, encoderLayout, generatorLayout, isBuffer, transformerLayout,
  type ClassifierConfig, type Layout,
} from '../models/layout';
import { inferGeneratorConfig } from '../models/stylegan2';
import { RawWeights, type RawTensor } from '../models/weights';
import {
  BUNDLE_FORMAT, encodeWeights, type BundleManifest, type ClassifierSpec, type DirectionSpec, type Domain,
  type EditBlockSpec,
} from './bundle';
import { attributeLabel, CELEBA_ATTRIBUTES } from './celeba';
import { readTensors, rawTensor } from './from-checkpoint';
import { officialModel, PUBLISHED_DIRECTIONS_CREDIT, type OfficialModel } from './official-directions';
import { checkFinite } from './validate';

/**
 * Checkpoint(s) -> bundle. Runs in Node (npm run convert) and in the browser's worker (a user's dropped .pt).
 * Every width and depth is read from tensor shapes; the checkpoint must match the official layout for them
 * exactly: no tensor missing, none unexpected, none of the wrong shape.
 */

export interface DirectionInput {
  /** Used for the direction's id and label, e.g. the file name without extension. */
  name: string;
  /** A bare tensor (InterFaceGAN) or a dict {comp, std, mean} (GANSpace). */
  value: unknown;
}

export interface ConvertInput {
  checkpoint: Checkpoint;
  name?: string;
  domain?: Domain;
  inputSize?: [number, number];
  fp16?: boolean;
  directions?: DirectionInput[];
  /** Reference-editing checkpoints (edit block, optionally the classifier), each for one attribute. */
  edits?: Array<{ attribute: string; checkpoint: Checkpoint }>;
  /** A classifier-alone checkpoint ({'state_dict': LCNet_40}). */
  classifier?: Checkpoint;
  classifierActivation?: 'leakyrelu' | 'relu';
  attributes?: string[];
  /**
   * GANSpace sliders as (label, component, first style, end style, strength): defaults to the presets published for
   * the official models; a model trained here names its own components (models/training/*-ganspace-presets.json).
   */
  ganspacePresets?: GanspacePreset[];
  /**
   * Slider limit of the classifier's label directions (default 3). The edit is the official one, a unit gradient
   * step per style; a model whose codes spread less than an official generator's needs a shorter slider.
   */
  labelRange?: number;
  /**
   * The directions published for a released model (src/weights/official-directions.ts), attached when `directions`
   * is empty and the checkpoint is the official FFHQ or cars model.
   */
  publishedDirections?: (model: OfficialModel) => Promise<DirectionInput[]>;
  license?: string;
  source?: string;
  log?: (line: string) => void;
  /** The share of the conversion done, from 0 to 1: reading the tensors, then writing the bundle's weights. */
  progress?: (done: number) => void;
}

export interface ConvertOutput {
  manifest: BundleManifest;
  shards: Uint8Array[];
}

/** GANSpace presets published with the encoder4editing directions: (component, first style, end style, strength). */
export type GanspacePreset = [label: string, component: number, start: number, end: number, strength: number];
export const GANSPACE_PRESETS: Record<Domain, GanspacePreset[]> = {
  face: [['eyes', 54, 7, 8, 20], ['beard', 58, 7, 9, -20], ['lip', 34, 10, 11, 20]],
  car: [['pose I', 0, 0, 5, 2], ['pose II', 0, 0, 5, -2], ['cube', 16, 3, 6, 25], ['color', 22, 9, 11, -8], ['grass', 41, 9, 11, -18]],
};

/** A dict's tensors with their shapes only (no bytes read): enough to infer and check a layout. */
function shapesOnly(found: Map<string, TorchTensor>): Map<string, RawTensor> {
  return new Map([...found].map(([k, t]) => [k, { shape: [...t.shape], data: new Float32Array(0) }]));
}

function shapesOf(tensors: Map<string, RawTensor>): Map<string, number[]> {
  return new Map([...tensors].map(([k, v]) => [k, v.shape]));
}

function checkLayout(what: string, expected: Layout, found: Map<string, number[]>): void {
  const report = compareLayout(expected, found);
  const problems: string[] = [];
  if (report.missing.length) problems.push(`missing ${report.missing.length}: ${report.missing.slice(0, 5).join(', ')}`);
  if (report.unexpected.length) problems.push(`unexpected ${report.unexpected.length}: ${report.unexpected.slice(0, 5).join(', ')}`);
  for (const m of report.misshapen.slice(0, 5)) problems.push(`${m.name} is [${m.found}] where [${m.expected}] is expected`);
  if (problems.length) {
    const code = report.missing.length ? 'missing-tensor' : report.unexpected.length ? 'unexpected-tensor' : 'shape-mismatch';
    throw new CheckpointError(code, `${what} does not have the official layout: ${problems.join('; ')}`);
  }
}

function countParameters(tensors: Map<string, RawTensor>, prefix: string): number {
  let n = 0;
  for (const [k, v] of tensors) if (k.startsWith(prefix) && !isBuffer(k)) n += v.data.length;
  return n;
}

function stateDict(checkpoint: Checkpoint): unknown {
  return getEntry(checkpoint.root, 'state_dict') ?? checkpoint.root;
}

function optsOf(checkpoint: Checkpoint): Map<string, unknown> {
  const opts = getEntry(checkpoint.root, 'opts');
  if (opts instanceof Map) return opts;
  if (opts && typeof opts === 'object') return new Map(Object.entries(opts));
  return new Map();
}

function inferClassifier(weights: RawWeights): ClassifierConfig {
  const fmaps = [weights.shape('fcs.0.weight')[1]];
  for (let i = 0; weights.has(`fcs.${i}.weight`); i++) fmaps.push(weights.shape(`fcs.${i}.weight`)[0]);
  let nClasses = 0;
  while (weights.has(`indep_fcs.${nClasses}.weight`)) nClasses++;
  return { fmaps, nClasses, embedding: nClasses ? weights.shape('indep_fcs.0.weight')[0] : 32 };
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

export async function convertCheckpoint(input: ConvertInput): Promise<ConvertOutput> {
  const log = input.log ?? (() => {});
  const out = new Map<string, RawTensor>();
  const root = input.checkpoint.root;
  const state = stateDict(input.checkpoint);
  let tensors: Map<string, RawTensor>;
  let hasEncoder: boolean;
  // Shapes first: the layout is inferred and checked before any tensor's bytes are read, so a file that claims
  // huge or misshapen tensors is refused at once instead of after reading (or inflating) all of it.
  let found: Map<string, TorchTensor>;
  if (getEntry(root, 'g_ema') !== undefined) {
    // rosinality StyleGAN2 checkpoint: {'g_ema', 'latent_avg', ...}
    found = collectTensors(getEntry(root, 'g_ema'), 'decoder.module');
    tensors = shapesOnly(found);
    hasEncoder = false;
  } else {
    found = collectTensors(state);
    tensors = shapesOnly(found);
    hasEncoder = tensors.has('encoder.module.z');
    if (!hasEncoder) {
      if (tensors.has('encoder.module.transformerlayer.linear1.weight')) {
        throw new CheckpointError('unsupported-format',
          'this is a reference-editing checkpoint; convert the inversion checkpoint and add this one with --edit');
      }
      if (tensors.has('fcs.0.weight')) {
        throw new CheckpointError('unsupported-format',
          'this is a latent classifier checkpoint; convert the inversion checkpoint and add this one with --classifier');
      }
      throw new CheckpointError('not-a-checkpoint', 'neither a Style Transformer nor a StyleGAN2 checkpoint: no encoder.module.z, no g_ema');
    }
  }
  const decoder = new RawWeights(tensors).scope('decoder.module.');
  const generator = inferGeneratorConfig(decoder);
  const expected: Layout = generatorLayout(generator, 'decoder.module.');
  const encoder = hasEncoder ? inferEncoderConfig(new RawWeights(tensors).scope('encoder.module.')) : null;
  if (encoder) for (const [k, v] of encoderLayout(encoder, 'encoder.module.')) expected.set(k, v);
  checkLayout(hasEncoder ? 'the Style Transformer checkpoint' : 'the StyleGAN2 checkpoint', expected, shapesOf(tensors));
  tensors = new Map();
  // what a conversion spends its time on, in Chromium with the official FFHQ model: reading and checking the
  // tensors about two thirds, writing them as float16 a third
  const READING = 0.65;
  const progress = input.progress ?? (() => {});
  const total = [...found.values()].reduce((n, t) => n + t.numel, 0) || 1;
  let read = 0;
  for (const [k, t] of found) {
    tensors.set(k, await rawTensor(t));
    read += t.numel;
    progress(READING * read / total);
  }
  for (const [k, v] of tensors) {
    if (k.endsWith('num_batches_tracked') || k.endsWith('.kernel')) continue; // derived or unused at inference
    out.set(k, v);
  }

  const latentAvgValue = getEntry(root, 'latent_avg');
  if (latentAvgValue instanceof TorchTensor) {
    out.set('latent_avg', await rawTensor(latentAvgValue));
  } else {
    throw new CheckpointError('missing-tensor', 'the checkpoint has no latent_avg; the codes are offsets from it');
  }

  const opts = optsOf(input.checkpoint);
  const nQueries = encoder?.nQueries ?? generator.nLatent;
  const datasetType = String(opts.get('dataset_type') ?? '');
  const domain: Domain = input.domain ?? (datasetType.includes('car') || generator.nLatent < nQueries ? 'car' : 'face');
  const size = generator.size;
  const inputSize: [number, number] = input.inputSize ??
    (domain === 'car' ? [Math.min(192, (size * 3) / 4), Math.min(256, size)] as [number, number]
      : [Math.min(256, Math.max(64, size)), Math.min(256, Math.max(64, size))]);
  const outputCrop = domain === 'car' ? { top: size / 8, height: (size * 3) / 4 } : null;

  // Latent classifier and reference-editing blocks.
  let classifier: ClassifierSpec | null = null;
  const addClassifier = (source: Map<string, RawTensor>, prefix: string) => {
    const weights = new RawWeights(source).scope(prefix);
    const config = inferClassifier(weights);
    checkLayout('the latent classifier', classifierLayout(config, prefix), shapesOf(new Map([...source].filter(([k]) => k.startsWith(prefix)))));
    for (const [k, v] of source) if (k.startsWith(prefix)) out.set(`classifier.${k.slice(prefix.length)}`, v);
    const attributes = input.attributes ?? (config.nClasses === 40 ? CELEBA_ATTRIBUTES : Array.from({ length: config.nClasses }, (_, i) => `attribute ${i}`));
    classifier = { prefix: 'classifier.', fmaps: config.fmaps, nClasses: config.nClasses, activation: input.classifierActivation ?? 'leakyrelu', attributes };
  };
  if (input.classifier) addClassifier(await readTensors(stateDict(input.classifier)), '');
  const editBlocks: EditBlockSpec[] = [];
  for (const edit of input.edits ?? []) {
    const t = await readTensors(stateDict(edit.checkpoint));
    const prefix = 'encoder.module.transformerlayer.';
    if (!t.has(`${prefix}linear1.weight`)) throw new CheckpointError('missing-tensor', `the editing checkpoint for ${edit.attribute} has no ${prefix}*`);
    const dModel = t.get(`${prefix}linear1.weight`)!.shape[1];
    const ffn = t.get(`${prefix}linear1.weight`)!.shape[0];
    const editExpected = transformerLayout(dModel, ffn, prefix);
    const hasClassifier = t.has('classifier.module.fcs.0.weight');
    if (hasClassifier) {
      for (const [k, v] of classifierLayout(inferClassifier(new RawWeights(t).scope('classifier.module.')), 'classifier.module.')) editExpected.set(k, v);
    }
    for (const [k, v] of generatorLayout(inferGeneratorConfig(new RawWeights(t).scope('decoder.module.')), 'decoder.module.')) editExpected.set(k, v);
    checkLayout(`the editing checkpoint for ${edit.attribute}`, editExpected, shapesOf(t));
    const id = slug(edit.attribute);
    for (const [k, v] of t) if (k.startsWith(prefix)) out.set(`edit.${id}.transformerlayer.${k.slice(prefix.length)}`, v);
    editBlocks.push({ id, attribute: edit.attribute, prefix: `edit.${id}.` });
    if (hasClassifier && !classifier) addClassifier(t, 'classifier.module.');
  }

  // Editing directions: those given, or, for a released model, those published for it.
  const directions: DirectionSpec[] = [];
  const all = { start: 0, end: nQueries };
  let given = input.directions ?? [];
  let directionsCredit: string | undefined;
  const official = officialModel({ encoder: countParameters(out, 'encoder.module.'), decoder: countParameters(out, 'decoder.module.') });
  if (!given.length && official && input.publishedDirections) {
    given = await input.publishedDirections(official);
    directionsCredit = PUBLISHED_DIRECTIONS_CREDIT;
    log(`the official ${official === 'ffhq' ? 'FFHQ' : 'cars'} model: attached its published directions (${given.map((d) => d.name).join(', ')})`);
  }
  for (const d of given) {
    const id = slug(d.name);
    if (d.value instanceof TorchTensor || (d.value && typeof d.value === 'object' && 'data' in (d.value as object))) {
      const raw = d.value instanceof TorchTensor ? await rawTensor(d.value) : (d.value as RawTensor);
      const width = raw.shape[raw.shape.length - 1];
      if (width !== generator.styleDim) {
        throw new CheckpointError('shape-mismatch', `direction ${d.name} is ${width} wide; this model's styles are ${generator.styleDim}`);
      }
      out.set(`directions.${id}`, raw);
      directions.push({ id, label: d.name, kind: 'interfacegan', tensor: `directions.${id}`, range: all, min: -5, max: 5 });
    } else if (d.value instanceof Map && d.value.has('comp')) {
      for (const key of ['comp', 'std', 'mean']) {
        const t = d.value.get(key);
        if (!(t instanceof TorchTensor)) throw new CheckpointError('missing-tensor', `GANSpace file ${d.name} lacks ${key}`);
        out.set(`directions.${id}.${key}`, await rawTensor(t));
      }
      const compWidth = out.get(`directions.${id}.comp`)!.shape.at(-1);
      if (compWidth !== generator.styleDim) {
        throw new CheckpointError('shape-mismatch', `GANSpace file ${d.name} is ${compWidth} wide; this model's styles are ${generator.styleDim}`);
      }
      const components = out.get(`directions.${id}.std`)!.data.length;
      for (const [label, component, start, end, strength] of input.ganspacePresets ?? GANSPACE_PRESETS[domain]) {
        if (component >= components) continue;
        const span = Math.abs(strength) * 2;
        directions.push({
          id: `${id}-${slug(label)}`, label, kind: 'ganspace', pcs: `directions.${id}`, component,
          range: { start, end }, min: -span, max: span, preset: strength,
        });
      }
    } else {
      throw new CheckpointError('unsupported-format', `direction ${d.name}: expected a tensor or a GANSpace dict {comp, std, mean}`);
    }
  }
  if (classifier) {
    const spec = classifier as ClassifierSpec;
    spec.attributes.forEach((attribute, i) =>
      directions.push({ id: `label-${slug(attribute)}`, label: attributeLabel(attribute), kind: 'label', attribute: i, range: all, min: -(input.labelRange ?? 3), max: input.labelRange ?? 3 }));
  }

  const parameters: Record<string, number> = {
    encoder: countParameters(out, 'encoder.module.'),
    decoder: countParameters(out, 'decoder.module.'),
    classifier: countParameters(out, 'classifier.'),
    editBlocks: countParameters(out, 'edit.'),
  };
  log(`generator ${size}px, ${generator.nLatent} styles of ${generator.styleDim}; ` +
    (encoder ? `encoder stages ${encoder.stageUnits.join('/')} widths ${encoder.stageDepths.join('/')}, ${nQueries} queries` : 'no encoder'));
  log(`parameters: encoder ${parameters.encoder.toLocaleString('en')}, decoder ${parameters.decoder.toLocaleString('en')}, ` +
    `classifier ${parameters.classifier.toLocaleString('en')}, edit blocks ${parameters.editBlocks.toLocaleString('en')}`);

  checkFinite(out);
  const { group, shards } = encodeWeights(out, input.fp16 ?? false, (done) => progress(READING + (1 - READING) * done));
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    name: input.name ?? (domain === 'car' ? 'Style Transformer (cars)' : 'Style Transformer (faces)'),
    domain,
    inputSize,
    outputSize: size,
    outputCrop,
    nQueries,
    nLatent: generator.nLatent,
    heads: 4,
    generator,
    encoder,
    classifier,
    editBlocks,
    directions,
    parameters,
    license: input.license ?? 'see the checkpoint\'s source',
    ...(directionsCredit ? { directionsCredit } : {}),
    source: input.source ?? 'converted checkpoint',
    weightsManifest: [group],
  };
  log(`weights: ${out.size} tensors, ${shards.reduce((a, s) => a + s.length, 0).toLocaleString('en')} bytes in ${shards.length} shards (${input.fp16 ? 'float16' : 'float32'})`);
  return { manifest, shards };
}
