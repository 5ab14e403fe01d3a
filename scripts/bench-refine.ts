/**
 * npm run bench:refine [-- --models demo-faces-gan-64,ffhq --steps 20 --backend wasm --resolution N --kernels --options '{...}']
 * npm run bench:refine -- --browser [--backend wasm] [--model demo-faces-gan-64]
 *   What a person waits in the page: Chromium (cross-origin isolated, every core) opens the app, each portrait of
 *   tests/fixtures/photos/faces is dropped in turn and refined by itself (the page's default refinement), and the
 *   time the page reports from the refinement's start to the refined picture is printed, with the median.
 * Pivotal tuning's cost and progress in Node (src/engine/refine.ts, as the app runs it): per model, the median
 * time of a step, the peak tensor memory over the run (tf.memory), and the loss at the first and the last step.
 * A shipped face bundle (its folder under models/) refines a real portrait at 64 px with the app's default
 * refinement (--options adds or overrides RefineOptions); ffhq is the released generator's full shape (random weights, so the
 * picture means nothing, but every layer has its real size), refined as the page refines it on this backend
 * (refinementPlan: at 64 px in 20 steps on wasm). Memory: the peak of tensor bytes (tfjs's count, where a view counts
 * again) and, on wasm, what the process really holds at the end: tfjs-wasm's heap (it only grows, so it is the peak)
 * plus the convolution kernel's memory. --kernels: where a step's time goes, by kernel (tf.profile's own timing; the
 * step's total then includes the profiler's overhead; the kernel's gradients run inside the backward pass, unlisted).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { fromRgb } from '../src/engine/image';
import { StudioModel } from '../src/engine/model';
import { refine, type RefineModel, type RefineOptions } from '../src/engine/refine';
import { DEFAULT_REFINEMENT, refinementPlan } from '../src/engine/refine-presets';
import { EditorSession } from '../src/engine/session';
import { Generator } from '../src/models/stylegan2';
import { RawWeights } from '../src/models/weights';
import { useNodeBackend, type NodeBackend } from '../src/node/backend';
import { useGradients } from '../src/node/gradients';
import { decodePhoto, nodeFaceDetector } from '../src/node/photo';
import { loadBundle } from '../src/weights/loader';
import { directoryFiles } from '../src/weights/node-files';
import { randomWeights } from '../tests/suite/random-weights';
import { defineCli, parseCli, usageError } from './cli';
import { withDevServerAndChromium } from './dev-browser';

const ROOT = join(import.meta.dirname, '..');

async function subject(name: string): Promise<{ model: RefineModel; aligned: tf.Tensor4D; codes: tf.Tensor3D; resolution: number; options: RefineOptions; kernelBytes(): number; dispose(): void }> {
  if (name.startsWith('demo-faces')) {
    const { manifest, weights } = await loadBundle(directoryFiles(join(ROOT, 'models', name === 'demo-faces' ? 'demo-faces-64' : name)));
    const model = await StudioModel.load(manifest, weights);
    const session = new EditorSession(model, await nodeFaceDetector());
    await session.setPhoto(await decodePhoto(new Uint8Array(await readFile(join(ROOT, 'tests', 'fixtures', 'photos', 'faces', 'obama.jpg'))), 'obama.jpg'));
    const aligned = fromRgb(await session.frame(session.defaultFraming()));
    await session.invert();
    const snapshot = (await session.snapshot())!;
    session.dispose();
    return { model, aligned, codes: tf.tensor3d(snapshot.codes, snapshot.codesShape), resolution: 64, options: DEFAULT_REFINEMENT, kernelBytes: () => model.generator.kernel?.bytes ?? 0, dispose: () => model.dispose() };
  }
  if (name === 'ffhq') {
    const spec = JSON.parse(await readFile(join(ROOT, 'tests', 'fixtures', 'spec', 'official-checkpoint-layout.json'), 'utf8')).ffhq;
    const decoder = Object.fromEntries(Object.entries(spec.tensors as Record<string, number[]>).filter(([k]) => k.startsWith('decoder.module.')));
    const generator = new Generator(new RawWeights(randomWeights(decoder)).scope('decoder.module.'));
    const model: RefineModel = {
      generator,
      manifest: { outputSize: generator.config.size, outputCrop: null, directions: [] },
      render: (codes, options = {}) => generator.synthesize(codes, { resolution: options.resolution, tuned: options.tuned }),
      applyEdits: (codes) => tf.clone(codes),
    };
    const plan = refinementPlan(true, generator.config.size, tf.getBackend());
    return {
      model, resolution: plan.resolution ?? Math.min(generator.config.size, 256), options: plan, kernelBytes: () => generator.kernel?.bytes ?? 0,
      aligned: tf.randomUniform([1, 256, 256, 3], -1, 1, 'float32', 1) as tf.Tensor4D,
      codes: tf.randomNormal([1, generator.config.nLatent, generator.config.styleDim], 0, 1, 'float32', 2) as tf.Tensor3D,
      dispose: () => generator.dispose(),
    };
  }
  throw new Error(`unknown model ${name} (a demo face bundle such as demo-faces-gan-64, or ffhq)`);
}

/** Each portrait refined by the page itself; the time the page reports for each, and the median. */
async function inTheBrowser(backend: string, model: string | undefined) {
  const folder = join(ROOT, 'tests', 'fixtures', 'photos', 'faces');
  const photos = (await readdir(folder)).filter((f) => /\.jpe?g$/i.test(f) && !f.startsWith('two_people')).sort();
  await withDevServerAndChromium(5189, async (browser) => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`http://127.0.0.1:5189/?backend=${backend}${model ? `&model=${model}` : ''}`);
    await page.getByTestId('model-summary').waitFor({ timeout: 240_000 });
    const threads = await page.evaluate(() => (self.crossOriginIsolated ? navigator.hardwareConcurrency : 1));
    console.log(`${await page.getByLabel('model').inputValue()} on ${await page.getByTestId('backend').textContent()} in Chromium (${threads} logical cores, cross-origin isolated: ${threads > 1})`);
    const seconds: number[] = [];
    for (const photo of photos) {
      const figures = page.getByTestId('refine-figures');
      await page.getByTestId('photo-input').setInputFiles(join(folder, photo));
      if (seconds.length) await figures.waitFor({ state: 'detached', timeout: 600_000 }); // the last photo's go when this one's refinement starts
      await figures.waitFor({ timeout: 600_000 });
      const text = (await figures.textContent())!;
      seconds.push(Number(/refined in (\d+\.\d+) s/.exec(text)![1]));
      console.log(`  ${photo}: ${text.trim()}`);
    }
    seconds.sort((a, b) => a - b);
    console.log(`median ${seconds[Math.floor(seconds.length / 2)].toFixed(1)} s a face over ${seconds.length} portraits`);
  });
}

