import type { Framing } from '../../src/engine/session';
import * as D from '../document';
import { failed, type PhotoInfo, type PhotoRequest, type PhotoStage, type Which } from '../protocol';
import { NO_PICTURES, PENDING_STEPS, type PhotoView } from '../store';
import type { Codes } from './codes';
import type { Context } from './context';
import type { Notices } from './notices';
import type { Persistence } from './persistence';
import type { Refinement } from './refinement';
import type { Renders } from './renders';

export const photoView = (name: string, info: PhotoInfo): PhotoView => ({
  name, width: info.width, height: info.height, thumb: info.thumb, thumbScale: info.thumbScale, faces: info.faces, noFace: info.noFace,
});

const ALL_DONE = { decode: 'done', detect: 'done', align: 'done', invert: 'done' } as const;

/** How a photo's pipeline ended. 'unreadable': the file could not be opened (nothing on screen changed). */
type Ending = { status: 'inverted' | 'failed' | 'stale' } | { status: 'no-face' | 'unreadable'; message: string };

/**
 * The photos: a dropped photo (or reference) runs through the engine's pipeline in one call (decode, faces, align,
 * invert, its first picture), each stage shown as it arrives; a saved photo comes back from its snapshot, or
 * through the pipeline again when the snapshot does not fit.
 */
export class Photos {
  constructor(
    private readonly ctx: Context,
    private readonly notices: Notices,
    private readonly renders: Renders,
    private readonly persistence: Persistence,
    private readonly refinement: Refinement,
    private readonly codes: Codes,
  ) {}

  async open(blob: Blob, name: string, which: Which): Promise<void> {
    const { ctx, notices } = this;
    if (!ctx.get().model) return;
    if (which === 'reference') return this.openReference(blob, name);
    const t = ctx.nextTicket();
    ctx.view({ busy: `Reading ${name}`, steps: { ...PENDING_STEPS, decode: 'running' } });
    const key = ctx.newKey('photo');
    const ending = await this.run(t, { which, file: { blob, name }, edits: [], transfer: null }, (photo, ms) => {
      // The new photo replaces the old one only now: a file that cannot be opened changes nothing.
      notices.clearErrors();
      notices.dismissTopic('restore');
      ctx.blobs.set(key, blob);
      ctx.dispatch((d) => D.openPhoto(d, { blob: key, name, framing: photo.framing }));
      ctx.view({ ...NO_PICTURES, photo: photoView(name, photo), busy: null, steps: { ...PENDING_STEPS, decode: 'done', detect: photo.noFace ? 'failed' : 'done' }, timings: { 'decode + detect': ms } });
    });
    if (ending.status === 'unreadable') {
      notices.notify(ending.message, 'error', 'photo');
      ctx.view({ busy: null, steps: ctx.get().reconstruction ? ALL_DONE : { ...PENDING_STEPS, decode: 'failed' } });
    } else if (ending.status === 'no-face') notices.notify(ending.message, 'info', 'no-face');
    else if (ending.status === 'inverted') await this.afterInversion(t);
  }

  private async openReference(blob: Blob, name: string): Promise<void> {
    const { ctx, notices } = this;
    const t = ctx.ticket;
    ctx.view({ busy: `Reading ${name}` });
    const key = ctx.newKey('reference');
    const ending = await this.run(t, { which: 'reference', file: { blob, name }, edits: [], transfer: null }, (photo) => {
      ctx.blobs.set(key, blob);
      ctx.dispatch((d) => D.setReference(d, { blob: key, name, framing: photo.framing }));
      ctx.view({ reference: photoView(name, photo), referenceReady: false });
    });
    if (ending.status === 'unreadable' || ending.status === 'no-face') {
      notices.notify(ending.message, 'error', 'reference');
      ctx.view({ busy: null });
    }
  }

