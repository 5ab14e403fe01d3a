import { bytesSource } from '../../src/io/byte-source';
import { getEntry, loadCheckpoint } from '../../src/io/torch';
import { readTensors } from '../../src/weights/from-checkpoint';
import type { BenchModel } from './bench-suite';
import { randomWeights } from './random-weights';

/** tiny: the golden checkpoint; ffhq / cars: random weights with the full released shapes. */
export async function benchModels(read: (fixture: string) => Promise<Uint8Array>, names: string[]): Promise<BenchModel[]> {
  const models: BenchModel[] = [];
  for (const name of names) {
    if (name === 'tiny') {
      const ck = await loadCheckpoint(bytesSource(await read('golden/style-transformer-tiny.pt')));
      const weights = await readTensors(getEntry(ck.root, 'state_dict'));
      for (const [k, v] of await readTensors(getEntry(ck.root, 'latent_avg'), 'latent_avg')) weights.set(k, v);
      models.push({ name: 'golden tiny', weights, inputSize: [64, 64] });
    } else if (name === 'ffhq' || name === 'cars') {
      const spec = JSON.parse(new TextDecoder().decode(await read('spec/official-checkpoint-layout.json')))[name];
      models.push({
        name: `official ${name} shapes`,
        weights: randomWeights(spec.tensors),
        inputSize: name === 'cars' ? [192, 256] : [256, 256],
      });
    } else {
      throw new Error(`unknown benchmark model ${name} (tiny, ffhq, cars)`);
    }
  }
  return models;
}
