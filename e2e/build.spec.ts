import { readFile } from 'node:fs/promises';
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

test('the built site says what a person may do with it: the open model\'s terms, the credits, the notices of every package it ships', async ({ page }) => {
  // The committed notices are what the build ships: a dependency added without `npm run notices` fails here.
  const built = await readFile(join(ROOT, 'dist', 'THIRD-PARTY-NOTICES.txt'), 'utf8');
  expect(built, 'THIRD-PARTY-NOTICES.txt is out of date: run npm run notices').toBe(await readFile(join(ROOT, 'THIRD-PARTY-NOTICES.txt'), 'utf8'));
  for (const name of ['@tensorflow/tfjs-core', '@vladmandic/face-api', 'react', 'zustand', 'comlink', 'idb', 'fflate']) expect(built).toContain(`\n${name}@`);
  expect(built).toContain('Apache License');
  await page.goto(`http://127.0.0.1:${PORT}/?backend=wasm`);
  await expect(page.getByTestId('model-summary')).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('model-terms')).toContainText('CelebA (non-commercial research use)');
  await page.getByText('About & credits').click();
  await expect(page.getByTestId('about-model')).toContainText('Demo faces, 64 px');
  await expect(page.getByTestId('about-model')).toContainText('non-commercial research use');
  await expect(page.getByTestId('about')).toContainText('MIT licence');
  for (const [path, text] of [['THIRD-PARTY-NOTICES.txt', '@tensorflow/tfjs-core@'], ['LICENSE.txt', 'MIT License'], ['gallery/ATTRIBUTION.csv', 'CC-BY-2.0']]) {
    const response = await page.request.get(`http://127.0.0.1:${PORT}/${path}`);
    expect(response.status(), path).toBe(200);
    expect(await response.text(), path).toContain(text);
  }
});
