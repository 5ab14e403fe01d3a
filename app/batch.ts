import { Zip, ZipPassThrough } from 'fflate';
import { currentTicket, editList, notify, referenceInForce, refineSteps, save } from './controller';
import { engine } from './engine';
import { failed } from './protocol';
import { useStudio, type BatchItem, type StudioState } from './store';

/**
 * A folder at once (issue 33): the edits on screen (sliders, taught sliders, the reference transfer) applied to many
 * photos, each inverted in a batch session of the worker beside the photo being edited, refined when "refine every
 * photo" is on, and its full-resolution result added to a zip as it comes. The zip is built as a stream (fflate,
 * stored: JPEGs do not compress): each result is handed to it and dropped, so a hundred photos are never held twice.
 */
let cancelled = false;

const batch = (patch: Partial<NonNullable<StudioState['batch']>>) =>
  useStudio.setState((s) => ({ batch: { items: [], running: false, zip: null, secondsLeft: null, ...s.batch, ...patch } }));

export function cancelBatch(): void {
  cancelled = true;
}

export async function runBatch(files: File[]): Promise<void> {
  const state = useStudio.getState();
  if (!state.model || state.batch?.running || !files.length) return;
  cancelled = false;
  const edits = editList(state.doc.edits);
  const { reference, transfer } = referenceInForce();
  const refine = state.autoRefine ? { fineDetail: state.fineDetail } : null;
  const items: BatchItem[] = files.map((f) => ({ name: f.name, state: 'waiting' }));
  batch({ items, running: true, zip: null, secondsLeft: null });
  const started = await engine.startBatch(currentTicket(), reference);
  if (failed(started)) { batch({ running: false }); notify(`The batch could not start: ${started.error.message}`, 'error', 'batch'); return; }

  const parts: Blob[] = [];
  const zip = new Zip((error, chunk) => { if (error) throw error; parts.push(new Blob([chunk as Uint8Array<ArrayBuffer>])); });
  const names = new Set<string>();
  const begun = performance.now();
  let finished = 0;
  for (const [i, file] of files.entries()) {
    if (cancelled) break;
    items[i] = { ...items[i], state: 'running' };
    batch({ items: [...items] });
    const result = await engine.batchPhoto(currentTicket(), file, file.name, edits, transfer, refine && { steps: refineSteps(refine.fineDetail), fineDetail: refine.fineDetail });
    if (failed(result)) {
      items[i] = { ...items[i], state: 'failed', message: result.error.message };
    } else {
      const entry = new ZipPassThrough(uniqueName(names, file.name));
      zip.add(entry);
      entry.push(new Uint8Array(await result.jpeg.arrayBuffer()), true);
      items[i] = { ...items[i], state: 'done', ms: result.ms };
    }
    finished++;
    const perPhoto = (performance.now() - begun) / finished;
    batch({ items: [...items], secondsLeft: Math.round((perPhoto * (files.length - finished)) / 1000) });
  }
  zip.end();
  engine.endBatch();
  const done = items.filter((x) => x.state === 'done').length;
  const zipped = done ? new Blob(parts, { type: 'application/zip' }) : null;
  batch({ running: false, zip: zipped, secondsLeft: null });
  notify(`${cancelled ? 'Batch cancelled: ' : ''}${done} of ${files.length} photos edited${items.some((x) => x.state === 'failed') ? `; ${items.filter((x) => x.state === 'failed').length} failed (named in the list)` : ''}.`, 'info', 'batch');
}

export function downloadBatch(): void {
  const zip = useStudio.getState().batch?.zip;
  if (zip) save(zip, 'edited-photos.zip');
}

/** `photo.jpg` -> `photo-edited.jpg`, with -2, -3... when two inputs share a name. */
function uniqueName(taken: Set<string>, name: string): string {
  const stem = name.replace(/\.[^.]+$/, '');
  let candidate = `${stem}-edited.jpg`;
  for (let n = 2; taken.has(candidate); n++) candidate = `${stem}-edited-${n}.jpg`;
  taken.add(candidate);
  return candidate;
}
