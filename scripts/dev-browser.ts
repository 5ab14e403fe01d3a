import { join } from 'node:path';
import type { Browser } from 'playwright-core';

/**
 * Runs `use` with Chromium (Debian's, or CHROMIUM_PATH) and the development server on `port`, as the browser
 * benchmarks need them (the harness pages under app/harness/), and closes both afterwards.
 */
export async function withDevServerAndChromium<T>(port: number, use: (browser: Browser) => Promise<T>): Promise<T> {
  const { createServer } = await import('vite');
  const { chromium } = await import('playwright-core');
  const { CHROMIUM_ARGS } = await import('../playwright.config');
  const server = await createServer({ configFile: join(import.meta.dirname, '..', 'vite.config.ts'), server: { port, host: '127.0.0.1' }, logLevel: 'error' });
  await server.listen();
  try {
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
    try {
      return await use(browser);
    } finally {
      await browser.close();
    }
  } finally {
    await server.close();
  }
}
