import * as Comlink from 'comlink';
import type { EngineApi } from './protocol';

/** The page's handle on the engine worker. */
export const engine = Comlink.wrap<EngineApi>(new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' }));
export { Comlink };

// Development builds (and the Playwright tests, which run on the dev server) can reach the engine, e.g. to
// simulate a lost GPU.
if (import.meta.env.DEV) (window as unknown as { studioEngine: typeof engine }).studioEngine = engine;
