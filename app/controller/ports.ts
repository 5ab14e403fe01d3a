import type { TaughtDirection } from '../../src/engine/teach';
import type { StudioDocument } from '../document';
import type { SavedSession, SavedSnapshot, StoredModel, StoredModelInfo } from '../persist';
import type { EngineApi } from '../protocol';
import type { CatalogEntry } from '../store';

/**
 * Everything the controller reaches outside itself, handed to it (app/page-ports.ts for the page, a fake engine and
 * memory storage in tests/controller.test.ts): so the controller starts no worker and touches no browser API of its
 * own, and runs in Node.
 */

/** The engine as the page reaches it: each call answered later (across the worker boundary, or by a test's fake). */
export type Engine = { [K in keyof EngineApi]: (...args: Parameters<EngineApi[K]>) => Promise<Awaited<ReturnType<EngineApi[K]>>> };

export interface Storage {
  loadSession(): Promise<SavedSession | undefined>;
  /** In one transaction; true when the storage had been lost (evicted) and opened afresh. */
  saveDocument(doc: StudioDocument, blobs: Map<string, Blob>): Promise<boolean>;
  saveSnapshot(which: 'subject' | 'reference', saved: SavedSnapshot): Promise<void>;
  /** The converted models kept here, without their weights. */
  storedModels(): Promise<StoredModelInfo[]>;
  /** A converted model's weights; undefined when they are gone (evicted). */
  storedModelShards(id: string): Promise<Uint8Array[] | undefined>;
  /** A model with its weights, listed only once both are written. */
  storeModel(model: StoredModel): Promise<void>;
  removeModel(id: string): Promise<void>;
  /** Asks the browser not to evict what is stored (navigator.storage.persist); whether it agreed. */
  persist(): Promise<boolean>;
}

/** One tab saves the session (app/writer.ts). */
export interface Writer {
  canWrite(): boolean;
  claimWriter(steal: boolean, lost: () => void): Promise<boolean>;
}

export interface Ports {
  /** The engine as it runs now (a new one after restartEngine). */
  readonly engine: Engine;
  /** Drops the engine that stopped working and starts a fresh one (a new worker): it must be started and given a model. */
  restartEngine(): void;
  /** Marks a function the engine calls back (progress, stages): Comlink.proxy across the worker boundary. */
  callback<F extends (...args: never[]) => unknown>(fn: F): F;
  /**
   * Marks these bytes as moved to the engine rather than copied (Comlink.transfer across the worker boundary): the
   * page keeps no copy. A stored official model's 141 MB took ~0.35 s to copy on a reopen.
   */
  handOver<T>(value: T, bytes: Uint8Array[]): T;
  storage: Storage;
  writer: Writer;
  /** The models the app ships (public/models/catalog.json). */
  catalog(): Promise<CatalogEntry[]>;
  /** Where a shipped model's bundle is read from. */
  modelUrl(path: string): string;
  /** Sliders taught on a model, kept in this browser (app/taught.ts). */
  taught: { stored(modelId: string): TaughtDirection[]; store(modelId: string, taught: TaughtDirection): boolean };
  /** This browser's settings ("refine automatically", "keep fine detail"). */
  preferences: { get(key: string): boolean | null; set(key: string, on: boolean): void };
  /** Hands a file to the person (a download). */
  download(blob: Blob, name: string): void;
  /** The page's address asks for these: ?backend=, ?model=, ?anticipate=0. */
  options: { backend: 'webgpu' | 'webgl' | 'wasm' | null; model: string | null; anticipate: boolean };
}
