/**
 * npm run bench:batch [-- --photos 100 --model demo-faces-gan-64 --backend wasm --refine]
 * A folder at once in the page (Chromium, the development server): a portrait is opened and edited (its first offered
 * slider at its end), then --photos photos (the test portraits, cycled under distinct names) are edited at once. It
 * prints the time per photo (the page's own figures, median and spread), the memory of the page and its worker
 * (performance.measureUserAgentSpecificMemory, the page being cross-origin isolated) after photo 10 and after the
 * last, and checks the zip: one JPEG per photo, at each photo's size.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import sharp from 'sharp';
import { defineCli, parseCli } from './cli';
import { withDevServerAndChromium } from './dev-browser';

const CLI = defineCli({
  name: 'bench:batch',
  usage: 'usage: npm run bench:batch [-- options]',
  about: 'Edits a folder of photos at once in the page and prints the time per photo, the page\'s and worker\'s memory after photo 10\nand after the last, and what the zip holds.',
  options: {
    photos: { type: 'string', default: '100', value: '<n>', help: 'photos in the batch' },
    model: { type: 'string', default: 'demo-faces-gan-64', value: '<id>', help: 'the catalogue model' },
    backend: { type: 'string', default: 'wasm', value: '<name>', help: 'the page\'s backend' },
    refine: { type: 'boolean', default: false, help: 'refine each photo first (the page\'s default; minutes a photo on this machine)' },
  },
});

const PORT = 5191;
const FACES = join(import.meta.dirname, '..', 'tests', 'fixtures', 'photos', 'faces');

async function main() {
  const { values } = parseCli(CLI);
  const count = Number(values.photos);
  const portraits = (await readdir(FACES)).filter((f) => f.endsWith('.jpg') && f !== 'two_people.jpg').sort();
  const files = await Promise.all(Array.from({ length: count }, async (_, i) => ({
    name: `${String(i + 1).padStart(3, '0')}-${portraits[i % portraits.length]}`, mimeType: 'image/jpeg', buffer: await readFile(join(FACES, portraits[i % portraits.length])),
  })));
  await withDevServerAndChromium(PORT, async (browser) => {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    if (!values.refine) await page.addInitScript(() => localStorage.setItem('style-transformer-studio:auto-refine', '0'));
    await page.goto(`http://127.0.0.1:${PORT}/?model=${values.model}&backend=${values.backend}`);
    await page.getByTestId('model-summary').waitFor({ timeout: 240_000 });
    await page.getByTestId('photo-input').setInputFiles(join(FACES, 'obama.jpg'));
    await page.getByText(/Invert: done/).waitFor({ timeout: 240_000 });
    const slider = page.locator('.sliders input[type=range]').first();
    await slider.fill((await slider.getAttribute('max')) ?? '1');
    await page.waitForFunction(() => document.querySelector('[data-testid=busy]')?.textContent === '', undefined, { timeout: 240_000 });
    const memory = () => page.evaluate(async () => ((await (performance as unknown as { measureUserAgentSpecificMemory(): Promise<{ bytes: number }> }).measureUserAgentSpecificMemory()).bytes));
    const done = () => page.evaluate(() => document.querySelectorAll('.batch-items li.done, .batch-items li.failed').length);
    console.log(`${values.model} on ${values.backend}, ${count} photos${values.refine ? ', each refined' : ''}; the page cross-origin isolated: ${await page.evaluate(() => self.crossOriginIsolated)}`);
    const before = await memory();
    await page.getByText('Edit a folder at once').click();
    const started = Date.now();
    await page.getByLabel('photos to edit at once').setInputFiles(files);
    await page.waitForFunction(() => document.querySelectorAll('.batch-items li.done, .batch-items li.failed').length >= 10, undefined, { timeout: 0, polling: 200 });
    const doneAtTen = await done(); // asked at this photo; the browser answers after its next collection
    const atTen = await memory();
    await page.waitForFunction((n) => !document.querySelector('[data-testid=batch-status] button') || document.querySelectorAll('.batch-items li.done, .batch-items li.failed').length >= n, count, { timeout: 0, polling: 500 });
    await page.getByRole('button', { name: /Download the \d+ results/ }).waitFor({ timeout: 0 });
    const atEnd = await memory();
    const seconds = await page.locator('.batch-items li.done').evaluateAll((items) => items.map((li) => Number(/\((\d+\.\d) s\)/.exec(li.textContent ?? '')?.[1])));
    seconds.sort((a, b) => a - b);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: /Download the \d+ results/ }).click()]);
    const entries = unzipSync(new Uint8Array(await readFile(await download.path())));
    const sizes = await Promise.all(Object.values(entries).map(async (b) => (await sharp(Buffer.from(b)).metadata()).width));
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    const sum = seconds.reduce((a, b) => a + b, 0);
    console.log(`  ${seconds.length} of ${count} edited: ${sum.toFixed(0)} s of engine work, ${((Date.now() - started) / 1000).toFixed(0)} s wall (the memory measurements wait for a collection); a photo: median ${seconds[Math.floor(seconds.length / 2)]} s (${seconds[0]}-${seconds[seconds.length - 1]} s)`);
    console.log(`  memory of the page and its worker (measureUserAgentSpecificMemory, asked at a photo and answered at the browser's next collection): ${mib(before)} before, ${mib(atTen)} asked at photo ${doneAtTen}, ${mib(atEnd)} after photo ${count} (${(((atEnd - atTen) / atTen) * 100).toFixed(1)}%)`);
    console.log(`  the zip: ${Object.keys(entries).length} JPEGs, ${sizes.every((w) => w && w > 64) ? 'each at its photo\'s size' : 'some not at full size'}`);
    await context.close();
  });
}

void main();
