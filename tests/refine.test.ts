import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterGradient, minimizeReleasing, spaceToDepth } from '../src/engine/gradients';
import { fromRgb } from '../src/engine/image';
import { StudioModel } from '../src/engine/model';
import { RefineCancelled, Refinement, reconstructionError, refinementTarget } from '../src/engine/refine';
import { EditorSession } from '../src/engine/session';
import { convolution, upsampleTransposed } from '../src/models/ops/conv2d';
import { polyphaseFilter, separableBlur, transposedPhaseFilters } from '../src/models/ops/upsample';
import type { LayerParameters } from '../src/models/stylegan2';
import { useNodeBackend } from '../src/node/backend';
import { useGradients } from '../src/node/gradients';
import { decodePhoto, nodeFaceDetector } from '../src/node/photo';
import { loadBundle } from '../src/weights/loader';
import { directoryFiles } from '../src/weights/node-files';
import { FIXTURES } from './helpers/golden';

/**
 * Pivotal tuning (src/engine/refine.ts). Its gradients are tfjs's own plus the two we register (DepthToSpace, and
 * convolution gradients from forward convolutions where wasm lacks the backprop kernels): checked against finite
 * differences on the golden tiny generator, and wasm's against the cpu backend's (tfjs's own kernels).
 */
const ROOT = join(import.meta.dirname, '..');
const open = async (dir: string) => {
  const { manifest, weights } = await loadBundle(directoryFiles(join(ROOT, 'models', dir)));
  return await StudioModel.load(manifest, weights);
};
let tiny: StudioModel;

beforeAll(async () => {
  await useNodeBackend('wasm');
  useGradients();
  tiny = await open('golden-tiny');
});
afterAll(() => tiny.dispose());

/** A fixed random readout of the generator's picture: a scalar whose gradient reaches every tuned parameter. */
function readout(model: StudioModel, codes: tf.Tensor3D, parameters: Map<string, LayerParameters>): tf.Scalar {
  return tf.tidy(() => {
    const picture = model.render(codes, { tuned: model.generator.tunedLayers(parameters) });
    const weights = tf.randomNormal(picture.shape, 0, 1, 'float32', 7);
    return tf.sum(tf.mul(picture, weights)) as tf.Scalar;
  });
}

async function gradients(backend: 'wasm' | 'cpu', names: string[]) {
  await useNodeBackend(backend);
  const codes = tf.randomNormal([1, tiny.manifest.nQueries, tiny.manifest.generator.styleDim], 0, 1, 'float32', 3) as tf.Tensor3D;
  const parameters = tiny.generator.parameters(tiny.manifest.outputSize);
  const variables = new Map([...parameters].map(([n, p]) => [n, { weight: tf.variable(p.weight), modW: tf.variable(p.modW), modB: tf.variable(p.modB), bias: tf.variable(p.bias) }]));
  const list = names.map((n) => variables.get(n)!.weight as tf.Variable);
  const { grads } = tf.variableGrads(() => readout(tiny, codes, variables as unknown as Map<string, LayerParameters>), list);
  const out = names.map((_, i) => Array.from(grads[list[i].name].dataSync()));
  tf.dispose([codes, ...Object.values(grads), ...[...variables.values()].flatMap((v) => Object.values(v))]);
  for (const p of parameters.values()) tf.dispose(Object.values(p));
  return { out, parameters: names };
}

/**
 * The largest difference, per tensor `compute` gives, between the cpu backend (tfjs's own gradients) and wasm (the
 * forward-only ones of src/engine/gradients.ts); wasm is the backend afterwards.
 */
async function wasmAgainstCpu(compute: () => tf.Tensor[]): Promise<number[]> {
  const values = async (backend: 'cpu' | 'wasm') => {
    await useNodeBackend(backend);
    return tf.tidy(() => compute().map((t) => Array.from(t.dataSync())));
  };
  const cpu = await values('cpu');
  const wasm = await values('wasm');
  return cpu.map((c, i) => Math.max(...c.map((v, j) => Math.abs(v - wasm[i][j]))));
}

