import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../io/errors';
import {
  EditTransformer, ganspaceOffset, interfaceganEdit, LatentClassifier, styleMask, type StyleRange,
} from '../models/editing';
import { StyleTransformerEncoder } from '../models/encoder';
import { StyleTransformer } from '../models/style-transformer';
import { Generator, type NoiseMode, type TunedLayers } from '../models/stylegan2';
import { RawWeights } from '../models/weights';
import type { BundleManifest, DirectionSpec } from '../weights/bundle';
import { PreviewResolution } from './preview-resolution';
import { checkTaughtDirection, type TaughtDirection } from './teach';

/** One slider's state: which direction, how far, and on which styles (defaults to the direction's own range). */
export interface EditValue {
  direction: string;
  value: number;
  range?: StyleRange;
}

export interface RenderOptions {
  /** A power of two up to the output size; smaller ones are the generator's early exit (a preview). */
  resolution?: number;
  noise?: NoiseMode;
  /** A photo's tuned layers (pivotal tuning); the bundle's generator is used for the rest. */
  tuned?: TunedLayers;
  /** The picture so far at each coarser resolution, cropped as the picture is (Generator.synthesize's onPartial). */
  onPartial?: (picture: tf.Tensor4D, resolution: number) => void;
}

/** A loaded bundle: the networks plus everything the editor needs, with no DOM or React. */
export class StudioModel {
  readonly manifest: BundleManifest;
  readonly generator: Generator;
  readonly inverter: StyleTransformer | null;
  readonly classifier: LatentClassifier | null;
  readonly editBlocks = new Map<string, EditTransformer>();
  private readonly directionTensors = new Map<string, tf.Tensor>();
  /**
   * Label directions of the codes last edited, by attribute and sign: the classifier's gradient at the photo's
   * codes is the same for every position of a slider, and computing it again cost most of a preview while dragging.
   */
  private labelDirections: { codes: tf.Tensor; byKey: Map<string, tf.Tensor3D> } | null = null;
  private readonly latentAvg: tf.Tensor;
  /** The early exit a preview uses here, chosen from how long this model's renders take on this backend. */
  readonly previews: PreviewResolution;

  /** A ready model: its networks built and its kernels' helper threads started (none of it can be forgotten). */
  static async load(manifest: BundleManifest, weights: RawWeights): Promise<StudioModel> {
    const model = new StudioModel(manifest, weights);
    try {
      await Promise.all([model.inverter?.ready(), model.generator.ready()]);
    } catch (error) {
      model.dispose();
      throw error;
    }
    return model;
  }

  private constructor(manifest: BundleManifest, weights: RawWeights) {
    this.manifest = manifest;
    this.generator = new Generator(weights.scope('decoder.module.'), manifest.generator);
    this.previews = new PreviewResolution(this.generator.config);
    this.latentAvg = weights.tensor('latent_avg');
    this.inverter = manifest.encoder
      ? new StyleTransformer(new StyleTransformerEncoder(weights.scope('encoder.module.'), manifest.encoder, manifest.heads), this.generator, this.latentAvg)
      : null;
    this.classifier = manifest.classifier
      ? new LatentClassifier(weights.scope(manifest.classifier.prefix), manifest.classifier.activation)
      : null;
    for (const block of manifest.editBlocks) {
      this.editBlocks.set(block.id, new EditTransformer(weights.scope(block.prefix), manifest.heads));
    }
    for (const d of manifest.directions) {
      if (d.kind === 'interfacegan') this.directionTensors.set(d.tensor, weights.tensor(d.tensor));
      if (d.kind === 'ganspace' && !this.directionTensors.has(`${d.pcs}.comp`)) {
        for (const key of ['comp', 'std', 'mean']) this.directionTensors.set(`${d.pcs}.${key}`, weights.tensor(`${d.pcs}.${key}`));
      }
    }
  }

  get inputSize(): [number, number] {
    return this.manifest.inputSize;
  }

  /** Images NHWC in [-1, 1] at the input size -> W+ codes [B, nQueries, D]. */
  invert(images: tf.Tensor4D): tf.Tensor3D {
    if (!this.inverter) throw new CheckpointError('missing-tensor', `${this.manifest.name} has no encoder; it can only generate`);
    const [h, w] = this.inputSize;
    if (images.shape[1] !== h || images.shape[2] !== w) {
      throw new RangeError(`the encoder takes ${h}x${w} images; got ${images.shape[1]}x${images.shape[2]}`);
    }
    return this.inverter.invert(images);
  }

