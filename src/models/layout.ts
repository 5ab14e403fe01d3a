import type { EncoderConfig } from './encoder';
import type { GeneratorConfig } from './stylegan2';

/**
 * The official state-dict layout (names and shapes) for a given architecture. The converter checks checkpoints
 * against it, so that a missing, extra or mis-shaped tensor is reported before anything runs.
 */
export type Layout = Map<string, number[]>;

const BUFFER = /(running_mean|running_var|num_batches_tracked|noises\.noise_\d+|\.kernel)$/;

/** Buffers are state, not learned parameters; the official parameter counts leave them out. */
export function isBuffer(name: string): boolean {
  return BUFFER.test(name);
}

export function generatorLayout(c: GeneratorConfig, prefix = ''): Layout {
  const out: Layout = new Map();
  const add = (name: string, shape: number[]) => out.set(prefix + name, shape);
  const d = c.styleDim;
  for (let i = 1; i <= c.nMlp; i++) {
    add(`style.${i}.weight`, [d, d]);
    add(`style.${i}.bias`, [d]);
  }
  const styled = (name: string, inC: number, outC: number, upsample: boolean) => {
    add(`${name}.conv.weight`, [1, outC, inC, 3, 3]);
    if (upsample) add(`${name}.conv.blur.kernel`, [4, 4]);
    add(`${name}.conv.modulation.weight`, [inC, d]);
    add(`${name}.conv.modulation.bias`, [inC]);
    add(`${name}.noise.weight`, [1]);
    add(`${name}.activate.bias`, [outC]);
  };
  const rgb = (name: string, inC: number, upsample: boolean) => {
    add(`${name}.bias`, [1, 3, 1, 1]);
    if (upsample) add(`${name}.upsample.kernel`, [4, 4]);
    add(`${name}.conv.weight`, [1, 3, inC, 1, 1]);
    add(`${name}.conv.modulation.weight`, [inC, d]);
    add(`${name}.conv.modulation.bias`, [inC]);
  };
  const c4 = c.channels[4];
  add('input.input', [1, c4, 4, 4]);
  styled('conv1', c4, c4, false);
  rgb('to_rgb1', c4, false);
  let inC = c4;
  for (let res = 8, i = 0; res <= c.size; res *= 2, i++) {
    const outC = c.channels[res];
    styled(`convs.${2 * i}`, inC, outC, true);
    styled(`convs.${2 * i + 1}`, outC, outC, false);
    rgb(`to_rgbs.${i}`, outC, true);
    inC = outC;
  }
  for (let i = 0; i < c.numLayers; i++) {
    const res = 2 ** Math.floor((i + 5) / 2);
    add(`noises.noise_${i}`, [1, 1, res, res]);
  }
  return out;
}

export function transformerLayout(dModel: number, ffn: number, prefix: string): Layout {
  const out: Layout = new Map();
  for (const attn of ['self_attn', 'multihead_attn']) {
    out.set(`${prefix}${attn}.in_proj_weight`, [3 * dModel, dModel]);
    out.set(`${prefix}${attn}.in_proj_bias`, [3 * dModel]);
    out.set(`${prefix}${attn}.out_proj.weight`, [dModel, dModel]);
    out.set(`${prefix}${attn}.out_proj.bias`, [dModel]);
  }
  out.set(`${prefix}linear1.weight`, [ffn, dModel]);
  out.set(`${prefix}linear1.bias`, [ffn]);
  out.set(`${prefix}linear2.weight`, [dModel, ffn]);
  out.set(`${prefix}linear2.bias`, [dModel]);
  for (const i of [1, 2, 3]) {
    out.set(`${prefix}norm${i}.weight`, [dModel]);
    out.set(`${prefix}norm${i}.bias`, [dModel]);
  }
  return out;
}