describe('gradients through the generator', () => {
  it('SpaceToDepth undoes DepthToSpace', () => {
    const x = tf.randomNormal([2, 3, 4, 8], 0, 1, 'float32', 1) as tf.Tensor4D;
    expect(tf.max(tf.abs(tf.sub(spaceToDepth(tf.depthToSpace(x, 2), 2), x))).dataSync()[0]).toBe(0);
    x.dispose();
  });

  it('the filter gradient is the same by one convolution and by one product per tap, and equals tfjs\'s (cpu)', async () => {
    await useNodeBackend('cpu');
    for (const [k, pad] of [[3, 1], [1, 'valid'], [3, 'same']] as const) {
      const x = tf.randomNormal([2, 9, 7, 5], 0, 1, 'float32', 5) as tf.Tensor4D;
      const w = tf.randomNormal([k, k, 5, 6], 0, 1, 'float32', 6) as tf.Tensor4D;
      const dy = tf.randomNormal(tf.conv2d(x, w, 1, pad).shape, 0, 1, 'float32', 8) as tf.Tensor4D;
      const truth = tf.grad((filter: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, filter as tf.Tensor4D, 1, pad), dy)))(w);
      for (const limit of [Infinity, 0]) {
        const ours = filterGradient(x, dy, w.shape, pad, limit);
        expect(tf.max(tf.abs(tf.sub(ours, truth))).dataSync()[0], `k ${k}, pad ${pad}, limit ${limit}`).toBeLessThan(1e-4);
        ours.dispose();
      }
      tf.dispose([x, w, dy, truth]);
    }
    await useNodeBackend('wasm');
  });

  it('the upsampling layer differentiates the same in its two forms: transposed phases (wasm, cpu) and the polyphase filter (GPUs)', async () => {
    for (const backend of ['cpu', 'wasm'] as const) {
      await useNodeBackend(backend);
      const [polyphase, transposed] = tf.tidy(() => {
        const x = tf.randomNormal([1, 5, 6, 8], 0, 1, 'float32', 31) as tf.Tensor4D;
        const w = tf.randomNormal([3, 3, 8, 8], 0, 1, 'float32', 32) as tf.Tensor4D;
        const r = tf.randomNormal([1, 10, 12, 8], 0, 1, 'float32', 33);
        const through = (form: (filter: tf.Tensor4D) => tf.Tensor4D) => tf.grad((filter: tf.Tensor) => tf.sum(tf.mul(form(filter as tf.Tensor4D), r)))(w);
        const byPolyphase = (filter: tf.Tensor4D) => convolution(x, polyphaseFilter(filter), 1, undefined, true);
        const byPhases = (filter: tf.Tensor4D) => upsampleTransposed(x, transposedPhaseFilters(filter), separableBlur(8));
        expect(tf.max(tf.abs(tf.sub(byPolyphase(w), byPhases(w)))).dataSync()[0], backend).toBeLessThan(1e-4);
        return [through(byPolyphase), through(byPhases)];
      });
      expect(tf.max(tf.abs(tf.sub(polyphase, transposed))).dataSync()[0], backend).toBeLessThan(1e-3);
      expect(tf.max(tf.abs(polyphase)).dataSync()[0]).toBeGreaterThan(0.1);
      tf.dispose([polyphase, transposed]);
    }
  });

  it('a convolution with explicit pads (the transposed phases\') differentiates on wasm as tfjs\'s own gradients do on cpu', async () => {
    const [input, filter] = await wasmAgainstCpu(() => {
      const x = tf.randomNormal([1, 7, 6, 4], 0, 1, 'float32', 41) as tf.Tensor4D;
      const w = tf.randomNormal([2, 1, 4, 5], 0, 1, 'float32', 42) as tf.Tensor4D;
      const pad = [[0, 0], [1, 1], [0, 1], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]];
      const r = tf.randomNormal(tf.conv2d(x, w, 1, pad).shape, 0, 1, 'float32', 43);
      return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, pad), r)))([x, w]);
    });
    expect(input, 'input').toBeLessThan(1e-4);
    expect(filter, 'filter').toBeLessThan(1e-4);
  });

  it('the SSIM window\'s input gradient on wasm (a depthwise convolution by the flipped window) equals the cpu backend\'s', async () => {
    const [input] = await wasmAgainstCpu(() => {
      const x = tf.randomNormal([1, 16, 13, 3], 0, 1, 'float32', 21) as tf.Tensor4D;
      const k = tf.randomNormal([5, 4, 3, 1], 0, 1, 'float32', 22) as tf.Tensor4D;
      const weights = tf.randomNormal([1, 12, 10, 3], 0, 1, 'float32', 23);
      return [tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, k, 1, 'valid'), weights)))(x)];
    });
    expect(input).toBeLessThan(1e-4);
  });

  it('match central finite differences (cpu): exactly where the picture is linear in the weight, to first order elsewhere', async () => {
    // Along random directions (one entry at a time drowns in float32 rounding). An RGB layer's output is linear in
    // its weight, so the difference quotient is exact there; the 3x3 layers pass through demodulation and leaky
    // ReLU kinks (the random golden network has many), so there the gradient must explain most of a small change.
    await useNodeBackend('cpu');
    const codes = tf.randomNormal([1, tiny.manifest.nQueries, tiny.manifest.generator.styleDim], 0, 1, 'float32', 3) as tf.Tensor3D;
    const parameters = tiny.generator.parameters(tiny.manifest.outputSize);
    for (const [name, relativeStep, tolerance] of [['to_rgbs.0', 1e-2, 1e-3], ['to_rgbs.2', 1e-2, 1e-3], ['convs.0', 3e-4, 0.2], ['convs.1', 3e-4, 0.2]] as const) {
      const p = parameters.get(name)!;
      const weight = tf.variable(p.weight);
      const withWeight = (w: tf.Tensor) => new Map([...parameters].map(([n, q]) => [n, n === name ? { ...q, weight: w as tf.Tensor4D } : q]));
      const { grads } = tf.variableGrads(() => readout(tiny, codes, withWeight(weight)), [weight]);
      for (const seed of [11, 12]) {
        const [analytic, numeric] = tf.tidy(() => {
          const direction = tf.randomNormal(p.weight.shape, 0, 1, 'float32', seed);
          const eps = relativeStep * tf.norm(p.weight).dataSync()[0] / tf.norm(direction).dataSync()[0];
          const at = (sign: number) => readout(tiny, codes, withWeight(tf.add(p.weight, tf.mul(direction, sign * eps)))).dataSync()[0];
          return [tf.sum(tf.mul(grads[weight.name], direction)).dataSync()[0], (at(1) - at(-1)) / (2 * eps)];
        });
        expect(Math.abs(numeric - analytic), `${name}: ${numeric} vs ${analytic}`).toBeLessThan(tolerance * Math.abs(numeric));
      }
      tf.dispose([weight, ...Object.values(grads)]);
    }
    tf.dispose([codes]);
    for (const p of parameters.values()) tf.dispose(Object.values(p));
    await useNodeBackend('wasm');
  });

  it('on wasm (forward-convolution gradients) equal the cpu backend\'s (tfjs\'s own backprop kernels)', async () => {
    const names = ['conv1', 'convs.0', 'convs.3', 'to_rgbs.1'];
    const cpu = await gradients('cpu', names);
    const wasm = await gradients('wasm', names);
    for (const [i, name] of names.entries()) {
      const scale = Math.max(...cpu.out[i].map(Math.abs));
      const worst = Math.max(...cpu.out[i].map((v, j) => Math.abs(v - wasm.out[i][j])));
      expect(worst / scale, name).toBeLessThan(1e-4);
    }
  });
  it('minimizeReleasing takes the step optimizer.minimize takes, holding less at its peak', async () => {
    // tfjs keeps every gradient of the backward pass to its end; the releasing walk frees each once used.
    const codes = tf.randomNormal([1, tiny.manifest.nQueries, tiny.manifest.generator.styleDim], 0, 1, 'float32', 3) as tf.Tensor3D;
    const parameters = tiny.generator.parameters(tiny.manifest.outputSize);
    const step = async (releasing: boolean) => {
      const variables = new Map([...parameters].map(([n, p]) => [n, { weight: tf.variable(p.weight), modW: tf.variable(p.modW), modB: tf.variable(p.modB), bias: tf.variable(p.bias) }]));
      const list = [...variables.values()].flatMap((v) => [v.weight, v.modW, v.modB, v.bias]) as tf.Variable[];
      const optimizer = tf.train.adam(1e-2);
      const f = () => readout(tiny, codes, variables as unknown as Map<string, LayerParameters>);
      let cost: tf.Scalar | null = null;
      const before = tf.memory().numTensors;
      const { peakBytes } = await tf.profile(() => {
        for (let i = 0; i < 2; i++) {
          cost?.dispose();
          cost = releasing ? minimizeReleasing(optimizer, f, list) : optimizer.minimize(f, true, list)!;
        }
      });
      const held = tf.memory().numTensors - before; // the cost, and Adam's two moments per variable
      const values = [cost!.dataSync()[0], ...list.map((v) => Array.from(v.dataSync()))];
      optimizer.dispose();
      tf.dispose([cost!, ...list]);
      return { values: values as [number, ...number[][]], peakBytes, held };
    };
    const own = await step(false);
    const releasing = await step(true);
    expect(releasing.values[0]).toBe(own.values[0]);
    for (let i = 1; i < own.values.length; i++) expect(releasing.values[i]).toEqual(own.values[i]);
    expect(releasing.held).toBe(own.held);
    expect(releasing.peakBytes).toBeLessThan(0.95 * own.peakBytes); // tfjs holds each used gradient to the end (12% more here)
    tf.dispose([codes]);
    for (const p of parameters.values()) tf.dispose(Object.values(p));
  });
});

