import type { EditValue } from '../src/engine/model';
import type { Framing, Transfer } from '../src/engine/session';
import type { StyleRange } from '../src/models/editing';

/**
 * The editor's document: everything the user made, and nothing the engine can recompute. It is plain data (it
 * survives structured cloning and JSON), changed only by the pure transitions below; the controller
 * (controller.ts) is its one owner: it renders what the document says through the worker and persists it.
 * Photos are named by blob keys; the controller keeps the bytes beside the document.
 */
export interface EditState {
  /** Slider values by direction id; 0 (or absent) is the unedited photo. */
  values: Record<string, number>;
  /** Style ranges the user chose for a direction, overriding the direction's own. */
  ranges: Record<string, StyleRange>;
}

export interface PhotoRef {
  /** Key of the photo's bytes in the controller's blob store (and IndexedDB). */
  blob: string;
  name: string;
  /** The face, hand-placed points or crop box; null until framed (no face found yet). */
  framing: Framing | null;
}

export interface StudioDocument {
  version: 1;
  modelId: string | null;
  photo: PhotoRef | null;
  reference: PhotoRef | null;
  edits: EditState;
  /**
   * The edits before the gesture in progress (a slider drag, a held arrow key): while set, renders are previews;
   * committing turns the whole gesture into one undo step.
   */
  gestureStart: EditState | null;
  past: EditState[];
  future: EditState[];
  transfer: Transfer | null;
  /** Blob key of W+ codes (.npy) the user imported in place of the photo's inversion. */
  importedCodes: string | null;
  /** The last photo's edits, offered once for the new photo ("apply the previous edits"). */
  previousEdits: EditState | null;
  /**
   * The photo was refined (pivotal tuning) with this many steps, and with its fine-detail maps or not; its tuned
   * layers live in the photo's snapshot.
   */
  refinement: { steps: number; fineDetail: boolean } | null;
}

export const NO_EDITS: EditState = { values: {}, ranges: {} };
export const HISTORY_LIMIT = 100;

export function emptyDocument(modelId: string | null = null): StudioDocument {
  return {
    version: 1, modelId, photo: null, reference: null, edits: NO_EDITS, gestureStart: null, past: [], future: [],
    transfer: null, importedCodes: null, previousEdits: null, refinement: null,
  };
}

/** Edits that change nothing (all values 0) are the unedited photo, whatever ranges were chosen. */
export function hasEdits(edits: EditState): boolean {
  return Object.values(edits.values).some((v) => v !== 0);
}

export function sameEdits(a: EditState, b: EditState): boolean {
  const keys = new Set([...Object.keys(a.values), ...Object.keys(b.values)]);
  for (const k of keys) if ((a.values[k] ?? 0) !== (b.values[k] ?? 0)) return false;
  const ranges = new Set([...Object.keys(a.ranges), ...Object.keys(b.ranges)]);
  for (const k of ranges) {
    const [x, y] = [a.ranges[k], b.ranges[k]];
    if (x?.start !== y?.start || x?.end !== y?.end) return false;
  }
  return true;
}

/** Slider state -> the engine's edit list (ranges the person changed override the direction's own). */
export function editList(edits: EditState): EditValue[] {
  return Object.entries(edits.values)
    .filter(([, v]) => v !== 0)
    .map(([direction, value]) => ({ direction, value, range: edits.ranges[direction] }));
}

// ---- Transitions: each returns a new document (or the same one when nothing changes). ----

/** Another model: its own photo, edits and history start empty (edits name the old model's directions). */
export function openModel(doc: StudioDocument, modelId: string): StudioDocument {
  return emptyDocument(modelId);
}

/**
 * A new photo starts clean: no edits, no transfer, no imported codes, a fresh history. The last photo's edits are
 * kept aside so the user can choose to apply them.
 */
export function openPhoto(doc: StudioDocument, photo: PhotoRef): StudioDocument {
  const settled = commitEdit(doc);
  return {
    ...emptyDocument(doc.modelId),
    photo,
    previousEdits: hasEdits(settled.edits) ? settled.edits : null,
  };
}

