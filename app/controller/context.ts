import type { Transfer } from '../../src/engine/session';
import * as D from '../document';
import type { SavedSnapshot } from '../persist';
import { failed, type Result } from '../protocol';
import type { StudioState, StudioStore } from '../store';
import type { Ports } from './ports';

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
  /** Lost GPUs so far, and whether a recovery is under way (a refinement that dies with the GPU runs again after). */
  readonly device = { losses: 0, recovering: false, refineAfterRecovery: null as { steps: number; fineDetail: boolean } | null };

  constructor(readonly ports: Ports, readonly store: StudioStore) {}

  get engine() {
    return this.ports.engine;
  }

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
