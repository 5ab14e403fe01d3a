import { Zip, ZipPassThrough } from 'fflate';
import { refinementUnavailable } from '../../src/engine/refine-presets';
import * as D from '../document';
import { failed } from '../protocol';
import type { BatchItem, StudioState } from '../store';
import type { Context } from './context';
import type { Notices } from './notices';
import { refineSteps } from './refinement';

/**
 * A folder at once (issue 33): the edits on screen (sliders, taught sliders, the reference transfer) applied to many
 * photos, each inverted in a batch session of the worker beside the photo being edited, refined when "refine every
 * photo" is on, and its full-resolution result added to a zip as it comes. The zip is built as a stream (fflate,
 * stored: JPEGs do not compress): each result is handed to it and dropped, so a hundred photos are never held twice.
 */
export class Batch {
  private cancelled = false;

  constructor(private readonly ctx: Context, private readonly notices: Notices) {}

  private show(patch: Partial<NonNullable<StudioState['batch']>>): void {
    this.ctx.store.setState((s) => ({ batch: { items: [], running: false, zip: null, secondsLeft: null, ...s.batch, ...patch } }));
  }

  cancel(): void {
    this.cancelled = true;
  }

  async run(files: File[]): Promise<void> {
    const { ctx, notices } = this;
    const state = ctx.get();
    if (!state.model || state.batch?.running || !files.length) return;
    this.cancelled = false;
    const edits = D.editList(state.doc.edits);
    const { reference, transfer } = this.referenceInForce();
    const refine = state.autoRefine && !refinementUnavailable(state.model.outputSize, state.backend) ? { steps: refineSteps(state.fineDetail, state.model.outputSize, state.backend), fineDetail: state.fineDetail } : null;
    const items: BatchItem[] = files.map((f) => ({ name: f.name, state: 'waiting' }));
    this.show({ items, running: true, zip: null, secondsLeft: null });
    // the photo on screen's ticket, not a new one: a batch must not supersede the photo being edited
    const started = await ctx.engine.startBatch(ctx.ticket, reference);
    if (failed(started)) { this.show({ running: false }); notices.notify(`The batch could not start: ${started.error.message}`, 'error', 'batch'); return; }

    const parts: Blob[] = [];
    const zip = new Zip((error, chunk) => { if (error) throw error; parts.push(new Blob([chunk as Uint8Array<ArrayBuffer>])); });
    const names = new Set<string>();
    const begun = performance.now();
    let finished = 0;
    let stopped: string | null = null;
    for (const [i, file] of files.entries()) {
      if (this.cancelled) break;
      items[i] = { ...items[i], state: 'running' };
      this.show({ items: [...items] });
      const result = await ctx.engine.batchPhoto(ctx.ticket, file, file.name, edits, transfer, refine);
      if (failed(result)) {
        items[i] = { ...items[i], state: 'failed', message: result.error.message };
        if (result.error.code === 'crashed') {
          // The engine was started again for the photo being edited; the batch's session went with the old one.
          stopped = `The engine stopped at ${file.name}; the photos before it are in the zip: run the rest again.`;
          finished++;
          break;
        }
      } else {
        const entry = new ZipPassThrough(uniqueName(names, file.name));
        zip.add(entry);
        entry.push(new Uint8Array(await result.jpeg.arrayBuffer()), true);
        items[i] = { ...items[i], state: 'done', ms: result.ms };
      }
      finished++;
      const perPhoto = (performance.now() - begun) / finished;
      this.show({ items: [...items], secondsLeft: Math.round((perPhoto * (files.length - finished)) / 1000) });
    }
    zip.end();
    void ctx.engine.endBatch();
    const done = items.filter((x) => x.state === 'done').length;
    const failures = items.filter((x) => x.state === 'failed').length;
    this.show({ running: false, zip: done ? new Blob(parts, { type: 'application/zip' }) : null, secondsLeft: null });
    notices.notify(stopped ?? `${this.cancelled ? 'Batch cancelled: ' : ''}${done} of ${files.length} photos edited${failures ? `; ${failures} failed (named in the list)` : ''}.`, stopped ? 'error' : 'info', 'batch');
  }

  download(): void {
    const zip = this.ctx.get().batch?.zip;
    if (zip) this.ctx.ports.download(zip, 'edited-photos.zip');
  }

  /** The reference photo and the transfer in force, applied to each photo of the batch. */
  private referenceInForce() {
    const { ctx } = this;
    const { reference } = ctx.get().doc;
    const transfer = ctx.activeTransfer();
    const blob = reference ? ctx.blobs.get(reference.blob) : undefined;
    return transfer && reference && blob ? { reference: { blob, name: reference.name, framing: reference.framing }, transfer } : { reference: null, transfer: null };
  }
}

/** `photo.jpg` -> `photo-edited.jpg`, with -2, -3... when two inputs share a name. */
function uniqueName(taken: Set<string>, name: string): string {
  const stem = name.replace(/\.[^.]+$/, '');
  let candidate = `${stem}-edited.jpg`;
  for (let n = 2; taken.has(candidate); n++) candidate = `${stem}-edited-${n}.jpg`;
  taken.add(candidate);
  return candidate;
}
