import type { EditValue } from '../src/engine/model';
import type { Framing, SubjectSnapshot, Transfer } from '../src/engine/session';
import type { PhotoRegion } from '../src/photo/composite';
import type { TaughtDirection } from '../src/engine/teach';
import type { BundleManifest, DirectionSpec } from '../src/weights/bundle';
import type { LoadProgress } from '../src/weights/loader';

/**
 * The page <-> engine worker protocol. Work that belongs to one photo or one model carries a ticket: the page
 * raises it (supersede) when the user opens another photo or model, and the worker answers anything with an older
 * ticket as 'superseded' at its next stage instead of doing it, so no stale answer can reach the document.
 */
export interface Pixels { width: number; height: number; data: Uint8ClampedArray }

export interface ModelSummary {
  name: string;
  domain: 'face' | 'car';
  inputSize: [number, number];
  outputSize: number;
  nStyles: number;
  /** The generator's code shape (a taught slider must match it). */
  nLatent: number;
  styleDim: number;
  parameters: Record<string, number>;
  directions: DirectionSpec[];
  /** The latent classifier's attributes (CelebA's 40 for faces): what the label directions edit. */
  attributes: string[];
  editBlocks: Array<{ id: string; attribute: string }>;
  license: string;
  /** The published directions' credit and licence, when they were attached on conversion. */
  directionsCredit?: string;
  source: string;
}

export interface FaceBox { box: { x: number; y: number; width: number; height: number }; score: number }

/** A decoded photo as the page shows it. */
export interface PhotoInfo {
  width: number;
  height: number;
  thumb: Pixels;
  /** Photo pixels per thumbnail pixel. */
  thumbScale: number;
  faces: FaceBox[];
  /** The framing the engine proposes (largest face, centred crop); null when no face was found. */
  framing: Framing | null;
  noFace?: string;
}

/**
 * The edit in the photo (src/photo/composite.ts), shown at most SHOWN_MAX_SIDE pixels on its longer side:
 * `factor` photo pixels per shown pixel; the download is full size.
 */
export interface PhotoResult {
  /** The edit in the photo, at the size it is shown (1/factor of the photo's width x height). */
  image: Pixels;
  factor: number;
  width: number;
  height: number;
  ms: number;
  /** The part of `image` this result changed from the last one (a canvas repaints only that); absent: all of it. */
  region?: PhotoRegion;
}

/**
 * A slider release's answer for a page that already shows a result of this photo: only the region any edit can
 * change (`patch`, the photo there plus the change), the same region every time. A face's region is a fraction
 * of a 12 MP photo, which took 30-60 ms to convert, send and draw whole.
 */
export interface PhotoPatch { patch: Pixels; region: PhotoRegion; factor: 1; width: number; height: number; ms: number }

/** The longest side of the photo result on the page (a 16 MP photo is shown whole; larger ones are shrunk for the screen). */
export const SHOWN_MAX_SIDE = 4096;

/**
 * How far a conversion is when the worker answers: storing the model in IndexedDB (the page's part) takes the rest
 * (about a fifth of the official FFHQ model's 8 s in Chromium here).
 */
export const CONVERTED = 0.8;

/** A render's answer: the generator's picture, and after a full render the edit in the photo. */
export interface Picture { image: Pixels; ms: number; prepared?: boolean; result?: PhotoResult | PhotoPatch }

/** What a photo's pipeline is asked to do (EngineApi.invertPhoto). */
export interface PhotoRequest {
  which: Which;
  /** A photo to open (decode, find faces); absent: the photo the engine holds, framed again. */
  file?: { blob: Blob; name: string };
  /** The crop to use; absent: the engine's proposal (the largest face, the centred crop). */
  framing?: Framing;
  /** The subject's first picture shows these (the document's edits and the transfer in force). */
  edits: EditValue[];
  transfer: Transfer | null;
}

/** A pipeline's stages as they finish, in order; the answer comes after the last. */
export type PhotoStage =
  | { stage: 'opened'; photo: PhotoInfo; ms: number }
  | { stage: 'aligned'; aligned: Pixels; ms: number }
  | { stage: 'inverted'; reconstruction: Pixels; mse: number; ms: number; kernel: KernelShare | null };

