import type { Transfer } from '../../src/engine/session';
import * as D from '../document';
import type { SavedSnapshot } from '../persist';
import { failed, type Result, type WorkerError } from '../protocol';
import type { StudioState, StudioStore } from '../store';
import type { Engine, Ports } from './ports';

/** A request the engine could not answer because it stopped working, to be redone once it runs again. */
export interface Crash { method: string; args: unknown[]; message: string }

/**
 * What the controller's parts share: the store (document and view), the ports, the bytes the document names, the
 * photos' last inversions, and the ticket of the photo and model on screen.
 */
export class Context {
  /** Bytes the document names by key (photos, imported codes). */
  readonly blobs = new Map<string, Blob>();
  /** The photos' inversions as last computed, to restore at once after a reload or a lost GPU. */
  readonly snapshots: { subject?: SavedSnapshot; reference?: SavedSnapshot } = {};
  /**
   * The generation of the photo and model on screen. Opening another photo or model raises it; an engine answer for
   * an older one is dropped (and the engine skips its remaining stages).
   */
  ticket = 0;
  /** Lost GPUs so far, and whether a recovery is under way. */
  readonly device = {
    losses: 0,
    recovering: false,
    /** From the failure until the document is being reopened: nothing may be asked of the engine meanwhile. */
    restarting: false,
    /**
     * A request the lost GPU took down with it (a refinement), made again as a stopped engine's is (Recovery.redo)
     * once the editor runs on the next backend.
     */
    interrupted: null as Crash | null,
  };
  /** The engine stopped (a WebAssembly abort, memory exhausted) answering `crash`: set by the recovery part. */
  onCrash: ((crash: Crash) => void) | null = null;
  /** Every answer of the engine that is not a failure: the recovery learns that a fresh engine works. */
  onAnswer: ((method: string) => void) | null = null;
  /** The GPU went away: set by the recovery part. */
  onDeviceLost: ((reason: string) => void) | null = null;

  constructor(readonly ports: Ports, readonly store: StudioStore) {}

  /**
   * The engine, watched: an answer that says it stopped working goes to the recovery first (which makes every
   * ticket in flight stale, so the part that asked drops the answer quietly), then to the part that asked.
   */
  readonly engine: Engine = new Proxy({} as Engine, {
    get: (_, method: string) => async (...args: unknown[]) => {
      const engine = this.ports.engine;
      // Called as a method, never through .apply: Comlink's proxy would send `apply` to the worker as a method name.
      const answer = await (engine as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method](...args);
      if (engine !== this.ports.engine) return answer; // from an engine already replaced: its stop was handled
      if (!failed(answer as Result<unknown>)) this.onAnswer?.(method);
      else if ((answer as WorkerError).error.code === 'crashed') this.onCrash?.({ method, args, message: (answer as WorkerError).error.message });
      return answer;
    },
  });

  get = (): StudioState => this.store.getState();

  view = (patch: Partial<StudioState>): void => this.store.setState(patch);

  /** The one way the document changes: a pure transition of document.ts. */
  dispatch = (transition: (doc: D.StudioDocument) => D.StudioDocument): void => {
    const doc = this.get().doc;
    const next = transition(doc);
    if (next !== doc) this.store.setState({ doc: next });
  };

  nextTicket(): number {
    this.ticket += 1;
    void this.engine.supersede(this.ticket);
    return this.ticket;
  }

  /** True when an answer belongs to an older photo or model, or was cancelled as such: it must not land. */
  stale(t: number, r: Result<unknown>): boolean {
    return t !== this.ticket || (failed(r) && r.error.kind === 'superseded');
  }

  newKey(kind: string): string {
    return `${kind}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  }

  /** The reference transfer applies once its photo is inverted. */
  activeTransfer(): Transfer | null {
    return this.get().referenceReady ? this.get().doc.transfer : null;
  }
}