  /** Codes -> image NHWC in about [-1, 1], cropped to the picture (cars: the middle band). */
  render(codes: tf.Tensor3D, options: RenderOptions = {}): tf.Tensor4D {
    const resolution = options.resolution ?? this.manifest.outputSize;
    const crop = this.manifest.outputCrop;
    const cropped = (image: tf.Tensor4D, at: number) => {
      if (!crop) return image;
      const scale = at / this.manifest.outputSize;
      return tf.slice(image, [0, Math.round(crop.top * scale), 0, 0], [-1, Math.round(crop.height * scale), -1, -1]) as tf.Tensor4D;
    };
    const onPartial = options.onPartial && ((picture: tf.Tensor4D, at: number) => tf.tidy(() => options.onPartial!(cropped(picture, at), at)));
    return tf.tidy(() => cropped(this.generator.synthesize(codes, { resolution, noise: options.noise, tuned: options.tuned, onPartial }), resolution));
  }

  /**
   * Runs the encoder and the generator (full size and every preview's exit) once on a blank picture: the first inference of each
   * shape sets up its kernels (wasm packs every persistent filter into an XNNPACK operator, WebGPU and WebGL compile
   * their shaders), which would otherwise be paid on the person's first photo. Models over 256 px are left alone:
   * there one inference costs seconds, and the set-up is a small part of it.
   */
  async warmUp(): Promise<void> {
    const size = this.manifest.outputSize;
    if (size > 256) return;
    const [h, w] = this.inputSize;
    const { nLatent, styleDim } = this.generator.config;
    const codes = tf.tidy(() => (this.inverter ? this.invert(tf.zeros([1, h, w, 3])) : tf.zeros([1, nLatent, styleDim])) as tf.Tensor3D);
    for (const resolution of [size, ...this.previews.exits.filter((r) => r < size)]) {
      const started = performance.now();
      const picture = this.render(codes, { resolution });
      await picture.data();
      picture.dispose();
      this.previews.observe(resolution, performance.now() - started); // a first render: counted until a real one comes
    }
    codes.dispose();
  }

  /**
   * A taught direction (src/engine/teach.ts) among the sliders: it edits as an InterFaceGAN boundary does, on the
   * styles it was taught on; one unit moves a code by the gap between the examples with and without the attribute.
   * Teaching one again under the same name replaces it.
   */
  addTaughtDirection(taught: TaughtDirection): DirectionSpec {
    checkTaughtDirection(taught, { nLatent: this.generator.config.nLatent, styleDim: this.generator.config.styleDim });
    const id = `taught-${taught.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}`;
    const tensor = `taught.${id}`;
    this.directionTensors.get(tensor)?.dispose();
    this.directionTensors.set(tensor, tf.tensor2d(taught.vector, [1, taught.vector.length], 'float32'));
    const spec: DirectionSpec = { id, label: taught.name, kind: 'interfacegan', tensor, range: taught.range, min: -2, max: 2 };
    const at = this.manifest.directions.findIndex((d) => d.id === id);
    if (at >= 0) this.manifest.directions[at] = spec;
    else this.manifest.directions.push(spec);
    return spec;
  }

  /**
   * A fixed direction's vector in one style's space (an InterFaceGAN boundary or a taught one; a per-style boundary
   * averaged over `range`): what a taught direction can be made orthogonal to. Label directions depend on the codes
   * and GANSpace sliders move to a target, so neither has one.
   */
  async fixedDirection(id: string, range: StyleRange): Promise<Float32Array> {
    const d = this.direction(id);
    if (d.kind !== 'interfacegan') throw new RangeError(`${d.label} (${d.kind}) has no fixed direction to be orthogonal to; an InterFaceGAN or taught one has`);
    const t = this.directionTensors.get(d.tensor)!;
    const dim = t.shape[t.shape.length - 1];
    const data = (await t.data()) as Float32Array;
    if (t.rank < 3) return data.slice(0, dim);
    const out = new Float32Array(dim);
    const styles = Math.min(range.end, t.shape[1]!) - range.start;
    for (let s = range.start; s < range.start + styles; s++) for (let k = 0; k < dim; k++) out[k] += data[s * dim + k] / styles;
    return out;
  }

