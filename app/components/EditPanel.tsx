import { editList, renderEdit } from '../actions';
import { useStudio, NO_EDITS, type EditState } from '../store';

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
  const { model, edits, reconstruction, past, future, set, commitEdits, undo, redo } = useStudio();
  if (!model) return null;
  const disabled = !reconstruction;
  const ranges = groups(model.nStyles);
  const update = (next: EditState, preview: boolean) => {
    if (preview) set({ edits: next }); else commitEdits(next);
    void renderEdit(preview);
  };
  return (
    <section aria-labelledby="edit-heading" className="panel edits">
      <h2 id="edit-heading">Edit</h2>
      <p>
        <button type="button" onClick={() => { undo(); void renderEdit(false); }} disabled={!past.length} aria-keyshortcuts="Control+Z">Undo</button>{' '}
        <button type="button" onClick={() => { redo(); void renderEdit(false); }} disabled={!future.length} aria-keyshortcuts="Control+Shift+Z">Redo</button>{' '}
        <button type="button" onClick={() => update(NO_EDITS, false)} disabled={!editList(edits).length}>Reset all</button>
      </p>
      {model.directions.length === 0 && <p>This model offers no editing directions.</p>}
      <ul className="sliders">
        {model.directions.map((d) => {
          const value = edits.values[d.id] ?? 0;
          const range = edits.ranges[d.id] ?? d.range;
          const group = ranges.find((g) => g.start === range.start && g.end === range.end)?.name ?? 'custom';
          const step = (d.max - d.min) / 100;
          return (
            <li key={d.id}>
              <label htmlFor={`slider-${d.id}`}>{d.label} <small>({d.kind === 'label' ? 'classifier' : d.kind})</small></label>
              <input
                id={`slider-${d.id}`} type="range" min={d.min} max={d.max} step={step} value={value} disabled={disabled}
                data-testid={`slider-${d.id}`}
                onInput={(e) => update({ ...edits, values: { ...edits.values, [d.id]: Number((e.target as HTMLInputElement).value) } }, true)}
                onChange={(e) => update({ ...useStudio.getState().edits, values: { ...useStudio.getState().edits.values, [d.id]: Number(e.target.value) } }, false)}
              />
              <output htmlFor={`slider-${d.id}`}>{value.toFixed(1)}</output>
              <select aria-label={`styles moved by ${d.label}`} value={group} disabled={disabled}
                onChange={(e) => { const g = ranges.find((r) => r.name === e.target.value); if (g) update({ ...edits, ranges: { ...edits.ranges, [d.id]: { start: g.start, end: g.end } } }, false); }}>
                {ranges.map((g) => <option key={g.name} value={g.name}>{g.name} ({g.start}–{g.end - 1})</option>)}
                {group === 'custom' && <option value="custom">styles {range.start}–{range.end - 1}</option>}
              </select>
              <button type="button" aria-label={`reset ${d.label}`} disabled={value === 0} onClick={() => update({ ...edits, values: { ...edits.values, [d.id]: 0 } }, false)}>↺</button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
