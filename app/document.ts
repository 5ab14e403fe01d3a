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
