import { attributeLabel } from '../../src/weights/celeba';
import { useShallow } from 'zustand/react/shallow';
import { useController, useStudio } from '../use-studio';
import { ImageCanvas } from './ImageCanvas';

export function ReferencePanel() {
  const c = useController();
  const { model, reference, referenceReady, transfer, inverted } = useStudio(useShallow((s) => ({
    model: s.model, reference: s.reference, referenceReady: s.referenceReady, transfer: s.doc.transfer, inverted: s.reconstruction !== null,
  })));
  if (!model) return null;
  const n = model.nStyles;
  const modes = [
    ...model.editBlocks.map((b) => ({ key: `block:${b.id}`, label: `${attributeLabel(b.attribute)} (learned editing block)` })),
    ...[['coarse', 0, Math.min(4, n)], ['medium', 4, Math.min(8, n)], ['fine', 8, n]].filter(([, s, e]) => (e as number) > (s as number))
      .map(([name, s, e]) => ({ key: `mix:${s}:${e}`, label: `style mixing, ${name} styles` })),
  ];
  const key = transfer ? (transfer.kind === 'block' ? `block:${transfer.block}` : `mix:${transfer.range.start}:${transfer.range.end}`) : '';
  return (
    <section aria-labelledby="reference-heading" className="panel">
      <h2 id="reference-heading">Reference</h2>
      <label>Transfer from a second photo{' '}
        <input type="file" accept="image/*" disabled={!inverted} data-testid="reference-input" onChange={(e) => { const f = e.target.files?.[0]; if (f) void c.photos.open(f, f.name, 'reference'); e.target.value = ''; }} />
      </label>
      {model.editBlocks.length === 0 && (
        <p className="hint" data-testid="no-editing-blocks">
          This model has no learned editing blocks (the released Style Transformer checkpoints come without them): a
          reference lends its coarse, medium or fine styles by style mixing.
        </p>
      )}
      {reference && <ImageCanvas pixels={reference.thumb} label={reference.name} size={120} testId="reference-thumb" />}
      {reference && (
        <>
          {referenceReady && (
            <>
              <label>Attribute{' '}
                <select value={key} onChange={(e) => {
                  if (!e.target.value) { c.edits.setTransfer(null); return; }
                  const [kind, a, b] = e.target.value.split(':');
                  const strength = transfer?.strength ?? 1;
                  c.edits.setTransfer(kind === 'block' ? { kind: 'block', block: a, strength } : { kind: 'mix', range: { start: Number(a), end: Number(b) }, strength });
                }}>
                  <option value="">Choose what to take from it…</option>
                  {modes.map((m) => <option key={m.key} value={m.key}>{m.label}</option>)}
                </select>
              </label>
              {transfer && (
                <label>Strength{' '}
                  <input type="range" min={0} max={1} step={0.05} value={transfer.strength} data-testid="transfer-strength"
                    onChange={(e) => c.edits.setTransfer({ ...transfer, strength: Number(e.target.value) })} />
                </label>
              )}
            </>
          )}
          <button type="button" onClick={() => c.edits.removeReference()}>Remove reference</button>
        </>
      )}
    </section>
  );
}
