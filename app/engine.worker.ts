// All model work runs here, off the page's thread, so the UI never freezes.
import * as Comlink from 'comlink';
import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_ORDER, startBackend, startPreferredBackend } from '../src/browser/backend';
import { browserFaceDetector, decodePhotoBlob, warmUpFaceDetector } from '../src/browser/photo';
import { StudioModel, type EditValue } from '../src/engine/model';
import { RefineCancelled } from '../src/engine/refine';
import { refinementSettings } from '../src/engine/refine-presets';
import { meanStyle } from '../src/engine/teach';
import { EditorSession, type Framing, type SubjectSnapshot, type Transfer } from '../src/engine/session';
import { useGradients } from '../src/browser/gradients';
import { blobSource } from '../src/io/byte-source';
import { CheckpointError } from '../src/io/errors';
import { readNpy, writeNpy } from '../src/io/npy';
import { loadCheckpoint } from '../src/io/torch';
import { downscaleRgb } from '../src/photo/raster';
import type { FaceDetector } from '../src/photo/faces';
import { PhotoError, type RgbImage } from '../src/photo/types';
import type { BundleManifest } from '../src/weights/bundle';
import { convertCheckpoint } from '../src/weights/convert';
import { publishedDirections } from '../src/weights/official-directions';
import { httpFiles, loadBundle, memoryFiles, type LoadProgress } from '../src/weights/loader';
import { SHOWN_MAX_SIDE, type BackendChoice, type EngineApi, type FaceBox, type ModelSummary, type Picture, type Pixels, type PhotoInfo, type PhotoOutcome, type Result, type WorkerError } from './protocol';

let model: StudioModel | null = null;
let session: EditorSession | null = null;
/** A folder being edited at once (batchPhoto): a session of its own, so the photo on screen stays as it is. */
let batch: EditorSession | null = null;
let onDeviceLost: ((reason: string) => void) | null = null;

/** A WebGPU device can be lost (driver reset, GPU removed, browser reclaiming it); the page is told, once. */
function watchDevice(backend: string): void {
  if (backend !== 'webgpu') return;
  const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
  void device?.lost.then((info) => onDeviceLost?.(info.message || info.reason || 'unknown reason'));
}

function summary(m: BundleManifest): ModelSummary {
  return {
    name: m.name, domain: m.domain, inputSize: m.inputSize, outputSize: m.outputSize, nStyles: m.nQueries, nLatent: m.generator.nLatent, styleDim: m.generator.styleDim,
    parameters: m.parameters, directions: m.directions, attributes: m.classifier?.attributes ?? [], editBlocks: m.editBlocks.map(({ id, attribute }) => ({ id, attribute })),
    license: m.license, source: m.source, directionsCredit: m.directionsCredit,
  };
}

function fail(error: unknown): WorkerError {
  if (error instanceof RefineCancelled) return { error: { kind: 'cancelled', code: 'cancelled', message: 'Refinement cancelled; the encoder\'s result is kept.' } };
  if (error instanceof CheckpointError) return { error: { kind: 'checkpoint', code: error.code, message: error.message } };
  if (error instanceof PhotoError) return { error: { kind: 'photo', code: error.code, message: error.message } };
  return { error: { kind: 'engine', code: 'engine', message: (error as Error)?.message ?? String(error) } };
}

function pixels(image: RgbImage): Pixels {
  const data = new Uint8ClampedArray(image.width * image.height * 4);
  for (let i = 0, j = 0; j < image.data.length; i += 4, j += 3) {
    data[i] = image.data[j]; data[i + 1] = image.data[j + 1]; data[i + 2] = image.data[j + 2]; data[i + 3] = 255;
  }
  return Comlink.transfer({ width: image.width, height: image.height, data }, [data.buffer]);
}

/** An image file of `image`: PNG (downloads) or JPEG (a batch's results, quality 0.92). */
async function encoded(image: RgbImage, type: 'image/png' | 'image/jpeg' = 'image/png'): Promise<Blob> {
  const canvas = new OffscreenCanvas(image.width, image.height);
  const ctx = canvas.getContext('2d')!;
  const p = pixels(image);
  ctx.putImageData(new ImageData(p.data as Uint8ClampedArray<ArrayBuffer>, p.width, p.height), 0, 0);
  return canvas.convertToBlob(type === 'image/jpeg' ? { type, quality: 0.92 } : { type });
}

