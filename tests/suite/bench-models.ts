import { bytesSource } from '../../src/io/byte-source';
import { getEntry, loadCheckpoint } from '../../src/io/torch';
import { readTensors } from '../../src/weights/from-checkpoint';
import type { RawWeights } from '../../src/models/weights';
import type { BundleManifest } from '../../src/weights/bundle';
import type { BenchModel } from './bench-suite';
import { randomWeights } from './random-weights';

/** The shipped demo bundles, by benchmark name. */
const DEMO_BUNDLES: Record<string, string> = { 'demo-faces': 'demo-faces-64', 'demo-cars': 'demo-cars-128' };

/**
 * tiny: the golden checkpoint; ffhq / cars: random weights with the full released shapes; demo-faces / demo-cars:
 * the bundles in models/ (opened by `openBundle` with the folder name).
 */
export async function benchModels(
  read: (fixture: string) => Promise<Uint8Array>, names: string[],
  openBundle?: (dir: string) => Promise<{ manifest: BundleManifest; weights: RawWeights }>,
): Promise<BenchModel[]> {
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
    } else if (DEMO_BUNDLES[name] && openBundle) {
      const { manifest, weights } = await openBundle(DEMO_BUNDLES[name]);
      models.push({ name, weights, inputSize: manifest.inputSize });
    } else {
      throw new Error(`unknown benchmark model ${name} (tiny, ffhq, cars, demo-faces, demo-cars)`);
    }
  }
  return models;
}
