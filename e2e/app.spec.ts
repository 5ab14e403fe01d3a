import { expect, test } from '@playwright/test';

/** The app starts, picks a backend, loads the bundled model from our own origin and renders a sample. */
for (const [query, backend] of [['', 'webgpu'], ['?backend=wasm', 'wasm']] as const) {
test(`the app opens on a bundled model and renders a sample (${backend})`, async ({ page }, testInfo) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`/${query}`);
  await expect(page.getByTestId('backend')).toHaveText(backend, { timeout: 120_000 });
  await expect(page.getByLabel('Bundled models')).toHaveValue('golden-tiny');
  await expect(page.getByText(/encoder 0\.27M/)).toBeVisible({ timeout: 120_000 });
  const canvas = page.getByLabel('generated sample');
  await expect.poll(async () => canvas.evaluate((c: HTMLCanvasElement) => c.width), { timeout: 120_000 }).toBe(32);
  const distinct = await canvas.evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    return new Set(Array.from(d.filter((_, i) => i % 4 === 0))).size;
  });
  expect(distinct).toBeGreaterThan(20);
  await page.screenshot({ path: testInfo.outputPath(`app-sample-${backend}.png`) });
  expect(errors).toEqual([]);
});
}

test('a file that is not a checkpoint gets a clear message and the app keeps working', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByText(/encoder 0\.27M/)).toBeVisible({ timeout: 120_000 });
  await page.locator('input[type=file]').setInputFiles({ name: 'holiday.pt', mimeType: 'application/octet-stream', buffer: Buffer.from('just some text') });
  await expect(page.getByRole('alert')).toContainText('holiday.pt is not a PyTorch checkpoint');
  await page.getByRole('button', { name: 'New sample' }).click();
  await expect(page.getByText(/encoder 0\.27M/)).toBeVisible();
});
