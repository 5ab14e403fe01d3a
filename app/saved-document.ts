import type { Framing, Transfer } from '../src/engine/session';
import type { StyleRange } from '../src/models/editing';
import { HISTORY_LIMIT, NO_EDITS, emptyDocument, sameEdits, type EditState, type PhotoRef, type StudioDocument } from './document';

/**
 * A saved document (IndexedDB, another version of the app, or damaged) is read as untrusted data, and checked
 * against the model it is opened with: what does not parse or does not fit is dropped, and said.
 */

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