export function applyPreviousEdits(doc: StudioDocument): StudioDocument {
  if (!doc.previousEdits) return doc;
  return { ...setEdits(doc, doc.previousEdits), previousEdits: null };
}

export function dismissPreviousEdits(doc: StudioDocument): StudioDocument {
  return doc.previousEdits ? { ...doc, previousEdits: null } : doc;
}

/** A new framing (another face, hand-placed points, a moved crop box) re-inverts: imported codes no longer apply. */
export function frame(doc: StudioDocument, which: 'subject' | 'reference', framing: Framing): StudioDocument {
  if (which === 'reference') return doc.reference ? { ...doc, reference: { ...doc.reference, framing } } : doc;
  return doc.photo ? { ...doc, photo: { ...doc.photo, framing }, importedCodes: null, refinement: null } : doc;
}

/** The photo was refined: its tuned layers replace the bundle's for every render of it. */
export function refined(doc: StudioDocument, steps: number, fineDetail = false): StudioDocument {
  return doc.photo ? { ...doc, refinement: { steps, fineDetail } } : doc;
}

/** A live change during a gesture: rendered as a preview, not yet an undo step. */
export function previewEdit(doc: StudioDocument, edits: EditState): StudioDocument {
  return { ...doc, edits, gestureStart: doc.gestureStart ?? doc.edits };
}

/** The gesture ends (pointer up, key up, change): one undo step if it changed anything. */
export function commitEdit(doc: StudioDocument): StudioDocument {
  if (!doc.gestureStart) return doc;
  if (sameEdits(doc.gestureStart, doc.edits)) return { ...doc, gestureStart: null };
  return { ...doc, gestureStart: null, past: [...doc.past, doc.gestureStart].slice(-HISTORY_LIMIT), future: [] };
}

/** A one-shot change (reset, a style range): one undo step. */
export function setEdits(doc: StudioDocument, edits: EditState): StudioDocument {
  return commitEdit(previewEdit(commitEdit(doc), edits));
}

export function setEditValue(doc: StudioDocument, direction: string, value: number, live: boolean): StudioDocument {
  const edits = { ...doc.edits, values: { ...doc.edits.values, [direction]: value } };
  return live ? previewEdit(doc, edits) : setEdits(doc, edits);
}

export function setEditRange(doc: StudioDocument, direction: string, range: StyleRange): StudioDocument {
  return setEdits(doc, { ...doc.edits, ranges: { ...doc.edits.ranges, [direction]: range } });
}

/** Undo settles a gesture still in progress first, so the first Ctrl+Z always undoes what the user last did. */
export function undo(doc: StudioDocument): StudioDocument {
  const settled = commitEdit(doc);
  if (!settled.past.length) return settled;
  return {
    ...settled,
    edits: settled.past[settled.past.length - 1],
    past: settled.past.slice(0, -1),
    future: [settled.edits, ...settled.future],
  };
}

export function redo(doc: StudioDocument): StudioDocument {
  const settled = commitEdit(doc);
  if (!settled.future.length) return settled;
  return { ...settled, edits: settled.future[0], past: [...settled.past, settled.edits], future: settled.future.slice(1) };
}

export function canUndo(doc: StudioDocument): boolean {
  return doc.past.length > 0 || (doc.gestureStart !== null && !sameEdits(doc.gestureStart, doc.edits));
}

export function canRedo(doc: StudioDocument): boolean {
  return doc.future.length > 0;
}

export function setReference(doc: StudioDocument, reference: PhotoRef): StudioDocument {
  return { ...doc, reference };
}

export function removeReference(doc: StudioDocument): StudioDocument {
  return { ...doc, reference: null, transfer: null };
}

export function setTransfer(doc: StudioDocument, transfer: Transfer | null): StudioDocument {
  return { ...doc, transfer };
}

export function importCodes(doc: StudioDocument, blob: string): StudioDocument {
  return { ...doc, importedCodes: blob, refinement: null };
}

