// All model work runs here, off the page's thread, so the UI never freezes.
import * as Comlink from 'comlink';
import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_ORDER, startBackend, type BrowserBackend } from '../src/browser/backend';
import { browserFaceDetector, decodePhotoBlob } from '../src/browser/photo';
import { StudioModel, type EditValue } from '../src/engine/model';
import { EditorSession, type Framing, type Transfer } from '../src/engine/session';
import { blobSource } from '../src/io/byte-source';
import { CheckpointError } from '../src/io/errors';
import { readNpy, writeNpy } from '../src/io/npy';
import { loadCheckpoint } from '../src/io/torch';
import { downscaleRgb } from '../src/photo/raster';
import { PhotoError, type RgbImage } from '../src/photo/types';
import type { BundleManifest, DirectionSpec } from '../src/weights/bundle';
import { convertCheckpoint } from '../src/weights/convert';
import { httpFiles, loadBundle, memoryFiles, type LoadProgress } from '../src/weights/loader';

export interface Pixels { width: number; height: number; data: Uint8ClampedArray }

export interface ModelSummary {
  name: string;
  domain: 'face' | 'car';
  inputSize: [number, number];
  outputSize: number;
  nStyles: number;
  parameters: Record<string, number>;
  directions: DirectionSpec[];
  editBlocks: Array<{ id: string; attribute: string }>;
  license: string;
  source: string;
}

export interface WorkerError { error: { kind: 'checkpoint' | 'photo' | 'engine'; code: string; message: string } }
export type Result<T> = T | WorkerError;

let model: StudioModel | null = null;
let session: EditorSession | null = null;
let started: Promise<string> | null = null; // one start per worker (React's double effects would race it)
let onDeviceLost: ((reason: string) => void) | null = null;

/** A WebGPU device can be lost (driver reset, GPU removed, browser reclaiming it); the page is told, once. */
function watchDevice(backend: string): void {
  if (backend !== 'webgpu') return;
  const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
  void device?.lost.then((info) => onDeviceLost?.(info.message || info.reason || 'unknown reason'));
}

function summary(m: BundleManifest): ModelSummary {
  return {
    name: m.name, domain: m.domain, inputSize: m.inputSize, outputSize: m.outputSize, nStyles: m.nQueries,
    parameters: m.parameters, directions: m.directions, editBlocks: m.editBlocks.map(({ id, attribute }) => ({ id, attribute })),
    license: m.license, source: m.source,
  };
}

function fail(error: unknown): WorkerError {
  if (error instanceof CheckpointError) return { error: { kind: 'checkpoint', code: error.code, message: error.message } };
  if (error instanceof PhotoError) return { error: { kind: 'photo', code: error.code, message: error.message } };
  return { error: { kind: 'engine', code: 'engine', message: (error as Error)?.message ?? String(error) } };
}

async function guard<T>(work: () => Promise<T>): Promise<Result<T>> {
  try {
    return await work();
  } catch (error) {
    return fail(error);
  }
}

function pixels(image: RgbImage): Pixels {
  const data = new Uint8ClampedArray(image.width * image.height * 4);
  for (let i = 0, j = 0; j < image.data.length; i += 4, j += 3) {
    data[i] = image.data[j]; data[i + 1] = image.data[j + 1]; data[i + 2] = image.data[j + 2]; data[i + 3] = 255;
  }
  return Comlink.transfer({ width: image.width, height: image.height, data }, [data.buffer]);
}

async function png(image: RgbImage): Promise<Blob> {
  const canvas = new OffscreenCanvas(image.width, image.height);
  const ctx = canvas.getContext('2d')!;
  const p = pixels(image);
  ctx.putImageData(new ImageData(p.data as Uint8ClampedArray<ArrayBuffer>, p.width, p.height), 0, 0);
  return canvas.convertToBlob({ type: 'image/png' });
}

async function use(manifest: BundleManifest, next: StudioModel): Promise<ModelSummary> {
  session?.dispose();
  model?.dispose();
  model = next;
  session = new EditorSession(next, manifest.domain === 'face' ? await browserFaceDetector() : null);
  return summary(manifest);
}

function current(): EditorSession {
  if (!session) throw new Error('no model is loaded');
  return session;
}

