import { download, exportCodes, importCodes } from '../controller';
import { useStudio } from '../store';

export function OutputPanel() {
  const { reconstruction } = useStudio();
  const disabled = !reconstruction;
  return (
    <section aria-labelledby="output-heading" className="panel">
      <h2 id="output-heading">Output</h2>
      <p className="buttons">
        <button type="button" disabled={disabled} onClick={() => void download('edit')}>Download edit (PNG)</button>
        <button type="button" disabled={disabled} onClick={() => void download('pasteback')}>Download edit in the original (PNG)</button>
        <button type="button" disabled={disabled} onClick={() => void exportCodes()}>Export codes (.npy)</button>
        <label className="file">Import codes{' '}
          <input type="file" accept=".npy" data-testid="codes-input" disabled={disabled} onChange={(e) => { const f = e.target.files?.[0]; if (f) void importCodes(f); e.target.value = ''; }} />
        </label>
      </p>
    </section>
  );
}
