import type { EditValue } from '../src/engine/model';
import type { Framing, SubjectSnapshot, Transfer } from '../src/engine/session';
import * as D from './document';
import { neighbourValues, previewsToMakeAhead } from './sliders';
import { Comlink, engine } from './engine';
import { loadSession, removeModel, saveDocument, saveSnapshot, storedModels, storeModel, type SavedSnapshot } from './persist';
import { failed, type ModelSummary, type PhotoInfo, type PhotoPatch, type PhotoResult, type RefineProgressMessage, type Result, type Which } from './protocol';
import { refinementSettings } from '../src/engine/refine-presets';
import { storedTaught } from './taught';
import { canWrite, claimWriter } from './writer';
import { AUTO_REFINE_KEY, FINE_DETAIL_KEY, NO_PICTURES, PENDING_STEPS, useStudio, type CatalogEntry, type Notice, type PhotoView, type StudioState } from './store';

/**
 * The one owner of the page's state. Components call the commands below; each changes the document through a
 * pure transition (document.ts) and runs the engine work it implies through the worker (protocol.ts). One
 * subscription renders whatever the document's edits say and persists the document; no command has to remember to.
 *
 *   component --command--> controller --transition--> document (zustand)
 *                              |  \--subscription: render (preview while a gesture lasts), persist (IndexedDB)
 *                              \--ticketed request--> engine worker --> EditorSession / StudioModel (src/)
 */
const get = () => useStudio.getState();
const view = (patch: Partial<StudioState>) => useStudio.setState(patch);
const dispatch = (transition: (doc: D.StudioDocument) => D.StudioDocument) => {
  const doc = get().doc;
  const next = transition(doc);
  if (next !== doc) useStudio.setState({ doc: next });
};

