import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
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

/**
 * Switches tfjs to its WASM backend with an XNNPACK pool of every logical core the browser reports (the pool's
 * build holds 8 at most), where the page is cross-origin isolated.
 *
 * Written by hand because tfjs-backend-wasm offers no way to do it: its module caps the pool at half of
 * navigator.hardwareConcurrency (it assumes two hyperthreads a core), whatever setThreadsCount asks, so a 2-core
 * machine ran one thread and a 4-core one two. The module reads the count once, while it starts; for that moment
 * it is shown twice the count, then the browser's own is back. Measured on a 2-core machine (Chromium, a 3x3
 * convolution of 64 x 64 x 128): 48 ms on the one thread tfjs picks, 28-30 ms on two.
 */
export async function setWasmBackend(): Promise<boolean> {
  if (tf.findBackend('wasm')) return tf.setBackend('wasm');
  const cores = navigator.hardwareConcurrency || 1;
  setThreadsCount(cores);
  let shown = false;
  try {
    Object.defineProperty(navigator, 'hardwareConcurrency', { configurable: true, get: () => 2 * cores });
    shown = true;
  } catch {
    // a browser that refuses: tfjs's own half of the cores
  }
  try {
    return await tf.setBackend('wasm');
  } finally {
    if (shown) delete (navigator as { hardwareConcurrency?: number }).hardwareConcurrency; // the prototype's getter again
  }
}

/** Starts the WASM backend (every core, as above) if it has not started, and leaves tfjs on the backend it was on. */
export async function initialiseWasmBackend(): Promise<void> {
  if (tf.findBackend('wasm')) return;
  const previous = tf.getBackend();
  await setWasmBackend();
  if (previous && previous !== 'wasm') await tf.setBackend(previous);
}

/**
 * The GPU backends' code (4 and 5 MB as the dev server sends it), read only when one is tried: a page on wasm parsed
 * and ran both at every start. Each registers itself with tfjs as it loads.
 */
const GPU_BACKENDS: Partial<Record<BrowserBackend, () => Promise<unknown>>> = {
  webgpu: () => import('@tensorflow/tfjs-backend-webgpu'),
  webgl: () => import('@tensorflow/tfjs-backend-webgl'),
};

/** Starts the first backend of `order` that works here and returns its name. */
export async function startBackend(order: BrowserBackend[] = BACKEND_ORDER): Promise<BrowserBackend> {
  const failures: string[] = [];
  for (const name of order) {
    try {
      await GPU_BACKENDS[name]?.();
      if (await (name === 'wasm' ? setWasmBackend() : tf.setBackend(name))) {
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

/** Renderers that draw on the CPU: a GPU backend on them is many times slower than WASM (SwiftShader: ~20x). */
const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render driver/i;

/** When a GPU backend would run on a software renderer here, its name ("SwiftShader"); else null. */
export async function softwareRenderer(backend: 'webgpu' | 'webgl'): Promise<string | null> {
  try {
    if (backend === 'webgpu') {
      const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
      const adapter = (await gpu?.requestAdapter()) as { info?: Record<string, unknown>; isFallbackAdapter?: boolean } | null | undefined;
      if (!adapter) return null;
      const info = adapter.info ?? {};
      const text = ['vendor', 'architecture', 'device', 'description'].map((k) => String(info[k] ?? '')).join(' ');
      if (info.isFallbackAdapter === true || adapter.isFallbackAdapter === true || SOFTWARE.test(text)) {
        return text.match(SOFTWARE)?.[0] ?? 'a fallback adapter';
      }
      return null;
    }
    const gl = new OffscreenCanvas(1, 1).getContext('webgl2') as WebGL2RenderingContext | null;
    if (!gl) return null;
    const debug = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER) ?? '');
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return renderer.match(SOFTWARE)?.[0] ?? null;
  } catch {
    return null;
  }
}

const NAMES: Record<BrowserBackend, string> = { webgpu: 'WebGPU', webgl: 'WebGL', wasm: 'WASM', cpu: 'plain JavaScript' };

/**
 * Picks the backend for this machine: a GPU backend on real hardware first; WASM before any GPU backend that runs
 * on a software renderer (SwiftShader's WebGPU took 53-87 s for a first photo where WASM took 0.2-3.6 s, with the
 * same pixels). `forced` (?backend=) is used as asked. Returns the backend and, for the header, why.
 */
export async function startPreferredBackend(forced?: BrowserBackend): Promise<{ backend: BrowserBackend; reason: string }> {
  if (forced) {
    const backend = await startBackend([forced]);
    return { backend, reason: backend === 'wasm' ? `chosen by ?backend=; ${wasmThreads()}` : 'chosen by ?backend=' };
  }
  const software = new Map<BrowserBackend, string>();
  for (const name of ['webgpu', 'webgl'] as const) {
    const renderer = await softwareRenderer(name);
    if (renderer) software.set(name, renderer);
  }
  const order = [...BACKEND_ORDER.filter((b) => !software.has(b)), ...BACKEND_ORDER.filter((b) => software.has(b))];
  const backend = await startBackend(order);
  const skipped = [...software].filter(([b]) => BACKEND_ORDER.indexOf(b) < BACKEND_ORDER.indexOf(backend) || backend === 'wasm');
  const reason = software.has(backend)
    ? `${NAMES[backend]} on a software renderer (${software.get(backend)}): nothing faster works here`
    : skipped.length
      ? `${skipped.map(([b, r]) => `${NAMES[b]} here runs on a software renderer (${r})`).join('; ')}, slower than ${NAMES[backend]}`
      : backend === 'wasm' ? 'no GPU backend works in this browser' : 'the GPU';
  return { backend, reason: backend === 'wasm' ? `${reason}; ${wasmThreads()}` : reason };
}

/** How many threads the WASM backend runs, and why not more (the page must be cross-origin isolated). */
export function wasmThreads(): string {
  const threads = getThreadsCount();
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  return threads > 1 ? `${threads} threads` : isolated ? '1 thread' : '1 thread: the page is not cross-origin isolated (COOP/COEP headers)';
}
