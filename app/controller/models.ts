import * as D from '../document';
import { CONVERTED, failed, type ModelSummary, type Result } from '../protocol';
import { NO_PICTURES, type CatalogEntry } from '../store';
import { fitToModel, parseDocument } from '../saved-document';
import type { Context } from './context';
import type { Notices } from './notices';
import { storageFull, type Persistence } from './persistence';
import type { Photos } from './photos';
import type { Renders } from './renders';

/** The first model the menu offers (the catalog lists the bundled demo models first). */
export function defaultModel(catalog: CatalogEntry[]): CatalogEntry | undefined {
  return catalog.find((c) => !c.hidden) ?? catalog[0];
}

/**
 * The models' lifecycle: the engine's start, the saved session reopened, a model chosen, added (a converted
 * checkpoint) or removed. A photo being edited goes with the person to the next model of its kind.
 */
export class Models {
  /** The stored model the boot opens, its weights being read while the engine starts (taken by the load). */
  private readAhead: { id: string; shards: Promise<Uint8Array[] | undefined> } | null = null;

  constructor(
    private readonly ctx: Context,
    private readonly notices: Notices,
    private readonly renders: Renders,
    private readonly persistence: Persistence,
    private readonly photos: Photos,
  ) {}

  async boot(): Promise<void> {
    const { ctx, notices } = this;
    const { engine, options, storage } = ctx.ports;
    ctx.view({ busy: 'Starting the engine' });
    // What the page reads from its storage needs nothing from the engine, so it is read while the engine starts: the
    // saved session and, when that opens a converted model, its weights (the official FFHQ model's 141 MB took
    // 0.3-1.1 s to read after the engine's start).
    const starting = engine.start(options.backend ? [options.backend] : undefined);
    starting.catch(() => {}); // its failure is met below, once awaited
    try {
      const catalog = await ctx.ports.catalog();
      const stored = await storage.storedModels().catch(() => []);
      const all = [...catalog, ...stored.map((m) => ({ id: m.id, name: `${m.name} (added)`, domain: m.manifest.domain, path: '' }))];
      // one tab saves the session; another shows it read-only until the person takes over there
      const writes = await ctx.ports.writer.claimWriter(false, this.lostWriter);
      const saved = await storage.loadSession().catch(() => undefined);
      const savedDoc = parseDocument(saved?.document);
      const requested = options.model;
      let entry = requested ? all.find((c) => c.id === requested) : undefined;
      const missing = requested && !entry;
      entry ??= all.find((c) => c.id === savedDoc?.modelId) ?? defaultModel(all);
      if (entry && !entry.path) this.readAhead = { id: entry.id, shards: storage.storedModelShards(entry.id).catch(() => undefined) };

      const choice = await starting;
      ctx.view({ backend: choice.backend, backendReason: choice.reason, catalog: all, busy: null, readOnly: !writes });
      await this.watchDevice();
      if (missing) notices.notify(`There is no model "${requested}" here; ${entry?.name ?? 'no model'} is open instead.`, 'info', 'model');
      if (!entry) return;
      for (const [k, b] of saved?.blobs ?? []) ctx.blobs.set(k, b);
      Object.assign(ctx.snapshots, saved?.snapshots ?? {});
      await this.reopen(entry, savedDoc, savedDoc?.photo ? 'Your last session was restored.' : null);
    } catch (error) {
      this.readAhead = null;
      notices.notify(`The engine could not start: ${(error as Error).message}. Try reloading, or ?backend=wasm.`, 'error');
      ctx.view({ busy: null });
    }
  }

  /** Another tab took this session over: this one stops saving, and says so. */
  private lostWriter = (): void => this.ctx.view({ readOnly: true });

  /** This tab saves the session from now on (another tab that did is told, and stops); what is on screen is saved. */
  async takeOver(): Promise<void> {
    if (await this.ctx.ports.writer.claimWriter(true, this.lostWriter)) {
      this.ctx.view({ readOnly: false });
      await this.persistence.saveNow();
    }
  }

  async select(entry: CatalogEntry): Promise<void> {
    this.notices.clearErrors();
    const carried = this.photoToCarry(entry.domain);
    await this.reopen(entry, null, null);
    await this.carryPhoto(carried, entry.id);
  }