describe('refine', () => {
  const face = async () => {
    const session = new EditorSession(tiny, null);
    await session.setPhoto(await decodePhoto(new Uint8Array(await readFile(join(FIXTURES, 'photos', 'faces', 'obama.jpg'))), 'obama.jpg'), 'subject', false);
    await session.frame({ kind: 'resize' });
    await session.invert();
    return session;
  };

  it('lowers the error, renders every edit through the tuned layers, and keeps tensor memory flat', async () => {
    const session = await face();
    const plainEdit = (await session.render([{ direction: 'smile', value: 3 }])).image;
    const first = await session.refine({ steps: 12 });
    expect(first.after.mse).toBeLessThan(first.before.mse);
    const tunedEdit = (await session.render([{ direction: 'smile', value: 3 }])).image;
    expect(tunedEdit.data.some((v, i) => v !== plainEdit.data[i])).toBe(true);
    const count = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await session.refine({ steps: 4 });
    expect(tf.memory().numTensors).toBe(count); // each refinement replaces the last, nothing accumulates
    session.dispose();
  });

  it('cancelled, keeps the encoder\'s result and nothing else', async () => {
    const session = await face();
    const before = await session.exportCodes();
    const reconstruction = (await session.render([])).image;
    const count = tf.memory().numTensors;
    const signal = { aborted: false };
    await expect(session.refine({ steps: 50, signal, onProgress: (p) => { if (p.step === 3) signal.aborted = true; } })).rejects.toBeInstanceOf(RefineCancelled);
    expect(tf.memory().numTensors).toBe(count);
    expect(session.refined()).toBeNull();
    expect(Array.from((await session.exportCodes()).data)).toEqual(Array.from(before.data));
    expect(Array.from((await session.render([])).image.data)).toEqual(Array.from(reconstruction.data));
    session.dispose();
  });

  it('survives storage: the snapshot\'s tuned layers render the same pixels in a new session', async () => {
    const session = await face();
    await session.refine({ steps: 6 });
    const edit = [{ direction: 'smile', value: 2 }];
    const edited = (await session.render(edit)).image;
    const snapshot = structuredClone((await session.snapshot())!);
    expect(snapshot.refinement?.steps).toBe(6);
    const photo = await decodePhoto(new Uint8Array(await readFile(join(FIXTURES, 'photos', 'faces', 'obama.jpg'))), 'obama.jpg');
    session.dispose();
    const again = new EditorSession(tiny, null);
    again.restore(photo, snapshot);
    expect(again.refined()).toEqual({ steps: 6, resolution: tiny.manifest.outputSize });
    expect(Array.from((await again.render(edit)).image.data)).toEqual(Array.from(edited.data));
    again.dispose();
    expect(() => Refinement.fromData(tiny, { ...snapshot.refinement!, layers: {} })).toThrow(/lacks layer/);
  });

  it('with detail maps: lowers the error further, keeps them per photo through storage, refuses a map of the wrong size', async () => {
    const size = tiny.manifest.outputSize;
    const plain = await face();
    const withoutMaps = await plain.refine({ steps: 8 });
    plain.dispose();
    const session = await face();
    const count = tf.memory().numTensors;
    const withMaps = await session.refine({ steps: 8, detailLearningRate: 0.01, detailFrom: size });
    expect(withMaps.after.mse).toBeLessThan(withoutMaps.after.mse);
    const snapshot = structuredClone((await session.snapshot())!);
    const maps = Object.entries(snapshot.refinement!.details ?? {});
    expect(maps.map(([, m]) => m.shape)).toEqual(tiny.generator.styledLayers(size, size).map(() => [1, size, size, 1]));
    expect(maps.every(([, m]) => m.data.some((v) => v !== 0))).toBe(true);
    const edit = [{ direction: 'smile', value: 2 }];
    const edited = (await session.render(edit)).image;
    const photo = await decodePhoto(new Uint8Array(await readFile(join(FIXTURES, 'photos', 'faces', 'obama.jpg'))), 'obama.jpg');
    session.dispose();
    const again = new EditorSession(tiny, null);
    again.restore(photo, snapshot);
    expect(Array.from((await again.render(edit)).image.data)).toEqual(Array.from(edited.data));
    again.dispose();
    const [name, map] = maps[0];
    const wrong = { ...snapshot.refinement!, details: { [name]: { shape: [1, size / 2, size / 2, 1], data: map.data.slice(0, (size / 2) ** 2) } } };
    expect(() => Refinement.fromData(tiny, wrong)).toThrow(/detail map/);
    expect(tf.memory().numTensors).toBeLessThanOrEqual(count);
  });

  it('makes a real portrait the person on the demo face model (MSE, SSIM, face-api distance)', async () => {
    const model = await open('demo-faces-64');
    const session = new EditorSession(model, await nodeFaceDetector());
    await session.setPhoto(await decodePhoto(new Uint8Array(await readFile(join(FIXTURES, 'photos', 'faces', 'obama.jpg'))), 'obama.jpg'));
    const aligned = await session.frame(session.defaultFraming());
    const inverted = await session.invert();
    const refined = await session.refine({ steps: 40 });
    console.log(`obama.jpg, 40 steps: MSE ${refined.before.mse.toFixed(4)} -> ${refined.after.mse.toFixed(4)}, SSIM ${refined.before.ssim.toFixed(3)} -> ${refined.after.ssim.toFixed(3)}, face-api distance ${inverted.identity?.toFixed(3)} -> ${refined.identity?.toFixed(3)}, ${(refined.ms / 1000).toFixed(1)} s`);
    expect(refined.after.mse).toBeLessThan(refined.before.mse * 0.7);
    expect(refined.after.ssim).toBeGreaterThan(refined.before.ssim + 0.1);
    expect(refined.identity!).toBeLessThan(inverted.identity!);
    // The error is the one the engine's own reconstruction reports.
    const input = fromRgb(aligned);
    const target = refinementTarget(model, input, 64);
    const snapshot = (await session.snapshot())!;
    const codes = tf.tensor3d(snapshot.codes, snapshot.codesShape);
    const layers = Refinement.fromData(model, snapshot.refinement!);
    expect(reconstructionError(model, codes, target, layers.layers).mse).toBeCloseTo(refined.after.mse, 6);
    tf.dispose([input, target, codes]);
    layers.dispose();
    session.dispose();
    model.dispose();
  }, 300_000);
});
