import { useEffect, useRef } from 'react';
import type { DirectionSpec } from '../../src/weights/bundle';
import {
  applyPreviousEdits, commitEdit, dismissPreviousEdits, editList, previewEdit, redo, resetEdits, setEditRange, setEditValue, undo,
} from '../controller';
import { canRedo, canUndo } from '../document';
import { useStudio } from '../store';

function groups(n: number) {
  const all = [
    { name: 'all', start: 0, end: n },
    { name: 'coarse', start: 0, end: Math.min(4, n) },
    { name: 'medium', start: 4, end: Math.min(8, n) },
    { name: 'fine', start: 8, end: n },
  ];
  return all.filter((g) => g.end > g.start);
}

export function EditPanel() {
  const { model, doc, reconstruction } = useStudio();
  if (!model) return null;
  const disabled = !reconstruction;
  const ranges = groups(model.nStyles);
  const { edits, previousEdits } = doc;
  return (
    <section aria-labelledby="edit-heading" className="panel edits">
      <h2 id="edit-heading">Edit</h2>
      <p>
        <button type="button" onClick={undo} disabled={!canUndo(doc)} aria-keyshortcuts="Control+Z">Undo</button>{' '}
        <button type="button" onClick={redo} disabled={!canRedo(doc)} aria-keyshortcuts="Control+Shift+Z">Redo</button>{' '}
        <button type="button" onClick={resetEdits} disabled={!editList(edits).length}>Reset all</button>
      </p>
      {previousEdits && !disabled && (
        <p className="offer" role="group" aria-label="previous edits">
          This photo starts unedited.{' '}
          <button type="button" onClick={applyPreviousEdits}>Apply the previous photo's edits ({editList(previousEdits).length})</button>{' '}
          <button type="button" onClick={dismissPreviousEdits} aria-label="keep this photo unedited">×</button>
        </p>
      )}
      {model.directions.length === 0 && <p>This model offers no editing directions.</p>}
      <ul className="sliders">
        {model.directions.map((d) => {
          const range = edits.ranges[d.id] ?? d.range;
          const group = ranges.find((g) => g.start === range.start && g.end === range.end)?.name ?? 'custom';
          const value = edits.values[d.id] ?? 0;
          return (
            <li key={d.id}>
              <label htmlFor={`slider-${d.id}`}>{d.label} <small>({d.kind === 'label' ? 'classifier' : d.kind})</small></label>
              <Slider direction={d} value={value} disabled={disabled} />
              <output htmlFor={`slider-${d.id}`}>{value.toFixed(Math.max(1, Math.ceil(-Math.log10((d.max - d.min) / 100))))}</output>
              <select aria-label={`styles moved by ${d.label}`} value={group} disabled={disabled}
                onChange={(e) => { const g = ranges.find((r) => r.name === e.target.value); if (g) setEditRange(d.id, { start: g.start, end: g.end }); }}>
                {ranges.map((g) => <option key={g.name} value={g.name}>{g.name} ({g.start}–{g.end - 1})</option>)}
                {group === 'custom' && <option value="custom">styles {range.start}–{range.end - 1}</option>}
              </select>
              <button type="button" aria-label={`reset ${d.label}`} disabled={value === 0} onClick={() => setEditValue(d.id, 0)}>↺</button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

/**
 * One direction's slider. Moving it previews (the document's gesture); the gesture ends, as one undo step and one
 * full render, when the browser's own `change` fires (pointer released, key pressed) or the pointer or key is
 * released or focus leaves. React's onChange fires on every move, so `change` is listened to natively.
 */
function Slider({ direction: d, value, disabled }: { direction: DirectionSpec; value: number; disabled: boolean }) {
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    const el = input.current;
    if (!el) return;
    el.addEventListener('change', commitEdit);
    return () => el.removeEventListener('change', commitEdit);
  }, []);
  return (
    <input
      ref={input} id={`slider-${d.id}`} type="range" min={d.min} max={d.max} step={(d.max - d.min) / 100} value={value}
      disabled={disabled} data-testid={`slider-${d.id}`}
      onChange={(e) => previewEdit(d.id, Number(e.target.value))}
      onPointerUp={commitEdit} onKeyUp={commitEdit} onBlur={commitEdit}
    />
  );
}
