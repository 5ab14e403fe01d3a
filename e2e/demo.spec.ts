import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import sharp from 'sharp';
import { colourChange } from '../src/photo/colour-change';
import type { RgbImage } from '../src/photo/types';
import { msUntilShown, withoutAutoRefine } from './helpers';

/**
 * The shipped demo models, as a first-time user meets them: no model chosen, a real photo dropped in. The truth is
 * the photo: the reconstruction must explain a good part of the aligned input's pixel variance (R²), which neither
 * noise nor a flat average image does (R² <= 0).
 */
const PHOTOS = join(import.meta.dirname, '..', 'tests', 'fixtures', 'photos');
const FACE = join(PHOTOS, 'faces', 'obama.jpg');
const REFERENCE = join(PHOTOS, 'faces', 'biden.jpg');
const CAR = join(PHOTOS, 'cars', 'ferrari-red-3852233337_7593a392c1_b.jpg');
const backend = () => test.info().project.name;

const pixels = (page: Page, testId: string) =>
  page.getByTestId(testId).evaluate((c: HTMLCanvasElement) => ({ width: c.width, height: c.height, data: Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data) }));

/** 1 - MSE(reconstruction, input) / variance(input), over RGB (alpha skipped). */
async function explainedVariance(page: Page): Promise<number> {
  const input = await pixels(page, 'aligned');
  const output = await pixels(page, 'reconstruction');
  expect([output.width, output.height]).toEqual([input.width, input.height]);
  const rgb = (xs: number[]) => xs.filter((_, i) => i % 4 !== 3);
  const [a, b] = [rgb(input.data), rgb(output.data)];
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
  const mse = a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0) / a.length;
  return 1 - mse / variance;
}

async function inverted(page: Page) {
  await expect(page.getByText(/Invert: (done|restored)/)).toBeVisible({ timeout: 240_000 });
  await expect(page.getByTestId('busy')).toHaveText('', { timeout: 240_000 });
}

test.beforeEach(async ({ page }) => {
  // SwiftShader's WebGPU loses its device while training (the editor then refines on wasm): the webgpu run checks
  // the rest, the wasm run (what this machine picks by itself) the refinement a person gets without a click.
  if (backend() !== 'wasm') await withoutAutoRefine(page);
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`/?backend=${backend()}`);
  await expect(page.getByTestId('model-summary')).toBeVisible({ timeout: 240_000 });
});

/**
 * The main result is the photo itself with the edit's change: shown at the photo's size, and downloaded at full
 * resolution, it equals the photo as dropped everywhere but around the face (the face-and-hair region, feathered),
 * and differs there.
 */
async function photoKeepsItsDetail(page: Page) {
  const original = await pixels(page, 'photo-original');
  const shown = await pixels(page, 'photo-result');
  expect([shown.width, shown.height]).toEqual([original.width, original.height]);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: /Download the edited photo/ }).click()]);
  const { data, info } = await sharp(await download.path()).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height]).toEqual([original.width, original.height]);
  const face = await page.evaluate(() => JSON.parse(document.querySelector('.photo-result')!.getAttribute('data-focus') ?? 'null'));
  expect(face).not.toBeNull();
  let near = 0;
  let far = 0;
  for (let i = 0; i < info.width * info.height; i++) {
    const same = [0, 1, 2].every((c) => data[i * 3 + c] === original.data[i * 4 + c] && shown.data[i * 4 + c] === original.data[i * 4 + c]);
    if (same) continue;
    const x = i % info.width;
    const y = Math.floor(i / info.width);
    if (Math.abs(x - (face.x + face.width / 2)) < face.width * 1.5 && Math.abs(y - (face.y + face.height / 2)) < face.height * 1.5) near++; else far++;
  }
  console.log(`demo faces on ${backend()}: the edited photo differs from the photo in ${near} pixels around the face, ${far} elsewhere`);
  expect(near).toBeGreaterThan(face.width * face.height * 0.3);
  expect(far).toBe(0);
}

/** The canvas as an RGB image. */
const rgb = async (page: Page, testId: string): Promise<RgbImage> => {
  const { width, height, data } = await pixels(page, testId);
  return { width, height, data: Uint8Array.from(data.filter((_, i) => i % 4 !== 3)) };
};

/**
 * How the composite changed from the photo in the face's box (photo pixels, as the page shows them): lightness and
 * the share of the change that is colour (Lab; src/photo/colour-change.ts).
 */
