import { expect, test } from '@playwright/test';

/** The golden tensors recomputed in Chromium on each browser backend; the page runs the same suite as Node. */
for (const backend of ['webgpu', 'wasm', 'webgl'] as const) {
  test(`golden tensors on ${backend} in Chromium`, async ({ page }) => {
    page.on('console', (m) => { if (m.type() === 'error') console.log(`[${backend} console] ${m.text()}`); });
    await page.goto(`/harness/golden.html?backend=${backend}`);
    await page.waitForFunction(() => window.goldenReport !== undefined, undefined, { timeout: 300_000 });
    const report = await page.evaluate(() => window.goldenReport!);
    expect(report.error, report.error).toBeUndefined();
    expect(report.backend).toBe(backend);
    console.log(`golden maxima on ${backend}:\n${report.results!.map((r) => `  ${r.name.padEnd(64)} ${r.maxAbsDiff.toExponential(2)}`).join('\n')}`);
    expect(report.results!.length).toBe(29);
    for (const r of report.results!) expect(r.maxAbsDiff, r.name).toBeLessThan(1e-3);
  });
}

test('webgl renders a generator with the official 1024 px layers (512 -> 1024, 32 channels), as wasm does', async ({ page }) => {
  await page.goto('/harness/webgl-size.html');
  await page.waitForFunction(() => window.webglSizeReport !== undefined, undefined, { timeout: 300_000 });
  const report = await page.evaluate(() => window.webglSizeReport!);
  expect(report.error, report.error).toBeUndefined();
  console.log(`webgl (max texture ${report.maxTextureSize}): ${report.webglMs!.toFixed(0)} ms, largest texture ${report.largestTexture!.join(' x ')}; wasm ${report.wasmMs!.toFixed(0)} ms; relative difference ${report.relativeDifference!.toExponential(2)}`);
  // Every texture fits what phones offer, and the picture is the one wasm renders.
  expect(Math.max(...report.largestTexture!)).toBeLessThanOrEqual(4096);
  expect(report.relativeDifference!).toBeLessThan(1e-4);
});
