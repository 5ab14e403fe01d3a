import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

/**
 * Node offers two tfjs backends without native binaries: wasm (SIMD, ~15 GFLOP/s here) and cpu (plain JS, the
 * reference). The wasm binaries ship in the npm package and are read from disk.
 */
export type NodeBackend = 'wasm' | 'cpu';

export async function useNodeBackend(name: NodeBackend = 'wasm'): Promise<string> {
  if (name === 'wasm') {
    const require = createRequire(import.meta.url);
    setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))}/`);
  }
  if (!(await tf.setBackend(name))) throw new Error(`the ${name} backend could not start`);
  await tf.ready();
  return tf.getBackend();
}