  /** Re-frames the photo (another face, hand-placed points, a moved crop box) and inverts it again. */
  async reframe(framing: Framing): Promise<void> {
    const { ctx } = this;
    if (!ctx.get().photo) return;
    const t = ctx.nextTicket();
    this.aligning('subject', framing);
    const ending = await this.run(t, { which: 'subject', framing, edits: D.editList(ctx.get().doc.edits), transfer: ctx.activeTransfer() });
    if (ending.status === 'inverted') await this.afterInversion(t);
  }

  /** Brings a saved photo back: from its snapshot when it matches, else through the pipeline with its framing. */
  async restore(which: Which, ref: D.PhotoRef, t: number): Promise<boolean> {
    const { ctx, notices } = this;
    const blob = ctx.blobs.get(ref.blob)!;
    const saved = ctx.snapshots[which];
    const subject = which === 'subject';
    if (saved && saved.blob === ref.blob && saved.modelId === ctx.get().doc.modelId && JSON.stringify(saved.framing) === JSON.stringify(ref.framing)) {
      ctx.view({ busy: `Restoring ${ref.name}` });
      const restored = await ctx.engine.restorePhoto(t, blob, ref.name, which, saved.snapshot, ref.framing);
      if (ctx.stale(t, restored)) return false;
      ctx.view({ busy: null });
      if (!failed(restored)) {
        if (subject) {
          if (ctx.get().doc.refinement && !saved.snapshot.refinement) ctx.dispatch((d) => ({ ...d, refinement: null }));
          ctx.view({
            photo: photoView(ref.name, restored), aligned: restored.aligned, reconstruction: restored.reconstruction, mse: restored.mse, identity: saved.identity,
            original: restored.original ?? null, steps: { decode: 'restored', detect: 'restored', align: 'restored', invert: 'restored' },
          });
        } else {
          ctx.view({ reference: photoView(ref.name, restored), referenceReady: true });
        }
        return true;
      }
      notices.notify(`${ref.name} is framed and inverted again (${restored.error.message}).`, 'info', 'restore');
    }
    // No usable snapshot: the photo runs through the pipeline again with its framing; imported codes and the
    // refinement follow (framing it again clears them from the document).
    const { importedCodes: codes, refinement } = subject ? ctx.get().doc : { importedCodes: null, refinement: null };
    ctx.view({ busy: `Reading ${ref.name}`, ...(subject ? { steps: { ...PENDING_STEPS, decode: 'running' } } : {}) });
    const request: PhotoRequest = { which, file: { blob, name: ref.name }, framing: ref.framing ?? undefined, edits: subject ? D.editList(ctx.get().doc.edits) : [], transfer: null };
    const ending = await this.run(t, request, (photo) => {
      if (subject) ctx.view({ photo: photoView(ref.name, photo), steps: { ...PENDING_STEPS, decode: 'done', detect: photo.noFace ? 'failed' : 'done' } });
      else ctx.view({ reference: photoView(ref.name, photo) });
    });
    if (ending.status === 'stale') return false;
    if (ending.status === 'unreadable') {
      notices.notify(`${ref.name} could not be restored: ${ending.message}`, 'error', 'restore');
      ctx.dispatch((d) => (subject ? D.emptyDocument(d.modelId) : D.removeReference(d)));
      return false;
    }
    if (ending.status === 'no-face') {
      if (subject) notices.notify(ending.message, 'info', 'no-face');
      return subject;
    }
    if (!subject) return true;
    if (ending.status === 'inverted') await this.afterInversion(t);
    if (codes && ctx.blobs.has(codes) && t === ctx.ticket && await this.codes.load(new Uint8Array(await ctx.blobs.get(codes)!.arrayBuffer()), ref.name, t)) {
      ctx.dispatch((d) => D.importCodes(d, codes));
    }
    if (refinement && t === ctx.ticket) {
      notices.notify(`${ref.name} was refined; its tuned generator was not kept in this browser, so it is tuned again.`, 'info', 'refine');
      await this.refinement.refine(refinement.steps, refinement.fineDetail);
    }
    return true;
  }

