// Test harness (not part of the product): recomputes the golden tensors on the backend named in ?backend=.
import * as tf from '@tensorflow/tfjs-core';
import { startBackend, type BrowserBackend } from '../../src/browser/backend';
import { runGoldenSuite } from '../../tests/suite/golden-suite';

declare global {
  interface Window { goldenReport?: { backend: string; results?: Array<{ name: string; maxAbsDiff: number }>; error?: string } }
}

async function main() {
  const wanted = new URLSearchParams(location.search).get('backend') as BrowserBackend;
  const out = document.getElementById('out')!;
  try {
    const backend = await startBackend([wanted]);
    const results = await runGoldenSuite(async (path) => {
      const response = await fetch(`/fixtures/golden/${path}`);
      if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
      return new Uint8Array(await response.arrayBuffer());
    });
    window.goldenReport = { backend: tf.getBackend() ?? backend, results };
    out.textContent = results.map((r) => `${r.name}  ${r.maxAbsDiff.toExponential(2)}`).join('\n');
  } catch (error) {
    window.goldenReport = { backend: wanted, error: (error as Error).message };
    out.textContent = `error: ${(error as Error).message}`;
  }
}

void main();
