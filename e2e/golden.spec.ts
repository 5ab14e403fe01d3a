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
    expect(report.results!.length).toBe(27);
    for (const r of report.results!) expect(r.maxAbsDiff, r.name).toBeLessThan(1e-3);
  });
}
