import * as D from '../document';
import type { BackendChoice, PhotoRequest } from '../protocol';
import type { CatalogEntry } from '../store';
import type { Codes } from './codes';
import type { Context, Crash } from './context';
import type { Edits } from './edits';
import type { Models } from './models';
import type { Notices } from './notices';
import type { Photos } from './photos';
import type { Refinement } from './refinement';

/** Requests that do what the person asked (not the engine's start, a model's load or a restore). */
const PERSON_S_WORK = new Set(['render', 'invertPhoto', 'refine', 'editPng', 'pasteBackPng', 'exportCodes', 'convert', 'batchPhoto', 'teachingCodes']);

/** The first line of an engine's error, for a notice (a WebAssembly abort can carry a stack). */
const firstLine = (message: string) => message.split('\n')[0].slice(0, 160);

/**
 * When the engine fails under the person: a GPU that goes away, or an engine that stops (a WebAssembly abort,
 * memory exhausted). The engine is started again (on the next backend, or as a fresh worker), the model reloaded
 * and the document brought back from its snapshots (tuned layers included), and the request that failed is made
 * once more; one line says what happened. If the engine stops again meanwhile, the page says what to do instead of
 * trying forever. The document is never touched: it stays on screen and saved.
 */
export class Recovery {
  /** The request that stopped the engine is being made again: another stop means the engine cannot do it. */
  private redoing = false;
  /** The engine stopped twice: the person was told what to do; nothing more is tried until they reload. */
  private gaveUp = false;
  /**
   * A fresh engine has not yet done work the person asked for (the reopened photo's render comes after the
   * recovery itself): stopping before it has is stopping again.
   */
  private unproven = false;

  constructor(
    private readonly ctx: Context,
    private readonly notices: Notices,
    private readonly models: Models,
    private readonly photos: Photos,
    private readonly refinement: Refinement,
    private readonly edits: Edits,
    private readonly codes: Codes,
  ) {}

  /** Called with the answer that says so, before the part that asked sees it. */
  engineStopped(crash: Crash): void {
    const { ctx } = this;
    ctx.nextTicket(); // everything in flight is stale now: the parts that asked drop their answers quietly
    ctx.device.restarting = true;
    if (this.gaveUp) return;
    if (ctx.device.recovering || this.redoing || this.unproven) {
      this.gaveUp = true;
      ctx.view({ busy: null, refining: null, rendering: false, progress: null, secondsLeft: null });
      this.notices.notify(
        `The editor's engine stopped again (${firstLine(crash.message)}). Your photo and edits are kept in this browser: reload the page to try again, `
        + `with a smaller photo${ctx.get().backend === 'wasm' ? '' : ', or on the WASM backend (add ?backend=wasm to the address)'}.`,
        'error', 'engine');
      return;
    }
    void this.restartAfter(crash);
  }

  /** A fresh engine answered work the person asked for: it works. */
  answered(method: string): void {
    if (PERSON_S_WORK.has(method)) this.unproven = false;
  }

  private async restartAfter(crash: Crash): Promise<void> {
    const { ctx } = this;
    this.unproven = true;
    const { catalog, doc } = ctx.get();
    this.notices.notify(`The editor's engine stopped (${firstLine(crash.message)}) and was started again; your photo and edits are kept.`, 'info', 'engine');
    ctx.device.recovering = true;
    try {
      ctx.ports.restartEngine();
      const { backend } = ctx.ports.options;
      const choice = await ctx.engine.start(backend ? [backend] : undefined);
      ctx.device.restarting = this.gaveUp; // the reopening clears the pictures first: renders wait for them again
      if (!this.gaveUp) await this.reopenOn(choice, catalog, doc, null);
    } finally {
      ctx.device.recovering = false;
    }
    if (this.gaveUp) return;
    this.redoing = true;
    try {
      await this.redo(crash);
    } finally {
      this.redoing = false;
    }
  }

  /** The engine runs again (on `choice`): the header says on what, and the document as it was is reopened on it. */
  private async reopenOn(choice: BackendChoice, catalog: CatalogEntry[], doc: D.StudioDocument, restoredMessage: string | null): Promise<void> {
    this.ctx.view({ backend: choice.backend, backendReason: choice.reason });
    await this.models.watchDevice();
    const entry = catalog.find((c) => c.id === doc.modelId);
    if (entry) await this.models.reopen(entry, D.commitEdit(doc), restoredMessage);
  }

  /**
   * The request once more, as the person made it. Renders, restores and the likeness need nothing: the reopened
   * document renders and measures again.
   */
  private async redo({ method, args }: Crash): Promise<void> {
    const { ctx } = this;
    if (method === 'invertPhoto') {
      // A photo that had not reached the document is opened again; one that had came back with it.
      const { which, file } = args[1] as PhotoRequest;
      const ref = which === 'subject' ? ctx.get().doc.photo : ctx.get().doc.reference;
      if (file && !(ref && ctx.blobs.get(ref.blob) === file.blob)) await this.photos.open(file.blob, file.name, which);
    } else if (method === 'refine') {
      await this.refinement.refine(args[1] as number, args[2] as boolean);
    } else if (method === 'editPng') {
      await this.edits.download('edit');
    } else if (method === 'pasteBackPng') {
      await this.edits.download(args[4] === 'generated' ? 'crop' : 'photo');
    } else if (method === 'exportCodes') {
      await this.codes.exportFile();
    } else if (method === 'convert') {
      await this.models.addCheckpoint(args[1] as File);
    }
  }

  /**
   * The GPU went away: tell the person, restart the engine on the next backend, reload the model and bring the
   * document back (from the snapshots: no re-inversion); a request it interrupted (a refinement) is made again, as
   * a stopped engine's is.
   */
  async deviceLost(reason: string): Promise<void> {
    const { ctx } = this;
    ctx.device.losses += 1;
    ctx.device.recovering = true;
    try {
      const { catalog, doc } = ctx.get();
      this.notices.notify(`The GPU stopped working (${reason}). Restarting the editor on another backend; your photo and edits are kept.`, 'info', 'device');
      ctx.device.restarting = true;
      const choice = await ctx.engine.restart();
      ctx.device.restarting = false;
      await this.reopenOn(choice, catalog, doc, `The GPU stopped working (${reason}); the editor now runs on ${choice.backend}. Your photo and edits are kept.`);
    } finally {
      ctx.device.recovering = false;
    }
    const again = ctx.device.interrupted;
    ctx.device.interrupted = null;
    if (again && ctx.get().reconstruction) await this.redo(again);
  }
}
