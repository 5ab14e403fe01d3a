import * as Comlink from 'comlink';
import type { Engine, Ports } from './controller';
import * as persist from './persist';
import type { EngineApi } from './protocol';
import type { CatalogEntry } from './store';
import { storedTaught, storeTaught } from './taught';
import { canWrite, claimWriter } from './writer';

/** The controller's ports in the page: the engine worker, IndexedDB, Web Locks, localStorage, downloads. */
export function pagePorts(): Ports {
  let worker: Worker;
  let engine: Engine;
  const startWorker = () => {
    worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' });
    const remote = Comlink.wrap<EngineApi>(worker);
    engine = remote as unknown as Engine;
    if (import.meta.env.DEV) testHooks(remote);
  };
  startWorker();
  const params = new URLSearchParams(location.search);
  return {
    get engine() {
      return engine;
    },
    restartEngine() {
      worker.terminate();
      startWorker();
    },
    callback: (fn) => Comlink.proxy(fn),
    handOver: (value, bytes) => Comlink.transfer(value, [...new Set(bytes.map((b) => b.buffer as ArrayBuffer))]),
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

/**
 * Development builds (and the Playwright tests, which run on the dev server) can reach the engine, e.g. to simulate
 * a lost GPU, and can make the next request to a method stop the engine (`studioCrashNext(method, times)`: that
 * many engines in a row, this one and the ones started after it).
 */
const crashPlan = { method: null as keyof EngineApi | null, times: 0 };
function testHooks(remote: Comlink.Remote<EngineApi>): void {
  const arm = () => {
    if (!crashPlan.method || crashPlan.times <= 0) return;
    crashPlan.times -= 1;
    void remote.simulateCrash(crashPlan.method);
  };
  Object.assign(window, {
    studioEngine: remote,
    studioCrashNext: (method: keyof EngineApi, times = 1) => { Object.assign(crashPlan, { method, times }); arm(); },
  });
  arm();
}
