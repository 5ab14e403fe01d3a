import { useShallow } from 'zustand/react/shallow';
import { useController, useStudio } from '../use-studio';

export function OutputPanel() {
  const c = useController();
  const { inverted, result } = useStudio(useShallow((s) => ({ inverted: s.reconstruction !== null, result: s.result })));
  const disabled = !inverted;
  return (
    <section aria-labelledby="output-heading" className="panel">
      <h2 id="output-heading">Output</h2>
      <p className="buttons">
        <button type="button" disabled={disabled} onClick={() => void c.edits.download('photo')}>
          Download the edited photo{result ? ` (${result.width}×${result.height}, PNG)` : ' (full size, PNG)'}
        </button>
        <button type="button" disabled={disabled} onClick={() => void c.edits.download('edit')}>Download the generated edit (PNG)</button>
        <button type="button" disabled={disabled} onClick={() => void c.edits.download('crop')}
          title="The generator's picture pasted over the face: what the model makes, without the photo's own detail">
          Download the generated crop in the photo (PNG)
        </button>
        <button type="button" disabled={disabled} onClick={() => void c.codes.exportFile()}>Export codes (.npy)</button>
        <label className="file">Import codes{' '}
          <input type="file" accept=".npy" data-testid="codes-input" disabled={disabled} onChange={(e) => { const f = e.target.files?.[0]; if (f) void c.codes.importFile(f); e.target.value = ''; }} />
        </label>
      </p>
    </section>
  );
}