  /** A framing is chosen: the document keeps it, and the screen says what comes. */
  private aligning(which: Which, framing: Framing): void {
    const { ctx } = this;
    ctx.dispatch((d) => D.frame(d, which, framing));
    if (which === 'reference') { ctx.view({ busy: 'Inverting the reference' }); return; }
    this.notices.dismissTopic('no-face');
    const { steps } = ctx.get();
    ctx.view({
      busy: 'Aligning', aligned: null, reconstruction: null, edited: null, result: null, mse: null, identity: null, measuringIdentity: false,
      steps: { ...steps, detect: steps.detect === 'failed' ? 'done' : steps.detect, align: 'running' },
    });
  }

  /**
   * The photo's pipeline, one engine call: its stages land as they arrive (`opened` first, with the decoded photo),
   * and the answer brings the subject's first picture, its "before" and its snapshot.
   */
  private async run(t: number, request: PhotoRequest, opened?: (photo: PhotoInfo, ms: number) => void): Promise<Ending> {
    const { ctx, notices } = this;
    const subject = request.which === 'subject';
    const progress: { reached: PhotoStage['stage'] | 'start'; noFace: string } = { reached: request.file ? 'start' : 'opened', noFace: 'No face was found.' };
    const onStage = (stage: PhotoStage) => {
      if (t !== ctx.ticket) return;
      progress.reached = stage.stage;
      if (stage.stage === 'opened') {
        opened?.(stage.photo, stage.ms);
        if (stage.photo.framing) this.aligning(request.which, stage.photo.framing);
        else progress.noFace = stage.photo.noFace ?? progress.noFace;
      } else if (stage.stage === 'aligned') {
        if (subject) ctx.view({ aligned: stage.aligned, busy: 'Inverting', steps: { ...ctx.get().steps, align: 'done', invert: 'running' }, timings: { ...ctx.get().timings, align: stage.ms } });
      } else if (subject) {
        ctx.view({ kernel: stage.kernel, reconstruction: stage.reconstruction, mse: stage.mse, identity: null, measuringIdentity: true, busy: null, refineFigures: null, steps: ALL_DONE, timings: { ...ctx.get().timings, invert: stage.ms } });
        this.renders.awaitFirstPicture();
      } else {
        // Ready, and nothing taken yet: the person chooses what to take from it (a reference without bangs must not
        // put the Bangs block on the photo at full strength the moment it is added).
        ctx.view({ referenceReady: true, busy: null });
      }
    };
    const outcome = await ctx.engine.invertPhoto(t, request, ctx.ports.callback(onStage));
    const picture = !failed(outcome) && !ctx.stale(t, outcome) ? outcome.picture : undefined;
    if (subject && progress.reached === 'inverted') this.renders.firstPicture(t, picture ?? null);
    if (ctx.stale(t, outcome)) return { status: 'stale' };
    if (failed(outcome)) {
      const { reached } = progress;
      if (reached === 'start') return { status: 'unreadable', message: outcome.error.message };
      notices.notify(outcome.error.message, 'error', subject ? 'photo' : 'reference');
      const failedStep = reached === 'opened' ? 'align' : reached === 'aligned' ? 'invert' : null;
      ctx.view({ busy: null, ...(subject && failedStep ? { steps: { ...ctx.get().steps, [failedStep]: 'failed' } } : {}) });
      return { status: 'failed' };
    }
    if (!outcome.framing) {
      ctx.view({ busy: null });
      return { status: 'no-face', message: progress.noFace };
    }
    if (subject) {
      if (outcome.original) ctx.view({ original: outcome.original });
    } else this.renders.request(false);
    await this.persistence.keep(request.which, outcome.snapshot, null);
    return { status: 'inverted' };
  }

  /** Refined by default, at once (the refinement measures the likeness it makes); else the likeness is measured. */
  private async afterInversion(t: number): Promise<void> {
    if (this.ctx.get().autoRefine && !this.persistence.isReopening && !this.refinement.unavailable()) {
      if (t === this.ctx.ticket) await this.refinement.refine();
      return;
    }
    await this.refinement.measureIdentity(t);
  }
}
