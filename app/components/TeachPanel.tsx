import { useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { styleGroups } from '../../src/models/style-groups';
import { useController, useStudio } from '../use-studio';
import { ENOUGH_EXAMPLES } from '../../src/engine/teach';

/**
 * "Teach a slider": photos with an attribute and photos without it, a name and the styles to learn on; the page
 * inverts them one by one and adds the slider (app/teaching.ts). Folded by default: most visits never open it.
 */
export function TeachPanel() {
  const c = useController();
  const { model, teaching } = useStudio(useShallow((s) => ({ model: s.model, teaching: s.teaching })));
  const [name, setName] = useState('');
  const [having, setHaving] = useState<File[]>([]);
  const [lacking, setLacking] = useState<File[]>([]);
  const [styles, setStyles] = useState('all');
  const [orthogonalTo, setOrthogonalTo] = useState<string[]>([]);
  if (!model) return null;
  const groups = styleGroups(model.nStyles);
  const range = groups.find((g) => g.name === styles) ?? groups[0];
  const fixed = model.directions.filter((d) => d.kind === 'interfacegan');
  const running = teaching?.running ?? false;
  return (
    <details className="teach" data-testid="teach">
      <summary>Teach a slider from your photos</summary>
      <p className="hint">
        {ENOUGH_EXAMPLES} or more photos that have something (a hat, a beard, a style) and {ENOUGH_EXAMPLES} or more that do not: the
        page inverts each and learns the direction between them (InterFaceGAN&apos;s linear boundary). Nothing leaves this browser.
      </p>
      <label>Name <input type="text" value={name} onChange={(e) => setName(e.target.value)} aria-label="slider name" placeholder="e.g. Hat" /></label>
      <label>Photos with it ({having.length}){' '}
        <input type="file" accept="image/*" multiple aria-label="photos with it" onChange={(e) => setHaving([...(e.target.files ?? [])])} />
      </label>
      <label>Photos without it ({lacking.length}){' '}
        <input type="file" accept="image/*" multiple aria-label="photos without it" onChange={(e) => setLacking([...(e.target.files ?? [])])} />
      </label>
      <label>Learn on{' '}
        <select value={styles} onChange={(e) => setStyles(e.target.value)} aria-label="styles to learn on">
          {groups.map((g) => <option key={g.name} value={g.name}>{g.name} styles ({g.start}–{g.end - 1})</option>)}
        </select>
      </label>
      {fixed.length > 0 && (
        <fieldset className="orthogonal">
          <legend>Leave these alone (InterFaceGAN&apos;s conditional editing)</legend>
          {fixed.map((d) => (
            <label key={d.id} className="inline">
              <input type="checkbox" checked={orthogonalTo.includes(d.id)} onChange={(e) => setOrthogonalTo(e.target.checked ? [...orthogonalTo, d.id] : orthogonalTo.filter((x) => x !== d.id))} />{' '}
              {d.label}
            </label>
          ))}
        </fieldset>
      )}
      <p className="buttons">
        <button type="button" disabled={running} onClick={() => void c.teaching.teach({ name, range: { start: range.start, end: range.end }, orthogonalTo, having, lacking })}>Teach</button>
        {running && <button type="button" onClick={() => c.teaching.cancel()}>Cancel teaching</button>}
        <button type="button" onClick={() => c.teaching.exportFile()}>Export taught sliders</button>
        <label className="file inline">Import{' '}
          <input type="file" accept=".json,application/json" aria-label="import taught sliders" onChange={(e) => { const f = e.target.files?.[0]; if (f) void c.teaching.importFile(f); e.target.value = ''; }} />
        </label>
      </p>
      {teaching && (
        <div data-testid="teach-status" role="status">
          {teaching.running && <><progress max={teaching.total} value={teaching.done} /> Inverting {teaching.done}/{teaching.total}</>}
          {teaching.outcome && <p>{teaching.outcome}</p>}
          {teaching.failures.length > 0 && (
            <p className="hint">Skipped {teaching.failures.length}: {teaching.failures.join('; ')}</p>
          )}
        </div>
      )}
    </details>
  );
}