const CLI = defineCli({
  name: 'bench:refine',
  usage: 'usage: npm run bench:refine [-- options]',
  about: 'Pivotal tuning\'s cost: in Node, per model, the median step, peak tensor memory and the loss at the first and last step; with\n--browser, what a person waits in the page for each gallery portrait refined by itself.',
  options: {
    models: { type: 'string', default: 'demo-faces-gan-64,ffhq', value: '<a,b>', help: 'shipped face bundles (folders under models/) or ffhq (the released shape, random weights)' },
    steps: { type: 'string', value: '<n>', help: 'steps timed per model (default: the page\'s for that model here)' },
    backend: { type: 'string', default: 'wasm', value: '<name>', help: 'the tfjs backend' },
    resolution: { type: 'string', value: '<px>', help: 'the tuning resolution (default: the model\'s own, 256 for ffhq)' },
    kernels: { type: 'boolean', default: false, help: 'where a step\'s time goes, by kernel (tf.profile)' },
    options: { type: 'string', default: '{}', value: '<json>', help: 'RefineOptions added to or overriding the page\'s refinement' },
    browser: { type: 'boolean', default: false, help: 'in Chromium through the page instead of Node' },
    model: { type: 'string', value: '<bundle>', help: '--browser: the model the page opens (default: the catalogue\'s)' },
  },
});

