import * as tf from '@tensorflow/tfjs-core';
import { PreviewResolution } from '../../src/engine/preview-resolution';
import { StyleTransformer } from '../../src/models/style-transformer';
import { RawWeights, type RawTensor } from '../../src/models/weights';

/** Timings of the three user-facing stages for one model on the current backend; shared by Node and Chromium. */
export interface BenchRow {
  backend: string;
  model: string;
  stage: string;
  medianMs: number;
  runs: number;
  peakMiB: number;
  /** The peak less what was resident before the stage (the model's weights): the stage's own working memory. */
  workingMiB: number;
}

export interface BenchModel {
  name: string;
  weights: Map<string, RawTensor> | RawWeights;
  inputSize: [number, number];
}

/**
 * `idleMs` before each timed run: a person's slider move or release comes after the engine sat idle, and a run
 * after idle is slower than one back to back (the CPU's caches and clocks cool, and wasm's thread pool sleeps).
 * On this 2-core VM, demo-faces 16 px preview: Chromium wasm 2 threads 17 -> 37 ms after 200 ms idle, Node wasm
 * 1 thread 15 -> 29 ms.
 */
async function time(run: () => tf.Tensor, idleMs = 0): Promise<number> {
  if (idleMs > 0) await new Promise((resolve) => setTimeout(resolve, idleMs));
  const started = performance.now();
  const out = run();
  await out.data(); // waits for the GPU too
  out.dispose();
  return performance.now() - started;
}

async function peak(run: () => tf.Tensor): Promise<{ peakMiB: number; workingMiB: number }> {
  const resident = tf.memory().numBytes;
  const info = await tf.profile(async () => {
    const out = run();
    await out.data();
    out.dispose();
  });
  return { peakMiB: info.peakBytes / 2 ** 20, workingMiB: (info.peakBytes - resident) / 2 ** 20 };
}

export async function benchModel(model: BenchModel, runs: number, log: (line: string) => void = () => {}, idleMs = 0): Promise<BenchRow[]> {
  const st = StyleTransformer.fromWeights(model.weights instanceof RawWeights ? model.weights : new RawWeights(model.weights));
  await st.ready();
  const [h, w] = model.inputSize;
  const size = st.generator.config.size;
  const image = tf.randomUniform([1, h, w, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
  const codes = st.invert(image);
  const rows: BenchRow[] = [];
  const measure = async (stage: string, run: () => tf.Tensor): Promise<number[]> => {
    await time(run); // warm-up: shader compilation, weight uploads
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) samples.push(await time(run, idleMs));
    const sorted = [...samples].sort((a, b) => a - b);
    const row = { backend: tf.getBackend(), model: model.name, stage, medianMs: sorted[Math.floor(sorted.length / 2)], runs, ...await peak(run) };
    log(`${row.backend.padEnd(7)} ${row.model.padEnd(22)} ${row.stage.padEnd(16)} ${row.medianMs.toFixed(1).padStart(9)} ms  peak ${row.peakMiB.toFixed(0)} MiB (${row.workingMiB.toFixed(0)} MiB above the weights)`);
    rows.push(row);
    return samples;
  };
  await measure(`encode ${h}x${w}`, () => st.invert(image));
  const kernel = st.encoder.kernelThreads;
  if (kernel) log(`        the encoder's convolution kernel ran on ${kernel.threads > 1 ? `${kernel.threads} threads; helpers ran ${(100 * kernel.helperUnits / kernel.units).toFixed(0)}% of its units` : '1 thread'}`);
  // The preview a drag shows, chosen as the editor chooses it (src/engine/preview-resolution.ts): from the full
  // picture's times, then from the previews' own over a drag of a dozen positions.
  const previews = new PreviewResolution(st.generator.config);
  for (const ms of await measure(`generate ${size}`, () => st.render(codes))) previews.observe(size, ms);
  for (let i = 0; i < 12; i++) {
    const r = previews.choose();
    previews.observe(r, await time(() => st.render(codes, { resolution: r }), idleMs));
  }
  const chosen = previews.choose();
  await measure(`preview ${chosen} (chosen)`, () => st.render(codes, { resolution: chosen }));
  tf.dispose([image, codes]);
  st.dispose();
  return rows;
}