/** An editor session on a model (face models get the face detector): the photo's, a teaching example's, a batch's. */
function sessionOn(m: StudioModel): EditorSession {
  return new EditorSession(m, m.manifest.domain === 'face' ? lazyFaceDetector : null);
}

/**
 * face-api's nets load on the first photo, not with the model: a restored session needs no detection, and its
 * picture comes back sooner without them.
 */
const lazyFaceDetector: FaceDetector = {
  detect: async (photo) => (await browserFaceDetector()).detect(photo),
  describeRegion: async (photo, box) => (await browserFaceDetector()).describeRegion(photo, box),
};

async function use(manifest: BundleManifest, next: StudioModel): Promise<ModelSummary> {
  await next.ready();
  batch?.dispose();
  batch = null;
  session?.dispose();
  model?.dispose();
  model = next;
  session = sessionOn(next);
  return summary(manifest);
}

function current(): EditorSession {
  if (!session) throw new Error('no model is loaded');
  return session;
}

// Model and photo work runs one request at a time, in order: a new model must not be swapped in under an
// inversion that is still using the old one. `latest` is the page's newest ticket; a queued or running request
// with an older one stops at its next stage (see protocol.ts).
let queue: Promise<unknown> = Promise.resolve();
let refineCancelled = false;
let latest = 0;

class Superseded extends Error {}

function check(ticket: number): void {
  if (ticket < latest) throw new Superseded('superseded by a newer request');
}

/**
 * The refinement running now: its photo's renders go beside it, between its steps, rather than waiting the whole
 * refinement behind it in the queue (a slider moved while a photo refines shows at once, on the encoder's picture;
 * the page renders it again through the tuned layers when they are ready). Renders touch only the photo's codes
 * and tuned layers, which the refinement replaces after its last step, once the renders beside it have finished.
 */
let refinement: { ticket: number; beside: Set<Promise<unknown>> } | null = null;

function besideRefinement<T>(ticket: number, work: () => Promise<T>): Promise<Result<T>> {
  if (!refinement || refinement.ticket !== ticket) return serial(ticket, work);
  const { beside } = refinement;
  const run = guard(async () => { check(ticket); return work(); });
  beside.add(run);
  void run.finally(() => beside.delete(run));
  return run;
}

/** Requests queued behind the one running: work done ahead of the hand (anticipate) stops for them. */
let waiting = 0;

function serial<T>(ticket: number, work: () => Promise<T>): Promise<Result<T>> {
  waiting++;
  const run = queue.then(() => { waiting--; return guard(async () => { check(ticket); return work(); }); });
  queue = run.catch(() => undefined);
  return run;
}

/**
 * Lets the messages that arrived meanwhile be handled (a request from the page is counted in `waiting` when its
 * message is): a task, not a microtask, and not a timer, which nested timers would slow to 4 ms.
 */
function yieldToMessages(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => { channel.port1.close(); resolve(); };
    channel.port2.postMessage(null);
  });
}

async function guard<T>(work: () => Promise<T>): Promise<Result<T>> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof Superseded) return { error: { kind: 'superseded', code: 'superseded', message: error.message } };
    return fail(error);
  }
}

function photoInfo(photo: RgbImage, faces: FaceBox[], framing: Framing | null, noFace?: string): PhotoInfo {
  const { image: small, factor } = downscaleRgb(photo, 640);
  return { width: photo.width, height: photo.height, thumb: pixels(small), thumbScale: factor, faces, framing, noFace };
}

/**
 * The generator's edit; a full render also brings the edit in the photo: whole when `whole` or when the photo is
 * shown shrunk, else only the part any edit can change (a patch the page writes over the result it shows).
 */
