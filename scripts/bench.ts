/**
 * npm run bench                         Node: wasm and cpu backends
 * npm run bench -- --browser            Chromium: webgpu (SwiftShader here), webgl, wasm
 * npm run bench -- --pytorch            also times the official FFHQ shapes in PyTorch (/usr/bin/python3 with torch,
 *                                       models/training/bench_torch.py) on one thread and on every core, and prints
 *                                       the ratio per stage
 * Options: --models tiny,ffhq,cars,demo-faces,demo-cars (default: all)  --runs N  --backends a,b  --cpu-full (the cpu backend on the full models too)
 *          --idle MS: the engine sits idle MS before each timed run, as between a person's actions (default 0: back to back)
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { useNodeBackend, wasmThreadCount, type NodeBackend } from '../src/node/backend';
import { benchModel, type BenchRow } from '../tests/suite/bench-suite';
import { defineCli, parseCli } from './cli';
import { withDevServerAndChromium } from './dev-browser';
import { benchModels } from '../tests/suite/bench-models';
import { loadBundle } from '../src/weights/loader';
import { directoryFiles } from '../src/weights/node-files';

const FIXTURES = join(import.meta.dirname, '..', 'tests', 'fixtures');
const MODELS = join(import.meta.dirname, '..', 'models');

const CLI = defineCli({
  name: 'bench',
  usage: 'usage: npm run bench [-- options]',
  about: 'Times the engine\'s stages (encode, generate, preview, edit) per model and backend, with peak tensor memory: in Node by\ndefault, in Chromium with --browser, beside PyTorch with --pytorch.',
  options: {
    browser: { type: 'boolean', default: false, help: 'in Chromium (webgpu on SwiftShader here, webgl, wasm) instead of Node' },
    models: { type: 'string', default: 'tiny,ffhq,cars,demo-faces,demo-cars', value: '<a,b>', help: 'the models to time' },
    backends: { type: 'string', value: '<a,b>', help: 'the backends (default: wasm,cpu in Node; webgpu,webgl,wasm in Chromium)' },
    runs: { type: 'string', default: '3', value: '<n>', help: 'timed runs after a warm-up (the median is printed)' },
    'cpu-full': { type: 'boolean', default: false, help: 'the cpu backend on the full-size models too' },
    pytorch: { type: 'boolean', default: false, help: 'also time the official shapes in PyTorch (/usr/bin/python3) and print the ratios' },
    idle: { type: 'string', default: '0', value: '<ms>', help: 'the engine sits idle this long before each timed run' },
  },
});

async function node(models: string[], backends: string[], runs: number, cpuFull: boolean, idleMs: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const read = async (p: string) => new Uint8Array(await readFile(join(FIXTURES, p)));
  for (const backend of backends) {
    await useNodeBackend(backend as NodeBackend);
    if (backend === 'wasm') console.log(`wasm runs ${wasmThreadCount()} thread(s) in Node; the encoder's convolution kernel runs on every core (${availableParallelism()})`);
    const names = backend === 'cpu' && !cpuFull ? models.filter((m) => m === 'tiny' || m.startsWith('demo-')) : models;
    for (const model of await benchModels(read, names, (dir) => loadBundle(directoryFiles(join(MODELS, dir))))) rows.push(...await benchModel(model, runs, console.log, idleMs));
  }
  return rows;
}

async function browser(models: string[], backends: string[], runs: number, idleMs: number): Promise<BenchRow[]> {
  return withDevServerAndChromium(5184, async (chrome) => {
    const rows: BenchRow[] = [];
    for (const backend of backends) {
      const page = await chrome.newPage();
      page.on('console', (m) => { if (m.text().startsWith('bench: ')) console.log(m.text().slice(7)); });
      await page.goto(`http://127.0.0.1:5184/harness/bench.html?backend=${backend}&models=${models.join(',')}&runs=${runs}&idle=${idleMs}`);
      await page.waitForFunction(() => (window as { benchReport?: unknown }).benchReport !== undefined, undefined, { timeout: 0 });
      const report = await page.evaluate(() => (window as unknown as { benchReport: { rows: BenchRow[]; error?: string } }).benchReport);
      if (report.error) console.log(`${backend}: ${report.error}`);
      rows.push(...report.rows);
      await page.close();
    }
    return rows;
  });
}

async function main() {
  const { values } = parseCli(CLI);
  const models = values.models.split(',');
  const runs = Number(values.runs);
  const idleMs = Number(values.idle);
  console.log(`backend model                  stage             median ms  peak tensor memory (runs: ${runs} after a warm-up${idleMs ? `, each after ${idleMs} ms idle` : ''})`);
  const rows = values.browser
    ? await browser(models, (values.backends ?? 'webgpu,webgl,wasm').split(','), runs, idleMs)
    : await node(models, (values.backends ?? 'wasm,cpu').split(','), runs, values['cpu-full'], idleMs);
  if (values.pytorch) await comparePyTorch(rows, runs);
}

/**
 * The official FFHQ rows against PyTorch on the same CPU: with 1 thread and with every core (the page's wasm and the
 * encoder's kernel use every core; Node's tfjs-wasm one, its encoder kernel every core).
 */
async function comparePyTorch(rows: BenchRow[], runs: number): Promise<void> {
  const python = '/usr/bin/python3';
  if (!existsSync(python)) {
    console.log(`--pytorch: ${python} is not installed; nothing to compare with`);
    return;
  }
  const official = rows.filter((r) => r.model === 'official ffhq shapes');
  if (!official.length) {
    console.log('--pytorch compares the official ffhq shapes: add ffhq to --models');
    return;
  }
  for (const n of [1, availableParallelism()]) {
    let torch: { threads: number; torch: string; ms: Record<string, number> };
    try {
      const { stdout } = await promisify(execFile)(python, ['bench_torch.py', '--threads', String(n), '--runs', String(runs)], { cwd: join(import.meta.dirname, '..', 'models', 'training'), maxBuffer: 1 << 20 });
      torch = JSON.parse(stdout.trim().split('\n').at(-1)!);
    } catch (error) {
      console.log(`--pytorch: PyTorch could not run (${(error as Error).message.split('\n')[0]}); is python3-torch installed?`);
      return;
    }
    console.log(`\nofficial ffhq shapes against PyTorch ${torch.torch} on ${n} CPU thread${n > 1 ? 's' : ''} (ratio > 1: slower than PyTorch)`);
    for (const r of official) {
      const ms = torch.ms[r.stage.replace(' (chosen)', '')];
      if (ms) console.log(`${r.backend.padEnd(7)} ${r.stage.padEnd(16)} ${r.medianMs.toFixed(0).padStart(8)} ms   PyTorch ${ms.toFixed(0).padStart(8)} ms   ratio ${(r.medianMs / ms).toFixed(2)}`);
    }
  }
}

void main();
