import { ENOUGH_EXAMPLES, taughtDirectionFile, teachDirection, type TaughtDirection } from '../../src/engine/teach';
import { failed } from '../protocol';
import type { StudioState } from '../store';
import { parseTaughtFile } from '../taught';
import type { Context } from './context';
import type { Notices } from './notices';

/**
 * Teaching a slider in the page (issue 33): the person's photos with and without an attribute are inverted one by one
 * in the worker (beside the photo being edited, renders going between them), the boundary is fitted here
 * (src/engine/teach.ts: plain arithmetic), and the slider joins the model's, kept in this browser (app/taught.ts).
 */
export interface TeachRequest {
  name: string;
  range: { start: number; end: number };
  orthogonalTo: string[];
  having: File[];
  lacking: File[];
}

export class Teaching {
  private cancelled = false;

  constructor(private readonly ctx: Context, private readonly notices: Notices) {}

  private show(patch: Partial<NonNullable<StudioState['teaching']>>): void {
    this.ctx.store.setState((s) => ({ teaching: { done: 0, total: 0, failures: [], running: false, outcome: null, ...s.teaching, ...patch } }));
  }

  cancel(): void {
    this.cancelled = true;
  }

  async teach(request: TeachRequest): Promise<void> {
    const { ctx, notices } = this;
    const { engine } = ctx;
    const teaching = (patch: Partial<NonNullable<StudioState['teaching']>>) => this.show(patch);
    const { model, loadedModelId: modelId } = ctx.get();
    if (!model || !modelId || ctx.get().teaching?.running) return;
    const name = request.name.trim();
    if (!name) { notices.notify('Give the slider a name first.', 'error', 'teach'); return; }
    if (request.having.length < ENOUGH_EXAMPLES || request.lacking.length < ENOUGH_EXAMPLES) {
      notices.notify(`Teaching a slider takes ${ENOUGH_EXAMPLES} or more photos with the attribute and ${ENOUGH_EXAMPLES} or more without (given: ${request.having.length} and ${request.lacking.length}).`, 'error', 'teach');
      return;
    }
    this.cancelled = false;
    ctx.store.setState({ teaching: { done: 0, total: request.having.length + request.lacking.length, failures: [], running: true, outcome: null } });
    const codes = async (files: File[]): Promise<Float64Array[]> => {
      const out: Float64Array[] = [];
      for (const file of files) {
        if (this.cancelled) break;
        const result = await engine.teachingCodes(ctx.ticket, file, file.name, request.range);
        const state = ctx.get().teaching!;
        if (failed(result)) teaching({ done: state.done + 1, failures: [...state.failures, `${file.name}: ${result.error.message}`] });
        else { out.push(result); teaching({ done: state.done + 1 }); }
      }
      return out;
    };
    const having = await codes(request.having);
    const lacking = await codes(request.lacking);
    const stillHere = ctx.get().loadedModelId === modelId;
    if (this.cancelled || !stillHere) {
      teaching({ running: false, outcome: this.cancelled ? 'Cancelled: no slider was added.' : 'The model changed meanwhile: no slider was added.' });
      return;
    }
    if (having.length < 2 || lacking.length < 2) {
      teaching({ running: false, outcome: `Too few photos could be inverted (${having.length} with, ${lacking.length} without): no slider was added.` });
      return;
    }
    const others = request.orthogonalTo.length ? await engine.fixedDirections(ctx.ticket, request.orthogonalTo, request.range) : [];
    if (failed(others)) { teaching({ running: false, outcome: `No slider was added: ${others.error.message}` }); return; }
    const taught = teachDirection(having, lacking, others);
    const file = taughtDirectionFile(name, { name: model.name, nLatent: model.nLatent, styleDim: model.styleDim }, request.range, taught, { with: having.length, without: lacking.length }, request.orthogonalTo);
    if (!(await this.addTaught([file], modelId))) { teaching({ running: false }); return; }
    const kept = ctx.ports.taught.store(modelId, file);
    teaching({
      running: false,
      outcome: `Taught “${name}” from ${having.length} photos with it and ${lacking.length} without: it tells them apart on ${Math.round(taught.heldOut * 100)}% of photos it was not fitted on (${file.accuracy.folds}-fold). `
        + `Its slider is under “Taught by you”${kept ? '' : ' (this browser would not keep it: export it to keep it)'}.`,
    });
  }

  /** Adds taught sliders to the model on screen; false (with a notice) when the engine refuses them. */
  private async addTaught(taught: TaughtDirection[], modelId: string): Promise<boolean> {
    const { ctx, notices } = this;
    const summary = await ctx.engine.addTaughtDirections(ctx.ticket, taught);
    if (failed(summary)) { notices.notify(`The slider could not be added: ${summary.error.message}`, 'error', 'teach'); return false; }
    if (ctx.get().loadedModelId === modelId) ctx.store.setState({ model: summary });
    return true;
  }

  /** The sliders taught on this model, as one small file (for another browser, or npm run invert -- --direction). */
  exportFile(): void {
    const { ctx, notices } = this;
    const modelId = ctx.get().loadedModelId;
    const taught = modelId ? ctx.ports.taught.stored(modelId) : [];
    if (!taught.length) { notices.notify('No slider has been taught on this model in this browser yet.', 'info', 'teach'); return; }
    ctx.ports.download(new Blob([JSON.stringify(taught)], { type: 'application/json' }), `taught-sliders-${taught.length}.json`);
  }

  /** Sliders from a file (exported here, or written by npm run direction), checked against the model first. */
  async importFile(file: File): Promise<void> {
    const { ctx, notices } = this;
    const { model, loadedModelId: modelId } = ctx.get();
    if (!model || !modelId) return;
    let taught: TaughtDirection[];
    try {
      taught = parseTaughtFile(await file.text(), model);
    } catch (error) {
      notices.notify(`${file.name} could not be imported: ${(error as Error).message}.`, 'error', 'teach');
      return;
    }
    if (!(await this.addTaught(taught, modelId))) return;
    const kept = taught.every((t) => ctx.ports.taught.store(modelId, t));
    notices.notify(`Imported ${taught.map((t) => `“${t.name}”`).join(', ')} under “Taught by you”${kept ? '' : ' (for this visit only: this browser would not keep them)'}.`, 'info', 'teach');
  }
}
