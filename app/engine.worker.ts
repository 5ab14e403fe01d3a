// All model work runs here, off the page's thread, so the UI never freezes.
import * as Comlink from 'comlink';
import * as tf from '@tensorflow/tfjs-core';
import { startBackend, type BrowserBackend } from '../src/browser/backend';
import { StudioModel } from '../src/engine/model';
import { toPixels, type Pixels } from '../src/engine/image';
import { blobSource } from '../src/io/byte-source';
import { CheckpointError } from '../src/io/errors';
import { loadCheckpoint } from '../src/io/torch';
import { convertCheckpoint } from '../src/weights/convert';
import { httpFiles, loadBundle, memoryFiles, type LoadProgress } from '../src/weights/loader';
import type { BundleManifest } from '../src/weights/bundle';

export interface ModelSummary {
  name: string;
  domain: string;
  inputSize: [number, number];
  outputSize: number;
  parameters: Record<string, number>;
  directions: number;
  editBlocks: number;
  license: string;
  source: string;
}

export interface WorkerError {
  kind: 'checkpoint' | 'engine';
  message: string;
}

let model: StudioModel | null = null;
// One start per worker: React's development double-effects would otherwise race two setBackend calls.
let started: Promise<string> | null = null;

function summary(m: BundleManifest): ModelSummary {
  return {
    name: m.name, domain: m.domain, inputSize: m.inputSize, outputSize: m.outputSize, parameters: m.parameters,
    directions: m.directions.length, editBlocks: m.editBlocks.length, license: m.license, source: m.source,
  };
}

function explain(error: unknown): WorkerError {
  if (error instanceof CheckpointError) return { kind: 'checkpoint', message: error.message };
  return { kind: 'engine', message: (error as Error)?.message ?? String(error) };
}

function use(manifest: BundleManifest, next: StudioModel): ModelSummary {
  model?.dispose();
  model = next;
  return summary(manifest);
}

const api = {
  async start(order?: BrowserBackend[]): Promise<string> {
    started ??= startBackend(order);
    return started;
  },

  async loadModel(url: string, onProgress?: (p: LoadProgress) => void): Promise<ModelSummary | WorkerError> {
    try {
      const { manifest, weights } = await loadBundle(httpFiles(url), onProgress);
      return use(manifest, new StudioModel(manifest, weights));
    } catch (error) {
      return explain(error);
    }
  },

  /** A dropped official checkpoint -> bundle -> the current model. */
  async convert(file: File, fp16: boolean, onLog?: (line: string) => void): Promise<ModelSummary | WorkerError> {
    try {
      const checkpoint = await loadCheckpoint(blobSource(file));
      const { manifest, shards } = await convertCheckpoint({ checkpoint, fp16, source: file.name, log: onLog });
      const { weights } = await loadBundle(memoryFiles(manifest, shards));
      return use(manifest, new StudioModel(manifest, weights));
    } catch (error) {
      return explain(error);
    }
  },

  async sample(seed: number, resolution?: number): Promise<{ pixels: Pixels; ms: number } | WorkerError> {
    if (!model) return { kind: 'engine', message: 'no model is loaded' };
    try {
      const started = performance.now();
      const codes = model.sample(1, seed);
      const image = model.render(codes, { resolution });
      const pixels = await toPixels(image);
      tf.dispose([codes, image]);
      return Comlink.transfer({ pixels, ms: performance.now() - started }, [pixels.data.buffer]);
    } catch (error) {
      return explain(error);
    }
  },
};

export type EngineApi = typeof api;
Comlink.expose(api);