async function changeInTheFace(page: Page) {
  const [before, after] = [await rgb(page, 'photo-original'), await rgb(page, 'photo-result')];
  const face = await page.evaluate(() => JSON.parse(document.querySelector('.photo-result')!.getAttribute('data-focus') ?? 'null'));
  const region = new Float32Array(after.width * after.height);
  for (let y = Math.max(0, Math.floor(face.y)); y < Math.min(after.height, face.y + face.height); y++) {
    for (let x = Math.max(0, Math.floor(face.x)); x < Math.min(after.width, face.x + face.width); x++) region[y * after.width + x] = 1;
  }
  return colourChange(before, after, region);
}

test('the GAN face model opens by default, refines a dropped portrait without a click, edits its shape and transfers from a reference', async ({ page }, info) => {
  await expect(page.getByLabel('model')).toHaveValue('demo-faces-gan-64');
  await expect(page.getByLabel('model').locator('option', { hasText: 'test model' })).toHaveCount(0);
  await expect(page.getByTestId('model-note')).toContainText('CelebA');
  await page.getByTestId('photo-input').setInputFiles(FACE);
  if (backend() === 'wasm') {
    // Refined by itself, at once: the picture says so while it runs, and the reconstruction becomes the photo.
    await expect(page.getByText('Invert: done')).toBeVisible({ timeout: 240_000 });
    // every core: the encoder's kernel ran on the helper threads too (a helper that never starts leaves 0%)
    const share = page.getByTestId('kernel-share');
    await expect(share).toContainText(/on [2-8] threads, helpers ran [1-9]\d*% of its work/);
    console.log(`demo faces on ${backend()}:${await share.textContent()}`);
    const started = Date.now();
    await expect(page.getByTestId('photo-refining')).toBeVisible({ timeout: 60_000 });
    await expect(page.getByTestId('refined')).toContainText('Refined (', { timeout: 240_000 });
    await expect(page.getByTestId('busy')).toHaveText('', { timeout: 120_000 });
    const r2 = await explainedVariance(page);
    console.log(`demo faces on ${backend()}: refined without a click in ${((Date.now() - started) / 1000).toFixed(1)} s; R² ${r2.toFixed(3)}; ${await page.getByTestId('refine-figures').textContent()}`);
    expect(r2).toBeGreaterThan(0.7); // measured 0.784 (the encoder alone: 0.151); noise or a flat image give <= 0
  } else {
    // (Not refined here: SwiftShader's WebGPU loses its device while training.) The encoder alone is a likeness.
    await inverted(page);
    const r2 = await explainedVariance(page);
    console.log(`demo faces on ${backend()}: R² ${r2.toFixed(3)} from the encoder`);
    expect(r2).toBeGreaterThan(0.1); // measured 0.151 (the encoder alone returns a stranger); noise or a flat image give <= 0
  }
  // both descriptors are taken on the face box found in the aligned photo, so a smooth reconstruction still gets one
  await expect(page.getByTestId('quality')).toContainText(/Reconstruction MSE 0\.\d+.*identity distance \d\.\d+/, { timeout: 60_000 });
  // The slider panel: groups, one slider per attribute, a filter.
  const filter = page.getByLabel('filter sliders');
  await filter.fill('glasses');
  await expect(page.locator('.slider-group input[type=range]')).toHaveCount(1);
  await expect(page.getByRole('group', { name: 'Accessories & make-up' }).getByLabel(/^Eyeglasses/)).toBeVisible();
  await filter.fill('');
  // Male by InterFaceGAN at its end (under "More sliders": no male slider passes every judge on this model yet)
  // changes the face's shape and shading: in the photo, more lightness than colour.
  const before = (await pixels(page, 'edited')).data;
  await page.getByText('More sliders').click();
  const male = page.locator('#slider-male');
  await male.fill((await male.getAttribute('max'))!);
  await expect.poll(async () => (await pixels(page, 'edited')).data.some((v, i) => v !== before[i]), { timeout: 120_000 }).toBe(true);
  await expect(page.getByTestId('busy')).toHaveText('', { timeout: 120_000 });
  await expect.poll(async () => (await changeInTheFace(page)).lightness, { timeout: 120_000 }).toBeGreaterThan(1);
  const maleChange = await changeInTheFace(page);
  console.log(`demo faces on ${backend()}: Male at its end in the photo's face box: ${maleChange.lightness.toFixed(2)} L*, chroma ${maleChange.chroma.toFixed(2)}, colour share ${maleChange.chromaShare.toFixed(3)}`);
  // On the refined photo, what a person gets by default (0.47 measured). Unrefined (the webgpu run), the change is the
  // stranger's the encoder returns, laid over the photo: 0.53 measured, logged only.
  if (backend() === 'wasm') expect(maleChange.chromaShare).toBeLessThan(0.5);
  await photoKeepsItsDetail(page);
  // A second photo as the reference: the shipped learned editing blocks transfer its attribute.
  const maleEdited = (await pixels(page, 'edited')).data;
  await page.getByTestId('reference-input').setInputFiles(REFERENCE);
  const attribute = page.getByRole('combobox', { name: 'Attribute', exact: true });
  await expect(attribute).toHaveValue('', { timeout: 120_000 }); // nothing taken until chosen
  await expect(attribute.locator('option', { hasText: 'learned editing block' })).toHaveText(['Bangs (learned editing block)',
    'Eyeglasses (learned editing block)', 'Smiling (learned editing block)', 'Blond hair (learned editing block)']);
  await attribute.selectOption('block:smiling');
  await expect.poll(async () => (await pixels(page, 'edited')).data.some((v, i) => v !== maleEdited[i]), { timeout: 120_000 }).toBe(true);
  await expect(page.getByTestId('busy')).toHaveText('', { timeout: 120_000 });
  await page.screenshot({ path: info.outputPath('demo-faces.png') });
  await page.locator('.panel.result').screenshot({ path: info.outputPath('demo-faces-result.png') });
  // A reload brings the edited photo, reference and transfer back from their snapshots (no detection, no encoder).
  // Timed on wasm, what this machine would pick; restore on WebGPU is tested with the golden tiny model in
  // app.spec.ts (on SwiftShader a demo-model restore takes 20-40 s of shader compilation).
  if (backend() !== 'wasm') {
    // said in the report, not silently: the reload half of this test runs on wasm only
    test.info().annotations.push({ type: 'skipped part', description: `the reload is timed on wasm only (${backend()} restores a demo model in 20-40 s of shader compilation)` });
    return;
  }
  const edited = (await pixels(page, 'edited')).data;
  await page.waitForTimeout(1000); // the document and the snapshots are saved just after the last change
  await page.reload();
  const ms = await msUntilShown(page, 'edited', edited);
  console.log(`demo faces on ${backend()}: reload -> the edited picture back in ${ms.toFixed(0)} ms after navigation`);
  await expect(page.getByText('Invert: restored')).toBeVisible();
  // ...refined as it was: its tuned layers come back, and a reopened photo is not refined again.
  await expect(page.getByTestId('refined')).toContainText('Refined (');
  await expect(page.getByTestId('photo-refining')).toHaveCount(0);
});

