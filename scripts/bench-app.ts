/**
 * npm run bench:app [-- --backends wasm,webgpu --models demo-faces-gan-64,demo-cars-128 --runs 3 --moves 8 --pause 150 --settle 5000 --anticipate off --dev]
 * What a person waits for in the app itself (Chromium, the real page, worker and model), timed in the page from the
 * user's action to the frame that shows its result:
 * - first picture: a photo dropped -> its reconstruction on screen (decode, detect, align, encode, render), and the
 *   edited photo (the full-resolution composite) on screen;
 * - preview: a slider moved -> the edited picture changed, one step at a time as a hand makes them: the pointer
 *   pressed on the slider, then each move --pause ms after the last picture showed (a person looking at it; 0: the
 *   next move at once). While the slider is held still the page has the neighbouring positions made ahead
 *   (--anticipate off: not, to time the previews rendered);
 * - full render: the slider released -> the edited photo at full resolution changed;
 * - a continuous drag: inputs every 16 ms as a hand makes them, the previews shown a second and the wait after the
 *   last input (the one-move-at-a-time figure above starts each move after a pause, from an idle engine).
 * Each run opens a fresh browser context (nothing cached in IndexedDB), waits for the model and --settle ms (a
 * person picking a photo, while the engine warms up; 0: at once), then drops the photo.
 * The page's cross-origin isolation and wasm thread count are printed: they decide how fast wasm runs. The site is
 * built (vite build) and served as it ships (vite preview); --dev times the development server instead.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defineCli, parseCli } from './cli';

const ROOT = join(import.meta.dirname, '..');
const PHOTOS: Record<string, string> = {
  'demo-faces-gan-64': join(ROOT, 'tests', 'fixtures', 'photos', 'faces', 'obama.jpg'),
  'demo-faces-64': join(ROOT, 'tests', 'fixtures', 'photos', 'faces', 'obama.jpg'),
  'demo-cars-128': join(ROOT, 'tests', 'fixtures', 'photos', 'cars', 'ferrari-red-3852233337_7593a392c1_b.jpg'),
};

interface Run { firstPicture: number; firstPhoto: number; preview: number[]; previewInEngine: number[]; madeAhead: number; full: number[]; dragRate: number; dragLast: number }

/**
 * Installed in the page before it loads: counts the pictures put on each canvas (by test id). The waits below look
 * at that count once a frame and read pixels only after a new picture, so the measuring does not itself keep the
 * page busy (reading a 1024 px canvas's pixels every frame took a core of this 2-core machine from the engine).
 */
const COUNT_PAINTS = `{
  const put = CanvasRenderingContext2D.prototype.putImageData;
  window.__paints = {};
  CanvasRenderingContext2D.prototype.putImageData = function (...args) {
    put.apply(this, args);
    const id = this.canvas.dataset.testid;
    if (id) window.__paints[id] = (window.__paints[id] ?? 0) + 1;
    if (id) window.__paintTimes[id] = [...(window.__paintTimes[id] ?? []), performance.now()];
  };
  window.__paintTimes = {};
}`;

type PaintedWindow = Window & { __paints: Record<string, number>; __paintTimes: Record<string, number[]> };

/** Runs in the page: drops the photo and resolves with the ms until the reconstruction, then the edited photo, show. */
function dropAndWait({ bytes, name }: { bytes: number[]; name: string }): Promise<[number, number]> {
  const paints = (window as unknown as PaintedWindow).__paints;
  const shown = (id: string) => (paints[id] ?? 0) > 0;
  return new Promise((resolve, reject) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(bytes)], name, { type: 'image/jpeg' }));
    const started = performance.now();
    let picture = 0;
    window.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    const check = () => {
      const now = performance.now();
      if (!picture && shown('reconstruction')) picture = now - started;
      if (picture && shown('photo-result')) return resolve([picture, now - started]);
      if (now - started > 600_000) return reject(new Error('no picture after 10 minutes'));
      requestAnimationFrame(check);
    };
    requestAnimationFrame(check);
  });
}

/**
 * Runs in the page: moves a slider (as a drag does, an input event per position) or releases it, and
 * resolves with the ms until the first frame after the canvas `watch` got different pixels.
 */
function moveAndWait({ slider, value, watch }: { slider: string; value: number | 'release'; watch: string }): Promise<number> {
  const paints = (window as unknown as PaintedWindow).__paints;
  const read = () => {
    const c = document.querySelector<HTMLCanvasElement>(`[data-testid="${watch}"]`)!;
    return new Uint32Array(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data.buffer); // a pixel a word
  };
  const before = read();
  let seen = paints[watch] ?? 0;
  const input = document.querySelector<HTMLInputElement>(`[data-testid="${slider}"]`)!;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    if (value === 'release') { // the pointer let go, then the browser's change event, as a real release
      input.dispatchEvent(new PointerEvent('pointerup', { bubbles: true, isPrimary: true }));
      input.dispatchEvent(new Event('change', { bubbles: true }));
    }
    else {
      // React tracks the value it last set: the native setter makes the change visible to its onChange.
      Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!.call(input, String(value));
      input.dispatchEvent(new Event('input', { bubbles: true }));
    }
    const check = () => {
      const now = performance.now();
      if ((paints[watch] ?? 0) > seen) {
        seen = paints[watch];
        const after = read();
        if (after.length !== before.length || after.some((v, i) => v !== before[i])) return resolve(now - started);
      }
      if (now - started > 120_000) return reject(new Error(`${watch} did not change in 2 minutes`));
      requestAnimationFrame(check);
    };
    requestAnimationFrame(check);
  });
}

