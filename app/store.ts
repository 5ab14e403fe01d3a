import { create } from 'zustand';
import type { ModelSummary } from './engine.worker';

export interface CatalogEntry {
  id: string;
  name: string;
  domain: 'face' | 'car';
  path: string;
  note?: string;
}

export interface StudioState {
  backend: string | null;
  catalog: CatalogEntry[];
  modelId: string | null;
  model: ModelSummary | null;
  busy: string | null;
  progress: number | null;
  error: string | null;
  log: string[];
  seed: number;
  set: (patch: Partial<StudioState>) => void;
}

export const useStudio = create<StudioState>((set) => ({
  backend: null,
  catalog: [],
  modelId: null,
  model: null,
  busy: null,
  progress: null,
  error: null,
  log: [],
  seed: 1,
  set: (patch) => set(patch),
}));
