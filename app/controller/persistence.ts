import type { SubjectSnapshot } from '../../src/engine/session';
import * as D from '../document';
import { failed, type Result, type Which } from '../protocol';
import type { Context } from './context';
import type { Notices } from './notices';

/** How long the document stays still before it is saved (a drag saves once, after it). */
const SAVE_AFTER_MS = 200;

/**
 * The document, the bytes it names and the photos' inversions, saved in this browser (app/persist.ts) by the tab
 * that writes the session (app/writer.ts): a reload loses nothing.
 */
export class Persistence {
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** While a saved document is being reopened, the half-open one on screen must not overwrite it. */
  private reopening = 0;

  constructor(private readonly ctx: Context, private readonly notices: Notices) {}

  get isReopening(): boolean {
    return this.reopening > 0;
  }

  /** Runs `work` (reopening a saved document) without saving what is half open; saves once after. */
  async whileReopening<T>(work: () => Promise<T>): Promise<T> {
    this.reopening += 1;
    try {
      return await work();
    } finally {
      this.reopening -= 1;
      this.schedule();
    }
  }

  schedule(): void {
    if (this.reopening || !this.ctx.ports.writer.canWrite()) return; // another tab saves this session
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.saveNow(), SAVE_AFTER_MS);
  }

  async saveNow(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const { ctx } = this;
    const doc = ctx.get().doc;
    // A save asked for before a reopening began must not write the half-open document (whileReopening saves after).
    if (this.reopening || !doc.modelId || !ctx.ports.writer.canWrite()) return;
    const kept = new Map(D.blobKeys(doc).filter((k) => ctx.blobs.has(k)).map((k) => [k, ctx.blobs.get(k)!]));
    for (const k of [...ctx.blobs.keys()]) if (!kept.has(k)) ctx.blobs.delete(k);
    try {
      const afresh = await ctx.ports.storage.saveDocument(doc, kept);
      this.stored();
      // The browser evicted what was saved (the document and photos are back now): the inversions go back too.
      if (afresh) for (const which of ['subject', 'reference'] as const) await this.saveSnapshot(which);
    } catch (error) {
      this.refused(error);
    }
  }

  /**
   * Writes the photo's kept inversion, if it is the photo's on screen and this tab saves the session. Without it a
   * reload inverts again, so only a full or refusing storage is worth a word.
   */
  private async saveSnapshot(which: Which): Promise<void> {
    const saved = this.ctx.snapshots[which];
    const ref = which === 'subject' ? this.ctx.get().doc.photo : this.ctx.get().doc.reference;
    if (!saved || !ref || saved.blob !== ref.blob || !this.ctx.ports.writer.canWrite()) return;
    await this.ctx.ports.storage.saveSnapshot(which, saved).catch((e) => this.refused(e));
  }

  /**
   * The browser would not keep what was saved (its storage full, or refused in a private window): editing goes on
   * in memory, and the person is told once what a reload would lose and how to keep it.
   */
  refused(error: unknown): void {
    const full = storageFull(error);
    if (this.refusal === (full ? 'full' : 'denied')) return;
    this.refusal = full ? 'full' : 'denied';
    const why = full ? 'its storage for this page is full' : `it refuses to keep anything for this page (${(error as Error)?.message ?? error}; a private window?)`;
    this.notices.notify(
      `This browser will not save your session: ${why}. Your photo and edits stay while this tab is open, but a reload would lose them: `
      + 'download the edited photo (and its codes, to go on editing it later) to keep them.', 'error', 'persist');
  }

  /** A save went through: if saving had been refused, the person is told it works again. */
  private stored(): void {
    if (!this.refusal) return;
    this.refusal = null;
    this.notices.dismissTopic('persist');
    this.notices.notify('Your session is saved in this browser again.', 'info', 'persist');
  }

  /** Why saving last failed, if it did: a notice is given once per cause. */
  private refusal: 'full' | 'denied' | null = null;

  /** Keeps a photo's inversion for an instant restore; without it a reload inverts again, and nothing is lost. */
  async keep(which: Which, snapshot: SubjectSnapshot | null, identity: number | null): Promise<void> {
    const { ctx } = this;
    const ref = which === 'subject' ? ctx.get().doc.photo : ctx.get().doc.reference;
    const modelId = ctx.get().doc.modelId;
    if (!snapshot || !ref || !modelId) return;
    ctx.snapshots[which] = { modelId, blob: ref.blob, framing: ref.framing, identity, snapshot };
    await this.saveSnapshot(which);
  }

  /** Asks the engine for the photo's inversion as it is now (refined, or with imported codes) and keeps it. */
  async keepCurrent(which: Which, t: number): Promise<void> {
    const result: Result<SubjectSnapshot | null> = await this.ctx.engine.snapshot(t, which);
    if (!this.ctx.stale(t, result) && !failed(result)) await this.keep(which, result, null);
  }

  /** The likeness measured after the picture goes with the photo's snapshot. */
  async keepIdentity(identity: number | null): Promise<void> {
    const saved = this.ctx.snapshots.subject;
    if (!saved || saved.blob !== this.ctx.get().doc.photo?.blob) return;
    saved.identity = identity;
    await this.saveSnapshot('subject');
  }
}

/** IndexedDB's "no more room" (Chromium and Firefox name it so; Safari too, with another message). */
export function storageFull(error: unknown): boolean {
  const { name, message } = (error ?? {}) as { name?: string; message?: string };
  return name === 'QuotaExceededError' || /quota/i.test(message ?? '');
}