const api = {
  start(order?: BrowserBackend[]): Promise<string> {
    started ??= startBackend(order).then((name) => { watchDevice(name); return name; });
    return started;
  },

  watchDeviceLoss(callback: (reason: string) => void): void {
    onDeviceLost = callback;
  },

  /** After a lost GPU: drops the dead backend and its model, starts the next backend in line. */
  async restart(): Promise<string> {
    const dead = tf.getBackend();
    session?.dispose();
    try { model?.dispose(); } catch { /* its tensors died with the device */ }
    session = null;
    model = null;
    tf.removeBackend(dead);
    const order = BACKEND_ORDER.filter((b) => b !== dead);
    started = startBackend(order).then((name) => { watchDevice(name); return name; });
    return started;
  },

  /** For tests: destroys the WebGPU device, as a driver reset would. */
  simulateDeviceLoss(): boolean {
    const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
    device?.destroy();
    return Boolean(device);
  },

  loadModel(url: string, onProgress?: (p: LoadProgress) => void): Promise<Result<ModelSummary>> {
    return guard(async () => {
      const { manifest, weights } = await loadBundle(httpFiles(url), onProgress);
      return use(manifest, new StudioModel(manifest, weights));
    });
  },

  /** A dropped official checkpoint -> bundle (kept by the page in IndexedDB) -> the current model. */
  convert(file: File, fp16: boolean, onLog?: (line: string) => void): Promise<Result<{ model: ModelSummary; manifest: BundleManifest; shards: Uint8Array[] }>> {
    return guard(async () => {
      const { manifest, shards } = await convertCheckpoint({ checkpoint: await loadCheckpoint(blobSource(file)), fp16, source: file.name, log: onLog });
      const { weights } = await loadBundle(memoryFiles(manifest, shards));
      return { model: await use(manifest, new StudioModel(manifest, weights)), manifest, shards };
    });
  },

  loadStoredModel(manifest: BundleManifest, shards: Uint8Array[]): Promise<Result<ModelSummary>> {
    return guard(async () => use(manifest, new StudioModel(manifest, (await loadBundle(memoryFiles(manifest, shards))).weights)));
  },

  /** Decodes a photo and finds its faces (or proposes the car crop). A face-less photo reports 'no-face'. */
  openPhoto(blob: Blob, name: string, which: 'subject' | 'reference'): Promise<Result<{ width: number; height: number; thumb: Pixels; thumbScale: number; faces: Array<{ box: { x: number; y: number; width: number; height: number }; score: number }>; framing: Framing | null; noFace?: string }>> {
    return guard(async () => {
      const photo = await decodePhotoBlob(blob, name);
      const { image: small, factor } = downscaleRgb(photo, 640);
      let faces: Array<{ box: { x: number; y: number; width: number; height: number }; score: number }> = [];
      let noFace: string | undefined;
      try {
        faces = (await current().setPhoto(photo, which)).map(({ box, score }) => ({ box, score }));
      } catch (error) {
        if (error instanceof PhotoError && error.code === 'no-face') noFace = error.message; else throw error;
      }
      const framing = noFace ? null : current().defaultFraming(which);
      return { width: photo.width, height: photo.height, thumb: pixels(small), thumbScale: factor, faces, framing, noFace };
    });
  },

  frameAndInvert(framing: Framing, which: 'subject' | 'reference'): Promise<Result<{ aligned: Pixels; reconstruction: Pixels; mse: number; identity: number | null; msInvert: number; msFrame: number }>> {
    return guard(async () => {
      const t = performance.now();
      const aligned = await current().frame(framing, which);
      const msFrame = performance.now() - t;
      const { reconstruction, mse, identity, ms } = await current().invert(which);
      return { aligned: pixels(aligned), reconstruction: pixels(reconstruction), mse, identity, msInvert: ms, msFrame };
    });
  },

  render(edits: EditValue[], preview: boolean, transfer: Transfer | null): Promise<Result<{ image: Pixels; ms: number }>> {
    return guard(async () => {
      const { image, ms } = await current().render(edits, { preview, transfer });
      return { image: pixels(image), ms };
    });
  },

  editPng(edits: EditValue[], transfer: Transfer | null): Promise<Result<Blob>> {
    return guard(async () => png((await current().render(edits, { transfer })).image));
  },

  pasteBackPng(edits: EditValue[], transfer: Transfer | null): Promise<Result<Blob>> {
    return guard(async () => png(await current().pasteBack((await current().render(edits, { transfer })).image)));
  },

  exportCodes(): Promise<Result<Uint8Array>> {
    return guard(async () => {
      const { data, shape } = await current().exportCodes();
      return writeNpy(data, shape);
    });
  },

  importCodes(bytes: Uint8Array): Promise<Result<{ ok: true }>> {
    return guard(async () => {
      const codes = readNpy(bytes, 'codes.npy');
      current().importCodes(codes.data, codes.shape);
      return { ok: true as const };
    });
  },
};

export type EngineApi = typeof api;
Comlink.expose(api);
