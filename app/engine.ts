import * as Comlink from 'comlink';
import type { EngineApi } from './engine.worker';

/** The page's handle on the engine worker. */
export const engine = Comlink.wrap<EngineApi>(new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' }));
export { Comlink };
