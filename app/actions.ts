import type { EditValue } from '../src/engine/model';
import type { Framing, Transfer } from '../src/engine/session';
import { Comlink, engine } from './engine';
import type { Result, WorkerError } from './engine.worker';
import { loadSession, saveSession, storeModel, storedModels } from './persist';
import { NO_EDITS, resetSteps, useStudio, type CatalogEntry, type EditState, type PhotoState } from './store';

const state = () => useStudio.getState();
const set = (patch: Parameters<ReturnType<typeof useStudio.getState>['set']>[0]) => state().set(patch);

export function failed<T>(r: Result<T>): r is WorkerError {
  return typeof r === 'object' && r !== null && 'error' in r && typeof (r as WorkerError).error?.message === 'string';
}

let subjectBlob: Blob | null = null;
let referenceBlob: Blob | null = null;
/** Codes the user imported (.npy bytes): they replace the photo's inversion until the photo is re-framed. */
let importedCodes: Uint8Array | null = null;

/** Slider state -> the engine's edit list (ranges the user changed override the direction's own). */
export function editList(edits: EditState): EditValue[] {
  return Object.entries(edits.values)
    .filter(([, v]) => v !== 0)
    .map(([direction, value]) => ({ direction, value, range: edits.ranges[direction] }));
}

export async function boot(): Promise<void> {
  set({ busy: 'Starting the engine' });
  try {
    const params = new URLSearchParams(location.search);
    const forced = params.get('backend');
    const backend = await engine.start(forced ? [forced as 'webgpu' | 'webgl' | 'wasm'] : undefined);
    const catalog = (await (await fetch('/models/catalog.json')).json()) as CatalogEntry[];
    const stored = await storedModels().catch(() => []);
    const all = [...catalog, ...stored.map((m) => ({ id: m.id, name: `${m.name} (added)`, domain: m.manifest.domain, path: '' }))];
    set({ backend, catalog: all, busy: null });
    await engine.watchDeviceLoss(Comlink.proxy((reason: string) => void recoverFromDeviceLoss(reason)));
    const saved = await loadSession().catch(() => undefined);
    const requested = params.get('model');
    const entry = all.find((c) => c.id === requested) ?? all.find((c) => c.id === saved?.modelId) ?? defaultModel(all);
    if (requested && entry?.id !== requested) set({ notice: `There is no model "${requested}" here; ${entry?.name ?? 'no model'} is open instead.` });
    if (entry) await selectModel(entry);
    if (saved && saved.modelId === entry?.id && saved.photo) {
      set({ edits: saved.edits ?? NO_EDITS });
      await openPhoto(saved.photo, saved.photoName, 'subject', saved.framing);
      if (saved.reference) await openPhoto(saved.reference, saved.referenceName, 'reference', null);
      await reimportCodes(saved.codes);
      set({ transfer: saved.transfer ?? state().transfer, notice: 'Your last session was restored.' });
      await renderEdit(false);
    }
  } catch (error) {
    set({ error: `The engine could not start: ${(error as Error).message}. Try reloading, or ?backend=wasm.`, busy: null });
  }
}

/**
 * The GPU went away: tell the user, restart the engine on the next backend, reload the model and redo the photo
 * with the same framing, edits and reference. Nothing the user did is lost.
 */
export async function recoverFromDeviceLoss(reason: string): Promise<void> {
  const { catalog, modelId, photo, edits, past, future, transfer, reference } = state();
  set({ notice: `The GPU stopped working (${reason}). Restarting the editor on another backend; your photo and edits are kept.` });
  const backend = await engine.restart();
  set({ backend });
  await engine.watchDeviceLoss(Comlink.proxy((r: string) => void recoverFromDeviceLoss(r)));
  const entry = catalog.find((c) => c.id === modelId);
  if (!entry) return;
  await selectModel(entry);
  if (subjectBlob && photo) {
    const codes = importedCodes;
    set({ edits, past, future });
    await openPhoto(subjectBlob, photo.name, 'subject', photo.framing);
    await reimportCodes(codes);
    if (referenceBlob && reference) await openPhoto(referenceBlob, reference.name, 'reference', reference.framing);
    set({ transfer, notice: `The GPU stopped working (${reason}); the editor now runs on ${backend}. Your photo and edits are kept.` });
    await renderEdit(false);
  }
}

