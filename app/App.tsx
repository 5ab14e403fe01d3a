import { useEffect, useRef } from 'react';
import { Comlink, engine } from './engine';
import type { WorkerError } from './engine.worker';
import { useStudio, type CatalogEntry } from './store';

function isError(value: unknown): value is WorkerError {
  return typeof value === 'object' && value !== null && 'kind' in value && 'message' in value;
}

async function loadCatalogModel(entry: CatalogEntry) {
  const { set } = useStudio.getState();
  set({ busy: `Loading ${entry.name}`, progress: 0, error: null, modelId: entry.id });
  const url = new URL(`/models/${entry.path}/`, location.href).toString();
  const result = await engine.loadModel(url, Comlink.proxy((p: { loaded: number; total: number }) => set({ progress: p.total ? p.loaded / p.total : null })));
  if (isError(result)) set({ error: `${entry.name} could not be loaded: ${result.message}`, busy: null, progress: null });
  else set({ model: result, busy: null, progress: null });
}

export function App() {
  const { backend, catalog, modelId, model, busy, progress, error, log, seed, set } = useStudio();
  const canvas = useRef<HTMLCanvasElement>(null);
  const timing = useRef<HTMLSpanElement>(null);
  const booted = useRef(false);

  useEffect(() => {
    if (booted.current) return; // React's development double-effect: start once
    booted.current = true;
    void (async () => {
      try {
        set({ busy: 'Starting the engine' });
        // ?backend=wasm (or webgl, webgpu) forces one backend: for tests and for users whose GPU misbehaves.
        const forced = new URLSearchParams(location.search).get('backend');
        const name = await engine.start(forced ? [forced as 'webgpu' | 'webgl' | 'wasm'] : undefined);
        const response = await fetch('/models/catalog.json');
        const entries = (await response.json()) as CatalogEntry[];
        set({ backend: name, catalog: entries, busy: null });
        if (entries[0]) await loadCatalogModel(entries[0]);
      } catch (e) {
        set({ error: `The engine could not start: ${(e as Error).message}`, busy: null });
      }
    })();
  }, [set]);

  useEffect(() => {
    if (!model) return;
    void (async () => {
      const result = await engine.sample(seed);
      if (isError(result)) { set({ error: result.message }); return; }
      const ctx = canvas.current?.getContext('2d');
      if (!ctx || !canvas.current) return;
      canvas.current.width = result.pixels.width;
      canvas.current.height = result.pixels.height;
      ctx.putImageData(new ImageData(result.pixels.data as Uint8ClampedArray<ArrayBuffer>, result.pixels.width, result.pixels.height), 0, 0);
      if (timing.current) timing.current.textContent = `${result.ms.toFixed(0)} ms`;
    })();
  }, [model, seed, set]);

  async function addCheckpoint(file: File | undefined) {
    if (!file) return;
    set({ busy: `Converting ${file.name}`, error: null, log: [] });
    const lines: string[] = [];
    const result = await engine.convert(file, true, Comlink.proxy((line: string) => { lines.push(line); set({ log: [...lines] }); }));
    if (isError(result)) set({ error: `${file.name}: ${result.message}`, busy: null });
    else set({ model: result, modelId: `file:${file.name}`, busy: null });
  }

  return (
    <main>
      <header>
        <h1>Style Transformer Studio</h1>
        <p className="status" aria-live="polite">
          Engine: <strong data-testid="backend">{backend ?? '…'}</strong>
          {busy && <> · {busy}{progress !== null && ` ${(progress * 100).toFixed(0)}%`}</>}
        </p>
      </header>
      {error && <p role="alert" className="error">{error}</p>}
      <section aria-labelledby="models-heading">
        <h2 id="models-heading">Model</h2>
        <label>
          Bundled models{' '}
          <select value={modelId ?? ''} onChange={(e) => { const entry = catalog.find((c) => c.id === e.target.value); if (entry) void loadCatalogModel(entry); }}>
            {catalog.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
          </select>
        </label>
        <label className="file">
          Add an official checkpoint (.pt){' '}
          <input type="file" accept=".pt,.pth" onChange={(e) => void addCheckpoint(e.target.files?.[0])} />
        </label>
        {model && (
          <dl className="summary">
            <dt>Name</dt><dd>{model.name}</dd>
            <dt>Domain</dt><dd>{model.domain}</dd>
            <dt>Input / output</dt><dd>{model.inputSize.join('×')} → {model.outputSize}px</dd>
            <dt>Parameters</dt><dd>{Object.entries(model.parameters).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${(n / 1e6).toFixed(2)}M`).join(', ')}</dd>
            <dt>Edits</dt><dd>{model.directions} directions, {model.editBlocks} editing blocks</dd>
            <dt>Source</dt><dd>{model.source}</dd>
          </dl>
        )}
        {log.length > 0 && <pre className="log">{log.join('\n')}</pre>}
      </section>
      <section aria-labelledby="sample-heading">
        <h2 id="sample-heading">Random sample</h2>
        <canvas ref={canvas} width={256} height={256} aria-label="generated sample" />
        <p>
          <button type="button" onClick={() => set({ seed: seed + 1 })} disabled={!model}>New sample</button>{' '}
          <span ref={timing} />
        </p>
      </section>
    </main>
  );
}