/** Blob keys the document refers to (the controller keeps these bytes and drops the rest). */
export function blobKeys(doc: StudioDocument): string[] {
  return [doc.photo?.blob, doc.reference?.blob, doc.importedCodes].filter((k): k is string => Boolean(k));
}

// ---- Restoring: a saved document is checked against the model it is opened with. ----

/** What the document needs to know of a model to check a restored document against it. */
export interface ModelFacts {
  domain: 'face' | 'car';
  nStyles: number;
  directions: Array<{ id: string; min: number; max: number }>;
  editBlocks: Array<{ id: string }>;
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isFiniteNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

function parseRange(x: unknown): StyleRange | null {
  if (!isRecord(x) || !Number.isInteger(x.start) || !Number.isInteger(x.end)) return null;
  return { start: x.start as number, end: x.end as number };
}

function parseEdits(x: unknown): EditState | null {
  if (!isRecord(x) || !isRecord(x.values) || !isRecord(x.ranges)) return null;
  const values: Record<string, number> = {};
  for (const [k, v] of Object.entries(x.values)) if (isFiniteNumber(v)) values[k] = v;
  const ranges: Record<string, StyleRange> = {};
  for (const [k, v] of Object.entries(x.ranges)) { const r = parseRange(v); if (r) ranges[k] = r; }
  return { values, ranges };
}

function parsePoint(x: unknown): { x: number; y: number } | null {
  return isRecord(x) && isFiniteNumber(x.x) && isFiniteNumber(x.y) ? { x: x.x, y: x.y } : null;
}

function parseFraming(x: unknown): Framing | null {
  if (!isRecord(x)) return null;
  if (x.kind === 'face' && Number.isInteger(x.faceIndex) && (x.faceIndex as number) >= 0) return { kind: 'face', faceIndex: x.faceIndex as number };
  if (x.kind === 'manual' && isRecord(x.points)) {
    const [eyeLeft, eyeRight, mouth] = [parsePoint(x.points.eyeLeft), parsePoint(x.points.eyeRight), parsePoint(x.points.mouth)];
    return eyeLeft && eyeRight && mouth ? { kind: 'manual', points: { eyeLeft, eyeRight, mouth } } : null;
  }
  if ((x.kind === 'car' || x.kind === 'resize') && isRecord(x.box)) {
    const { x: bx, y, width, height } = x.box;
    if ([bx, y, width, height].every(isFiniteNumber) && (width as number) > 0 && (height as number) > 0) {
      return { kind: x.kind, box: { x: bx as number, y: y as number, width: width as number, height: height as number } };
    }
  }
  if (x.kind === 'resize') return { kind: 'resize' };
  return null;
}

function parsePhotoRef(x: unknown): PhotoRef | null {
  if (!isRecord(x) || typeof x.blob !== 'string' || typeof x.name !== 'string') return null;
  return { blob: x.blob, name: x.name, framing: parseFraming(x.framing) };
}

function parseTransfer(x: unknown): Transfer | null {
  if (!isRecord(x) || !isFiniteNumber(x.strength)) return null;
  const strength = Math.min(1, Math.max(0, x.strength));
  if (x.kind === 'block' && typeof x.block === 'string') return { kind: 'block', block: x.block, strength };
  const range = parseRange(x.range);
  if (x.kind === 'mix' && range) return { kind: 'mix', range, strength };
  return null;
}

/**
 * Reads a saved document (anything: an older version, a damaged record) into a well-formed one. Whatever cannot
 * be read is dropped; it never throws.
 */
export function parseDocument(saved: unknown): StudioDocument | null {
  if (!isRecord(saved) || saved.version !== 1) return null;
  const edits = parseEdits(saved.edits) ?? NO_EDITS;
  const history = (x: unknown) => (Array.isArray(x) ? x.map(parseEdits).filter((e): e is EditState => e !== null).slice(-HISTORY_LIMIT) : []);
  return {
    version: 1,
    modelId: typeof saved.modelId === 'string' ? saved.modelId : null,
    photo: parsePhotoRef(saved.photo),
    reference: parsePhotoRef(saved.reference),
    edits,
    gestureStart: null, // a gesture does not outlive the page: what was on screen is kept, as if released
    past: history(saved.past).concat(saved.gestureStart && parseEdits(saved.gestureStart) && !sameEdits(parseEdits(saved.gestureStart)!, edits) ? [parseEdits(saved.gestureStart)!] : []),
    future: history(saved.future),
    transfer: parseTransfer(saved.transfer),
    importedCodes: typeof saved.importedCodes === 'string' ? saved.importedCodes : null,
    previousEdits: parseEdits(saved.previousEdits),
    refinement: isRecord(saved.refinement) && Number.isInteger(saved.refinement.steps) && (saved.refinement.steps as number) > 0
      ? { steps: saved.refinement.steps as number, fineDetail: saved.refinement.fineDetail === true } : null,
  };
}

function fitEdits(edits: EditState, model: ModelFacts, dropped: Set<string>): EditState {
  const directions = new Map(model.directions.map((d) => [d.id, d]));
  const values: Record<string, number> = {};
  for (const [id, v] of Object.entries(edits.values)) {
    const d = directions.get(id);
    if (!d) { if (v !== 0) dropped.add(`the edit "${id}" (this model has no such direction)`); continue; }
    values[id] = Math.min(d.max, Math.max(d.min, v));
  }
  const ranges: Record<string, StyleRange> = {};
  for (const [id, r] of Object.entries(edits.ranges)) {
    if (directions.has(id) && r.start >= 0 && r.end <= model.nStyles && r.start < r.end) ranges[id] = r;
    else if (directions.has(id)) dropped.add(`the style range of "${id}"`);
  }
  return { values, ranges };
}

/**
 * Checks a restored document against the model it opens with and drops what does not fit (a direction or an
 * editing block the model lacks, a framing of the other domain), saying what was dropped. A document made for
 * another model starts empty.
 */
export function fitToModel(doc: StudioDocument, modelId: string, model: ModelFacts): { doc: StudioDocument; dropped: string[] } {
  if (doc.modelId !== modelId) return { doc: emptyDocument(modelId), dropped: doc.photo ? ['the photo (it was opened with another model)'] : [] };
  const dropped = new Set<string>();
  const fitFraming = (ref: PhotoRef | null): PhotoRef | null => {
    if (!ref?.framing) return ref;
    const faceKind = ref.framing.kind === 'face' || ref.framing.kind === 'manual';
    const fits = model.domain === 'face' ? ref.framing.kind !== 'car' : !faceKind;
    if (fits) return ref;
    dropped.add(`the framing of ${ref.name} (made for a ${faceKind ? 'face' : 'car'} model; it is framed afresh)`);
    return { ...ref, framing: null };
  };
  let transfer = doc.transfer;
  if (transfer?.kind === 'block') {
    const block = transfer.block;
    if (!model.editBlocks.some((b) => b.id === block)) {
      dropped.add(`the reference transfer "${block}" (this model has no such editing block)`);
      transfer = null;
    }
  } else if (transfer?.kind === 'mix' && (transfer.range.start < 0 || transfer.range.end > model.nStyles || transfer.range.start >= transfer.range.end)) {
    dropped.add('the style-mixing range');
    transfer = null;
  }
  const fitted: StudioDocument = {
    ...doc,
    photo: fitFraming(doc.photo),
    reference: fitFraming(doc.reference),
    edits: fitEdits(doc.edits, model, dropped),
    gestureStart: null,
    past: doc.past.map((e) => fitEdits(e, model, new Set())),
    future: doc.future.map((e) => fitEdits(e, model, new Set())),
    transfer: doc.reference ? transfer : null,
    previousEdits: doc.previousEdits && fitEdits(doc.previousEdits, model, new Set()),
  };
  return { doc: fitted, dropped: [...dropped] };
}