/** Bytes the document names by key (photos, imported codes). */
const blobs = new Map<string, Blob>();
/** The photos' inversions as last computed, to restore at once after a reload or a lost GPU. */
const snapshots: { subject?: SavedSnapshot; reference?: SavedSnapshot } = {};
const newKey = (kind: string) => `${kind}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

/**
 * The generation of the photo and model on screen. Opening another photo or model raises it; a worker answer for
 * an older one is dropped (and the worker skips its remaining stages).
 */
let ticket = 0;
function nextTicket(): number {
  ticket += 1;
  void engine.supersede(ticket);
  return ticket;
}
/** The reference photo and the transfer in force, for edits applied beyond the photo on screen (app/batch.ts). */
export function referenceInForce(): { reference: { blob: Blob; name: string; framing: Framing | null } | null; transfer: Transfer | null } {
  const { reference } = get().doc;
  const transfer = activeTransfer();
  const blob = reference ? blobs.get(reference.blob) : undefined;
  return transfer && reference && blob ? { reference: { blob, name: reference.name, framing: reference.framing }, transfer } : { reference: null, transfer: null };
}

/** The ticket of the photo and model on screen: work for them (teaching a slider) that must not supersede anything. */
export const currentTicket = () => ticket;
/** True when an answer belongs to an older photo or model, or was cancelled as such: it must not land. */
const stale = (t: number, r: Result<unknown>) => t !== ticket || (failed(r) && r.error.kind === 'superseded');

// ---- Notices ----

let noticeId = 0;
const NOTICE_MS = 12_000;

export function notify(text: string, kind: Notice['kind'] = 'info', topic?: string): void {
  const id = ++noticeId;
  view({ notices: [...get().notices.filter((n) => !topic || n.topic !== topic), { id, kind, text, topic }] });
  // Information goes away by itself; an error stays until the user closes it or the next photo or model.
  if (kind === 'info') setTimeout(() => dismiss(id), NOTICE_MS);
}

export function dismiss(id: number): void {
  view({ notices: get().notices.filter((n) => n.id !== id) });
}

function dismissTopic(topic: string): void {
  view({ notices: get().notices.filter((n) => n.topic !== topic) });
}

function clearErrors(): void {
  view({ notices: get().notices.filter((n) => n.kind !== 'error') });
}

// ---- Rendering and persisting follow the document ----

/** Slider state -> the engine's edit list (ranges the user changed override the direction's own). */
export function editList(edits: D.EditState): EditValue[] {
  return Object.entries(edits.values)
    .filter(([, v]) => v !== 0)
    .map(([direction, value]) => ({ direction, value, range: edits.ranges[direction] }));
}

const activeTransfer = (): Transfer | null => (get().referenceReady ? get().doc.transfer : null);

// One render at a time; a request made meanwhile replaces any waiting one (only the latest matters).
let renderInFlight = false;
let renderWaiting: { preview: boolean } | null = null;

let lastRenderAsked = 0;

function requestRender(preview: boolean): void {
  lastRenderAsked = performance.now();
  if (!get().reconstruction) return;
  if (!preview) view({ fullRenders: get().fullRenders + 1 });
  if (renderInFlight) { renderWaiting = { preview }; return; }
  void render(preview);
}

async function render(preview: boolean): Promise<void> {
  renderInFlight = true;
  cancelAnticipation();
  view({ rendering: true });
  const t = ticket;
  // A result of this photo on screen: the engine sends only the part of the photo an edit can change.
  const result = await engine.render(t, editList(get().doc.edits), preview, activeTransfer(), !preview && !get().result);
  renderInFlight = false;
  if (!stale(t, result)) {
    if (failed(result)) notify(result.error.message, 'error', 'render');
    else {
      const inPhoto = result.result && ('patch' in result.result ? repaint(result.result) : result.result);
      if (result.result && !inPhoto) renderWaiting ??= { preview: false }; // the picture it was for is gone: whole again
      const timings = { ...get().timings };
      if (preview) {
        // A preview made ahead says so (its figure is a lookup's), in place of a rendered one's, and back.
        delete timings[PREVIEW_TIMING];
        delete timings[PREPARED_TIMING];
        timings[result.prepared ? PREPARED_TIMING : PREVIEW_TIMING] = result.ms;
        if (!result.prepared) renderedPreviewMs = result.ms;
      } else timings.render = result.ms;
      if (result.result) timings['in the photo'] = result.result.ms;
      view({ edited: result.image, ...(inPhoto ? { result: inPhoto } : {}), timings });
    }
  }
  const next = renderWaiting;
  renderWaiting = null;
  if (next) void render(next.preview);
  else {
    view({ rendering: false });
    scheduleAnticipation();
  }
}

// ---- Previews made ahead of the hand ----
// A person holding a slider looks at the picture between moves. Those pauses cost the next move more than the
// move itself on a small machine (wasm's second thread and its core fall asleep: the demo car's preview takes
// 11 ms back to back and ~30 ms after 200 ms still), so they are used to render the neighbouring positions
// (EngineApi.anticipate); a move to one of them shows at once, and any other request stops the work at once.

const PREVIEW_TIMING = 'preview';
const PREPARED_TIMING = 'preview made ahead';
/** How long a held slider stays still before its neighbours are prepared: longer than between a drag's inputs. */
const ANTICIPATE_AFTER_MS = 40;
/** Positions prepared on the side the held slider last moved towards, and on the other, at most. */
const ANTICIPATED_AHEAD = 12;
const ANTICIPATED_BEHIND = 6;
/** The last preview the engine rendered (not one made ahead) took this long; null: none yet with this model. */
let renderedPreviewMs: number | null = null;

let anticipating = true;
let held: { direction: string; towards: 1 | -1 } | null = null;
let anticipateTimer: ReturnType<typeof setTimeout> | null = null;

/** A slider grabbed, focused or moved: once it has been still ANTICIPATE_AFTER_MS, its neighbouring positions are prepared. */
export function holdSlider(direction: string): void {
  if (held?.direction !== direction) held = { direction, towards: 1 };
  scheduleAnticipation();
}

/** The slider lost focus: nothing more is prepared for it. */
export function letGoSlider(direction: string): void {
  if (held?.direction === direction) held = null;
  cancelAnticipation();
}

function cancelAnticipation(): void {
  if (anticipateTimer) clearTimeout(anticipateTimer);
  anticipateTimer = null;
}

function scheduleAnticipation(): void {
  cancelAnticipation();
  if (held) anticipateTimer = setTimeout(anticipate, ANTICIPATE_AFTER_MS);
}

function anticipate(): void {
  anticipateTimer = null;
  const spec = held && get().model?.directions.find((d) => d.id === held!.direction);
  if (!anticipating || !held || !spec || !get().reconstruction || renderInFlight || renderWaiting) return;
  const count = previewsToMakeAhead(renderedPreviewMs, get().timings.render);
  if (count === 0) return;
  const edits = get().doc.edits;
  const candidates = neighbourValues(spec, edits.values[spec.id] ?? 0, held.towards, ANTICIPATED_AHEAD, ANTICIPATED_BEHIND)
    .slice(0, count)
    .map((value) => editList({ ...edits, values: { ...edits.values, [spec.id]: value } }));
  void engine.anticipate(ticket, candidates, activeTransfer());
}

/**
 * Resolves once no picture has been asked for `ms` and none is being made. Secondary work waits for such a pause:
 * face-api's identity figure holds the engine's queue ~0.3 s (its face detection is one call), and a slider grabbed
 * right after the picture showed waited that long for its first preview.
 */
async function editingPause(ms = 400): Promise<void> {
  for (;;) {
    const quiet = performance.now() - lastRenderAsked;
    if (!renderInFlight && quiet >= ms) return;
    await new Promise((resolve) => setTimeout(resolve, Math.max(20, ms - quiet)));
  }
}

/**
 * The result on screen with the engine's patch written over its region (in place: the pixels are the page's own,
 * and a canvas repaints only the region), or null when no result of that size is on screen any more.
 */
function repaint({ patch, region, ...rest }: PhotoPatch): PhotoResult | null {
  const shown = get().result;
  if (!shown || shown.factor !== 1 || shown.image.width !== rest.width || shown.image.height !== rest.height) return null;
  const { data, width } = shown.image;
  for (let y = 0; y < region.height; y++) {
    data.set(patch.data.subarray(y * region.width * 4, (y + 1) * region.width * 4), ((region.y + y) * width + region.x) * 4);
  }
  return { ...rest, image: { ...shown.image }, region };
}

let persistTimer: ReturnType<typeof setTimeout> | null = null;
/** While a saved document is being reopened, the half-open one on screen must not overwrite it. */
let reopening = 0;

function schedulePersist(): void {
  if (reopening || !canWrite()) return; // another tab saves this session (app/writer.ts)
  if (persistTimer) clearTimeout(persistTimer);
  persistTimer = setTimeout(() => void persistNow(), 200);
}

export async function persistNow(): Promise<void> {
  persistTimer = null;
  const doc = get().doc;
  if (!doc.modelId || !canWrite()) return;
  const kept = new Map(D.blobKeys(doc).filter((k) => blobs.has(k)).map((k) => [k, blobs.get(k)!]));
  for (const k of [...blobs.keys()]) if (!kept.has(k)) blobs.delete(k);
  await saveDocument(doc, kept).catch((e) => notify(`Your session could not be saved in this browser (${(e as Error).message}).`, 'error', 'persist'));
}

let subscribed = false;

function follow(): void {
  if (subscribed) return;
  subscribed = true;
  useStudio.subscribe((state, prev) => {
    if (state.doc === prev.doc) return;
    schedulePersist();
    const [a, b] = [prev.doc, state.doc];
    if (a.photo?.blob !== b.photo?.blob || a.modelId !== b.modelId) return; // the photo's own pipeline renders it
    const gesture = b.gestureStart !== null;
    if (a.edits !== b.edits || a.transfer !== b.transfer) requestRender(gesture);
    else if (a.gestureStart !== null && !gesture) requestRender(false); // released: one full render
  });
}

// ---- Start, models ----

/** The first model the menu offers (the catalog lists the bundled demo models first). */
export function defaultModel(catalog: CatalogEntry[]): CatalogEntry | undefined {
  return catalog.find((c) => !c.hidden) ?? catalog[0];
}

export async function boot(): Promise<void> {
  follow();
  view({ busy: 'Starting the engine' });
  try {
    const params = new URLSearchParams(location.search);
    const forced = params.get('backend');
    anticipating = params.get('anticipate') !== '0'; // ?anticipate=0: off, for timing the previews without it
    const choice = await engine.start(forced ? [forced as 'webgpu' | 'webgl' | 'wasm'] : undefined);
    const catalog = (await (await fetch('/models/catalog.json')).json()) as CatalogEntry[];
    const stored = await storedModels().catch(() => []);
    const all = [...catalog, ...stored.map((m) => ({ id: m.id, name: `${m.name} (added)`, domain: m.manifest.domain, path: '' }))];
    view({ backend: choice.backend, backendReason: choice.reason, catalog: all, busy: null });
    await engine.watchDeviceLoss(Comlink.proxy((reason: string) => void recoverFromDeviceLoss(reason)));

    // one tab saves the session; another shows it read-only until the person takes over there
    view({ readOnly: !(await claimWriter(false, lostWriter)) });
    const saved = await loadSession().catch(() => undefined);
    const savedDoc = D.parseDocument(saved?.document);
    const requested = params.get('model');
    let entry = requested ? all.find((c) => c.id === requested) : undefined;
    if (requested && !entry) {
      entry = all.find((c) => c.id === savedDoc?.modelId) ?? defaultModel(all);
      notify(`There is no model "${requested}" here; ${entry?.name ?? 'no model'} is open instead.`, 'info', 'model');
    }
    entry ??= all.find((c) => c.id === savedDoc?.modelId) ?? defaultModel(all);
    if (!entry) return;
    for (const [k, b] of saved?.blobs ?? []) blobs.set(k, b);
    Object.assign(snapshots, saved?.snapshots ?? {});
    await reopen(entry, savedDoc, savedDoc?.photo ? 'Your last session was restored.' : null);
  } catch (error) {
    notify(`The engine could not start: ${(error as Error).message}. Try reloading, or ?backend=wasm.`, 'error');
    view({ busy: null });
  }
}

/** Another tab took this session over: this one stops saving, and says so. */
function lostWriter(): void {
  view({ readOnly: true });
}

/** This tab saves the session from now on (another tab that did is told, and stops); what is on screen is saved. */
export async function takeOverSession(): Promise<void> {
  if (await claimWriter(true, lostWriter)) {
    view({ readOnly: false });
    await persistNow();
  }
}

/**
 * Loads a model and opens a document with it: the saved one after a reload, the current one after a lost GPU.
 * What does not fit the model is dropped with a notice; photos come back from their snapshots without
 * detection or inversion when the snapshots match, else they are framed and inverted again.
 */
async function reopen(entry: CatalogEntry, doc: D.StudioDocument | null, restoredMessage: string | null): Promise<void> {
  reopening += 1;
  try {
    await reopenDocument(entry, doc, restoredMessage);
  } finally {
    reopening -= 1;
    schedulePersist();
  }
}

async function reopenDocument(entry: CatalogEntry, doc: D.StudioDocument | null, restoredMessage: string | null): Promise<void> {
  const t = nextTicket();
  const [previous, previousEntry] = [D.commitEdit(get().doc), get().catalog.find((c) => c.id === get().loadedModelId)];
  useStudio.setState({ doc: D.openModel(get().doc, entry.id) });
  view({ ...NO_PICTURES });
  const model = await loadModel(entry, t);
  if (t !== ticket) return;
  if (!model) {
    // The model could not be loaded: back to the one that was open, with its photo and edits, so the menu tells
    // the truth and nothing is lost.
    if (previousEntry && previousEntry.id !== entry.id) await reopenDocument(previousEntry, previous, null);
    else useStudio.setState({ doc: D.emptyDocument(get().loadedModelId) });
    return;
  }
  // With no photo to restore the person is about to pick one: the engine gets ready for it now rather than after.
  const prepareForPhoto = () => void engine.prepareForPhoto(t);
  if (!doc) { prepareForPhoto(); return; }
  const { doc: fitted, dropped } = D.fitToModel(doc, entry.id, model);
  const missing = D.blobKeys(fitted).filter((k) => !blobs.has(k));
  const usable = missing.length ? D.emptyDocument(entry.id) : fitted;
  if (missing.length) dropped.push('the photo (its bytes were not kept)');
  if (dropped.length) notify(`Not restored: ${dropped.join('; ')}.`, 'info', 'restore');
  useStudio.setState({ doc: usable });
  if (!usable.photo) { prepareForPhoto(); return; }
  const restored = await restorePhoto('subject', usable.photo, t);
  if (!restored || t !== ticket) return;
  if (usable.reference) await restorePhoto('reference', usable.reference, t);
  if (t !== ticket) return;
  if (restoredMessage) notify(restoredMessage, 'info', 'restore');
  requestRender(false);
}

async function loadModel(entry: CatalogEntry, t: number): Promise<ModelSummary | null> {
  view({ busy: `Loading ${entry.name}`, progress: 0 });
  let result: Result<ModelSummary>;
  if (entry.path) {
    const url = new URL(`/models/${entry.path}/`, location.href).toString();
    result = await engine.loadModel(t, url, Comlink.proxy((p: { loaded: number; total: number }) => {
      if (t === ticket) view({ progress: p.total ? p.loaded / p.total : null });
    }));
  } else {
    const stored = (await storedModels()).find((m) => m.id === entry.id);
    result = stored
      ? await engine.loadStoredModel(t, stored.manifest, stored.shards)
      : { error: { kind: 'engine', code: 'missing', message: 'it is no longer stored in this browser' } };
  }
  if (stale(t, result)) return null;
  view({ busy: null, progress: null });
  if (failed(result)) {
    notify(`${entry.name} could not be loaded: ${result.error.message}`, 'error', 'model');
    return null;
  }
  const taught = storedTaught(entry.id);
  if (taught.length) {
    // the sliders this person taught on this model come back with it (before the document's edits are fitted to it)
    const withTaught = await engine.addTaughtDirections(t, taught);
    if (stale(t, withTaught)) return null;
    if (failed(withTaught)) notify(`The sliders you taught on ${entry.name} could not be added again: ${withTaught.error.message}`, 'error', 'model');
    else result = withTaught;
  }
  view({ model: result, loadedModelId: entry.id });
  renderedPreviewMs = null; // another model (or backend): its previews cost what they cost
  return result;
}

export async function selectModel(entry: CatalogEntry): Promise<void> {
  clearErrors();
  const carried = photoToCarry(entry.domain);
  await reopen(entry, null, null);
  await carryPhoto(carried, entry.id);
}

/**
 * The photo being edited, when the next model edits the same kind of picture: a person who switches models to
 * compare them keeps their photo (its edits name the old model's sliders and stay behind).
 */
function photoToCarry(domain: 'face' | 'car'): { blob: Blob; name: string } | null {
  const photo = get().doc.photo;
  const blob = photo ? blobs.get(photo.blob) : undefined;
  return photo && blob && get().model?.domain === domain ? { blob, name: photo.name } : null;
}

/** Opens the carried photo with the model now loaded (inverted again from the photo: the old codes are another model's). */
async function carryPhoto(carried: { blob: Blob; name: string } | null, modelId: string): Promise<void> {
  if (!carried || get().loadedModelId !== modelId || get().doc.photo) return;
  await openPhoto(carried.blob, carried.name, 'subject');
}

export async function addCheckpoint(file: File): Promise<void> {
  const t = nextTicket();
  clearErrors();
  view({ busy: `Converting ${file.name} (in this browser; nothing is uploaded)`, log: [] });
  const lines: string[] = [];
  const result = await engine.convert(t, file, true, Comlink.proxy((line: string) => { lines.push(line); if (t === ticket) view({ log: [...lines] }); }));
  if (stale(t, result)) return;
  view({ busy: null });
  if (failed(result)) { notify(`${file.name} could not be added: ${result.error.message}`, 'error', 'model'); return; }
  const id = `user:${file.name}:${file.size}`;
  const carried = photoToCarry(result.model.domain);
  await storeModel({ id, name: result.model.name, manifest: result.manifest, shards: result.shards }).catch((e) =>
    notify(`Converted, but it could not be kept for later visits (${(e as Error).message}).`));
  const entry: CatalogEntry = { id, name: `${result.model.name} (added)`, domain: result.model.domain, path: '' };
  // A new model: the old model's edits and history do not apply to it; the photo is opened again below.
  useStudio.setState({ doc: D.openModel(get().doc, id) });
  view({ ...NO_PICTURES, catalog: [...get().catalog.filter((c) => c.id !== id), entry], model: result.model, loadedModelId: id });
  renderedPreviewMs = null; // another model (or backend): its previews cost what they cost
  await carryPhoto(carried, id);
}

export async function removeAddedModel(entry: CatalogEntry): Promise<void> {
  await removeModel(entry.id);
  const rest = get().catalog.filter((c) => c.id !== entry.id);
  view({ catalog: rest });
  const next = defaultModel(rest);
  if (next) await selectModel(next);
}

/**
 * The GPU went away: tell the user, restart the engine on the next backend, reload the model and bring the
 * document back (from the snapshots: no re-inversion). Nothing the user did is lost.
 */
let deviceLosses = 0;
let recovering = false;
let refineAfterRecovery: { steps: number; fineDetail: boolean } | null = null;

export async function recoverFromDeviceLoss(reason: string): Promise<void> {
  deviceLosses += 1;
  recovering = true;
  try {
    await recover(reason);
  } finally {
    recovering = false;
  }
  const again = refineAfterRecovery;
  refineAfterRecovery = null;
  if (again && get().reconstruction) await refinePhoto(again.steps, again.fineDetail);
}

async function recover(reason: string): Promise<void> {
  const { catalog, doc } = get();
  notify(`The GPU stopped working (${reason}). Restarting the editor on another backend; your photo and edits are kept.`, 'info', 'device');
  const choice = await engine.restart();
  view({ backend: choice.backend, backendReason: choice.reason });
  await engine.watchDeviceLoss(Comlink.proxy((r: string) => void recoverFromDeviceLoss(r)));
  const entry = catalog.find((c) => c.id === doc.modelId);
  if (!entry) return;
  await reopen(entry, D.commitEdit(doc), `The GPU stopped working (${reason}); the editor now runs on ${choice.backend}. Your photo and edits are kept.`);
}

// ---- Photos ----

const photoView = (name: string, info: PhotoInfo): PhotoView => ({
  name, width: info.width, height: info.height, thumb: info.thumb, thumbScale: info.thumbScale, faces: info.faces, noFace: info.noFace,
});

export async function openPhoto(blob: Blob, name: string, which: Which): Promise<void> {
  if (!get().model) return;
  if (which === 'reference') return openReference(blob, name);
  const t = nextTicket();
  view({ busy: `Reading ${name}`, steps: { ...PENDING_STEPS, decode: 'running' } });
  const started = performance.now();
  const opened = await engine.openPhoto(t, blob, name, 'subject');
  const openMs = performance.now() - started;
  if (stale(t, opened)) return;
  if (failed(opened)) {
    // A file that cannot be opened changes nothing: the photo on screen and its edits stay as they were.
    notify(opened.error.message, 'error', 'photo');
    view({ busy: null, steps: get().reconstruction ? { decode: 'done', detect: 'done', align: 'done', invert: 'done' } : { ...PENDING_STEPS, decode: 'failed' } });
    return;
  }
  clearErrors();
  dismissTopic('restore');
  const key = newKey('photo');
  blobs.set(key, blob);
  dispatch((d) => D.openPhoto(d, { blob: key, name, framing: opened.framing }));
  view({ ...NO_PICTURES, photo: photoView(name, opened), busy: null, steps: { ...PENDING_STEPS, decode: 'done', detect: opened.noFace ? 'failed' : 'done' }, timings: { 'decode + detect': openMs } });
  if (opened.framing) await frameAndInvert(opened.framing, 'subject', t);
  else notify(opened.noFace ?? 'No face was found.', 'info', 'no-face');
}

async function openReference(blob: Blob, name: string): Promise<void> {
  const t = ticket;
  view({ busy: `Reading ${name}` });
  const opened = await engine.openPhoto(t, blob, name, 'reference');
  if (stale(t, opened)) return;
  view({ busy: null });
  if (failed(opened)) { notify(opened.error.message, 'error', 'reference'); return; }
  const key = newKey('reference');
  blobs.set(key, blob);
  dispatch((d) => D.setReference(d, { blob: key, name, framing: opened.framing }));
  view({ reference: photoView(name, opened), referenceReady: false });
  if (opened.framing) await frameAndInvert(opened.framing, 'reference', t);
  else notify(opened.noFace ?? 'No face in the reference photo.', 'error', 'reference');
}

/** Re-frames the photo (another face, hand-placed points, a moved crop box) and inverts it again. */
export async function reframe(framing: Framing): Promise<void> {
  if (!get().photo) return;
  await frameAndInvert(framing, 'subject', nextTicket());
}

async function frameAndInvert(framing: Framing, which: Which, t: number): Promise<void> {
  const subject = which === 'subject';
  dispatch((d) => D.frame(d, which, framing));
  if (subject) {
    dismissTopic('no-face');
    view({ busy: 'Aligning', aligned: null, reconstruction: null, edited: null, result: null, mse: null, identity: null, measuringIdentity: false, steps: { ...get().steps, detect: get().steps.detect === 'failed' ? 'done' : get().steps.detect, align: 'running' } });
  } else {
    view({ busy: 'Inverting the reference' });
  }
  const framed = await engine.frame(t, framing, which);
  if (stale(t, framed)) return;
  if (failed(framed)) {
    notify(framed.error.message, 'error', 'photo');
    view({ busy: null, steps: subject ? { ...get().steps, align: 'failed' } : get().steps });
    return;
  }
  if (subject) view({ aligned: framed.aligned, busy: 'Inverting', steps: { ...get().steps, align: 'done', invert: 'running' }, timings: { ...get().timings, align: framed.ms } });
  const inverted = await engine.invert(t, which);
  if (stale(t, inverted)) return;
  if (failed(inverted)) {
    notify(inverted.error.message, 'error', 'photo');
    view({ busy: null, steps: subject ? { ...get().steps, invert: 'failed' } : get().steps });
    return;
  }
  if (subject) {
    view({ reconstruction: inverted.reconstruction, mse: inverted.mse, identity: null, measuringIdentity: true, busy: null, refineFigures: null, steps: { decode: 'done', detect: 'done', align: 'done', invert: 'done' }, timings: { ...get().timings, invert: inverted.ms } });
  } else {
    // Ready, and nothing taken yet: the person chooses what to take from it (a reference without bangs must not
    // put the Bangs block on the photo at full strength the moment it is added).
    view({ referenceReady: true, busy: null });
  }
  requestRender(false); // at once: the picture must not wait for the snapshot, the "before" photo or the identity figure
  await keepSnapshot(which, t, null);
  if (!subject) return;
  await showOriginal(t);
  // Refined by default, at once: the refinement measures the likeness it makes, so the encoder's is not waited for.
  if (autoRefine() && !reopening) {
    if (t === ticket) await refinePhoto();
    return;
  }
  await measureIdentity(t);
}

/**
 * face-api's identity distance of the reconstruction on screen, in a pause of the person's editing (its three
 * networks take longer than inverting), kept with the photo's snapshot.
 */
async function measureIdentity(t: number): Promise<void> {
  await editingPause();
  const measured = await engine.identity(t);
  if (stale(t, measured)) return;
  const identity = failed(measured) ? null : measured;
  view({ identity, measuringIdentity: false });
  const saved = snapshots.subject;
  if (saved && saved.blob === get().doc.photo?.blob) {
    saved.identity = identity;
    if (canWrite()) await saveSnapshot('subject', saved).catch(() => undefined);
  }
}

/** The photo as dropped, for the result's before/after. */
async function showOriginal(t: number): Promise<void> {
  const original = await engine.original(t);
  if (!stale(t, original) && !failed(original)) view({ original });
}

/** Brings a saved photo back: from its snapshot when it matches, else by framing and inverting it again. */
async function restorePhoto(which: Which, ref: D.PhotoRef, t: number): Promise<boolean> {
  const blob = blobs.get(ref.blob)!;
  const saved = snapshots[which];
  const modelId = get().doc.modelId;
  const subject = which === 'subject';
  if (saved && saved.blob === ref.blob && saved.modelId === modelId && JSON.stringify(saved.framing) === JSON.stringify(ref.framing)) {
    view({ busy: `Restoring ${ref.name}` });
    const restored = await engine.restorePhoto(t, blob, ref.name, which, saved.snapshot, ref.framing);
    if (stale(t, restored)) return false;
    view({ busy: null });
    if (!failed(restored)) {
      if (subject) {
        if (get().doc.refinement && !saved.snapshot.refinement) dispatch((d) => ({ ...d, refinement: null }));
        view({ photo: photoView(ref.name, restored), aligned: restored.aligned, reconstruction: restored.reconstruction, mse: restored.mse, identity: saved.identity, steps: { decode: 'restored', detect: 'restored', align: 'restored', invert: 'restored' } });
        await showOriginal(t);
      } else {
        view({ reference: photoView(ref.name, restored), referenceReady: true });
      }
      return true;
    }
    notify(`${ref.name} is framed and inverted again (${restored.error.message}).`, 'info', 'restore');
  }
  // No usable snapshot: the photo runs through the pipeline again with its framing; imported codes follow.
  view({ busy: `Reading ${ref.name}`, steps: { ...PENDING_STEPS, decode: 'running' } });
  const opened = await engine.openPhoto(t, blob, ref.name, which);
  if (stale(t, opened)) return false;
  view({ busy: null });
  if (failed(opened)) {
    notify(`${ref.name} could not be restored: ${opened.error.message}`, 'error', 'restore');
    dispatch((d) => (subject ? D.emptyDocument(d.modelId) : D.removeReference(d)));
    return false;
  }
  const framing = ref.framing ?? opened.framing;
  if (subject) view({ photo: photoView(ref.name, opened), steps: { ...PENDING_STEPS, decode: 'done', detect: opened.noFace ? 'failed' : 'done' } });
  else view({ reference: photoView(ref.name, opened) });
  if (!framing) {
    if (subject) notify(opened.noFace ?? 'No face was found.', 'info', 'no-face');
    return subject;
  }
  const codes = subject ? get().doc.importedCodes : null;
  const refinement = subject ? get().doc.refinement : null;
  await frameAndInvert(framing, which, t);
  if (codes && blobs.has(codes) && t === ticket && await loadCodes(new Uint8Array(await blobs.get(codes)!.arrayBuffer()), ref.name, t)) {
    dispatch((d) => D.importCodes(d, codes));
  }
  if (refinement && t === ticket) {
    notify(`${ref.name} was refined; its tuned generator was not kept in this browser, so it is tuned again.`, 'info', 'refine');
    await refinePhoto(refinement.steps, refinement.fineDetail);
  }
  return true;
}

async function keepSnapshot(which: Which, t: number, identity: number | null): Promise<void> {
  const result = await engine.snapshot(t, which);
  const ref = which === 'subject' ? get().doc.photo : get().doc.reference;
  const modelId = get().doc.modelId;
  if (stale(t, result) || failed(result) || !result || !ref || !modelId) return;
  const saved: SavedSnapshot = { modelId, blob: ref.blob, framing: ref.framing, identity, snapshot: result as SubjectSnapshot };
  snapshots[which] = saved;
  if (canWrite()) await saveSnapshot(which, saved).catch(() => undefined); // without it a reload re-inverts; nothing is lost
}

// ---- Refinement ----

/** Steps of a refinement: "keep fine detail" needs fewer (src/engine/refine-presets.ts). */
export const refineSteps = (fineDetail: boolean) => refinementSettings(fineDetail).steps;

/** The setting "refine every photo automatically" (a preference of this browser, not part of a document). */
const autoRefine = () => get().autoRefine;

export function setAutoRefine(on: boolean): void {
  try { localStorage.setItem(AUTO_REFINE_KEY, on ? '1' : '0'); } catch { /* private mode: the setting lasts this visit */ }
  view({ autoRefine: on });
}

/** The setting "keep fine detail" for the next refinements (src/engine/refine.ts FINE_DETAIL). */
export function setFineDetail(on: boolean): void {
  try { localStorage.setItem(FINE_DETAIL_KEY, on ? '1' : '0'); } catch { /* private mode: the setting lasts this visit */ }
  view({ fineDetail: on });
}

/**
 * Pivotal tuning of the photo on screen: progress and a live preview of the reconstruction while it runs; the
 * tuned layers then render every edit. Cancelled, the encoder's reconstruction comes back as it was.
 */
export async function refinePhoto(steps?: number, fineDetail = get().fineDetail): Promise<void> {
  steps ??= refineSteps(fineDetail);
  const t = ticket;
  const losses = deviceLosses;
  const { reconstruction, mse, identity } = get();
  if (!reconstruction || get().refining) return;
  view({ refining: { step: 0, steps, loss: null }, busy: `Refining (0/${steps})`, refineFigures: null });
  const started = performance.now();
  const result = await engine.refine(t, steps, fineDetail, Comlink.proxy((p: RefineProgressMessage) => {
    if (t !== ticket) return;
    // After the last step the tuned layers render the photo (its likeness is measured after it is shown).
    const tail = p.step === p.steps ? ': rendering the refined photo' : '';
    view({ refining: { step: p.step, steps: p.steps, loss: p.loss }, busy: `Refining (${p.step}/${p.steps})${tail}`, ...(p.preview ? { reconstruction: p.preview } : {}) });
  }));
  view({ refining: null }); // one refinement at a time: whatever became of this one, it is over
  const gpuLost = failed(result) && (deviceLosses !== losses || /destroyed|device (was )?lost/i.test(result.error.message));
  if (gpuLost) {
    // The GPU went away under the refinement: the recovery brings the photo back on the next backend, and the
    // refinement runs again there (now, if the recovery is done; else when it is).
    notify('The GPU stopped working during the refinement; it runs again on the next backend.', 'info', 'refine');
    if (recovering) refineAfterRecovery = { steps, fineDetail };
    else if (t !== ticket) void refinePhoto(steps, fineDetail);
    else refineAfterRecovery = { steps, fineDetail };
    return;
  }
  if (stale(t, result)) return;
  view({ busy: null });
  if (failed(result)) {
    // The engine kept what it had: show exactly that again (the previews replaced it on screen).
    const kept = await engine.reconstruction(t);
    if (stale(t, kept)) return;
    view(failed(kept) ? { reconstruction, mse, identity } : { reconstruction: kept.reconstruction, mse: kept.mse, identity });
    if (result.error.kind === 'cancelled') notify(result.error.message, 'info', 'refine');
    else notify(`The photo could not be refined: ${result.error.message}`, 'error', 'refine');
    if (get().measuringIdentity) await measureIdentity(t); // an automatic refinement was to measure it
    return;
  }
  view({ reconstruction: result.reconstruction, mse: result.mse, identity: null, measuringIdentity: true, refineFigures: { before: result.before, after: result.after, ms: performance.now() - started } });
  dispatch((d) => D.refined(d, steps, fineDetail));
  requestRender(false);
  await keepSnapshot('subject', t, null);
  await measureIdentity(t);
}

export function cancelRefinement(): void {
  void engine.cancelRefine();
}

// ---- Edits ----

export function previewEdit(direction: string, value: number): void {
  const before = get().doc.edits.values[direction] ?? 0;
  if (value !== before) held = { direction, towards: value > before ? 1 : -1 };
  dispatch((d) => D.setEditValue(d, direction, value, true));
}
export const commitEdit = () => dispatch(D.commitEdit);
export const setEditValue = (direction: string, value: number) => dispatch((d) => D.setEditValue(d, direction, value, false));
export const setEditRange = (direction: string, range: { start: number; end: number }) => dispatch((d) => D.setEditRange(d, direction, range));
export const resetEdits = () => dispatch((d) => D.setEdits(d, D.NO_EDITS));
export const undo = () => dispatch(D.undo);
export const redo = () => dispatch(D.redo);
export const applyPreviousEdits = () => dispatch(D.applyPreviousEdits);
export const dismissPreviousEdits = () => dispatch(D.dismissPreviousEdits);
export const setTransfer = (transfer: Transfer | null) => dispatch((d) => D.setTransfer(d, transfer));

export function removeReference(): void {
  view({ reference: null, referenceReady: false });
  delete snapshots.reference;
  dispatch(D.removeReference);
}

// ---- Codes and downloads ----

export async function importCodes(file: File): Promise<void> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const key = newKey('codes');
  if (await loadCodes(bytes, key, ticket)) {
    blobs.set(key, new Blob([bytes]));
    dispatch((d) => D.importCodes(d, key));
    notify(`Codes loaded from ${file.name}.`, 'info', 'codes');
    requestRender(false);
  }
}

async function loadCodes(bytes: Uint8Array, name: string, t: number): Promise<boolean> {
  const result = await engine.importCodes(t, bytes);
  if (stale(t, result)) return false;
  if (failed(result)) { notify(`${name}: ${result.error.message}`, 'error', 'codes'); return false; }
  view({ reconstruction: result.reconstruction, mse: result.mse, identity: null });
  await keepSnapshot('subject', t, null);
  return true;
}

/**
 * 'photo': the edit in the photo at its full resolution (the photo's own detail, the edit's change); 'crop': the
 * generated crop pasted into the photo; 'edit': the generator's picture alone.
 */
export async function download(kind: 'photo' | 'crop' | 'edit'): Promise<void> {
  const t = ticket;
  const { doc, photo } = get();
  view({ busy: kind === 'edit' ? 'Rendering the edit' : 'Putting the edit into the full-size photo' });
  const result = kind === 'edit'
    ? await engine.editPng(t, editList(doc.edits), activeTransfer())
    : await engine.pasteBackPng(t, editList(doc.edits), activeTransfer(), kind === 'photo' ? 'change' : 'generated');
  if (stale(t, result)) return;
  view({ busy: null });
  if (failed(result)) { notify(result.error.message, 'error'); return; }
  const base = (photo?.name ?? 'photo').replace(/\.[^.]+$/, '');
  save(result, `${base}-${{ photo: 'edited', crop: 'generated-crop', edit: 'edit' }[kind]}.png`);
}

export async function exportCodes(): Promise<void> {
  const result = await engine.exportCodes(ticket);
  if (failed(result)) { notify(result.error.message, 'error'); return; }
  save(new Blob([result as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }), `${(get().photo?.name ?? 'photo').replace(/\.[^.]+$/, '')}-codes.npy`);
}

export function save(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
