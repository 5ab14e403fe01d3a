import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import sharp from 'sharp';

/** The photo intake path in Chromium (browser decoders, face-api on our tfjs, FFHQ alignment). */
const BACKEND = process.env.PHOTO_BACKEND ?? 'webgpu';
const PHOTOS = join(import.meta.dirname, '..', 'tests', 'fixtures', 'photos');

async function ready(page: Page, backend: string) {
  await page.goto(`/harness/photo.html?backend=${backend}`);
  await page.waitForFunction(() => window.intakeReady !== undefined, undefined, { timeout: 120_000 });
}

const intake = (page: Page, args: { bytes?: number[]; url?: string; name: string }) =>
  page.evaluate(({ bytes, url, name }) => window.intake!(bytes ?? null, url ?? null, name), args);

test('faces align the FFHQ way in Chromium, and bad input gets clear messages', async ({ page }) => {
  await ready(page, BACKEND);
  for (const file of ['obama.jpg', 'obama2.jpg', 'obama3.jpg', 'biden.jpg']) {
    const r = await intake(page, { url: `/fixtures/photos/faces/${file}`, name: file });
    expect(r.error, JSON.stringify(r.error)).toBeUndefined();
    console.log(`${file}: eye midpoint (${r.eyeMid!.map((v) => v.toFixed(3)).join(', ')}), eye distance ${r.eyeDistance!.toFixed(3)} (rule ${r.ruleEyeDistance!.toFixed(3)})`);
    expect(Math.abs(r.eyeMid![0] - 0.5)).toBeLessThan(0.02);
    expect(Math.abs(r.eyeMid![1] - 0.475)).toBeLessThan(0.02);
    expect(Math.abs(r.eyeDistance! - r.ruleEyeDistance!)).toBeLessThan(0.02);
  }
  expect((await intake(page, { url: '/fixtures/photos/faces/two_people.jpg', name: 'two_people.jpg' })).faces).toBe(2);
  const car = await intake(page, { url: '/fixtures/photos/cars/ferrari-red-3852233337_7593a392c1_b.jpg', name: 'ferrari.jpg' });
  expect(car.error?.code).toBe('no-face');
  const text = await intake(page, { bytes: Array.from(Buffer.from('a shopping list')), name: 'holiday.jpg' });
  expect(text.error?.code).toBe('not-an-image');
  expect(text.error?.message).toContain('holiday.jpg is not an image');
});

test('an EXIF-rotated copy aligns like the upright original in Chromium', async ({ page }) => {
  await ready(page, BACKEND);
  const bytes = await readFile(join(PHOTOS, 'faces', 'obama.jpg'));
  const rotated = await sharp(bytes).rotate(-90).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toBuffer();
  const upright = await intake(page, { url: '/fixtures/photos/faces/obama.jpg', name: 'obama.jpg' });
  const fromExif = await intake(page, { bytes: Array.from(rotated), name: 'rotated.jpg' });
  expect([fromExif.width, fromExif.height]).toEqual([upright.width, upright.height]);
  expect(Math.abs(fromExif.eyeMid![0] - upright.eyeMid![0])).toBeLessThan(0.02);
  expect(Math.abs(fromExif.eyeMid![1] - upright.eyeMid![1])).toBeLessThan(0.02);
});

test('alignment gives the same pixels on webgpu, webgl and wasm', async ({ page }) => {
  const pixels: Record<string, number[]> = {};
  for (const backend of ['wasm', 'webgpu', 'webgl']) {
    await ready(page, backend);
    pixels[backend] = await page.evaluate(() => (window as unknown as { alignedPixels: (u: string) => Promise<number[]> }).alignedPixels('/fixtures/photos/faces/obama.jpg'));
  }
  const mean = pixels.wasm.reduce((a, b) => a + b, 0) / pixels.wasm.length;
  expect(mean).toBeGreaterThan(50);
  for (const backend of ['webgpu', 'webgl']) {
    const worst = Math.max(...pixels[backend].map((v, i) => Math.abs(v - pixels.wasm[i])));
    expect(worst, `${backend} vs wasm`).toBeLessThanOrEqual(1);
  }
});
