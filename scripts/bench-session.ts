/**
 * npm run bench:session [-- --photos 100 --model demo-faces-gan-64 --backend wasm --refine-every 25]
 * An afternoon of use in the page (Chromium, the development server): photos opened one after another (the test
 * portraits, cycled), each edited with its first offered slider and the edit undone and redone; every 20th gets a
 * reference whose first attribute is taken, then removed; every --refine-every'th is refined; halfway the page is
 * reloaded. It prints, at photo 10, before and after the reload and at the last: the page's and worker's memory
 * (measureUserAgentSpecificMemory, and the worker's part of it by its breakdown), the engine's tensors (tfjs's count and bytes) and what IndexedDB holds.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { defineCli, parseCli } from './cli';
import { withDevServerAndChromium } from './dev-browser';

const CLI = defineCli({
  name: 'bench:session',
  usage: 'usage: npm run bench:session [-- options]',
  about: 'Opens, edits, refines and undoes photo after photo in the page, reloads halfway, and prints the memory of the page\nand its worker, the engine\'s tensors and the size of IndexedDB along the way.',
  options: {
    photos: { type: 'string', default: '100', value: '<n>', help: 'photos opened one after another' },
    model: { type: 'string', default: 'demo-faces-gan-64', value: '<id>', help: 'the catalogue model' },
    backend: { type: 'string', default: 'wasm', value: '<name>', help: 'the page\'s backend' },
    'refine-every': { type: 'string', default: '25', value: '<n>', help: 'refine every n-th photo (0: none)' },
  },
});

const PORT = 5192;
const FACES = join(import.meta.dirname, '..', 'tests', 'fixtures', 'photos', 'faces');

const idle = (page: Page) => page.waitForFunction(() => document.querySelector('[data-testid=busy]')?.textContent === '', undefined, { timeout: 600_000, polling: 100 });

async function figures(page: Page) {
  return page.evaluate(async () => {
    const engine = (window as unknown as { studioEngine: { memory(): Promise<{ numTensors: number; numBytes: number }> } }).studioEngine;
    type Breakdown = Array<{ bytes: number; attribution: Array<{ scope: string }> }>;
    const memory = await (performance as unknown as { measureUserAgentSpecificMemory(): Promise<{ bytes: number; breakdown: Breakdown }> }).measureUserAgentSpecificMemory();
    // the engine's worker apart (its JS heap and WebAssembly memories): the breakdown attributes each part to a scope
    const worker = memory.breakdown.filter((b) => b.attribution.some((a) => a.scope === 'DedicatedWorkerGlobalScope')).reduce((n, b) => n + b.bytes, 0);
    const estimate = await navigator.storage.estimate() as StorageEstimate & { usageDetails?: { indexedDB?: number } };
    return { bytes: memory.bytes, worker, tensors: await engine.memory(), indexedDB: estimate.usageDetails?.indexedDB ?? 0 };
  });
}

async function main() {
  const { values } = parseCli(CLI);
  const count = Number(values.photos);
  const refineEvery = Number(values['refine-every']);
  const portraits = (await readdir(FACES)).filter((f) => f.endsWith('.jpg') && f !== 'two_people.jpg').sort();
  await withDevServerAndChromium(PORT, async (browser) => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    await page.addInitScript(() => localStorage.setItem('style-transformer-studio:auto-refine', '0'));
    const url = `http://127.0.0.1:${PORT}/?backend=${values.backend}`;
    await page.goto(`${url}&model=${values.model}`);
    await page.getByTestId('model-summary').waitFor({ timeout: 240_000 });
    console.log(`${values.model} on ${values.backend}: ${count} photos, each edited, undone and redone; a reference every 20th; ${refineEvery ? `refined every ${refineEvery}th` : 'none refined'}; a reload after photo ${Math.floor(count / 2)}`);
    const rows: string[] = [];
    const report = async (when: string) => {
      const f = await figures(page);
      const mib = (b: number) => (b / 2 ** 20).toFixed(0);
      rows.push(`  ${when.padEnd(26)} page+worker ${mib(f.bytes).padStart(5)} MiB (worker ${mib(f.worker).padStart(5)})   tensors ${String(f.tensors.numTensors).padStart(5)} (${mib(f.tensors.numBytes)} MiB)   IndexedDB ${(f.indexedDB / 1024).toFixed(0).padStart(6)} KiB`);
      console.log(rows[rows.length - 1]);
    };
    const started = Date.now();
    for (let i = 1; i <= count; i++) {
      await page.getByTestId('photo-input').setInputFiles(join(FACES, portraits[i % portraits.length]));
      await page.getByText(/Invert: done/).waitFor({ timeout: 240_000 });
      await idle(page);
      const slider = page.locator('.sliders input[type=range]').first();
      await slider.fill(String((Number(await slider.getAttribute('max')) * ((i % 5) + 1)) / 5));
      await idle(page);
      await page.getByRole('button', { name: 'Undo' }).click();
      await page.getByRole('button', { name: 'Redo' }).click();
      await idle(page);
      if (i % 20 === 0) {
        await page.getByTestId('reference-input').setInputFiles(join(FACES, portraits[(i + 1) % portraits.length]));
        const attribute = page.getByRole('combobox', { name: 'Attribute', exact: true });
        await attribute.waitFor({ timeout: 240_000 });
        await idle(page);
        await attribute.selectOption({ index: 1 });
        await idle(page);
        await page.getByRole('button', { name: 'Remove reference' }).click();
        await idle(page);
      }
      if (refineEvery && i % refineEvery === 0) {
        await page.getByRole('button', { name: /^Refine/ }).first().click();
        await page.waitForFunction(() => !document.querySelector('[data-testid=busy]')?.textContent?.includes('Refining'), undefined, { timeout: 900_000, polling: 500 });
        await idle(page);
      }
      if (i === 10) await report('after photo 10');
      if (i === Math.floor(count / 2)) {
        await report(`after photo ${i}, before reload`);
        await page.goto(url);
        await page.getByText(/Invert: restored/).waitFor({ timeout: 240_000 });
        await idle(page);
        await report('after the reload');
      }
    }
    await report(`after photo ${count}`);
    console.log(`  ${((Date.now() - started) / 60000).toFixed(1)} min in all`);
    await context.close();
  });
}

void main();