test('the demo car model reconstructs a real car photo', async ({ page }, info) => {
  await page.getByLabel('model').selectOption('demo-cars-128');
  await expect(page.getByTestId('model-summary')).toContainText('car, 96×128', { timeout: 240_000 });
  await page.getByTestId('photo-input').setInputFiles(CAR);
  await inverted(page);
  const r2 = await explainedVariance(page);
  console.log(`demo cars on ${backend()}: R² ${r2.toFixed(3)}`);
  expect(r2).toBeGreaterThan(0.6); // measured 0.667 (0.631, 0.546 on earlier weights; still blurry); noise or a flat image give <= 0
  await page.screenshot({ path: info.outputPath('demo-cars.png') });
  // A slider held still has its neighbouring positions made ahead: a step to one shows without a render. Only quick
  // previews are made ahead (a move would wait behind one): on SwiftShader's WebGPU a car preview takes ~1.5 s.
  const slider = page.locator('.slider-group input[type=range]').first();
  const status = page.locator('.status');
  await slider.focus();
  if (backend() === 'wasm') {
    await expect(async () => {
      await page.waitForTimeout(1000);
      await slider.press('ArrowRight');
      await expect(status).toContainText(/preview made ahead \d+ ms/, { timeout: 5000 });
    }).toPass({ timeout: 60_000 });
  } else {
    await slider.press('ArrowRight');
    await expect(status).toContainText(/· preview \d+ ms/, { timeout: 60_000 });
    await page.waitForTimeout(1000);
    await slider.press('ArrowRight');
    await expect(status).toContainText(/render \d+ ms · in the photo \d+ ms · preview \d+ ms$/, { timeout: 60_000 });
  }
});