async function main() {
  const { values } = parseCli(CLI);
  if (values.browser) return inTheBrowser(values.backend, values.model);
  let extra: RefineOptions = {};
  try {
    extra = JSON.parse(values.options) as RefineOptions;
  } catch {
    usageError(CLI, `--options takes JSON such as {"learningRate":0.001}; got ${values.options}`);
  }
  await useNodeBackend(values.backend as NodeBackend);
  useGradients();
  console.log(`backend model        resolution  steps  median step ms  a face (s)  peak tensor MiB  wasm heap + kernel MiB  loss first -> last  (${tf.getBackend()})`);
  for (const name of values.models.split(',')) {
    const s = await subject(name);
    if (values.resolution) s.resolution = Number(values.resolution);
    const steps = Number(values.steps ?? (s.options.steps ?? 20));
    const times: number[] = [];
    const losses: number[] = [];
    let last = performance.now();
    let result: Awaited<ReturnType<typeof refine>> | null = null;
    // tf.profile tracks the engine's peak of tensor bytes over the whole run
    const info = await tf.profile(async () => {
      result = await refine(s.model, s.aligned, s.codes, {
        ...s.options, ...extra, steps, resolution: s.resolution,
        onProgress: (p) => {
          const now = performance.now();
          times.push(now - last);
          last = now;
          losses.push(p.loss);
        },
      });
    });
    const { codes, refinement, ms } = result!;
    const peak = info.peakBytes;
    if (values.kernels) {
      const byName = new Map<string, { ms: number; calls: number }>();
      for (const k of info.kernels) {
        const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
        const entry = byName.get(k.name) ?? { ms: 0, calls: 0 };
        byName.set(k.name, { ms: entry.ms + ms, calls: entry.calls + 1 });
      }
      const total = [...byName.values()].reduce((a, b) => a + b.ms, 0);
      console.log(`kernels over ${steps} steps (${(total / steps).toFixed(0)} ms of kernel time a step):`);
      for (const [kernel, { ms, calls }] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15)) {
        console.log(`  ${kernel.padEnd(28)} ${(ms / steps).toFixed(1).padStart(7)} ms/step  ${(100 * ms / total).toFixed(1).padStart(5)}%  ${(calls / steps).toFixed(0).padStart(5)} calls/step`);
      }
      // where the memory goes: the largest single outputs, and the tensors held when the peak was reached
      const largest = [...info.kernels].sort((a, b) => b.bytesAdded - a.bytesAdded).slice(0, 6);
      console.log('largest outputs:');
      for (const k of largest) console.log(`  ${k.name.padEnd(28)} ${(k.bytesAdded / 2 ** 20).toFixed(0).padStart(6)} MiB  ${JSON.stringify(k.inputShapes)} -> ${JSON.stringify(k.outputShapes)}`);
      const atPeak = info.kernels.reduce((a, b) => (b.totalBytesSnapshot > a.totalBytesSnapshot ? b : a));
      console.log(`peak after ${atPeak.name} ${JSON.stringify(atPeak.inputShapes)}: ${(atPeak.totalBytesSnapshot / 2 ** 20).toFixed(0)} MiB held`);
    }
    const heap = (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8.length;
    const held = heap === undefined ? 'n/a' : `${((heap + s.kernelBytes()) / 2 ** 20).toFixed(0)} (${(heap / 2 ** 20).toFixed(0)} + ${(s.kernelBytes() / 2 ** 20).toFixed(0)})`;
    const seconds = ms / 1000; // the whole refinement, as the page times it (without --kernels' profiler overhead)
    times.sort((a, b) => a - b);
    console.log(`${tf.getBackend().padEnd(7)} ${name.padEnd(12)} ${String(s.resolution).padStart(10)} ${String(steps).padStart(6)} ${times[Math.floor(times.length / 2)].toFixed(0).padStart(15)} ${seconds.toFixed(1).padStart(11)} ${(peak / 2 ** 20).toFixed(0).padStart(16)} ${held.padStart(23)}  ${losses[0].toFixed(4)} -> ${losses.at(-1)!.toFixed(4)}`);
    tf.dispose([codes, s.aligned, s.codes]);
    refinement.dispose();
    s.dispose();
  }
}

void main();