  async addCheckpoint(file: File): Promise<void> {
    const { ctx, notices } = this;
    const t = ctx.nextTicket();
    notices.clearErrors();
    ctx.view({ busy: `Converting ${file.name} (in this browser; nothing is uploaded)`, progress: 0, secondsLeft: null, log: [] });
    const lines: string[] = [];
    const started = performance.now();
    const showProgress = (done: number) => {
      if (t !== ctx.ticket) return;
      const seconds = (performance.now() - started) / 1000;
      // from the pace so far, once there is one to go by
      ctx.view({ progress: done, secondsLeft: done >= 0.05 && seconds >= 1 ? Math.ceil((seconds * (1 - done)) / done) : null });
    };
    const result = await ctx.engine.convert(t, file, true,
      ctx.ports.callback((line: string) => { lines.push(line); if (t === ctx.ticket) ctx.view({ log: [...lines] }); }),
      ctx.ports.callback(showProgress));
    if (ctx.stale(t, result)) return;
    if (failed(result)) {
      ctx.view({ busy: null, progress: null, secondsLeft: null });
      notices.notify(`${file.name} could not be added: ${result.error.message}`, 'error', 'model');
      return;
    }
    showProgress(CONVERTED); // storing it is what is left
    const id = `user:${file.name}:${file.size}`;
    const carried = this.photoToCarry(result.model.domain);
    // A converted model is hundreds of megabytes: the browser is asked not to evict it (it may say no, silently).
    void ctx.ports.storage.persist();
    await ctx.ports.storage.storeModel({ id, name: result.model.name, manifest: result.manifest, shards: result.shards })
      .catch((e) => notices.notify(storageFull(e)
        ? `Converted, but this browser has no room to keep it (${(e as Error).message}): it is here until this tab closes; drop the checkpoint again on your next visit.`
        : `Converted, but it could not be kept for later visits (${(e as Error).message}).`, 'error', 'model'));
    if (t === ctx.ticket) ctx.view({ busy: null, progress: null, secondsLeft: null });
    const entry: CatalogEntry = { id, name: `${result.model.name} (added)`, domain: result.model.domain, path: '' };
    // A new model: the old model's edits and history do not apply to it; the photo is opened again below.
    ctx.store.setState({ doc: D.openModel(ctx.get().doc, id) });
    ctx.view({ ...NO_PICTURES, catalog: [...ctx.get().catalog.filter((c) => c.id !== id), entry], model: result.model, loadedModelId: id });
    this.renders.forgetPreviewCost();
    await this.carryPhoto(carried, id);
  }

  async removeAdded(entry: CatalogEntry): Promise<void> {
    await this.ctx.ports.storage.removeModel(entry.id);
    const rest = this.ctx.get().catalog.filter((c) => c.id !== entry.id);
    this.ctx.view({ catalog: rest });
    const next = defaultModel(rest);
    if (next) await this.select(next);
  }

  /** The engine tells the recovery when its GPU goes away. */
  watchDevice(): Promise<void> {
    return this.ctx.engine.watchDeviceLoss(this.ctx.ports.callback((reason: string) => this.ctx.onDeviceLost?.(reason)));
  }

  /**
   * Loads a model and opens a document with it: the saved one after a reload, the current one after a lost GPU.
   * What does not fit the model is dropped with a notice; photos come back from their snapshots without
   * detection or inversion when the snapshots match, else they are framed and inverted again.
   */
  reopen(entry: CatalogEntry, doc: D.StudioDocument | null, restoredMessage: string | null): Promise<void> {
    return this.persistence.whileReopening(() => this.reopenDocument(entry, doc, restoredMessage));
  }