/**
 * The encoder's convolution kernel (src/kernels/conv3x3): how many threads it runs on and the share of its units
 * the helper threads ran so far (a helper that never starts leaves it at 0, and the page says so).
 */
export interface KernelShare { threads: number; helperShare: number }

export interface PhotoOutcome {
  /** The framing used; null when no face was found (the pipeline ended after 'opened'). */
  framing: Framing | null;
  /** The inversion as plain data, for an instant restore. */
  snapshot: SubjectSnapshot | null;
  /** The subject's first picture with the request's edits, and the photo as dropped at the size it is shown. */
  picture?: Picture;
  original?: Pixels;
}

export interface BackendChoice {
  backend: string;
  /** Why this one, in a sentence for the header (e.g. "WebGPU here is a software adapter, slower than WASM"). */
  reason: string;
}

export type ErrorKind = 'checkpoint' | 'photo' | 'engine' | 'superseded' | 'cancelled';
export interface WorkerError { error: { kind: ErrorKind; code: string; message: string } }
export type Result<T> = T | WorkerError;

export function failed<T>(r: Result<T>): r is WorkerError {
  return typeof r === 'object' && r !== null && 'error' in r && typeof (r as WorkerError).error?.message === 'string';
}

export function superseded<T>(r: Result<T>): boolean {
  return failed(r) && r.error.kind === 'superseded';
}

export type Which = 'subject' | 'reference';

export interface RefineProgressMessage { step: number; steps: number; loss: number; preview?: Pixels }

/** A refinement's result; its likeness (face-api's identity distance) is measured after, by `identity`. */
export interface RefineOutcome {
  reconstruction: Pixels;
  mse: number;
  /** Reconstruction error at the tuning resolution before and after (MSE in [-1, 1], SSIM). */
  before: { mse: number; ssim: number };
  after: { mse: number; ssim: number };
  ms: number;
}

export interface EngineApi {
  start(order?: Array<'webgpu' | 'webgl' | 'wasm'>): Promise<BackendChoice>;
  /** Everything with a ticket below `ticket` is obsolete. Answered at once, not queued behind the work. */
  supersede(ticket: number): void;
  watchDeviceLoss(callback: (reason: string) => void): void;
  restart(): Promise<BackendChoice>;
  simulateDeviceLoss(): boolean;
  /** The engine's tensors now (tfjs's count and bytes), answered at once: for the long-session benchmark. */
  memory(): { numTensors: number; numBytes: number };
  /** For tests: the next request to `method` ends in a WebAssembly trap, as an abort in the backend's module does. */
  simulateCrash(method: keyof EngineApi): void;

  loadModel(ticket: number, url: string, onProgress?: (p: LoadProgress) => void): Promise<Result<ModelSummary>>;
  /**
   * `onProgress`: the share done, in whole percents, up to CONVERTED (the page keeps the rest for storing the model):
   * the worker's part of a conversion is reading the checkpoint, writing the bundle and loading the model from it.
   */
  convert(ticket: number, file: File, fp16: boolean, onLog?: (line: string) => void, onProgress?: (done: number) => void): Promise<Result<{ model: ModelSummary; manifest: BundleManifest; shards: Uint8Array[] }>>;
  loadStoredModel(ticket: number, manifest: BundleManifest, shards: Uint8Array[]): Promise<Result<ModelSummary>>;

  /**
   * A photo's whole pipeline in one call: decode and detect (when `file` is given), align, invert, and for the subject
   * its first picture with the document's edits, its "before" and its snapshot. Each stage is reported as it
   * finishes (the page shows the aligned crop before the slower inversion); a newer ticket stops it at the next stage.
   */
  invertPhoto(ticket: number, request: PhotoRequest, onStage?: (stage: PhotoStage) => void): Promise<Result<PhotoOutcome>>;
  /**
   * Gets ready for a first photo while the person picks one: one blank inference sets up the networks' kernels
   * (packed filters, compiled shaders), and a face model's face-api networks load. Queued: a photo dropped meanwhile
   * waits for it, not longer.
   */
  prepareForPhoto(ticket: number): Promise<Result<void>>;
  /**
   * face-api's distance between the photo's face and its reconstruction's (null: no face model, or no face found in
   * one of them). Asked for after the picture is shown: it runs three of face-api's networks.
   */
  identity(ticket: number): Promise<Result<number | null>>;
  /** The photo's inversion as plain data, to be kept for an instant restore (after a refinement or imported codes). */
  snapshot(ticket: number, which: Which): Promise<Result<SubjectSnapshot | null>>;
  /** Takes a photo back with its snapshot: decode only, no detection, alignment or encoder; a subject's "before" with it. */
  restorePhoto(ticket: number, blob: Blob, name: string, which: Which, snapshot: SubjectSnapshot, framing: Framing | null): Promise<Result<PhotoInfo & { aligned: Pixels; reconstruction: Pixels; mse: number; original?: Pixels }>>;

