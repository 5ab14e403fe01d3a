import { useShallow } from 'zustand/react/shallow';
import { useController, useStudio } from '../use-studio';

/**
 * "Edit a folder at once": the edits on screen applied to many photos (app/batch.ts), a line per photo, the time
 * left, cancel, and one zip of the results. Folded by default.
 */
export function BatchPanel() {
  const c = useController();
  const { batch, inverted, autoRefine, transfer } = useStudio(useShallow((s) => ({ batch: s.batch, inverted: s.reconstruction !== null, autoRefine: s.autoRefine, transfer: s.doc.transfer })));
  const running = batch?.running ?? false;
  const done = batch?.items.filter((x) => x.state === 'done').length ?? 0;
  return (
    <details className="batch" data-testid="batch">
      <summary>Edit a folder at once</summary>
      <p className="hint">
        The edits on screen (sliders{transfer ? ', the reference transfer' : ''}) applied to every photo you choose,
        {autoRefine ? ' each refined first,' : ''} the results in one zip. {inverted ? '' : 'Open a photo and edit it first.'}
      </p>
      <label>Photos{' '}
        <input type="file" accept="image/*" multiple disabled={!inverted || running} aria-label="photos to edit at once"
          onChange={(e) => { const files = [...(e.target.files ?? [])]; e.target.value = ''; if (files.length) void c.batch.run(files); }} />
      </label>
      <label>or a folder{' '}
        {/* a folder's images only (its other files are left out, not reported as failures) */}
        <input type="file" multiple disabled={!inverted || running} aria-label="a folder to edit at once" {...{ webkitdirectory: '' }}
          onChange={(e) => { const files = [...(e.target.files ?? [])].filter((f) => f.type.startsWith('image/')); e.target.value = ''; if (files.length) void c.batch.run(files); }} />
      </label>
      {batch && (
        <div data-testid="batch-status" role="status">
          <p>
            {running ? `Editing ${batch.items.filter((x) => x.state === 'done' || x.state === 'failed').length + 1} of ${batch.items.length}` : `${done} of ${batch.items.length} edited`}
            {running && batch.secondsLeft !== null && ` · about ${batch.secondsLeft < 90 ? `${batch.secondsLeft} s` : `${Math.round(batch.secondsLeft / 60)} min`} left`}
            {running && <> <button type="button" onClick={() => c.batch.cancel()}>Cancel</button></>}
            {!running && batch.zip && <> <button type="button" onClick={() => c.batch.download()}>Download the {done} results (zip)</button></>}
          </p>
          <ol className="batch-items">
            {batch.items.map((item, i) => (
              <li key={i} className={item.state}>{item.name}: {item.state}{item.message ? ` — ${item.message}` : ''}{item.ms ? ` (${(item.ms / 1000).toFixed(1)} s)` : ''}</li>
            ))}
          </ol>
        </div>
      )}
    </details>
  );
}
