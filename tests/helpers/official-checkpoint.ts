import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from './golden';
import { randomNormal, torchZip, type PickleDict } from './torch-writer';

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
 * numbers scaled so that a forward pass stays finite: fan-in scaled weights, unit BatchNorm statistics.
 */
export function randomOfficialCheckpoint(model: 'ffhq' | 'cars', seed = 1): Uint8Array {
  const spec = officialSpec(model);
  const state: PickleDict = {};
  let n = seed;
  for (const [name, shape] of Object.entries(spec.tensors)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const noise = randomNormal(size, n++);
    let data: Float32Array;
    if (shape.length >= 2) {
      const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
      data = noise.map((v) => v / Math.sqrt(fanIn));
    } else if (name.endsWith('running_var')) {
      data = noise.map((v) => 1 + Math.abs(v) * 0.1);
    } else if (name.endsWith('.weight') && !name.includes('noise.weight')) {
      data = noise.map((v) => 1 + v * 0.1);
    } else {
      data = noise.map((v) => v * 0.1);
    }
    state[name] = { shape, data };
  }
  const latentAvg = { shape: [512], data: randomNormal(512, 999, 0.1) };
  return torchZip({
    state_dict: state,
    latent_avg: latentAvg,
    opts: { output_size: spec.output_size, dataset_type: model === 'cars' ? 'cars_encode' : 'ffhq_encode', start_from_latent_avg: true, learn_in_w: false },
  });
}
