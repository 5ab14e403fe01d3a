import { create } from 'zustand';
import type { Framing, Transfer } from '../src/engine/session';
import type { ModelSummary, Pixels } from './engine.worker';

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
export type StepState = 'pending' | 'running' | 'done' | 'failed';

export interface PhotoState {
  name: string;
  width: number;
  height: number;
  thumb: Pixels;
  thumbScale: number;
  faces: Array<{ box: { x: number; y: number; width: number; height: number }; score: number }>;
  framing: Framing | null;
  noFace?: string;
}

/** Slider values by direction id, and per-direction style ranges the user chose. */
export interface EditState {
  values: Record<string, number>;
  ranges: Record<string, { start: number; end: number }>;
}

export interface StudioState {
  backend: string | null;
  timings: Record<string, number>;
  catalog: CatalogEntry[];
  modelId: string | null;
  model: ModelSummary | null;
  busy: string | null;
  /** An edit render is in flight or waiting. */
  rendering: boolean;
  progress: number | null;
  error: string | null;
  notice: string | null;
  log: string[];
  steps: Record<Step, StepState>;
  photo: PhotoState | null;
  aligned: Pixels | null;
  reconstruction: Pixels | null;
  edited: Pixels | null;
  mse: number | null;
  identity: number | null;
  edits: EditState;
  past: EditState[];
  future: EditState[];
  reference: PhotoState | null;
  referenceReady: boolean;
  transfer: Transfer | null;
  set: (patch: Partial<StudioState>) => void;
  /** Commits a new edit state, remembering the old one for undo. */
  commitEdits: (next: EditState) => void;
  undo: () => void;
  redo: () => void;
}

export const NO_EDITS: EditState = { values: {}, ranges: {} };
const initialSteps: Record<Step, StepState> = { decode: 'pending', detect: 'pending', align: 'pending', invert: 'pending' };

export const useStudio = create<StudioState>((set, get) => ({
  backend: null,
  timings: {},
  catalog: [],
  modelId: null,
  model: null,
  busy: null,
  rendering: false,
  progress: null,
  error: null,
  notice: null,
  log: [],
  steps: initialSteps,
  photo: null,
  aligned: null,
  reconstruction: null,
  edited: null,
  mse: null,
  identity: null,
  edits: NO_EDITS,
  past: [],
  future: [],
  reference: null,
  referenceReady: false,
  transfer: null,
  set: (patch) => set(patch),
  commitEdits: (next) => set({ past: [...get().past.slice(-99), get().edits], future: [], edits: next }),
  undo: () => {
    const { past, edits, future } = get();
    if (!past.length) return;
    set({ past: past.slice(0, -1), edits: past[past.length - 1], future: [edits, ...future] });
  },
  redo: () => {
    const { past, edits, future } = get();
    if (!future.length) return;
    set({ past: [...past, edits], edits: future[0], future: future.slice(1) });
  },
}));

export const resetSteps = (): Record<Step, StepState> => ({ ...initialSteps });