async function renderPicture(edits: EditValue[], preview: boolean, transfer: Transfer | null, whole: boolean): Promise<Picture> {
  if (preview) {
    const { image, ms, prepared } = await current().render(edits, { preview, transfer });
    return { image: pixels(image), ms, prepared };
  }
  const photo = current().photo();
  const inRegion = !whole && Math.max(photo.width, photo.height) <= SHOWN_MAX_SIDE;
  const { image, result: full, region, renderMs, compositeMs } = await current().renderWithComposite(edits, transfer, { inRegion });
  if (region) {
    return { image: pixels(image), ms: renderMs, result: { patch: pixels(full), region, factor: 1 as const, width: photo.width, height: photo.height, ms: compositeMs } };
  }
  const shown = downscaleRgb(full, SHOWN_MAX_SIDE);
  return { image: pixels(image), ms: renderMs, result: { image: pixels(shown.image), factor: shown.factor, width: full.width, height: full.height, ms: compositeMs } };
}

const faceBoxes = (faces: Array<FaceBox & object>): FaceBox[] => faces.map(({ box, score }) => ({ box, score }));

let choice: Promise<BackendChoice> | null = null; // one start per worker (React's double effects would race it)

const api: EngineApi = {
  start(order) {
    choice ??= (order?.length === 1 ? startPreferredBackend(order[0]) : order ? startBackend(order).then((backend) => ({ backend, reason: 'chosen by the page' })) : startPreferredBackend())
      .then((c) => { watchDevice(c.backend); return c; });
    return choice;
  },

  supersede(ticket) {
    latest = Math.max(latest, ticket);
  },

  watchDeviceLoss(callback) {
    onDeviceLost = callback;
  },

  /** After a lost GPU: drops the dead backend and its model, starts the next backend in line. */
  async restart() {
    const dead = tf.getBackend();
    session?.dispose();
    try { model?.dispose(); } catch { /* its tensors died with the device */ }
    session = null;
    model = null;
    tf.removeBackend(dead);
    const order = BACKEND_ORDER.filter((b) => b !== dead);
    choice = startBackend(order).then((backend) => {
      watchDevice(backend);
      return { backend, reason: `${dead} stopped working` };
    });
    return choice;
  },

  /** For tests: destroys the WebGPU device, as a driver reset would. */
  simulateDeviceLoss() {
    const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
    device?.destroy();
    return Boolean(device);
  },

  loadModel(ticket, url, onProgress?: (p: LoadProgress) => void) {
    return serial(ticket, async () => {
      const { manifest, weights } = await loadBundle(httpFiles(url), onProgress);
      check(ticket);
      return use(manifest, new StudioModel(manifest, weights));
    });
  },

  /** A dropped official checkpoint -> bundle (with the published directions when it is a released model) (kept by the page in IndexedDB) -> the current model. */
  convert(ticket, file, fp16, onLog) {
    return serial(ticket, async () => {
      const { manifest, shards } = await convertCheckpoint({
        checkpoint: await loadCheckpoint(blobSource(file)), fp16, source: file.name, log: onLog,
        // the page's own files (shipped with it, never fetched from elsewhere)
        publishedDirections: (model) => publishedDirections(model, (name) => shippedFile(`official-directions/${name}`)),
      });
      const { weights } = await loadBundle(memoryFiles(manifest, shards));
      return { model: await use(manifest, new StudioModel(manifest, weights)), manifest, shards };
    });
  },

  loadStoredModel(ticket, manifest, shards) {
    return serial(ticket, async () => use(manifest, new StudioModel(manifest, (await loadBundle(memoryFiles(manifest, shards))).weights)));
  },

  invertPhoto(ticket, { which, file, framing: asked, edits, transfer }, onStage): Promise<Result<PhotoOutcome>> {
    return serial(ticket, async () => {
      const s = current();
      // Each stage's report is awaited: it crosses on its own channel, and must reach the page before the answer.
      const report = async (stage: Parameters<NonNullable<typeof onStage>>[0]) => { await onStage?.(stage); check(ticket); };
      let framing = asked ?? null; // a saved framing (hand-placed points) holds even where no face is found
      if (file) {
        const started = performance.now();
        const photo = await decodePhotoBlob(file.blob, file.name);
        check(ticket);
        let faces: FaceBox[] = [];
        let noFace: string | undefined;
        try {
          faces = faceBoxes(await s.setPhoto(photo, which));
        } catch (error) {
          if (error instanceof PhotoError && error.code === 'no-face') noFace = error.message; else throw error;
        }
        framing ??= noFace ? null : s.defaultFraming(which);
        await report({ stage: 'opened', photo: photoInfo(photo, faces, framing, noFace), ms: performance.now() - started });
        if (!framing) return { framing: null, snapshot: null };
      }
      framing ??= s.defaultFraming(which);
      const aligning = performance.now();
      const aligned = await s.frame(framing, which);
      await report({ stage: 'aligned', aligned: pixels(aligned), ms: performance.now() - aligning });
      const { reconstruction, mse, ms } = await s.invert(which, { identity: false });
      await report({ stage: 'inverted', reconstruction: pixels(reconstruction), mse, ms });
      if (which === 'reference') return { framing, snapshot: await s.snapshot('reference') };
      const picture = await renderPicture(edits, false, transfer, true);
      return { framing, picture, snapshot: await s.snapshot('subject'), original: pixels(downscaleRgb(s.photo(), SHOWN_MAX_SIDE).image) };
    });
  },

  prepareForPhoto(ticket) {
    // Queued like any work, never beside it: loading face-api switches tfjs's global backend while it runs.
    return serial(ticket, async () => {
      if (!model) return;
      await model.warmUp();
      check(ticket);
      if (model.manifest.domain === 'face') await warmUpFaceDetector();
    });
  },

  identity(ticket) {
    return serial(ticket, () => current().reconstructionIdentity());
  },

  snapshot(ticket, which) {
    return serial(ticket, () => current().snapshot(which));
  },

  restorePhoto(ticket, blob, name, which, snapshot: SubjectSnapshot, framing) {
    return serial(ticket, async () => {
      const photo = await decodePhotoBlob(blob, name);
      check(ticket);
      current().restore(photo, snapshot, which);
      const { reconstruction, mse } = await current().reconstruct(which);
      const original = which === 'subject' ? pixels(downscaleRgb(photo, SHOWN_MAX_SIDE).image) : undefined;
      return { ...photoInfo(photo, faceBoxes(snapshot.faces), framing), aligned: pixels(snapshot.aligned), reconstruction: pixels(reconstruction), mse, original };
    });
  },

  refine(ticket, steps, fineDetail, onProgress) {
    refineCancelled = false;
    return serial(ticket, async () => {
      useGradients();
      const signal = { get aborted() { return refineCancelled || ticket < latest; } };
      const running = { ticket, beside: new Set<Promise<unknown>>() };
      refinement = running;
      try {
        const out = await current().refine({
          ...refinementSettings(fineDetail), steps, signal, previewEvery: 10,
          // The refined picture goes to the page first; its likeness is measured after (face-api's nets may still
          // have to load: a restored photo was never detected), as after an inversion.
          identity: false,
          onProgress: async (p) => {
            if (p.phase === 'generator' && p.step === p.steps) {
              // The last step: from here the refinement replaces the photo's codes; renders queue behind it again.
              refinement = null;
              await Promise.all(running.beside);
            }
            await onProgress?.({ step: p.step, steps: p.steps, loss: p.loss, preview: p.preview && pixels(p.preview) });
          },
        });
        return { reconstruction: pixels(out.reconstruction), mse: out.mse, before: out.before, after: out.after, ms: out.ms };
      } catch (error) {
        if (error instanceof RefineCancelled && ticket < latest) throw new Superseded('superseded by a newer request');
        throw error;
      } finally {
        if (refinement === running) refinement = null;
        await Promise.all(running.beside);
      }
    });
  },

  cancelRefine() {
    refineCancelled = true;
  },

  teachingCodes(ticket, blob, name, range) {
    return serial(ticket, async () => {
      // a session of its own: the photo being edited, its codes and tuned layers stay as they are
      const m = current().model;
      const example = sessionOn(m);
      try {
        await example.setPhoto(await decodePhotoBlob(blob, name));
        check(ticket);
        await example.frame(example.defaultFraming());
        await example.invert('subject', { identity: false });
        const codes = await example.exportCodes();
        const { nLatent, styleDim } = m.generator.config;
        return meanStyle(codes.data, nLatent, styleDim, range);
      } finally {
        example.dispose();
      }
    });
  },

  fixedDirections(ticket, ids, range) {
    return serial(ticket, async () => Promise.all(ids.map((id) => current().model.fixedDirection(id, range))));
  },

  addTaughtDirections(ticket, taught) {
    return serial(ticket, async () => {
      for (const t of taught) current().model.addTaughtDirection(t);
      return summary(current().model.manifest);
    });
  },

  startBatch(ticket, reference) {
    return serial(ticket, async () => {
      batch?.dispose();
      batch = sessionOn(current().model);
      if (!reference) return;
      await batch.setPhoto(await decodePhotoBlob(reference.blob, reference.name), 'reference');
      await batch.frame(reference.framing ?? batch.defaultFraming('reference'), 'reference');
      await batch.invert('reference', { identity: false });
    });
  },

  batchPhoto(ticket, blob, name, edits, transfer, refine) {
    return serial(ticket, async () => {
      if (!batch) throw new Error('no batch was started');
      const started = performance.now();
      await batch.setPhoto(await decodePhotoBlob(blob, name));
      await batch.frame(batch.defaultFraming());
      await batch.invert('subject', { identity: false });
      if (refine) {
        useGradients();
        await batch.refine({ ...refinementSettings(refine.fineDetail), steps: refine.steps, identity: false });
      }
      const result = await batch.composite(edits, transfer);
      const jpeg = await encoded(result, 'image/jpeg');
      return { jpeg, width: result.width, height: result.height, ms: performance.now() - started };
    });
  },

  endBatch() {
    // queued behind the last photo, so that it is not freed under it
    void serial(latest, async () => { batch?.dispose(); batch = null; });
  },

  reconstruction(ticket) {
    return serial(ticket, async () => {
      const { reconstruction, mse } = await current().reconstruct('subject');
      return { reconstruction: pixels(reconstruction), mse };
    });
  },

  render(ticket, edits: EditValue[], preview, transfer: Transfer | null, whole = true) {
    return besideRefinement(ticket, () => renderPicture(edits, preview, transfer, whole));
  },

  anticipate(ticket, candidates: EditValue[][], transfer: Transfer | null) {
    return serial(ticket, async () => {
      let made = 0;
      for (const edits of candidates) {
        await yieldToMessages();
        if (waiting > 0 || ticket < latest) break; // a real request (or a newer anticipation) goes first
        if (await current().prepare(edits, transfer)) made++;
      }
      return made;
    });
  },

  editPng(ticket, edits, transfer) {
    return serial(ticket, async () => encoded((await current().render(edits, { transfer })).image));
  },

  pasteBackPng(ticket, edits, transfer, paste) {
    return serial(ticket, async () => encoded(paste === 'generated'
      ? await current().pasteBack((await current().render(edits, { transfer })).image)
      : await current().composite(edits, transfer)));
  },

  exportCodes(ticket) {
    return serial(ticket, async () => {
      const { data, shape } = await current().exportCodes();
      return writeNpy(data, shape);
    });
  },

  importCodes(ticket, bytes) {
    return serial(ticket, async () => {
      const codes = readNpy(bytes, 'codes.npy');
      current().importCodes(codes.data, codes.shape);
      const { reconstruction, mse } = await current().reconstruct('subject');
      return { reconstruction: pixels(reconstruction), mse };
    });
  },
};

Comlink.expose(api);

/** A file shipped with the page (public/), read from the page's own origin: nothing is fetched from elsewhere. */
async function shippedFile(path: string): Promise<Uint8Array> {
  const response = await fetch(new URL(`${import.meta.env.BASE_URL}${path}`, self.location.href));
  if (!response.ok) throw new Error(`the app's own ${path} could not be read (HTTP ${response.status}); reload the page`);
  return new Uint8Array(await response.arrayBuffer());
}
