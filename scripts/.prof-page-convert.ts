import { withDevServerAndChromium } from './dev-browser';

await withDevServerAndChromium(5191, async (chrome) => {
  const context = await chrome.newContext();
  const page = await context.newPage();
  page.on('console', (m) => console.log('  console:', m.text().slice(0, 200)));
  await page.goto('http://127.0.0.1:5191/?backend=wasm');
  await page.getByTestId('model-summary').waitFor({ timeout: 240_000 });
  let t = Date.now();
  const lap = (what: string) => { const now = Date.now(); console.log(`${what}: ${((now - t) / 1000).toFixed(1)} s`); t = now; };
  await page.getByTestId('checkpoint-input').setInputFiles('/tmp/prof/ffhq-random.pt');
  lap('setInputFiles');
  const busy = page.getByTestId('busy');
  let last = '';
  const poll = setInterval(async () => { const text = await busy.textContent().catch(() => ''); if (text !== last) { last = text ?? ''; console.log(`  ${((Date.now() - t) / 1000).toFixed(1)} s busy: ${last}`); } }, 250);
  await page.getByTestId('model-summary').filter({ hasText: 'ffhq-random.pt' }).waitFor({ timeout: 600_000 });
  lap('converted (model summary shows it)');
  await page.waitForFunction(() => document.querySelector('[data-testid=busy]')?.textContent === '', undefined, { timeout: 600_000 });
  lap('idle');
  await page.reload();
  t = Date.now();
  await page.getByTestId('model-summary').filter({ hasText: 'ffhq-random.pt' }).waitFor({ timeout: 600_000 });
  lap('reopened after reload');
  clearInterval(poll);
});
