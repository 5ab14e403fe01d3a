import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { setKernelThreads, type SpawnHelper } from '../kernels/conv3x3';

/** The convolution kernel's helper threads in Node, unref'd once started: an idle helper never keeps a script running. */
const spawnNodeHelper: SpawnHelper = (source, message) => {
  const worker = new Worker(source, { eval: true });
  const started = new Promise<void>((resolve) => {
    worker.once('message', () => resolve());
    worker.once('error', () => resolve());
  }).finally(() => worker.unref());
  worker.postMessage(message);
  return { started, terminate: () => void worker.terminate() };
};

/**
 * Node offers two tfjs backends without native binaries: wasm (SIMD, ~15 GFLOP/s here) and cpu (plain JS, the
 * reference). The wasm binaries ship in the npm package and are read from disk.
 */
export type NodeBackend = 'wasm' | 'cpu';

export async function useNodeBackend(name: NodeBackend = 'wasm'): Promise<string> {
  if (name === 'wasm') {
    setKernelThreads({ spawn: spawnNodeHelper, threads: availableParallelism() });
    const require = createRequire(import.meta.url);
    setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))}/`);
  }
  if (!(await tf.setBackend(name))) throw new Error(`the ${name} backend could not start`);
  await tf.ready();
  return tf.getBackend();
}

/**
 * Whether an error means the backend itself broke, not just this call: a WASM trap or abort ("RuntimeError:
 * Aborted()", "memory access out of bounds") or XNNPACK running out of memory. Every later call on that backend
 * fails the same way, so the caller restarts it (restartNodeBackend) instead of failing every photo after.
 */
export function isBackendFailure(error: unknown): boolean {
  return error instanceof WebAssembly.RuntimeError || /Aborted\(|XNNPACK|out of memory/i.test(String((error as Error | undefined)?.message));
}

/**
 * Replaces the current backend with a fresh instance of it (a new WASM module and memory). Every tensor on the old
 * one is lost: the caller reloads its models and the face detector's nets. tfjs has no restart; its registry keeps
 * the factory, so the backend is removed and registered again (its dispose is skipped: the dead module would trap).
 */
export async function restartNodeBackend(): Promise<string> {
  const name = tf.getBackend();
  const factory = tf.findBackendFactory(name);
  if (!factory) throw new Error(`the ${name} backend has no factory to restart it from`);
  const registry = (tf.engine() as unknown as { registry: Record<string, tf.KernelBackend> }).registry;
  if (registry[name]) registry[name].dispose = () => {};
  tf.removeBackend(name);
  tf.registerBackend(name, factory, name === 'wasm' ? 2 : 1);
  if (!(await tf.setBackend(name))) throw new Error(`the ${name} backend could not restart`);
  await tf.ready();
  return tf.getBackend();
}

/** Threads the wasm backend runs in Node: 1, as tfjs loads its single-threaded build there. */
export function wasmThreadCount(): number {
  return tf.getBackend() === 'wasm' ? getThreadsCount() : 1;
}