  private async reopenDocument(entry: CatalogEntry, doc: D.StudioDocument | null, restoredMessage: string | null): Promise<void> {
    const { ctx, notices } = this;
    const t = ctx.nextTicket();
    const [previous, previousEntry] = [D.commitEdit(ctx.get().doc), ctx.get().catalog.find((c) => c.id === ctx.get().loadedModelId)];
    ctx.store.setState({ doc: D.openModel(ctx.get().doc, entry.id) });
    ctx.view({ ...NO_PICTURES });
    const model = await this.load(entry, t);
    if (t !== ctx.ticket) return;
    if (!model) {
      // The model could not be loaded: back to the one that was open, with its photo and edits, so the menu tells
      // the truth and nothing is lost.
      if (previousEntry && previousEntry.id !== entry.id) await this.reopenDocument(previousEntry, previous, null);
      else ctx.store.setState({ doc: D.emptyDocument(ctx.get().loadedModelId) });
      return;
    }
    // With no photo to restore the person is about to pick one: the engine gets ready for it now rather than after.
    const prepareForPhoto = () => void ctx.engine.prepareForPhoto(t);
    if (!doc) { prepareForPhoto(); return; }
    const { doc: fitted, dropped } = fitToModel(doc, entry.id, model);
    const missing = D.blobKeys(fitted).filter((k) => !ctx.blobs.has(k));
    const usable = missing.length ? D.emptyDocument(entry.id) : fitted;
    if (missing.length) dropped.push('the photo (its bytes were not kept)');
    if (dropped.length) notices.notify(`Not restored: ${dropped.join('; ')}.`, 'info', 'restore');
    ctx.store.setState({ doc: usable });
    if (!usable.photo) { prepareForPhoto(); return; }
    const restored = await this.photos.restore('subject', usable.photo, t);
    if (!restored || t !== ctx.ticket) return;
    if (usable.reference) await this.photos.restore('reference', usable.reference, t);
    if (t !== ctx.ticket) return;
    if (restoredMessage) notices.notify(restoredMessage, 'info', 'restore');
    this.renders.request(false);
  }

  private async load(entry: CatalogEntry, t: number): Promise<ModelSummary | null> {
    const { ctx, notices } = this;
    ctx.view({ busy: `Loading ${entry.name}`, progress: 0 });
    let result: Result<ModelSummary>;
    if (entry.path) {
      result = await ctx.engine.loadModel(t, ctx.ports.modelUrl(entry.path), ctx.ports.callback((p: { loaded: number; total: number }) => {
        if (t === ctx.ticket) ctx.view({ progress: p.total ? p.loaded / p.total : null });
      }));
    } else {
      const stored = (await ctx.ports.storage.storedModels()).find((m) => m.id === entry.id);
      const readAhead = this.readAhead?.id === entry.id ? this.readAhead.shards : null;
      this.readAhead = null;
      const shards = stored && await (readAhead ?? ctx.ports.storage.storedModelShards(entry.id));
      result = stored && shards
        ? await ctx.engine.loadStoredModel(t, stored.manifest, ctx.ports.handOver(shards, shards))
        : { error: { kind: 'engine', code: 'missing', message: 'it is no longer stored in this browser' } };
    }
    if (ctx.stale(t, result)) return null;
    ctx.view({ busy: null, progress: null });
    if (failed(result)) {
      notices.notify(`${entry.name} could not be loaded: ${result.error.message}`, 'error', 'model');
      return null;
    }
    const taught = ctx.ports.taught.stored(entry.id);
    if (taught.length) {
      // the sliders this person taught on this model come back with it (before the document's edits are fitted to it)
      const withTaught = await ctx.engine.addTaughtDirections(t, taught);
      if (ctx.stale(t, withTaught)) return null;
      if (failed(withTaught)) notices.notify(`The sliders you taught on ${entry.name} could not be added again: ${withTaught.error.message}`, 'error', 'model');
      else result = withTaught;
    }
    ctx.view({ model: result, loadedModelId: entry.id });
    this.renders.forgetPreviewCost();
    return result;
  }

  /**
   * The photo being edited, when the next model edits the same kind of picture: a person who switches models to
   * compare them keeps their photo (its edits name the old model's sliders and stay behind).
   */
  private photoToCarry(domain: 'face' | 'car'): { blob: Blob; name: string } | null {
    const photo = this.ctx.get().doc.photo;
    const blob = photo ? this.ctx.blobs.get(photo.blob) : undefined;
    return photo && blob && this.ctx.get().model?.domain === domain ? { blob, name: photo.name } : null;
  }

  /** Opens the carried photo with the model now loaded (inverted again from the photo: the old codes are another model's). */
  private async carryPhoto(carried: { blob: Blob; name: string } | null, modelId: string): Promise<void> {
    if (!carried || this.ctx.get().loadedModelId !== modelId || this.ctx.get().doc.photo) return;
    await this.photos.open(carried.blob, carried.name, 'subject');
  }
}
