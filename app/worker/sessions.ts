import { browserFaceDetector } from '../../src/browser/photo';
import type { StudioModel } from '../../src/engine/model';
import { EditorSession } from '../../src/engine/session';
import type { FaceDetector } from '../../src/photo/faces';
import type { BundleManifest } from '../../src/weights/bundle';
import type { ModelSummary } from '../protocol';

export function summary(m: BundleManifest): ModelSummary {
  return {
    name: m.name, domain: m.domain, inputSize: m.inputSize, outputSize: m.outputSize, nStyles: m.nQueries, nLatent: m.generator.nLatent, styleDim: m.generator.styleDim,
    parameters: m.parameters, directions: m.directions, attributes: m.classifier?.attributes ?? [], editBlocks: m.editBlocks.map(({ id, attribute }) => ({ id, attribute })),
    license: m.license, source: m.source, directionsCredit: m.directionsCredit,
  };
}

/** An editor session on a model (face models get the face detector): the photo's, a teaching example's, a batch's. */
export function sessionOn(m: StudioModel): EditorSession {
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


/** What the worker holds: the model, the session of the photo being edited, and a batch's session beside it. */
export class Held {
  model: StudioModel | null = null;
  session: EditorSession | null = null;
  /** A folder being edited at once (batchPhoto): a session of its own, so the photo on screen stays as it is. */
  batch: EditorSession | null = null;

  use(manifest: BundleManifest, next: StudioModel): ModelSummary {
    this.endBatch();
    this.session?.dispose();
    this.model?.dispose();
    this.model = next;
    this.session = sessionOn(next);
    return summary(manifest);
  }

  current(): EditorSession {
    if (!this.session) throw new Error('no model is loaded');
    return this.session;
  }

  startBatch(): EditorSession {
    this.endBatch();
    this.batch = sessionOn(this.current().model);
    return this.batch;
  }

  endBatch(): void {
    this.batch?.dispose();
    this.batch = null;
  }

  /** After a lost GPU: what it held went with the device. */
  drop(): void {
    this.endBatch();
    this.session?.dispose();
    try { this.model?.dispose(); } catch { /* its tensors died with the device */ }
    this.session = null;
    this.model = null;
  }
}
