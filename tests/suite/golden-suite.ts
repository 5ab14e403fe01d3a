import * as tf from '@tensorflow/tfjs-core';
import { bytesSource } from '../../src/io/byte-source';
import { readNpy } from '../../src/io/npy';
import { getEntry, loadCheckpoint } from '../../src/io/torch';
import { EditTransformer, LatentClassifier } from '../../src/models/editing';
import { StyleTransformer } from '../../src/models/style-transformer';
import { Generator } from '../../src/models/stylegan2';
import { RawWeights, type RawTensor } from '../../src/models/weights';
import { readTensors } from '../../src/weights/from-checkpoint';

/**
 * Every tensor of the golden set, recomputed on the current tfjs backend. Runs unchanged in Node (cpu, wasm)
 * and in Chromium (webgpu, webgl), given a way to read the golden files.
 */
export interface GoldenResult {
  name: string;
  maxAbsDiff: number;
  shape: number[];
}

export type ReadFixture = (path: string) => Promise<Uint8Array>;

export async function runGoldenSuite(read: ReadFixture): Promise<GoldenResult[]> {
  const results: GoldenResult[] = [];
  const npy = async (name: string): Promise<RawTensor> => readNpy(await read(name), name);
  const tensor = async (name: string) => { const g = await npy(name); return tf.tensor(g.data, g.shape); };
  /** Compares with golden file `name`; NHWC images are compared as NCHW; `note` tells apart runs of one file. */
  const compare = async (name: string, actual: tf.Tensor, nchw = false, note = '') => {
    const expected = await npy(name);
    const a = nchw ? tf.transpose(actual, [0, 3, 1, 2]) : actual;
    const data = await a.data();
    if (a.shape.join(',') !== expected.shape.join(',')) throw new Error(`${name}: shape [${a.shape}] vs golden [${expected.shape}]`);
    let max = 0;
    for (let i = 0; i < data.length; i++) max = Math.max(max, Math.abs(data[i] - expected.data[i]));
    if (Array.prototype.some.call(data, (v: number) => !Number.isFinite(v))) max = Infinity;
    results.push({ name: name + note, maxAbsDiff: max, shape: [...a.shape] });
    if (nchw) a.dispose();
    actual.dispose();
  };
  const checkpoint = async (name: string) => loadCheckpoint(bytesSource(await read(name), name));

  // StyleGAN2 (rosinality) from the zip and the legacy files.
  for (const file of ['stylegan2-tiny.pt', 'stylegan2-tiny-legacy.pt']) {
    const ck = await checkpoint(file);
    const generator = new Generator(new RawWeights(await readTensors(getEntry(ck.root, 'g_ema'))));
    const tag = file.includes('legacy') ? ' (legacy file)' : '';
    const z = await tensor('stylegan2-tiny/z.npy') as tf.Tensor2D;
    const w = generator.mapping(z);
    const wplus = await tensor('stylegan2-tiny/wplus.npy') as tf.Tensor3D;
    await compare('stylegan2-tiny/w.npy', w.clone(), false, tag);
    await compare('stylegan2-tiny/image_from_wplus.npy', generator.synthesize(wplus), true, tag);
    if (!tag) {
      // One picture at a time takes the path the app renders with (modulation in the filter, see modulatedConv).
      const single = (options?: Parameters<Generator['synthesize']>[1]) => tf.tidy(() => tf.concat(
        (tf.split(wplus, wplus.shape[0]) as tf.Tensor3D[]).map((one) => generator.synthesize(one, options))));
      await compare('stylegan2-tiny/image_from_wplus.npy', single(), true, ' (one picture at a time)');
      await compare('stylegan2-tiny/skip_16.npy', single({ resolution: 16 }), true, ' (one picture at a time)');
      await compare('stylegan2-tiny/image_from_wplus_zero_noise.npy', generator.synthesize(wplus, { noise: { kind: 'zero' } }), true);
      for (const r of [4, 8, 16, 32]) await compare(`stylegan2-tiny/skip_${r}.npy`, generator.synthesize(wplus, { resolution: r }), true);
      const avg = await tensor('stylegan2-tiny/latent_avg.npy');
      const truncated = generator.truncate(w, avg, 0.7);
      const codes = tf.tile(tf.expandDims(truncated, 1), [1, generator.config.nLatent, 1]) as tf.Tensor3D;
      await compare('stylegan2-tiny/image_from_z_trunc0.7.npy', generator.synthesize(codes), true);
      tf.dispose([avg, truncated, codes]);
    }
    tf.dispose([z, w, wplus]);
    generator.dispose();
  }

  // Style Transformer inversion.
  const st = await checkpoint('style-transformer-tiny.pt');
  const stWeights = await readTensors(getEntry(st.root, 'state_dict'));
  for (const [k, v] of await readTensors(getEntry(st.root, 'latent_avg'), 'latent_avg')) stWeights.set(k, v);
  const model = StyleTransformer.fromWeights(new RawWeights(stWeights));
  await model.ready();
  const input = tf.transpose(await tensor('style-transformer-tiny/input.npy'), [0, 2, 3, 1]) as tf.Tensor4D;
  await compare('style-transformer-tiny/query.npy', model.queries(2));
  const trace = model.trace(input);
  for (const k of ['c1', 'c2', 'c3', 'p2', 'p1'] as const) await compare(`style-transformer-tiny/${k}.npy`, trace[k], true);
  await compare('style-transformer-tiny/query_coarse.npy', trace.queryCoarse);
  await compare('style-transformer-tiny/query_medium.npy', trace.queryMedium);
  await compare('style-transformer-tiny/codes_raw.npy', trace.codes);
  const codes = model.invert(input);
  await compare('style-transformer-tiny/codes.npy', codes.clone());
  const image = model.render(codes);
  await compare('style-transformer-tiny/image.npy', image.clone(), true);
  await compare('style-transformer-tiny/image_pooled_16.npy', tf.avgPool(image, 2, 2, 'valid'), true);
  image.dispose();
  input.dispose();

  // Editing block and latent classifier (from the editing checkpoint and from the classifier alone).
  const edit = await checkpoint('edit-tiny.pt');
  const editWeights = new RawWeights(await readTensors(getEntry(edit.root, 'state_dict')));
  const block = new EditTransformer(editWeights.scope('encoder.module.'));
  const src = await tensor('edit-tiny/src.npy') as tf.Tensor3D;
  const ref = await tensor('edit-tiny/ref.npy') as tf.Tensor3D;
  await compare('edit-tiny/mix.npy', block.apply(src, ref));
  const classifierCk = await checkpoint('classifier-tiny.pt');
  const classifier = new LatentClassifier(new RawWeights(await readTensors(getEntry(classifierCk.root, 'state_dict'))));
  const classified = classifier.classify(codes);
  await compare('edit-tiny/classifier_logits.npy', classified.logits);
  await compare('edit-tiny/classifier_embeddings.npy', classified.embeddings);
  await compare('edit-tiny/label_direction_attr2_positive.npy', classifier.labelDirection(codes, 2, 1));
  const fromEdit = new LatentClassifier(editWeights.scope('classifier.module.'));
  await compare('edit-tiny/classifier_logits.npy', fromEdit.logits(codes), false, ' (classifier inside edit-tiny.pt)');
  tf.dispose([src, ref, codes]);
  for (const m of [model, block, classifier, fromEdit]) m.dispose();
  return results;
}
