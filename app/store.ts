import { createStore, type StoreApi } from 'zustand/vanilla';
import { emptyDocument, type StudioDocument } from './document';
import type { FaceBox, KernelShare, ModelSummary, PhotoResult, Pixels } from './protocol';

/**
 * The page's state: the document (what the user made; changed only through document.ts's transitions, by the
 * controller) and the view (what the engine has computed for it: pictures, figures, progress, notices).
 * Components read it (use-studio.ts) and send commands to the controller; they never write it. Each controller has
 * its own store: the page's one, a test's one.
 */
export interface CatalogEntry {
  id: string;
  name: string;
  domain: 'face' | 'car';
  path: string;
  note?: string;
  /** Test models: left out of the menu, opened only by ?model=<id>. */
  hidden?: boolean;
}

export type Step = 'decode' | 'detect' | 'align' | 'invert';
export type StepState = 'pending' | 'running' | 'done' | 'failed' | 'restored';

export interface PhotoView {
  name: string;
  width: number;
  height: number;
  thumb: Pixels;
  thumbScale: number;
  faces: FaceBox[];
  noFace?: string;
}

export interface Notice {
  id: number;
  kind: 'info' | 'error';
  text: string;
  /** Notices of one topic replace each other (e.g. 'no-face'); a finished topic is dismissed by it. */
  topic?: string;
}

export interface BatchItem { name: string; state: 'waiting' | 'running' | 'done' | 'failed'; message?: string; ms?: number }

export interface StudioState {
  doc: StudioDocument;
  backend: string | null;
  backendReason: string | null;
  /** The encoder's kernel as the last inversion left it: threads, and the helpers' share of the work. */
  kernel: KernelShare | null;
  timings: Record<string, number>;
  catalog: CatalogEntry[];
  /** The model the worker has loaded (the document's modelId may be ahead of it while loading). */
  loadedModelId: string | null;
  model: ModelSummary | null;
  busy: string | null;
  rendering: boolean;
  /** Full renders asked for (a drag asks once, on release); shown to tests as a data attribute. */
  fullRenders: number;
  progress: number | null;
  /** Seconds the busy work has left, where it can tell (a conversion: from its pace so far). */
  secondsLeft: number | null;
  notices: Notice[];
  log: string[];
  steps: Record<Step, StepState>;
  photo: PhotoView | null;
  aligned: Pixels | null;
  reconstruction: Pixels | null;
  edited: Pixels | null;
  /** The edit in the photo (the main result), from the last full render. */
  result: PhotoResult | null;
  /** The photo as dropped, at the result's size: the "before". */
  original: Pixels | null;
  mse: number | null;
  identity: number | null;
  /** face-api is measuring the identity distance (it comes after the picture). */
  measuringIdentity: boolean;
  reference: PhotoView | null;
  referenceReady: boolean;
  /** A refinement in progress. */
  refining: { step: number; steps: number; loss: number | null } | null;
  /** The last refinement's figures, for the photo on screen; ms: what the person waited, from its start to the refined picture. */
  refineFigures: { before: { mse: number; ssim: number }; after: { mse: number; ssim: number }; ms: number } | null;
  /** "Refine every photo automatically" (a preference of this browser). */
  autoRefine: boolean;
  /** "Keep fine detail" when refining: the photo's detail maps too (a preference of this browser). */
  fineDetail: boolean;
  /** Another tab saves this session (app/writer.ts): this one edits without saving. */
  readOnly: boolean;
  /** A folder being edited at once (app/batch.ts): each photo's state, the time left, and the zip when done. */
  batch: { items: BatchItem[]; running: boolean; zip: Blob | null; secondsLeft: number | null } | null;
  /** A slider being taught from examples (app/teaching.ts): how far, what failed, and the outcome. */
  teaching: { done: number; total: number; failures: string[]; running: boolean; outcome: string | null } | null;
}

export const AUTO_REFINE_KEY = 'style-transformer-studio:auto-refine';
export const FINE_DETAIL_KEY = 'style-transformer-studio:fine-detail';

export const PENDING_STEPS: Record<Step, StepState> = { decode: 'pending', detect: 'pending', align: 'pending', invert: 'pending' };

/** The view of "no photo": nothing from an earlier photo or model stays on screen. */
export const NO_PICTURES = {
  photo: null, aligned: null, reconstruction: null, edited: null, result: null, original: null, mse: null, identity: null, measuringIdentity: false,
  reference: null, referenceReady: false, steps: PENDING_STEPS, refining: null, refineFigures: null,
} satisfies Partial<StudioState>;

export type StudioStore = StoreApi<StudioState>;

/** A store for a controller; `preference` reads this browser's settings (null: never set). */
export function createStudioStore(preference: (key: string) => boolean | null = () => null): StudioStore {
  return createStore<StudioState>()(() => ({
    doc: emptyDocument(),
    backend: null,
    backendReason: null,
    kernel: null,
    timings: {},
    catalog: [],
    loadedModelId: null,
    model: null,
    busy: null,
    rendering: false,
    fullRenders: 0,
    autoRefine: preference(AUTO_REFINE_KEY) ?? true, // every new photo is refined unless the person turned it off
    fineDetail: preference(FINE_DETAIL_KEY) ?? true, // on unless the person turned it off
    progress: null,
    secondsLeft: null,
    notices: [],
    log: [],
    ...NO_PICTURES,
    teaching: null,
    batch: null,
    readOnly: false,
  }));
}
