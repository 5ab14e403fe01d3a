import { memo, useEffect, useMemo, useRef, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { DirectionSpec } from '../../src/weights/bundle';
import { styleGroups } from '../../src/models/style-groups';
import { canRedo, canUndo, editList } from '../document';
import { sliderPanel, sliderStep, type PanelSlider } from '../sliders';
import { useController, useStudio } from '../use-studio';
import { TeachPanel } from './TeachPanel';


export function EditPanel() {
  const c = useController();
  // What the panel shows besides the sliders; each slider row follows its own value (a drag re-renders one row).
  const { model, inverted, undoable, redoable, edited, previousEdits } = useStudio(useShallow((s) => ({
    model: s.model, inverted: s.reconstruction !== null, undoable: canUndo(s.doc), redoable: canRedo(s.doc),
    edited: editList(s.doc.edits).length > 0, previousEdits: s.doc.previousEdits,
  })));
  const [filter, setFilter] = useState('');
  const ranges = useMemo(() => styleGroups(model?.nStyles ?? 0), [model]);
  const panel = useMemo(() => model && sliderPanel(model.directions, model.attributes, model.domain, filter), [model, filter]);
  if (!model || !panel) return null;
  const disabled = !inverted;
  return (
    <section aria-labelledby="edit-heading" className="panel edits">
      <h2 id="edit-heading">Edit</h2>
      <p>
        <button type="button" onClick={c.edits.undo} disabled={!undoable} aria-keyshortcuts="Control+Z">Undo</button>{' '}
        <button type="button" onClick={c.edits.redo} disabled={!redoable} aria-keyshortcuts="Control+Shift+Z">Redo</button>{' '}
        <button type="button" onClick={c.edits.reset} disabled={!edited}>Reset all</button>
      </p>
      {previousEdits && !disabled && (
        <p className="offer" role="group" aria-label="previous edits">
          This photo starts unedited.{' '}
          <button type="button" onClick={c.edits.applyPrevious}>Apply the previous photo's edits ({editList(previousEdits).length})</button>{' '}
          <button type="button" onClick={c.edits.dismissPrevious} aria-label="keep this photo unedited">×</button>
        </p>
      )}
      {model.directions.length === 0 && <p>This model offers no editing directions: convert it with its directions (npm run convert -- --directions; the released FFHQ and cars checkpoints get their published ones by themselves).</p>}
      {model.directions.length > 8 && (
        <input type="search" className="slider-filter" placeholder="Filter sliders (e.g. hair, glasses)" aria-label="filter sliders"
          value={filter} onChange={(e) => setFilter(e.target.value)} />
      )}
      {panel.groups.map((g, i) => (
        // The first groups start open; the rest fold, so forty sliders do not make a wall (a filter opens them all).
        <details key={g.name} className="slider-group" open={filter.trim() !== '' || i < 2 || panel.groups.length <= 3 || undefined}>
          <summary>{g.name} <small>({g.sliders.length})</small></summary>
          <fieldset aria-label={g.name}>
            <ul className="sliders">{g.sliders.map((s) => <SliderRow key={s.direction.id} slider={s} ranges={ranges} disabled={disabled} />)}</ul>
          </fieldset>
        </details>
      ))}
      {panel.more.length > 0 && (
        <details className="slider-more" open={filter.trim() !== '' && panel.groups.length === 0}>
          <summary>More sliders ({panel.more.length}): weaker on this model, or the same attribute by another method</summary>
          <ul className="sliders">{panel.more.map((s) => <SliderRow key={s.direction.id} slider={s} ranges={ranges} disabled={disabled} />)}</ul>
        </details>
      )}
      {filter.trim() !== '' && panel.groups.length === 0 && panel.more.length === 0 && <p className="hint">No slider matches “{filter}”.</p>}
      <TeachPanel />
    </section>
  );
}

const SliderRow = memo(function SliderRow({ slider: s, ranges, disabled }: { slider: PanelSlider; ranges: ReturnType<typeof styleGroups>; disabled: boolean }) {
  const c = useController();
  const d = s.direction;
  const value = useStudio((st) => st.doc.edits.values[d.id] ?? 0);
  const range = useStudio((st) => st.doc.edits.ranges[d.id]) ?? d.range;
  const group = ranges.find((g) => g.start === range.start && g.end === range.end)?.name ?? 'custom';
  return (
    <li title={s.effect ?? undefined}>
      <label htmlFor={`slider-${d.id}`}>{s.name} <small>({s.method})</small></label>
      <Slider direction={d} value={value} disabled={disabled} />
      <output htmlFor={`slider-${d.id}`}>{value.toFixed(Math.max(1, Math.ceil(-Math.log10((d.max - d.min) / 100))))}</output>
      <select aria-label={`styles moved by ${s.name}`} value={group} disabled={disabled}
        onChange={(e) => { const g = ranges.find((r) => r.name === e.target.value); if (g) c.edits.setRange(d.id, { start: g.start, end: g.end }); }}>
        {ranges.map((g) => <option key={g.name} value={g.name}>{g.name} ({g.start}–{g.end - 1})</option>)}
        {group === 'custom' && <option value="custom">styles {range.start}–{range.end - 1}</option>}
      </select>
      <button type="button" aria-label={`reset ${s.name}`} disabled={value === 0} onClick={() => c.edits.setValue(d.id, 0)}>↺</button>
    </li>
  );
});

/**
 * One direction's slider. Moving it previews (the document's gesture); the gesture ends, as one undo step and one
 * full render, when the browser's own `change` fires (pointer released, key pressed) or the pointer or key is
 * released or focus leaves. React's onChange fires on every move, so `change` is listened to natively.
 */
function Slider({ direction: d, value, disabled }: { direction: DirectionSpec; value: number; disabled: boolean }) {
  const c = useController();
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    const el = input.current;
    if (!el) return;
    const commit = c.edits.commit;
    el.addEventListener('change', commit);
    return () => el.removeEventListener('change', commit);
  }, []);
  return (
    <input
      ref={input} id={`slider-${d.id}`} type="range" min={d.min} max={d.max} step={sliderStep(d)} value={value}
      disabled={disabled} data-testid={`slider-${d.id}`}
      onChange={(e) => c.edits.preview(d.id, Number(e.target.value))}
      onPointerDown={() => c.renders.hold(d.id)} onFocus={() => c.renders.hold(d.id)}
      // A hand still moving (a position the step swallows included) is not holding it still.
      onPointerMove={(e) => { if (e.buttons) c.renders.hold(d.id); }} onInput={() => c.renders.hold(d.id)}
      onPointerUp={c.edits.commit} onKeyUp={c.edits.commit} onBlur={() => { c.edits.commit(); c.renders.letGo(d.id); }}
    />
  );
}
