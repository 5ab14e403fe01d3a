import { useEffect, useRef } from 'react';
import { AboutPanel } from './components/AboutPanel';
import { EditPanel } from './components/EditPanel';
import { OutputPanel } from './components/OutputPanel';
import { PhotoPanel } from './components/PhotoPanel';
import { ReferencePanel } from './components/ReferencePanel';
import { ResultPanel } from './components/ResultPanel';
import { useShallow } from 'zustand/react/shallow';
import { useController, useStudio } from './use-studio';

export function App() {
  const c = useController();
  const { catalog, modelId, model, notices, log, photoOpen, readOnly } = useStudio(useShallow((s) => ({ catalog: s.catalog, modelId: s.doc.modelId, model: s.model, notices: s.notices, log: s.log, photoOpen: s.photo !== null, readOnly: s.readOnly })));
  const booted = useRef(false);

  useEffect(() => {
    if (booted.current) return; // React's development double-effect: start once
    booted.current = true;
    void c.models.boot();
  }, [c]);

  useEffect(() => {
    // Drop anywhere, paste anywhere: a photo goes to the editor, a .pt to the converter.
    const take = (file: File | null | undefined) => {
      if (!file) return;
      if (/\.(pt|pth)$/i.test(file.name)) void c.models.addCheckpoint(file);
      else void c.photos.open(file, file.name || 'pasted image', 'subject');
    };
    const onDrop = (e: DragEvent) => { e.preventDefault(); take(e.dataTransfer?.files?.[0]); };
    const onDragOver = (e: DragEvent) => e.preventDefault();
    const onPaste = (e: ClipboardEvent) => {
      const item = [...(e.clipboardData?.items ?? [])].find((i) => i.kind === 'file');
      if (item) take(item.getAsFile());
    };
    const onKey = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey) || e.key.toLowerCase() !== 'z') return;
      if (typingInto(e.target)) return; // the field's own undo (the slider filter, a name)
      e.preventDefault();
      if (e.shiftKey) c.edits.redo(); else c.edits.undo();
    };
    window.addEventListener('drop', onDrop);
    window.addEventListener('dragover', onDragOver);
    window.addEventListener('paste', onPaste);
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('drop', onDrop);
      window.removeEventListener('dragover', onDragOver);
      window.removeEventListener('paste', onPaste);
      window.removeEventListener('keydown', onKey);
    };
  }, []);

  const entry = catalog.find((c) => c.id === modelId);
  return (
    <main>
      <header>
        <h1>Style Transformer Studio</h1>
        <StatusLine />
        <div className="models">
          <label>Model{' '}
            <select value={modelId ?? ''} onChange={(e) => { const entry = catalog.find((x) => x.id === e.target.value); if (entry) void c.models.select(entry); }} aria-label="model">
              {catalog.filter((c) => !c.hidden || c.id === modelId).map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
            </select>
          </label>
          <label className="file">Add an official checkpoint (.pt){' '}
            <input type="file" accept=".pt,.pth" data-testid="checkpoint-input" onChange={(e) => { const f = e.target.files?.[0]; if (f) void c.models.addCheckpoint(f); e.target.value = ''; }} />
          </label>
          {entry && !entry.path && <button type="button" onClick={() => void c.models.removeAdded(entry)}>Remove this model from the browser</button>}
          {entry?.note && <small className="model-note" data-testid="model-note">{entry.note}</small>}
          {model && <small data-testid="model-summary"> {model.domain}, {model.inputSize.join('×')} → {model.outputSize}px · {Object.entries(model.parameters).filter(([, n]) => n > 0).map(([k, n]) => `${k === 'editBlocks' ? 'editing blocks' : k} ${(n / 1e6).toFixed(2)}M`).join(', ')} · {model.source}</small>}
          {model && <small className="model-note" data-testid="model-terms">Terms of this model: {model.license}</small>}
          {model?.directionsCredit && <small className="model-note" data-testid="directions-credit">{model.directionsCredit}</small>}
        </div>
        <AboutPanel />
      </header>
      {readOnly && (
        <p className="notice" role="status" data-testid="read-only">
          This session is open in another tab, which saves it: what you do here is not saved.{' '}
          <button type="button" onClick={() => void c.models.takeOver()}>Take over here</button>
        </p>
      )}
      <div className="notices">
        {notices.map((n) => (
          <p key={n.id} role={n.kind === 'error' ? 'alert' : 'status'} className={n.kind === 'error' ? 'error' : 'notice'}>
            {n.text} <button type="button" className="close" onClick={() => c.notices.dismiss(n.id)} aria-label="dismiss">×</button>
          </p>
        ))}
      </div>
      {log.length > 0 && <pre className="log">{log.join('\n')}</pre>}
      {/* with a photo open the picture leads on narrow screens; before, choosing a photo does */}
      <div className={photoOpen ? 'layout has-photo' : 'layout'}>
        <div className="column"><PhotoPanel /><ReferencePanel /></div>
        <div className="column wide"><ResultPanel /><OutputPanel /></div>
        <div className="column"><EditPanel /></div>
      </div>
    </main>
  );
}

/** A field that takes typed text: Ctrl+Z there undoes its text, not the photo's edits. */
function typingInto(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target.tagName === 'TEXTAREA') return true;
  return target.tagName === 'INPUT' && ['text', 'search', 'email', 'url', 'tel', 'password', 'number'].includes((target as HTMLInputElement).type);
}

/** The engine, its figures and what it is doing: changes with every render, so only this line follows them. */
function StatusLine() {
  const { backend, backendReason, kernel, timings, busy, rendering, progress, secondsLeft } = useStudio(useShallow((s) => ({
    backend: s.backend, backendReason: s.backendReason, kernel: s.kernel, timings: s.timings, busy: s.busy, rendering: s.rendering, progress: s.progress, secondsLeft: s.secondsLeft,
  })));
  return (
    <p className="status" aria-live="polite">
      Engine: <strong data-testid="backend">{backend ?? '…'}</strong>
      {backendReason && <small data-testid="backend-reason"> ({backendReason})</small>}
      {kernel && kernel.threads > 1 && <small data-testid="kernel-share"> · encoder kernel on {kernel.threads} threads, helpers ran {(kernel.helperShare * 100).toFixed(0)}% of its work{kernel.helperShare === 0 ? ' (they did not start: one core did it all)' : ''}</small>}
      {Object.keys(timings).length > 0 && <> · {Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(' · ')}</>}
      <span className="busy" data-testid="busy">{busy ? ` · ${busy}${progress !== null ? ` ${(progress * 100).toFixed(0)}%` : ''}${secondsLeft !== null ? `, about ${secondsLeft} s left` : ''}…` : rendering ? ' · rendering…' : ''}</span>
      {busy && progress !== null && <progress className="busy-progress" max={1} value={progress} aria-label={busy} />}
    </p>
  );
}
