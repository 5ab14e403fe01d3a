import { describe, expect, it } from 'vitest';
import * as D from '../app/document';
import { fitToModel, parseDocument, type ModelFacts } from '../app/saved-document';

/** The editor's document and its pure transitions (app/document.ts), without a browser. */
const photo = (blob: string): D.PhotoRef => ({ blob, name: `${blob}.jpg`, framing: { kind: 'face', faceIndex: 0 } });
const withPhoto = () => D.openPhoto(D.emptyDocument('faces'), photo('a'));
const value = (doc: D.StudioDocument, id = 'smile') => doc.edits.values[id] ?? 0;

/** A slider drag: pointer down, `values` as it moves, pointer up. */
function drag(doc: D.StudioDocument, id: string, values: number[]): D.StudioDocument {
  let d = doc;
  for (const v of values) d = D.setEditValue(d, id, v, true);
  return D.commitEdit(d);
}

const FACTS: ModelFacts = {
  domain: 'face', nStyles: 10,
  directions: [{ id: 'smile', min: -5, max: 5 }, { id: 'age', min: -5, max: 5 }],
  editBlocks: [{ id: 'bangs' }],
};

describe('editing history', () => {
  it('a drag is one undo step, back to where it started', () => {
    const dragged = drag(withPhoto(), 'smile', [0.3, 0.9, 1.7, 2.4, 3.2]);
    expect(value(dragged)).toBe(3.2);
    expect(dragged.past).toHaveLength(1);
    const undone = D.undo(dragged);
    expect(value(undone)).toBe(0);
    expect(D.canUndo(undone)).toBe(false);
    expect(value(D.redo(undone))).toBe(3.2);
  });

  it('previews during a gesture are not history; undo in the middle of one settles it first', () => {
    let d = D.setEditValue(withPhoto(), 'smile', 1, true);
    d = D.setEditValue(d, 'smile', 2, true);
    expect(d.past).toHaveLength(0);
    expect(d.gestureStart).not.toBeNull();
    expect(D.canUndo(d)).toBe(true);
    const undone = D.undo(d); // e.g. Ctrl+Z before the key-up of an arrow key
    expect(value(undone)).toBe(0);
    expect(undone.gestureStart).toBeNull();
    expect(value(D.redo(undone))).toBe(2);
  });

  it('a gesture that ends where it began leaves no step; a new change clears redo', () => {
    const back = drag(withPhoto(), 'smile', [1, 0]);
    expect(back.past).toHaveLength(0);
    const two = D.setEditValue(D.setEditValue(withPhoto(), 'smile', 1, false), 'age', 2, false);
    const undone = D.undo(two);
    expect(D.canRedo(undone)).toBe(true);
    expect(D.canRedo(D.setEditValue(undone, 'smile', 3, false))).toBe(false);
  });

  it('keeps at most HISTORY_LIMIT steps', () => {
    let d = withPhoto();
    for (let i = 1; i <= D.HISTORY_LIMIT + 20; i++) d = D.setEditValue(d, 'smile', i / 100, false);
    expect(d.past).toHaveLength(D.HISTORY_LIMIT);
  });
});

describe('photos, models, references', () => {
  it('a new photo starts clean and offers the previous edits', () => {
    let d = D.setEditValue(withPhoto(), 'smile', 2, false);
    d = D.setTransfer(D.setReference(d, photo('ref')), { kind: 'block', block: 'bangs', strength: 1 });
    d = D.importCodes(d, 'codes');
    const next = D.openPhoto(d, photo('b'));
    expect([value(next), next.transfer, next.reference, next.importedCodes, next.past.length]).toEqual([0, null, null, null, 0]);
    expect(next.previousEdits?.values.smile).toBe(2);
    const applied = D.applyPreviousEdits(next);
    expect([value(applied), applied.previousEdits, applied.past.length]).toEqual([2, null, 1]);
    expect(D.openPhoto(withPhoto(), photo('c')).previousEdits).toBeNull(); // nothing to offer
  });

  it('another model empties the document; removing the reference drops its transfer', () => {
    let d = D.setEditValue(withPhoto(), 'smile', 2, false);
    d = D.setTransfer(D.setReference(d, photo('ref')), { kind: 'mix', range: { start: 0, end: 4 }, strength: 1 });
    expect(D.blobKeys(d).sort()).toEqual(['a', 'ref']);
    const removed = D.removeReference(d);
    expect([removed.reference, removed.transfer]).toEqual([null, null]);
    expect(D.blobKeys(removed)).toEqual(['a']);
    expect(D.openModel(d, 'cars')).toEqual(D.emptyDocument('cars'));
  });

  it('re-framing the photo drops imported codes', () => {
    const d = D.importCodes(withPhoto(), 'codes');
    const framed = D.frame(d, 'subject', { kind: 'face', faceIndex: 1 });
    expect([framed.importedCodes, framed.photo?.framing]).toEqual([null, { kind: 'face', faceIndex: 1 }]);
  });
});