  /** Pivotal tuning of the photo (src/engine/refine.ts), with progress and a live preview; cancelRefine stops it. */
  refine(ticket: number, steps: number, fineDetail: boolean, onProgress?: (p: RefineProgressMessage) => void): Promise<Result<RefineOutcome>>;
  /** Stops a refinement at its next step (answered at once, not queued); the encoder's result stays. */
  cancelRefine(): void;

  /**
   * Teaching a slider (src/engine/teach.ts), one example at a time so that the page's renders go between them: a photo
   * framed by default and inverted beside the one being edited (which it leaves alone), as the mean of `range`'s styles.
   */
  teachingCodes(ticket: number, blob: Blob, name: string, range: { start: number; end: number }): Promise<Result<Float64Array>>;
  /** The model's fixed directions (InterFaceGAN, taught) on `range`: what a taught one can be made orthogonal to. */
  fixedDirections(ticket: number, ids: string[], range: { start: number; end: number }): Promise<Result<Float32Array[]>>;
  /** Taught directions join the model's sliders (again after a reload); the model's summary with them. */
  addTaughtDirections(ticket: number, taught: TaughtDirection[]): Promise<Result<ModelSummary>>;

  /**
   * A folder at once (issue 33): a batch has its own session beside the photo being edited, with the reference (for a
   * transfer) inverted once; each photo is framed by default, inverted, refined when asked, and its edit in the photo at
   * full resolution comes back as a JPEG. endBatch frees it.
   */
  startBatch(ticket: number, reference: { blob: Blob; name: string; framing: Framing | null } | null): Promise<Result<void>>;
  batchPhoto(ticket: number, blob: Blob, name: string, edits: EditValue[], transfer: Transfer | null, refine: { steps: number; fineDetail: boolean } | null): Promise<Result<{ jpeg: Blob; width: number; height: number; ms: number }>>;
  endBatch(): void;

  /** The photo's reconstruction as the engine holds it now (after a cancelled refinement, say). */
  reconstruction(ticket: number): Promise<Result<{ reconstruction: Pixels; mse: number }>>;

  /**
   * The generator's edit; a full render (not a preview) also brings the edit in the photo: whole (PhotoResult) when
   * `whole` or when the photo is shown shrunk, else the part that can change (PhotoPatch). A full render given
   * `onPartial` sends the generator's picture so far at a quarter and at half the output size on the way (a slow
   * model's full render shows progressively), on the CPU backends (EditorSession.renderWithComposite says why).
   */
  render(ticket: number, edits: EditValue[], preview: boolean, transfer: Transfer | null, whole?: boolean, onPartial?: (picture: Pixels) => void): Promise<Result<Picture>>;
  /**
   * Makes previews of these edit lists ahead of the hand (a held slider's neighbouring positions, nearest first),
   * so that the move to one of them shows at once. Stops at once for any other request. Resolves with how many it made.
   */
  anticipate(ticket: number, candidates: EditValue[][], transfer: Transfer | null): Promise<Result<number>>;
  editPng(ticket: number, edits: EditValue[], transfer: Transfer | null): Promise<Result<Blob>>;
  /** The edit in the photo at its full resolution: the photo's own detail plus the edit's change, or the generated crop pasted in. */
  pasteBackPng(ticket: number, edits: EditValue[], transfer: Transfer | null, paste: 'change' | 'generated'): Promise<Result<Blob>>;
  exportCodes(ticket: number): Promise<Result<Uint8Array>>;
  importCodes(ticket: number, bytes: Uint8Array): Promise<Result<{ reconstruction: Pixels; mse: number }>>;
}
