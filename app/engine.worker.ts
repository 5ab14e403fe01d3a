// All model work runs here, off the page's thread, so the UI never freezes.
import * as Comlink from 'comlink';
import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_ORDER, startBackend, startPreferredBackend } from '../src/browser/backend';
import { decodePhotoBlob, warmUpFaceDetector } from '../src/browser/photo';
import { StudioModel, type EditValue } from '../src/engine/model';
import { RefineCancelled } from '../src/engine/refine';
import { refinementPlan } from '../src/engine/refine-presets';
import { meanStyle } from '../src/engine/teach';
import type { SubjectSnapshot, Transfer } from '../src/engine/session';
import { useGradients } from '../src/browser/gradients';
import { blobSource } from '../src/io/byte-source';
import { readNpy, writeNpy } from '../src/io/npy';
import { loadCheckpoint } from '../src/io/torch';
import { downscaleRgb } from '../src/photo/raster';
import { PhotoError } from '../src/photo/types';
import type { BundleManifest } from '../src/weights/bundle';
import { convertCheckpoint } from '../src/weights/convert';
import { publishedDirections } from '../src/weights/official-directions';
import { httpFiles, loadBundle, memoryFiles, type LoadProgress } from '../src/weights/loader';
import { CONVERTED, SHOWN_MAX_SIDE, type BackendChoice, type EngineApi, type FaceBox, type PhotoOutcome, type Result } from './protocol';
import { encoded, faceBoxes, photoInfo, pixels, renderPicture } from './worker/pictures';
import { Held, sessionOn, summary } from './worker/sessions';
import { SimulatedCrashes, Superseded, WorkQueue, yieldToMessages } from './worker/queue';

const held = new Held();
let onDeviceLost: ((reason: string) => void) | null = null;

/** A WebGPU device can be lost (driver reset, GPU removed, browser reclaiming it); the page is told, once. */
function watchDevice(backend: string): void {
  if (backend !== 'webgpu') return;
  const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
  void device?.lost.then((info) => onDeviceLost?.(info.message || info.reason || 'unknown reason'));
}

const use = (manifest: BundleManifest, next: StudioModel) => held.use(manifest, next);
const current = () => held.current();

const queue = new WorkQueue();
const crashes = new SimulatedCrashes<EngineApi>();
let refineCancelled = false;

let choice: Promise<BackendChoice> | null = null; // one start per worker (React's double effects would race it)

