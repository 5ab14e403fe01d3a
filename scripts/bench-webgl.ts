/**
 * npm run bench:webgl [-- --narrow]
 * The released FFHQ generator's shapes (random weights) rendered once at 1024 px on WebGL in Chromium with its
 * texture limit set to 4096² (what phones offer), then on WASM: the time of each, the largest texture WebGL
 * allocated, and how far the two pictures differ. On SwiftShader (no GPU here) it takes minutes. --narrow renders
 * the test's generator instead (official 512 -> 1024 px layers, narrow below; e2e/golden.spec.ts).
 */
import { defineCli, parseCli } from './cli';
import { withDevServerAndChromium } from './dev-browser';

const CLI = defineCli({
  name: 'bench:webgl',
  usage: 'usage: npm run bench:webgl [-- --narrow]',
  about: 'Renders the released FFHQ generator\'s shapes (random weights) at 1024 px on WebGL in Chromium with a 4096² texture limit, then on\nWASM: the time of each, the largest texture, and how far the two pictures differ (minutes on SwiftShader).',
  options: {
    narrow: { type: 'boolean', default: false, help: 'the test\'s narrow generator with the official 512 -> 1024 px layers instead' },
  },
});

async function main() {
  const { values } = parseCli(CLI);
  await withDevServerAndChromium(5187, async (browser) => {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:5187/harness/webgl-size.html${values.narrow ? '' : '?official'}`);
    await page.waitForFunction(() => (window as { webglSizeReport?: unknown }).webglSizeReport !== undefined, undefined, { timeout: 3_600_000, polling: 1000 });
    const report = await page.evaluate(() => (window as unknown as { webglSizeReport: Record<string, number | number[] | string> }).webglSizeReport);
    if (report.error) throw new Error(String(report.error));
    console.log(`${values.narrow ? 'narrow generator with the official 512 -> 1024 px layers' : 'official FFHQ generator shapes'}, 1024 px:`);
    console.log(`  webgl (texture limit ${report.maxTextureSize}): ${(Number(report.webglMs) / 1000).toFixed(1)} s, largest texture ${(report.largestTexture as number[]).join(' x ')}`);
    console.log(`  wasm: ${(Number(report.wasmMs) / 1000).toFixed(1)} s (first render, set-up included)`);
    console.log(`  relative difference webgl vs wasm: ${Number(report.relativeDifference).toExponential(2)}`);
  });
}

void main();