/** Runs in the page: the pointer pressed on the slider, as a hand starts a drag (the release lets it go). */
function press(slider: string): void {
  document.querySelector(`[data-testid="${slider}"]`)!.dispatchEvent(new PointerEvent('pointerdown', { bubbles: true, isPrimary: true }));
}

/**
 * Runs in the page: a drag as a hand makes it, an input event every 16 ms for `inputs` positions from 0 to the
 * slider's start, not waiting for pictures. Resolves with the pictures shown a second meanwhile and the ms from the
 * last input to its picture (the last one shown). The moves before went from 0 to the other end, so the drag ends
 * where nothing was made ahead: its figures are the previews rendered.
 */
async function dragContinuously({ slider, inputs, watch }: { slider: string; inputs: number; watch: string }): Promise<[number, number]> {
  const times = (window as unknown as PaintedWindow).__paintTimes;
  const input = document.querySelector<HTMLInputElement>(`[data-testid="${slider}"]`)!;
  const min = Number(input.min);
  const set = (value: number) => {
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!.call(input, String(value));
    input.dispatchEvent(new Event('input', { bubbles: true }));
  };
  set(0);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const started = performance.now();
  let last = started;
  for (let i = 1; i <= inputs; i++) {
    const before = input.value;
    set((min * i) / inputs);
    if (input.value !== before) last = performance.now(); // the slider's step can swallow a position
    await new Promise((resolve) => setTimeout(resolve, 16));
  }
  // The last value's picture is the last one shown: the page renders the latest value once the one in flight is done.
  const latest = () => (times[watch] ?? []).at(-1) ?? 0;
  while (latest() <= last || performance.now() - latest() < 300) {
    if (performance.now() - last > 120_000) throw new Error(`${watch} showed nothing after the drag`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const shown = (times[watch] ?? []).filter((t) => t > started && t <= last).length;
  return [(shown * 1000) / (last - started), latest() - last];
}

const CLI = defineCli({
  name: 'bench:app',
  usage: 'usage: npm run bench:app [-- options]',
  about: 'What a person waits for in the app itself (Chromium, the built page): a dropped photo to its first pictures, a slider\'s\npreviews one move at a time and in a continuous drag, and the full render on release.',
  options: {
    backends: { type: 'string', default: 'wasm,webgpu', value: '<a,b>', help: 'the page\'s backends' },
    models: { type: 'string', default: 'demo-faces-gan-64,demo-cars-128', value: '<a,b>', help: 'the catalogue\'s models' },
    runs: { type: 'string', default: '3', value: '<n>', help: 'fresh browser contexts per model and backend' },
    moves: { type: 'string', default: '8', value: '<n>', help: 'slider moves timed one at a time' },
    pause: { type: 'string', default: '150', value: '<ms>', help: 'between a picture shown and the next move' },
    settle: { type: 'string', default: '5000', value: '<ms>', help: 'after the model shows, before the photo is dropped' },
    anticipate: { type: 'string', default: 'on', value: 'on|off', help: 'previews made ahead while a slider is held still' },
    dev: { type: 'boolean', default: false, help: 'time the development server instead of the production build' },
  },
});

async function main() {
  const { values } = parseCli(CLI);
  const vite = await import('vite');
  const { chromium } = await import('playwright-core');
  const { CHROMIUM_ARGS } = await import('../playwright.config');
  const configFile = join(ROOT, 'vite.config.ts');
  // What a visitor of the site gets: the production build (React's development build spends most of a slider move
  // checking itself), unless --dev asks for the development server.
  let server: { close(): Promise<void> };
  if (values.dev) {
    const dev = await vite.createServer({ configFile, server: { port: 5185, host: '127.0.0.1' }, logLevel: 'error' });
    await dev.listen();
    server = dev;
  } else {
    await vite.build({ configFile, logLevel: 'error' });
    const preview = await vite.preview({ configFile, preview: { port: 5185, host: '127.0.0.1', strictPort: true }, logLevel: 'error' });
    server = { close: () => new Promise<void>((resolve) => preview.httpServer.close(() => resolve())) };
  }
  console.log(`${values.dev ? 'the development server (npm start)' : 'the production build (vite build, served by vite preview)'}; `
    + `each photo dropped ${Number(values.settle) / 1000} s after the model shows; previews made ahead while a slider is held still: ${values.anticipate}`);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const moves = Number(values.moves);
  try {
    for (const backend of values.backends.split(',')) {
      for (const model of values.models.split(',')) {
        const photo = PHOTOS[model];
        if (!photo) throw new Error(`no photo for ${model} (${Object.keys(PHOTOS).join(', ')})`);
        const bytes = Array.from(await readFile(photo));
        const runs: Run[] = [];
        let environment = '';
        let stages = '';
        for (let r = 0; r < Number(values.runs); r++) {
          const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
          const page = await context.newPage();
          // tsx compiles this file with esbuild's keepNames, so the functions handed to the page call its __name helper.
          await page.addInitScript('globalThis.__name = (f) => f');
          await page.addInitScript(COUNT_PAINTS);
          await page.goto(`http://127.0.0.1:5185/?model=${model}&backend=${backend}${values.anticipate === 'off' ? '&anticipate=0' : ''}`);
          await page.getByTestId('backend').filter({ hasText: backend }).waitFor({ timeout: 300_000 });
          await page.getByTestId('model-summary').waitFor({ timeout: 300_000 });
          // A person takes a few seconds to pick a photo; meanwhile the engine warms up (--settle 0: drop at once).
          await page.waitForTimeout(Number(values.settle));
          environment ||= await page.evaluate(() => `cross-origin isolated: ${self.crossOriginIsolated}, cores: ${navigator.hardwareConcurrency}; `
            + `engine: ${document.querySelector('[data-testid="backend-reason"]')?.textContent?.trim() ?? ''}`);
          const [firstPicture, firstPhoto] = await page.evaluate(dropAndWait, { bytes, name: photo.split('/').pop()! });
          await page.waitForFunction(() => document.querySelector('[data-testid="busy"]')?.textContent === '', undefined, { timeout: 300_000 });
          // The first slider the panel shows, dragged from 0 towards its end one position at a time, then released.
          const slider = (await page.locator('.slider-group input[type=range]').first().getAttribute('data-testid'))!;
          const max = Number(await page.getByTestId(slider).getAttribute('max'));
          const preview: number[] = [];
          const full: number[] = [];
          const previewInEngine: number[] = [];
          let madeAhead = 0;
          const pause = Number(values.pause);
          await page.evaluate(press, slider);
          for (let m = 1; m <= moves; m++) {
            if (pause) await page.waitForTimeout(pause);
            preview.push(await page.evaluate(moveAndWait, { slider, value: (max * m) / moves, watch: 'edited' }));
            // The engine's own time for it (the status line's figure): the rest is messaging, React and the frame.
            // A preview made ahead of the hand (the slider held still) is a lookup: its figure counts as 0 ms rendered.
            const figure = /preview( made ahead)? (\d+) ms/.exec((await page.locator('.status').textContent()) ?? '');
            previewInEngine.push(figure?.[1] ? 0 : Number(figure?.[2]));
            if (figure?.[1]) madeAhead++;
            if (m % 4 === 0) {
              full.push(await page.evaluate(moveAndWait, { slider, value: 'release' as const, watch: 'photo-result' }));
              if (m < moves) await page.evaluate(press, slider);
            }
          }
          const [dragRate, dragLast] = await page.evaluate(dragContinuously, { slider, inputs: 120, watch: 'edited' });
          runs.push({ firstPicture, firstPhoto, preview, previewInEngine, madeAhead, full, dragRate, dragLast });
          // The engine's own figures for its stages (the status line), against which the waits above show the overhead.
          stages = (await page.locator('.status').textContent())?.replace(/^.*?\)\s*·\s*/, '') ?? '';
          await context.close();
        }
        console.log(`${backend.padEnd(7)} ${model.padEnd(14)} ${environment}`);
        console.log(`  first picture (drop -> reconstruction shown)   median ${median(runs.map((r) => r.firstPicture)).toFixed(0)} ms   runs ${runs.map((r) => r.firstPicture.toFixed(0)).join(', ')}`);
        console.log(`  edited photo shown (drop -> full composite)    median ${median(runs.map((r) => r.firstPhoto)).toFixed(0)} ms`);
        console.log(`  preview, a move ${values.pause} ms after the last picture   median ${median(runs.flatMap((r) => r.preview)).toFixed(0)} ms   of ${runs.flatMap((r) => r.preview).length} moves, max ${Math.max(...runs.flatMap((r) => r.preview)).toFixed(0)}`);
        console.log(`    of which the engine (in its worker)             median ${median(runs.flatMap((r) => r.previewInEngine)).toFixed(0)} ms; made ahead while the slider was held still: ${runs.reduce((n, r) => n + r.madeAhead, 0)} of them`);
        console.log(`  release -> full-resolution photo               median ${median(runs.flatMap((r) => r.full)).toFixed(0)} ms   of ${runs.flatMap((r) => r.full).length} releases`);
        console.log(`  a continuous drag (an input every 16 ms, 2 s)  median ${median(runs.map((r) => r.dragRate)).toFixed(0)} pictures a second, last input -> its picture ${median(runs.map((r) => r.dragLast)).toFixed(0)} ms (runs ${runs.map((r) => r.dragLast.toFixed(0)).join(', ')})`);
        console.log(`  the engine's last figures (in its worker): ${stages}`);
      }
    }
  } finally {
    await browser.close();
    await server.close();
  }
}

void main();