  direction(id: string): DirectionSpec {
    const d = this.manifest.directions.find((x) => x.id === id);
    if (!d) throw new RangeError(`${this.manifest.name} has no direction ${id}`);
    return d;
  }

  /** Applies slider edits in order; label directions are computed at the codes being edited. */
  applyEdits(codes: tf.Tensor3D, edits: EditValue[]): tf.Tensor3D {
    return tf.tidy(() => {
      let out = codes;
      for (const edit of edits) {
        if (edit.value === 0) continue;
        const d = this.direction(edit.direction);
        const range = edit.range ?? d.range;
        const value = edit.value * (d.scale ?? 1); // slider units -> the direction's own (calibrated bundles)
        if (d.kind === 'interfacegan') {
          out = interfaceganEdit(out, this.directionTensors.get(d.tensor)!, value, range);
        } else if (d.kind === 'ganspace') {
          const pcs = {
            comp: this.directionTensors.get(`${d.pcs}.comp`)!,
            std: this.directionTensors.get(`${d.pcs}.std`)!,
            mean: this.directionTensors.get(`${d.pcs}.mean`)!,
          };
          // The slider is a displacement in standard deviations (0 = unedited, continuous), not encoder4editing's
          // "set the coordinate to value", which makes the first notch off 0 half of the whole change.
          out = ganspaceOffset(out, pcs, d.component, value, range);
        } else {
          if (!this.classifier) throw new CheckpointError('missing-tensor', 'label directions need the latent classifier');
          const direction = this.labelDirection(codes, d.attribute, value >= 0 ? 1 : 0);
          out = tf.add(out, tf.mul(tf.mul(direction, Math.abs(value)), styleMask(out.shape[1], range, out.shape[2]))) as tf.Tensor3D;
        }
      }
      // Always a new tensor: callers own (and dispose) what this returns, never the input.
      return out === codes ? tf.clone(codes) : out;
    });
  }

  /** The classifier's direction for `attribute` towards `target` at `codes`, computed once per codes tensor. */
  private labelDirection(codes: tf.Tensor3D, attribute: number, target: 0 | 1): tf.Tensor3D {
    if (this.labelDirections?.codes !== codes) {
      this.forgetLabelDirections();
      this.labelDirections = { codes, byKey: new Map() };
    }
    const key = `${attribute}:${target}`;
    let direction = this.labelDirections.byKey.get(key);
    if (!direction) {
      direction = tf.keep(this.classifier!.labelDirection(codes, attribute, target));
      this.labelDirections.byKey.set(key, direction);
    }
    return direction;
  }

  private forgetLabelDirections(): void {
    for (const t of this.labelDirections?.byKey.values() ?? []) t.dispose();
    this.labelDirections = null;
  }

  /** Reference-based editing through a learned block, blended with the source by `strength` in [0, 1]. */
  transfer(source: tf.Tensor3D, reference: tf.Tensor3D, block: string, strength = 1): tf.Tensor3D {
    const edit = this.editBlocks.get(block);
    if (!edit) throw new RangeError(`${this.manifest.name} has no editing block ${block}`);
    return tf.tidy(() => {
      const mixed = edit.apply(source, reference);
      return tf.add(source, tf.mul(tf.sub(mixed, source), strength)) as tf.Tensor3D;
    });
  }

  /** Style mixing: take the reference's styles on [start, end). */
  mixStyles(source: tf.Tensor3D, reference: tf.Tensor3D, range: StyleRange, strength = 1): tf.Tensor3D {
    return tf.tidy(() => {
      const mask = tf.mul(styleMask(source.shape[1], range, source.shape[2]), strength);
      return tf.add(source, tf.mul(tf.sub(reference, source), mask)) as tf.Tensor3D;
    });
  }

  dispose(): void {
    if (this.inverter) this.inverter.dispose(); else this.generator.dispose();
    this.latentAvg.dispose();
    this.classifier?.dispose();
    this.forgetLabelDirections();
    for (const b of this.editBlocks.values()) b.dispose();
    for (const t of this.directionTensors.values()) t.dispose();
  }
}