export function encoderLayout(c: EncoderConfig, prefix = ''): Layout {
  const out: Layout = new Map();
  const add = (name: string, shape: number[]) => out.set(prefix + name, shape);
  const bn = (name: string, ch: number) => {
    for (const p of ['weight', 'bias', 'running_mean', 'running_var']) add(`${name}.${p}`, [ch]);
    add(`${name}.num_batches_tracked`, []);
  };
  add('z', [1, c.nQueries, c.dModel]);
  add('input_layer.0.weight', [c.stemChannels, c.inputChannels, 3, 3]);
  bn('input_layer.1', c.stemChannels);
  add('input_layer.2.weight', [c.stemChannels]);
  let inC = c.stemChannels;
  let index = 0;
  c.stageUnits.forEach((units, s) => {
    const depth = c.stageDepths[s];
    for (let u = 0; u < units; u++, index++) {
      const unitIn = u === 0 ? inC : depth;
      const name = `body.${index}`;
      if (unitIn !== depth) {
        add(`${name}.shortcut_layer.0.weight`, [depth, unitIn, 1, 1]);
        bn(`${name}.shortcut_layer.1`, depth);
      }
      bn(`${name}.res_layer.0`, unitIn);
      add(`${name}.res_layer.1.weight`, [depth, unitIn, 3, 3]);
      add(`${name}.res_layer.2.weight`, [depth]);
      add(`${name}.res_layer.3.weight`, [depth, depth, 3, 3]);
      bn(`${name}.res_layer.4`, depth);
      const squeezed = Math.floor(depth / 16);
      add(`${name}.res_layer.5.fc1.weight`, [squeezed, depth, 1, 1]);
      add(`${name}.res_layer.5.fc2.weight`, [depth, squeezed, 1, 1]);
    }
    inC = depth;
  });
  add('latlayer1.weight', [c.dModel, c.stageDepths[2], 1, 1]);
  add('latlayer1.bias', [c.dModel]);
  add('latlayer2.weight', [c.dModel, c.stageDepths[1], 1, 1]);
  add('latlayer2.bias', [c.dModel]);
  for (const n of ['coarse', 'medium', 'fine']) {
    for (const [k, v] of transformerLayout(c.dModel, c.ffn, `${prefix}transformerlayer_${n}.`)) out.set(k, v);
  }
  return out;
}

export interface ClassifierConfig {
  fmaps: number[];
  nClasses: number;
  embedding: number;
}

export function classifierLayout(c: ClassifierConfig, prefix = ''): Layout {
  const out: Layout = new Map();
  for (let i = 0; i + 1 < c.fmaps.length; i++) {
    out.set(`${prefix}fcs.${i}.weight`, [c.fmaps[i + 1], c.fmaps[i]]);
    out.set(`${prefix}fcs.${i}.bias`, [c.fmaps[i + 1]]);
  }
  for (let i = 0; i < c.nClasses; i++) {
    out.set(`${prefix}indep_fcs.${i}.weight`, [c.embedding, c.fmaps[c.fmaps.length - 1]]);
    out.set(`${prefix}indep_fcs.${i}.bias`, [c.embedding]);
  }
  for (let i = 0; i < c.nClasses; i++) {
    out.set(`${prefix}output_fcs.${i}.weight`, [1, c.embedding]);
    out.set(`${prefix}output_fcs.${i}.bias`, [1]);
  }
  return out;
}

export interface LayoutReport {
  missing: string[];
  unexpected: string[];
  misshapen: Array<{ name: string; expected: number[]; found: number[] }>;
}

export function compareLayout(expected: Layout, found: Map<string, number[]>): LayoutReport {
  const missing = [...expected.keys()].filter((k) => !found.has(k));
  const unexpected = [...found.keys()].filter((k) => !expected.has(k));
  const misshapen = [...expected]
    .filter(([k, shape]) => found.has(k) && found.get(k)!.join(',') !== shape.join(','))
    .map(([name, shape]) => ({ name, expected: shape, found: found.get(name)! }));
  return { missing, unexpected, misshapen };
}