/** The first model the menu offers (the catalog lists the bundled demo models first). */
export function defaultModel(catalog: CatalogEntry[]): CatalogEntry | undefined {
  return catalog.find((c) => !c.hidden) ?? catalog[0];
}

export async function selectModel(entry: CatalogEntry): Promise<void> {
  set({ busy: `Loading ${entry.name}`, progress: 0, error: null, modelId: entry.id });
  let result;
  if (entry.path) {
    const url = new URL(`/models/${entry.path}/`, location.href).toString();
    result = await engine.loadModel(url, Comlink.proxy((p: { loaded: number; total: number }) => set({ progress: p.total ? p.loaded / p.total : null })));
  } else {
    const stored = (await storedModels()).find((m) => m.id === entry.id);
    if (!stored) { set({ error: `${entry.name} is no longer stored in this browser.`, busy: null }); return; }
    result = await engine.loadStoredModel(stored.manifest, stored.shards);
  }
  if (failed(result)) {
    set({ error: `${entry.name} could not be loaded: ${result.error.message}`, busy: null, progress: null });
    return;
  }
  set({ model: result, busy: null, progress: null, photo: null, aligned: null, reconstruction: null, edited: null, mse: null, edits: NO_EDITS, past: [], future: [], reference: null, referenceReady: false, transfer: null, steps: resetSteps() });
}

export async function addCheckpoint(file: File): Promise<void> {
  set({ busy: `Converting ${file.name} (in this browser; nothing is uploaded)`, error: null, log: [] });
  const lines: string[] = [];
  const result = await engine.convert(file, true, Comlink.proxy((line: string) => { lines.push(line); set({ log: [...lines] }); }));
  if (failed(result)) {
    set({ error: `${file.name} could not be added: ${result.error.message}`, busy: null });
    return;
  }
  const id = `user:${file.name}:${file.size}`;
  await storeModel({ id, name: result.model.name, manifest: result.manifest, shards: result.shards }).catch((e) =>
    set({ notice: `Converted, but it could not be kept for later visits (${(e as Error).message}).` }));
  const entry: CatalogEntry = { id, name: `${result.model.name} (added)`, domain: result.model.domain, path: '' };
  set({ catalog: [...state().catalog.filter((c) => c.id !== id), entry], modelId: id, model: result.model, busy: null, photo: null, aligned: null, reconstruction: null, edited: null, steps: resetSteps() });
}

export async function openPhoto(blob: Blob, name: string, which: 'subject' | 'reference', framing?: Framing | null): Promise<void> {
  if (!state().model) return;
  set({ error: null, notice: null, busy: `Reading ${name}` });
  if (which === 'subject') set({ steps: { ...resetSteps(), decode: 'running' } });
  const opened = await engine.openPhoto(blob, name, which);
  if (failed(opened)) {
    // The previous photo and its edits stay as they were.
    set({ error: `${opened.error.message}`, busy: null, steps: which === 'subject' ? { ...resetSteps(), decode: 'failed' } : state().steps });
    return;
  }
  const photo: PhotoState = { name, ...opened, framing: framing ?? opened.framing };
  if (which === 'reference') {
    referenceBlob = blob;
    set({ reference: photo, referenceReady: false });
    if (photo.framing) await frame(photo.framing, 'reference');
    else set({ error: photo.noFace ?? 'No face in the reference photo.', busy: null });
    return;
  }
  subjectBlob = blob;
  importedCodes = null; // a new photo: its own inversion, not codes imported for the last one
  set({ photo, aligned: null, reconstruction: null, edited: null, mse: null, steps: { decode: 'done', detect: photo.noFace ? 'failed' : 'done', align: 'pending', invert: 'pending' } });
  if (photo.framing) await frame(photo.framing, 'subject');
  else set({ busy: null, notice: photo.noFace ?? null });
}