const api: EngineApi = {
  start(order) {
    choice ??= (order?.length === 1 ? startPreferredBackend(order[0]) : order ? startBackend(order).then((backend) => ({ backend, reason: 'chosen by the page' })) : startPreferredBackend())
      .then((c) => { watchDevice(c.backend); return c; });
    return choice;
  },

  supersede(ticket) {
    queue.supersede(ticket);
  },

  watchDeviceLoss(callback) {
    onDeviceLost = callback;
  },

  /** After a lost GPU: drops the dead backend and its model, starts the next backend in line. */
  async restart() {
    const dead = tf.getBackend();
    held.drop();
    tf.removeBackend(dead);
    const order = BACKEND_ORDER.filter((b) => b !== dead);
    choice = startBackend(order).then((backend) => {
      watchDevice(backend);
      return { backend, reason: `${dead} stopped working` };
    });
    return choice;
  },

  memory() {
    const { numTensors, numBytes } = tf.memory();
    return { numTensors, numBytes };
  },

  simulateCrash(method) {
    crashes.arm(method);
  },

  /** For tests: destroys the WebGPU device, as a driver reset would. */
  simulateDeviceLoss() {
    const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
    device?.destroy();
    return Boolean(device);
  },

  loadModel(ticket, url, onProgress?: (p: LoadProgress) => void) {
    return queue.serial(ticket, async () => {
      const { manifest, weights } = await loadBundle(httpFiles(url), onProgress);
      queue.check(ticket);
      return use(manifest, await StudioModel.load(manifest, weights));
    });
  },

  /** A dropped official checkpoint -> bundle (with the published directions when it is a released model) (kept by the page in IndexedDB) -> the current model. */
  convert(ticket, file, fp16, onLog, onProgress) {
    return queue.serial(ticket, async () => {
      // in whole percents: a call a tensor would be hundreds of messages to the page
      let shown = -1;
      const progress = (done: number) => {
        const percent = Math.floor(done * 100);
        if (percent > shown) onProgress?.((shown = percent) / 100);
      };
      // the worker's parts, as Chromium spent the official FFHQ model's time here: converting (reading, checking,
      // writing float16) 3.4 s, reading the bundle back 0.4 s, building the model 2.5 s
      const { manifest, shards } = await convertCheckpoint({
        checkpoint: await loadCheckpoint(blobSource(file)), fp16, source: file.name, log: onLog, progress: (done) => progress(0.45 * done),
        // the page's own files (shipped with it, never fetched from elsewhere)
        publishedDirections: (model) => publishedDirections(model, (name) => shippedFile(`official-directions/${name}`)),
      });
      const { weights } = await loadBundle(memoryFiles(manifest, shards));
      progress(0.5);
      const model = await use(manifest, await StudioModel.load(manifest, weights));
      progress(CONVERTED);
      return { model, manifest, shards };
    });
  },

  loadStoredModel(ticket, manifest, shards) {
    return queue.serial(ticket, async () => use(manifest, await StudioModel.load(manifest, (await loadBundle(memoryFiles(manifest, shards))).weights)));
  },

  invertPhoto(ticket, { which, file, framing: asked, edits, transfer }, onStage): Promise<Result<PhotoOutcome>> {
    return queue.serial(ticket, async () => {
      const s = current();
      // Each stage's report is awaited: it crosses on its own channel, and must reach the page before the answer.
      const report = async (stage: Parameters<NonNullable<typeof onStage>>[0]) => { await onStage?.(stage); queue.check(ticket); };
      let framing = asked ?? null; // a saved framing (hand-placed points) holds even where no face is found
      if (file) {
        const started = performance.now();
        const photo = await decodePhotoBlob(file.blob, file.name);
        queue.check(ticket);
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
      const kernel = current().model.inverter?.encoder.kernelThreads;
      await report({ stage: 'inverted', reconstruction: pixels(reconstruction), mse, ms, kernel: kernel ? { threads: kernel.threads, helperShare: kernel.units ? kernel.helperUnits / kernel.units : 0 } : null });
      if (which === 'reference') return { framing, snapshot: await s.snapshot('reference') };
      const picture = await renderPicture(current(), edits, false, transfer, true);
      return { framing, picture, snapshot: await s.snapshot('subject'), original: pixels(downscaleRgb(s.photo(), SHOWN_MAX_SIDE).image) };
    });
  },

  prepareForPhoto(ticket) {
    // Queued like any work, never beside it: loading face-api switches tfjs's global backend while it runs.
    return queue.serial(ticket, async () => {
      const { model } = held;
      if (!model) return;
      await model.warmUp();
      queue.check(ticket);
      if (model.manifest.domain === 'face') await warmUpFaceDetector();
    });
  },

  identity(ticket) {
    return queue.serial(ticket, () => current().reconstructionIdentity());
  },

  snapshot(ticket, which) {
    return queue.serial(ticket, () => current().snapshot(which));
  },

  restorePhoto(ticket, blob, name, which, snapshot: SubjectSnapshot, framing) {
    return queue.serial(ticket, async () => {
      const photo = await decodePhotoBlob(blob, name);
      queue.check(ticket);
      current().restore(photo, snapshot, which);
      const { reconstruction, mse } = await current().reconstruct(which);
      const original = which === 'subject' ? pixels(downscaleRgb(photo, SHOWN_MAX_SIDE).image) : undefined;
      return { ...photoInfo(photo, faceBoxes(snapshot.faces), framing), aligned: pixels(snapshot.aligned), reconstruction: pixels(reconstruction), mse, original };
    });
  },

  refine(ticket, steps, fineDetail, onProgress) {
    refineCancelled = false;
    return queue.serial(ticket, async () => {
      useGradients();
      const signal = { get aborted() { return refineCancelled || ticket < queue.latest; } };
      const beside = queue.openBeside(ticket);
      try {
        const out = await current().refine({
          ...refinementPlan(fineDetail, current().model.manifest.outputSize, tf.getBackend()), steps, signal, previewEvery: 10,
          // The refined picture goes to the page first; its likeness is measured after (face-api's nets may still
          // have to load: a restored photo was never detected), as after an inversion.
          identity: false,
          onProgress: async (p) => {
            if (p.phase === 'generator' && p.step === p.steps) {
              // The last step: from here the refinement replaces the photo's codes; renders queue behind it again.
              await queue.closeBeside(beside);
            }
            await onProgress?.({ step: p.step, steps: p.steps, loss: p.loss, preview: p.preview && pixels(p.preview) });
          },
        });
        return { reconstruction: pixels(out.reconstruction), mse: out.mse, before: out.before, after: out.after, ms: out.ms };
      } catch (error) {
        if (error instanceof RefineCancelled && ticket < queue.latest) throw new Superseded();
        throw error;
      } finally {
        await queue.closeBeside(beside);
      }
    });
  },

  cancelRefine() {
    refineCancelled = true;
  },

  teachingCodes(ticket, blob, name, range) {
    return queue.serial(ticket, async () => {
      // a session of its own: the photo being edited, its codes and tuned layers stay as they are
      const m = current().model;
      const example = sessionOn(m);
      try {
        await example.setPhoto(await decodePhotoBlob(blob, name));
        queue.check(ticket);
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
    return queue.serial(ticket, async () => Promise.all(ids.map((id) => current().model.fixedDirection(id, range))));
  },

  addTaughtDirections(ticket, taught) {
    return queue.serial(ticket, async () => {
      for (const t of taught) current().model.addTaughtDirection(t);
      return summary(current().model.manifest);
    });
  },

  startBatch(ticket, reference) {
    return queue.serial(ticket, async () => {
      const batch = held.startBatch();
      if (!reference) return;
      await batch.setPhoto(await decodePhotoBlob(reference.blob, reference.name), 'reference');
      await batch.frame(reference.framing ?? batch.defaultFraming('reference'), 'reference');
      await batch.invert('reference', { identity: false });
    });
  },

  batchPhoto(ticket, blob, name, edits, transfer, refine) {
    return queue.serial(ticket, async () => {
      const { batch } = held;
      if (!batch) throw new Error('no batch was started');
      const started = performance.now();
      await batch.setPhoto(await decodePhotoBlob(blob, name));
      await batch.frame(batch.defaultFraming());
      await batch.invert('subject', { identity: false });
      if (refine) {
        useGradients();
        await batch.refine({ ...refinementPlan(refine.fineDetail, batch.model.manifest.outputSize, tf.getBackend()), steps: refine.steps, identity: false });
      }
      const result = await batch.composite(edits, transfer);
      const jpeg = await encoded(result, 'image/jpeg');
      return { jpeg, width: result.width, height: result.height, ms: performance.now() - started };
    });
  },

  endBatch() {
    // queued behind the last photo, so that it is not freed under it
    void queue.serial(queue.latest, async () => held.endBatch());
  },

  reconstruction(ticket) {
    return queue.serial(ticket, async () => {
      const { reconstruction, mse } = await current().reconstruct('subject');
      return { reconstruction: pixels(reconstruction), mse };
    });
  },

  render(ticket, edits: EditValue[], preview, transfer: Transfer | null, whole = true, onPartial) {
    return queue.besideRefinement(ticket, () => renderPicture(current(), edits, preview, transfer, whole, onPartial));
  },

  anticipate(ticket, candidates: EditValue[][], transfer: Transfer | null) {
    return queue.serial(ticket, async () => {
      let made = 0;
      for (const edits of candidates) {
        await yieldToMessages();
        if (queue.waiting > 0 || ticket < queue.latest) break; // a real request (or a newer anticipation) goes first
        if (await current().prepare(edits, transfer)) made++;
      }
      return made;
    });
  },

  editPng(ticket, edits, transfer) {
    return queue.serial(ticket, async () => encoded((await current().render(edits, { transfer })).image));
  },

  pasteBackPng(ticket, edits, transfer, paste) {
    return queue.serial(ticket, async () => encoded(paste === 'generated'
      ? await current().pasteBack((await current().render(edits, { transfer })).image)
      : await current().composite(edits, transfer)));
  },

  exportCodes(ticket) {
    return queue.serial(ticket, async () => {
      const { data, shape } = await current().exportCodes();
      return writeNpy(data, shape);
    });
  },

  importCodes(ticket, bytes) {
    return queue.serial(ticket, async () => {
      const codes = readNpy(bytes, 'codes.npy');
      current().importCodes(codes.data, codes.shape);
      const { reconstruction, mse } = await current().reconstruct('subject');
      return { reconstruction: pixels(reconstruction), mse };
    });
  },
};

Comlink.expose(crashes.expose(api));

/** A file shipped with the page (public/), read from the page's own origin: nothing is fetched from elsewhere. */
async function shippedFile(path: string): Promise<Uint8Array> {
  const response = await fetch(new URL(`${import.meta.env.BASE_URL}${path}`, self.location.href));
  if (!response.ok) throw new Error(`the app's own ${path} could not be read (HTTP ${response.status}); reload the page`);
  return new Uint8Array(await response.arrayBuffer());
}
