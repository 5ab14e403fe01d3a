import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';

/** What the editor's tests share: the photos, starting the page on this project's backend, dropping files. */
const PHOTOS = join(import.meta.dirname, '..', 'tests', 'fixtures', 'photos');
export const FACE = join(PHOTOS, 'faces', 'obama.jpg');
export const TWO = join(PHOTOS, 'faces', 'two_people.jpg');
export const OTHER = join(PHOTOS, 'faces', 'biden.jpg');
export const CAR = join(PHOTOS, 'cars', 'ferrari-red-3852233337_7593a392c1_b.jpg');
export const TINY_CHECKPOINT = join(import.meta.dirname, '..', 'tests', 'fixtures', 'golden', 'style-transformer-tiny.pt');

/** The backend this run is about: the Playwright project's name (webgpu, or wasm). */
export const backend = () => test.info().project.name;

/**
 * Opens the editor on a model, the backend forced to this project's (this machine would pick wasm by itself).
 * Every new photo is refined by default; the editor's tests turn that off (as a person can) unless `autoRefine`,
 * so that each checks what it is about without a refinement running beside it.
 */
export async function start(page: Page, model = 'golden-tiny', width = 1280, { autoRefine = false } = {}) {
  if (!autoRefine) await withoutAutoRefine(page);
  await page.setViewportSize({ width, height: 720 });
  await page.goto(`/?model=${model}&backend=${backend()}`);
  await ready(page);
}

/** The setting "refine every photo automatically" off on this page, from its first navigation, reloads included. */
export async function withoutAutoRefine(page: Page) {
  await page.addInitScript(() => localStorage.setItem('style-transformer-studio:auto-refine', '0'));
}

/** The engine runs this project's backend and a model is loaded. */
export async function ready(page: Page) {
  await expect(page.getByTestId('backend')).toHaveText(backend(), { timeout: 120_000 });
  await expect(page.getByTestId('model-summary')).toBeVisible({ timeout: 120_000 });
}

/** Drops a file on the page the way a person drags one from their desktop. */
export async function drop(page: Page, path: string, type = 'image/jpeg') {
  const bytes = Array.from(await readFile(path));
  const name = path.split('/').pop()!;
  await page.evaluate(({ bytes, name, type }) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(bytes)], name, { type }));
    window.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, { bytes, name, type });
}

export const canvasPixels = (page: Page, testId: string) =>
  page.getByTestId(testId).evaluate((c: HTMLCanvasElement) => Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data));

/** The photo is inverted (or restored from its snapshot) and nothing is running. */
export async function inverted(page: Page) {
  await expect(page.getByText(/Invert: (done|restored)/)).toBeVisible({ timeout: 180_000 });
  await idle(page);
}

export async function idle(page: Page) {
  await expect(page.getByTestId('busy')).toHaveText('', { timeout: 180_000 });
}

/**
 * Milliseconds from the page's navigation to the first frame whose canvas `testId` shows `expected` (RGBA) to
 * within `tolerance` levels per channel, timed in the page itself (Playwright's polling would add its own
 * latency). Fails after `timeoutMs`.
 */
export function msUntilShown(page: Page, testId: string, expected: number[], tolerance = 0, timeoutMs = 120_000): Promise<number> {
  return page.evaluate(({ testId, expected, tolerance, timeoutMs }) => new Promise<number>((resolve, reject) => {
    const check = () => {
      const c = document.querySelector<HTMLCanvasElement>(`[data-testid=${testId}]`);
      const data = c && c.width * c.height === expected.length / 4 ? c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data : null;
      if (data && data.every((v, i) => Math.abs(v - expected[i]) <= tolerance)) resolve(performance.now());
      else if (performance.now() > timeoutMs) reject(new Error(`${testId} did not show the expected picture within ${timeoutMs} ms`));
      else requestAnimationFrame(check);
    };
    check();
  }), { testId, expected, tolerance, timeoutMs });
}

/** The largest difference between two pictures' channel values. */
export const maxDifference = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), a.length === b.length ? 0 : Infinity);

/** A real drag: pointer down at the middle of `testId`, `moves` pointer moves by (dx, dy) in all, pointer up. */
export async function dragMiddle(page: Page, testId: string, dx: number, dy: number, moves = 10) {
  const box = (await page.getByTestId(testId).boundingBox())!;
  const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
  await page.mouse.move(x, y);
  await page.mouse.down();
  for (let i = 1; i <= moves; i++) await page.mouse.move(x + (dx * i) / moves, y + (dy * i) / moves);
  await page.mouse.up();
}
