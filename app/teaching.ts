import { ENOUGH_EXAMPLES, taughtDirectionFile, teachDirection, type TaughtDirection } from '../src/engine/teach';
import { currentTicket, notify, save } from './controller';
import { engine } from './engine';
import { failed } from './protocol';
import { useStudio, type StudioState } from './store';
import { parseTaughtFile, storedTaught, storeTaught } from './taught';

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


let cancelled = false;

const teaching = (patch: Partial<NonNullable<StudioState['teaching']>>) =>
  useStudio.setState((s) => ({ teaching: { done: 0, total: 0, failures: [], running: false, outcome: null, ...s.teaching, ...patch } }));

export function cancelTeaching(): void {
  cancelled = true;
}

export async function teachSlider(request: TeachRequest): Promise<void> {
  const { model, loadedModelId: modelId } = useStudio.getState();
  if (!model || !modelId || useStudio.getState().teaching?.running) return;
  const name = request.name.trim();
  if (!name) { notify('Give the slider a name first.', 'error', 'teach'); return; }
  if (request.having.length < ENOUGH_EXAMPLES || request.lacking.length < ENOUGH_EXAMPLES) {
    notify(`Teaching a slider takes ${ENOUGH_EXAMPLES} or more photos with the attribute and ${ENOUGH_EXAMPLES} or more without (given: ${request.having.length} and ${request.lacking.length}).`, 'error', 'teach');
    return;
  }
  cancelled = false;
  useStudio.setState({ teaching: { done: 0, total: request.having.length + request.lacking.length, failures: [], running: true, outcome: null } });
  const codes = async (files: File[]): Promise<Float64Array[]> => {
    const out: Float64Array[] = [];
    for (const file of files) {
      if (cancelled) break;
      const result = await engine.teachingCodes(currentTicket(), file, file.name, request.range);
      const state = useStudio.getState().teaching!;
      if (failed(result)) teaching({ done: state.done + 1, failures: [...state.failures, `${file.name}: ${result.error.message}`] });
      else { out.push(result); teaching({ done: state.done + 1 }); }
    }
    return out;
  };
  const having = await codes(request.having);
  const lacking = await codes(request.lacking);
  const stillHere = useStudio.getState().loadedModelId === modelId;
  if (cancelled || !stillHere) {
    teaching({ running: false, outcome: cancelled ? 'Cancelled: no slider was added.' : 'The model changed meanwhile: no slider was added.' });
    return;
  }
  if (having.length < 2 || lacking.length < 2) {
    teaching({ running: false, outcome: `Too few photos could be inverted (${having.length} with, ${lacking.length} without): no slider was added.` });
    return;
  }
  const others = request.orthogonalTo.length ? await engine.fixedDirections(currentTicket(), request.orthogonalTo, request.range) : [];
  if (failed(others)) { teaching({ running: false, outcome: `No slider was added: ${others.error.message}` }); return; }
  const taught = teachDirection(having, lacking, others);
  const file = taughtDirectionFile(name, { name: model.name, nLatent: model.nLatent, styleDim: model.styleDim }, request.range, taught, { with: having.length, without: lacking.length }, request.orthogonalTo);
  if (!(await addTaught([file], modelId))) { teaching({ running: false }); return; }
  const kept = storeTaught(modelId, file);
  teaching({
    running: false,
    outcome: `Taught “${name}” from ${having.length} photos with it and ${lacking.length} without: it tells them apart on ${Math.round(taught.heldOut * 100)}% of photos it was not fitted on (${file.accuracy.folds}-fold). `
      + `Its slider is under “Taught by you”${kept ? '' : ' (this browser would not keep it: export it to keep it)'}.`,
  });
}

/** Adds taught sliders to the model on screen; false (with a notice) when the engine refuses them. */
async function addTaught(taught: TaughtDirection[], modelId: string): Promise<boolean> {
  const summary = await engine.addTaughtDirections(currentTicket(), taught);
  if (failed(summary)) { notify(`The slider could not be added: ${summary.error.message}`, 'error', 'teach'); return false; }
  if (useStudio.getState().loadedModelId === modelId) useStudio.setState({ model: summary });
  return true;
}

/** The sliders taught on this model, as one small file (for another browser, or npm run invert -- --direction). */
export function exportTaught(): void {
  const modelId = useStudio.getState().loadedModelId;
  const taught = modelId ? storedTaught(modelId) : [];
  if (!taught.length) { notify('No slider has been taught on this model in this browser yet.', 'info', 'teach'); return; }
  save(new Blob([JSON.stringify(taught)], { type: 'application/json' }), `taught-sliders-${taught.length}.json`);
}

/** Sliders from a file (exported here, or written by npm run direction), checked against the model first. */
export async function importTaught(file: File): Promise<void> {
  const { model, loadedModelId: modelId } = useStudio.getState();
  if (!model || !modelId) return;
  let taught: TaughtDirection[];
  try {
    taught = parseTaughtFile(await file.text(), model);
  } catch (error) {
    notify(`${file.name} could not be imported: ${(error as Error).message}.`, 'error', 'teach');
    return;
  }
  if (!(await addTaught(taught, modelId))) return;
  const kept = taught.every((t) => storeTaught(modelId, t));
  notify(`Imported ${taught.map((t) => `“${t.name}”`).join(', ')} under “Taught by you”${kept ? '' : ' (for this visit only: this browser would not keep them)'}.`, 'info', 'teach');
}
