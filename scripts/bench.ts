/**
 * npm run bench                         Node: wasm and cpu backends
 * npm run bench -- --browser            Chromium: webgpu (SwiftShader here), webgl, wasm
 * Options: --models tiny,ffhq,cars,demo-faces,demo-cars (default: all)  --runs N  --backends a,b  --cpu-full (the cpu backend on the full models too)
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { useNodeBackend, type NodeBackend } from '../src/node/backend';
import { benchModel, type BenchRow } from '../tests/suite/bench-suite';
import { benchModels } from '../tests/suite/bench-models';
import { loadBundle } from '../src/weights/loader';
import { directoryFiles } from '../src/weights/node-files';

const FIXTURES = join(import.meta.dirname, '..', 'tests', 'fixtures');
const MODELS = join(import.meta.dirname, '..', 'models');

async function node(models: string[], backends: string[], runs: number, cpuFull: boolean): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const read = async (p: string) => new Uint8Array(await readFile(join(FIXTURES, p)));
  for (const backend of backends) {
    await useNodeBackend(backend as NodeBackend);
    const names = backend === 'cpu' && !cpuFull ? models.filter((m) => m === 'tiny' || m.startsWith('demo-')) : models;
    for (const model of await benchModels(read, names, (dir) => loadBundle(directoryFiles(join(MODELS, dir))))) rows.push(...await benchModel(model, runs, console.log));
  }
  return rows;
}

async function browser(models: string[], backends: string[], runs: number): Promise<BenchRow[]> {
  const { createServer } = await import('vite');
  const { chromium } = await import('playwright-core');
  const { CHROMIUM_ARGS } = await import('../playwright.config');
  const server = await createServer({ configFile: join(import.meta.dirname, '..', 'vite.config.ts'), server: { port: 5184, host: '127.0.0.1' }, logLevel: 'error' });
  await server.listen();
  const chrome = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const rows: BenchRow[] = [];
  try {
    for (const backend of backends) {
      const page = await chrome.newPage();
      page.on('console', (m) => { if (m.text().startsWith('bench: ')) console.log(m.text().slice(7)); });
      await page.goto(`http://127.0.0.1:5184/harness/bench.html?backend=${backend}&models=${models.join(',')}&runs=${runs}`);
      await page.waitForFunction(() => (window as { benchReport?: unknown }).benchReport !== undefined, undefined, { timeout: 0 });
      const report = await page.evaluate(() => (window as unknown as { benchReport: { rows: BenchRow[]; error?: string } }).benchReport);
      if (report.error) console.log(`${backend}: ${report.error}`);
      rows.push(...report.rows);
      await page.close();
    }
  } finally {
    await chrome.close();
    await server.close();
  }
  return rows;
}

async function main() {
  const { values } = parseArgs({
    options: {
      browser: { type: 'boolean', default: false },
      models: { type: 'string', default: 'tiny,ffhq,cars,demo-faces,demo-cars' },
      backends: { type: 'string' },
      runs: { type: 'string', default: '3' },
      'cpu-full': { type: 'boolean', default: false },
    },
  });
  const models = values.models.split(',');
  const runs = Number(values.runs);
  console.log(`backend model                  stage             median ms  peak tensor memory (runs: ${runs} after a warm-up)`);
  if (values.browser) {
    await browser(models, (values.backends ?? 'webgpu,webgl,wasm').split(','), runs);
  } else {
    await node(models, (values.backends ?? 'wasm,cpu').split(','), runs, values['cpu-full']);
  }
}

void main();
