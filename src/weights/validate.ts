import { CheckpointError } from '../io/errors';
import { compareLayout, encoderLayout, generatorLayout, transformerLayout, type Layout } from '../models/layout';
import type { RawTensor } from '../models/weights';
import { weightByteLength, type BundleManifest, type WeightsGroup } from './bundle';

/**
 * A bundle is data from wherever the user got it (a download, a converted checkpoint, IndexedDB): nothing in
 * model.json is trusted. Its file names must stay inside the bundle, its tensors must have the shapes its own
 * architecture implies (a transposed [192, 64] <-> [64, 192] matrix has the right size and the wrong meaning),
 * its shards exactly the bytes it describes, and every value must be finite.
 */

/** At most 2^28 values in one tensor (1 GiB as float32), 2^30 in a bundle: far above any StyleGAN2 (~30 M). */
const MAX_TENSOR_VALUES = 2 ** 28;
const MAX_BUNDLE_VALUES = 2 ** 30;

/** A weights file name inside the bundle's folder: plain segments, no '..', no absolute path, no URL scheme. */
const SAFE_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export function checkPath(path: unknown): void {
  const ok = typeof path === 'string' && path.length <= 200 && path.split('/').every((s) => SAFE_SEGMENT.test(s) && s !== '..' && s !== '.');
  if (!ok) {
    throw new CheckpointError('invalid-bundle', `model.json names the weights file ${JSON.stringify(path)}, which is not a plain file name inside the bundle's folder: the bundle is refused`);
  }
}

/** The manifest's own structure, paths and sizes, and its tensors' shapes against its architecture. */
export function validateManifest(manifest: BundleManifest): void {
  if (!Array.isArray(manifest.weightsManifest) || manifest.weightsManifest.length === 0) {
    throw new CheckpointError('invalid-bundle', 'model.json lists no weights');
  }
  let total = 0;
  const shapes = new Map<string, number[]>();
  for (const group of manifest.weightsManifest) {
    if (!Array.isArray(group.paths) || group.paths.length === 0 || !Array.isArray(group.weights)) {
      throw new CheckpointError('invalid-bundle', 'model.json has a weights group without files or tensors');
    }
    group.paths.forEach(checkPath);
    for (const w of group.weights) {
      const shapeOk = Array.isArray(w.shape) && w.shape.length <= 6 && w.shape.every((n) => Number.isSafeInteger(n) && n >= 0);
      const count = shapeOk ? w.shape.reduce((a, b) => a * b, 1) : NaN;
      if (typeof w.name !== 'string' || !shapeOk || !(count <= MAX_TENSOR_VALUES) || w.dtype !== 'float32') {
        throw new CheckpointError('invalid-bundle', `model.json describes the tensor ${JSON.stringify(w.name)} as ${JSON.stringify(w.shape)} ${JSON.stringify(w.dtype)}: not a float32 tensor of a plausible size`);
      }
      total += count;
      shapes.set(w.name, w.shape);
    }
  }
  if (total > MAX_BUNDLE_VALUES) throw new CheckpointError('invalid-bundle', `model.json describes ${total} values, more than any model this editor runs`);

  const expected: Layout = generatorLayout(manifest.generator, 'decoder.module.');
  if (manifest.encoder) for (const [k, v] of encoderLayout(manifest.encoder, 'encoder.module.')) expected.set(k, v);
  for (const block of manifest.editBlocks ?? []) {
    const ffn = shapes.get(`${block.prefix}transformerlayer.linear1.weight`)?.[0];
    if (ffn !== undefined) for (const [k, v] of transformerLayout(manifest.generator.styleDim, ffn, `${block.prefix}transformerlayer.`)) expected.set(k, v);
  }
  const { misshapen } = compareLayout(expected, shapes);
  if (misshapen.length) {
    const m = misshapen[0];
    throw new CheckpointError('shape-mismatch', `model.json gives ${m.name} the shape [${m.found}] where this architecture needs [${m.expected}]${misshapen.length > 1 ? ` (and ${misshapen.length - 1} more)` : ''}: the bundle is refused`);
  }
}

/** A group's shards hold exactly the bytes its tensors need. */
export function checkShards(group: WeightsGroup, shards: Uint8Array[]): void {
  const needed = group.weights.reduce((s, w) => s + weightByteLength(w), 0);
  const held = shards.reduce((s, b) => s + b.length, 0);
  if (held !== needed) {
    throw new CheckpointError(held < needed ? 'truncated' : 'invalid-bundle',
      `the weights files ${group.paths.join(', ')} hold ${held} bytes where model.json describes ${needed}: the bundle is ${held < needed ? 'incomplete' : 'not the one its model.json describes'}`);
  }
}

/** Every value finite: a NaN or infinite weight renders black or noise and must not pass as a model. */
export function checkFinite(tensors: Map<string, RawTensor>): void {
  for (const [name, { data }] of tensors) {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        throw new CheckpointError('non-finite', `${name} holds ${Number.isNaN(data[i]) ? 'NaN' : 'an infinite value'} at index ${i}: the weights are broken (convert the checkpoint again, or get a fresh copy)`);
      }
    }
  }
}
