import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from './golden';
import { randomWeights } from '../suite/random-weights';
import { torchZip, type PickleDict } from './torch-writer';

export interface OfficialSpec {
  output_size: number;
  n_params_encoder: number;
  n_params_decoder: number;
  tensors: Record<string, number[]>;
}

export function officialSpec(model: 'ffhq' | 'cars'): OfficialSpec {
  return JSON.parse(readFileSync(join(FIXTURES, 'spec', 'official-checkpoint-layout.json'), 'utf8'))[model];
}

/**
 * A checkpoint with exactly the released layout (names and shapes from ../shared/spec), filled with random
 * numbers scaled so that a forward pass stays finite (see randomWeights).
 */
export function randomOfficialCheckpoint(model: 'ffhq' | 'cars', seed = 1): Uint8Array {
  const spec = officialSpec(model);
  const weights = randomWeights(spec.tensors, seed);
  const state: PickleDict = {};
  for (const name of Object.keys(spec.tensors)) state[name] = weights.get(name)!;
  return torchZip({
    state_dict: state,
    latent_avg: weights.get('latent_avg')!,
    opts: { output_size: spec.output_size, dataset_type: model === 'cars' ? 'cars_encode' : 'ffhq_encode', start_from_latent_avg: true, learn_in_w: false },
  });
}
