import type { Transfer } from '../../src/engine/session';
import * as D from '../document';
import { failed } from '../protocol';
import { stem } from './codes';
import type { Context } from './context';
import type { Notices } from './notices';
import type { Renders } from './renders';

/** The person's edits (each a pure transition of the document; the pictures follow it) and the files made from them. */
export class Edits {
  constructor(private readonly ctx: Context, private readonly notices: Notices, private readonly renders: Renders) {}

  /** A slider moving under the hand: a preview now, one undo step when the gesture ends (commit). */
  preview(direction: string, value: number): void {
    const before = this.ctx.get().doc.edits.values[direction] ?? 0;
    if (value !== before) this.renders.steer(direction, value > before ? 1 : -1);
    this.ctx.dispatch((d) => D.setEditValue(d, direction, value, true));
  }

  commit = (): void => this.ctx.dispatch(D.commitEdit);
  setValue = (direction: string, value: number): void => this.ctx.dispatch((d) => D.setEditValue(d, direction, value, false));
  setRange = (direction: string, range: { start: number; end: number }): void => this.ctx.dispatch((d) => D.setEditRange(d, direction, range));
  reset = (): void => this.ctx.dispatch((d) => D.setEdits(d, D.NO_EDITS));
  undo = (): void => this.ctx.dispatch(D.undo);
  redo = (): void => this.ctx.dispatch(D.redo);
  applyPrevious = (): void => this.ctx.dispatch(D.applyPreviousEdits);
  dismissPrevious = (): void => this.ctx.dispatch(D.dismissPreviousEdits);
  setTransfer = (transfer: Transfer | null): void => this.ctx.dispatch((d) => D.setTransfer(d, transfer));

  removeReference(): void {
    this.ctx.view({ reference: null, referenceReady: false });
    delete this.ctx.snapshots.reference;
    this.ctx.dispatch(D.removeReference);
  }

  /**
   * 'photo': the edit in the photo at its full resolution (the photo's own detail, the edit's change); 'crop': the
   * generated crop pasted into the photo; 'edit': the generator's picture alone.
   */
  async download(kind: 'photo' | 'crop' | 'edit'): Promise<void> {
    const { ctx } = this;
    const t = ctx.ticket;
    const { doc, photo } = ctx.get();
    ctx.view({ busy: kind === 'edit' ? 'Rendering the edit' : 'Putting the edit into the full-size photo' });
    const edits = D.editList(doc.edits);
    const result = kind === 'edit'
      ? await ctx.engine.editPng(t, edits, ctx.activeTransfer())
      : await ctx.engine.pasteBackPng(t, edits, ctx.activeTransfer(), kind === 'photo' ? 'change' : 'generated');
    if (ctx.stale(t, result)) return;
    ctx.view({ busy: null });
    if (failed(result)) { this.notices.notify(result.error.message, 'error'); return; }
    ctx.ports.download(result, `${stem(photo?.name)}-${{ photo: 'edited', crop: 'generated-crop', edit: 'edit' }[kind]}.png`);
  }
}
