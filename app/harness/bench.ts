// Benchmark harness (not part of the product), driven by `npm run bench -- --browser`.
import { startBackend, wasmThreads, type BrowserBackend } from '../../src/browser/backend';
import { benchModel, type BenchRow } from '../../tests/suite/bench-suite';
import { benchModels } from '../../tests/suite/bench-models';
import { httpFiles, loadBundle } from '../../src/weights/loader';

declare global {
  interface Window { benchReport?: { rows: BenchRow[]; error?: string } }
}

async function main() {
  const params = new URLSearchParams(location.search);
  const out = document.getElementById('out')!;
  const rows: BenchRow[] = [];
  try {
    const backend = await startBackend([params.get('backend') as BrowserBackend]);
    if (backend === 'wasm') console.log(`bench: wasm runs ${wasmThreads()} (crossOriginIsolated: ${String(crossOriginIsolated)})`);
    const read = async (path: string) => new Uint8Array(await (await fetch(`/fixtures/${path}`)).arrayBuffer());
    const openBundle = (dir: string) => loadBundle(httpFiles(new URL(`/models/${dir}/`, location.href).toString()));
    for (const model of await benchModels(read, (params.get('models') ?? 'tiny').split(','), openBundle)) {
      const log = (line: string) => { out.textContent += `\n${line}`; console.log(`bench: ${line}`); };
      rows.push(...await benchModel(model, Number(params.get('runs') ?? 3), log, Number(params.get('idle') ?? 0)));
    }
    window.benchReport = { rows };
  } catch (error) {
    window.benchReport = { rows, error: (error as Error).message };
  }
}

void main();
