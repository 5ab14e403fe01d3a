import * as Comlink from 'comlink';
import type { Engine, Ports } from './controller';
import * as persist from './persist';
import type { EngineApi } from './protocol';
import type { CatalogEntry } from './store';
import { storedTaught, storeTaught } from './taught';
import { canWrite, claimWriter } from './writer';

/** The controller's ports in the page: the engine worker, IndexedDB, Web Locks, localStorage, downloads. */
export function pagePorts(): Ports {
  const engine = Comlink.wrap<EngineApi>(new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' }));
  // Development builds (and the Playwright tests, which run on the dev server) can reach the engine, e.g. to
  // simulate a lost GPU.
  if (import.meta.env.DEV) (window as unknown as { studioEngine: typeof engine }).studioEngine = engine;
  const params = new URLSearchParams(location.search);
  return {
    engine: engine as unknown as Engine,
    callback: (fn) => Comlink.proxy(fn),
    storage: persist,
    writer: { canWrite, claimWriter },
    catalog: async () => (await (await fetch('/models/catalog.json')).json()) as CatalogEntry[],
    modelUrl: (path) => new URL(`/models/${path}/`, location.href).toString(),
    taught: { stored: storedTaught, store: storeTaught },
    preferences: {
      get(key) {
        try {
          const stored = localStorage.getItem(key);
          return stored === null ? null : stored === '1';
        } catch {
          return null;
        }
      },
      set(key, on) {
        try { localStorage.setItem(key, on ? '1' : '0'); } catch { /* private mode: the setting lasts this visit */ }
      },
    },
    download(blob, name) {
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    },
    options: {
      backend: (params.get('backend') as Ports['options']['backend']) || null,
      model: params.get('model'),
      anticipate: params.get('anticipate') !== '0', // ?anticipate=0: off, for timing the previews without it
    },
  };
}
