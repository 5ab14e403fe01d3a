import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { StudioModel } from '../src/engine/model';
import { useNodeBackend } from '../src/node/backend';
import { loadBundle, memoryFiles } from '../src/weights/loader';
import { goldenImage, goldenTensor } from './helpers/golden';
import { convertGolden } from './helpers/golden-bundle';

describe('tensor memory (wasm backend)', () => {
  let model: StudioModel;
  beforeAll(async () => {
    await useNodeBackend('wasm');
    const { manifest, shards } = await convertGolden(false);
    model = await StudioModel.load(manifest, (await loadBundle(memoryFiles(manifest, shards))).weights);
  });

  it('leaks no tensor over 100 invert / edit / render / transfer calls', () => {
    const input = goldenImage('style-transformer-tiny/input.npy');
    const ref = goldenTensor('edit-tiny/ref.npy') as tf.Tensor3D;
    const cycle = () => {
      const c = model.invert(input);
      const e = model.applyEdits(c, [
        { direction: 'smile', value: 1 }, { direction: 'label-attribute-1', value: -1 },
      ]);
      const t = model.transfer(e, ref, 'bangs', 0.5);
      const full = model.render(t);
      const preview = model.render(t, { resolution: 8 });
      tf.dispose([c, e, t, full, preview]);
    };
    // The model keeps the label directions of the codes it last edited (one set, replaced with the codes): counted
    // from the first cycle on, nothing may grow.
    cycle();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) cycle();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([input, ref]);
  });

  it('frees every tensor of a model on dispose', async () => {
    const before = tf.memory().numTensors;
    const { manifest, shards } = await convertGolden(true);
    const other = await StudioModel.load(manifest, (await loadBundle(memoryFiles(manifest, shards))).weights);
    expect(tf.memory().numTensors).toBeGreaterThan(before);
    other.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