export async function frame(framing: Framing, which: 'subject' | 'reference'): Promise<void> {
  set({ busy: which === 'subject' ? 'Aligning and inverting' : 'Inverting the reference' });
  if (which === 'subject') importedCodes = null;
  if (which === 'subject') set({ steps: { ...state().steps, detect: state().steps.detect === 'failed' && framing.kind === 'manual' ? 'done' : state().steps.detect, align: 'running', invert: 'running' } });
  const result = await engine.frameAndInvert(framing, which);
  if (failed(result)) {
    set({ error: result.error.message, busy: null, steps: which === 'subject' ? { ...state().steps, align: 'failed', invert: 'failed' } : state().steps });
    return;
  }
  if (which === 'reference') {
    set({ reference: { ...state().reference!, framing }, referenceReady: true, busy: null, transfer: state().transfer ?? defaultTransfer() });
  } else {
    set({
      photo: { ...state().photo!, framing },
      aligned: result.aligned, reconstruction: result.reconstruction, mse: result.mse, identity: result.identity, busy: null,
      steps: { decode: 'done', detect: 'done', align: 'done', invert: 'done' },
      timings: { ...state().timings, align: result.msFrame, invert: result.msInvert },
    });
  }
  await renderEdit(false);
}

function defaultTransfer(): Transfer {
  const block = state().model?.editBlocks[0];
  return block ? { kind: 'block', block: block.id, strength: 1 } : { kind: 'mix', range: { start: 0, end: 4 }, strength: 1 };
}

// One render at a time; a request made meanwhile replaces any waiting one (only the latest matters).
let rendering = false;
let waiting: { preview: boolean } | null = null;

export async function renderEdit(preview: boolean): Promise<void> {
  if (!state().reconstruction) return;
  if (rendering) { waiting = { preview }; return; }
  rendering = true;
  set({ rendering: true });
  try {
    const { edits, transfer, referenceReady } = state();
    const result = await engine.render(editList(edits), preview, referenceReady ? transfer : null);
    if (failed(result)) set({ error: result.error.message });
    else set({ edited: result.image, timings: { ...state().timings, [preview ? 'preview' : 'render']: result.ms } });
  } finally {
    rendering = false;
  }
  if (waiting) {
    const next = waiting;
    waiting = null;
    await renderEdit(next.preview);
  } else {
    set({ rendering: false });
    void persist();
  }
}

export async function persist(): Promise<void> {
  const { modelId, photo, edits, reference, transfer } = state();
  if (!modelId) return;
  await saveSession({
    modelId, photo: subjectBlob, photoName: photo?.name ?? '', framing: photo?.framing ?? null, edits,
    reference: referenceBlob, referenceName: reference?.name ?? '', transfer, codes: importedCodes,
  }).catch(() => undefined);
}

export async function download(kind: 'edit' | 'pasteback'): Promise<void> {
  const { edits, transfer, referenceReady, photo } = state();
  set({ busy: kind === 'edit' ? 'Rendering the edit' : 'Pasting the edit into the original' });
  const result = kind === 'edit'
    ? await engine.editPng(editList(edits), referenceReady ? transfer : null)
    : await engine.pasteBackPng(editList(edits), referenceReady ? transfer : null);
  set({ busy: null });
  if (failed(result)) { set({ error: result.error.message }); return; }
  const base = (photo?.name ?? 'photo').replace(/\.[^.]+$/, '');
  save(result, `${base}-${kind === 'edit' ? 'edit' : 'edit-full'}.png`);
}

export async function exportCodes(): Promise<void> {
  const result = await engine.exportCodes();
  if (failed(result)) { set({ error: result.error.message }); return; }
  save(new Blob([result as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }), `${(state().photo?.name ?? 'photo').replace(/\.[^.]+$/, '')}-codes.npy`);
}

export async function importCodes(file: File): Promise<void> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const result = await engine.importCodes(bytes);
  if (failed(result)) { set({ error: `${file.name}: ${result.error.message}` }); return; }
  importedCodes = bytes;
  set({ notice: `Codes loaded from ${file.name}.` });
  await renderEdit(false);
}

/** After a restore or a restart the photo is inverted afresh; codes the user had imported take its place again. */
async function reimportCodes(bytes: Uint8Array | null | undefined): Promise<void> {
  if (!bytes) return;
  const result = await engine.importCodes(bytes);
  if (failed(result)) { set({ notice: `The codes you had imported could not be restored: ${result.error.message}` }); return; }
  importedCodes = bytes;
}

function save(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
