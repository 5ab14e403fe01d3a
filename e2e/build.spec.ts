import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { build, preview, type PreviewServer } from 'vite';

/**
 * The site as it ships (vite build, served with its two isolation headers by vite preview), not the development
 * server: the production bundle is what a visitor runs, and it once broke where the dev server did not (the
 * minified worker killed tfjs's threaded wasm: "e is not defined" in every pthread worker, and no backend started).
 */
const ROOT = join(import.meta.dirname, '..');
const PORT = 5189;
let server: PreviewServer;

test.beforeAll(async () => {
  test.setTimeout(180_000);
  await build({ configFile: join(ROOT, 'vite.config.ts'), logLevel: 'error' });
  server = await preview({ configFile: join(ROOT, 'vite.config.ts'), preview: { port: PORT, host: '127.0.0.1', strictPort: true }, logLevel: 'error' });
});

test.afterAll(async () => {
  await new Promise<void>((resolve) => server.httpServer.close(() => resolve()));
});

test('the built site is cross-origin isolated, starts threaded WASM, and inverts a real photo with the default model', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${PORT}/?backend=wasm`);
  await expect(page.getByTestId('backend')).toHaveText('wasm', { timeout: 120_000 });
  expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
  await expect(page.getByTestId('model-summary')).toBeVisible({ timeout: 120_000 });
  await page.getByTestId('photo-input').setInputFiles(join(ROOT, 'tests', 'fixtures', 'photos', 'faces', 'obama.jpg'));
  await expect(page.getByText('Invert: done')).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('quality')).toContainText(/identity distance \d\.\d+/, { timeout: 60_000 });
  expect(errors).toEqual([]);
});