describe('restoring a saved document', () => {
  it('survives a JSON round trip unchanged', () => {
    const d = D.undo(drag(D.setEditRange(withPhoto(), 'age', { start: 4, end: 8 }), 'smile', [1, 2]));
    expect(parseDocument(JSON.parse(JSON.stringify(d)))).toEqual(d);
    // A refinement comes back as it was made (a reload re-tunes it the same way when its layers were not kept).
    for (const fineDetail of [true, false]) {
      const refined = D.refined(d, 60, fineDetail);
      expect(parseDocument(JSON.parse(JSON.stringify(refined)))!.refinement).toEqual({ steps: 60, fineDetail });
    }
    expect(parseDocument({ ...JSON.parse(JSON.stringify(d)), refinement: { steps: 40 } })!.refinement).toEqual({ steps: 40, fineDetail: false });
  });

  it('reads damaged records into a well-formed document, never throwing', () => {
    for (const junk of [null, 3, 'x', [], { version: 2 }, { version: 1, edits: 'no', photo: { blob: 5 } }]) {
      const parsed = parseDocument(junk);
      if (parsed) expect(parsed.edits).toEqual(D.NO_EDITS);
    }
    const odd = parseDocument({ version: 1, modelId: 'faces', photo: { blob: 'a', name: 'a.jpg', framing: { kind: 'face', faceIndex: -1 } }, edits: { values: { smile: 'NaN', age: 1 }, ranges: {} } })!;
    expect(odd.photo?.framing).toBeNull();
    expect(odd.edits.values).toEqual({ age: 1 });
  });

  it('a gesture saved mid-drag comes back released, as one undo step', () => {
    const saved = JSON.parse(JSON.stringify(D.setEditValue(withPhoto(), 'smile', 2, true)));
    const d = parseDocument(saved)!;
    expect([d.gestureStart, value(d), d.past.length]).toEqual([null, 2, 1]);
  });

  it('drops what the model lacks, with a sentence for each, and a framing of the other domain', () => {
    let d = D.setEditValue(withPhoto(), 'smile', 9, false); // beyond the slider's end: clamped
    d = D.setEditValue(d, 'gone', 1, false);
    d = D.setTransfer(D.setReference(d, photo('ref')), { kind: 'block', block: 'eyeglasses', strength: 1 });
    const { doc, dropped } = fitToModel(d, 'faces', FACTS);
    expect(doc.edits.values).toEqual({ smile: 5 });
    expect(doc.transfer).toBeNull();
    expect(dropped).toHaveLength(2);
    expect(dropped.join(' ')).toContain('the edit "gone" (this model has no such direction)');
    expect(dropped.join(' ')).toContain('the reference transfer "eyeglasses" (this model has no such editing block)');

    const cars = fitToModel({ ...d, modelId: 'cars' }, 'cars', { ...FACTS, domain: 'car' });
    expect(cars.doc.photo?.framing).toBeNull(); // a face framing on a car model: framed afresh, not crashed on
    expect(cars.dropped.join(' ')).toMatch(/framing of a\.jpg/);

    const other = fitToModel(d, 'cars', FACTS);
    expect(other.doc).toEqual(D.emptyDocument('cars'));
  });
});
