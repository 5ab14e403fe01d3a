import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

/**
 * Backends in the browser (page or worker), fastest first. The wasm binaries are served from our own origin
 * (bundled by Vite), never from a CDN.
 */
export type BrowserBackend = 'webgpu' | 'webgl' | 'wasm' | 'cpu';
export const BACKEND_ORDER: BrowserBackend[] = ['webgpu', 'webgl', 'wasm'];

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

/** Starts the first backend of `order` that works here and returns its name. */
export async function startBackend(order: BrowserBackend[] = BACKEND_ORDER): Promise<BrowserBackend> {
  const failures: string[] = [];
  for (const name of order) {
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        // A backend can register yet fail on first use (e.g. a GPU that is blocklisted); run one op to be sure.
        const probe = tf.tidy(() => tf.sum(tf.add(tf.ones([4]), 1)));
        const value = (await probe.data())[0];
        probe.dispose();
        if (value === 8) return name;
        failures.push(`${name}: wrong result`);
      } else {
        failures.push(`${name}: not available`);
      }
    } catch (error) {
      failures.push(`${name}: ${(error as Error).message}`);
    }
  }
  throw new Error(`no tfjs backend works here (${failures.join('; ')})`);
}
