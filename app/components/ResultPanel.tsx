import { useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { refinementNote, refinementUnavailable } from '../../src/engine/refine-presets';
import { useController, useStudio } from '../use-studio';
import { ImageCanvas } from './ImageCanvas';
import { PhotoResult } from './PhotoResult';

export function ResultPanel() {
  const c = useController();
  const { aligned, reconstruction, edited, mse, identity, measuringIdentity, domain, fullRenders, refining, refineFigures, autoRefine, fineDetail, refinement, busy, unavailable, note } = useStudio(useShallow((s) => ({
    aligned: s.aligned, reconstruction: s.reconstruction, edited: s.edited, mse: s.mse, identity: s.identity, measuringIdentity: s.measuringIdentity,
    domain: s.model?.domain, fullRenders: s.fullRenders, refining: s.refining, refineFigures: s.refineFigures, autoRefine: s.autoRefine,
    fineDetail: s.fineDetail, refinement: s.doc.refinement, busy: s.busy, unavailable: refinementUnavailable(s.model?.outputSize, s.backend),
    note: refinementNote(s.model?.outputSize, s.backend),
  })));
  const [split, setSplit] = useState(50);
  return (
    <section aria-labelledby="result-heading" className="panel result" data-full-renders={fullRenders}>
      <h2 id="result-heading">Result</h2>
      <PhotoResult />
      <h3 className="detail-heading">What the model sees and makes</h3>
      <div className="images">
        <ImageCanvas pixels={aligned} label="Input (aligned)" size={180} testId="aligned" />
        <ImageCanvas pixels={reconstruction} label="Reconstruction" size={180} testId="reconstruction" />
        <div className="compare" style={{ ['--split' as string]: `${split}%` }}>
          <ImageCanvas pixels={edited} label="Edit" size={180} testId="edited" />
          <div className="before" aria-hidden="true"><ImageCanvas pixels={reconstruction} label="" size={180} /></div>
        </div>
      </div>
      <label>Before / after{' '}
        <input type="range" min={0} max={100} value={split} onChange={(e) => setSplit(Number(e.target.value))} aria-label="compare before and after" />
      </label>
      <p data-testid="quality">
        {mse !== null ? `Reconstruction MSE ${mse.toFixed(4)} (images in [−1, 1])` : 'Open a photo to invert it.'}
        {mse !== null && domain === 'face' && ` · ${measuringIdentity ? 'identity: measuring…' : identity === null ? 'identity: n/a (face-api found no face in the aligned photo)'
          : `identity distance ${identity.toFixed(3)} (${identity < 0.6 ? 'the same person' : 'not the same person'} by face-api's rule, < 0.6)`}`}
      </p>
      <div className="refine" role="group" aria-label="refinement">
        {refining ? (
          <>
            <progress max={refining.steps} value={refining.step} aria-label="refinement progress" />{' '}
            <span data-testid="refine-progress">step {refining.step}/{refining.steps}{refining.loss !== null && ` · loss ${refining.loss.toFixed(4)}`}</span>{' '}
            <button type="button" onClick={() => c.refinement.cancel()}>Cancel refinement</button>
          </>
        ) : (
          <button type="button" disabled={!reconstruction || Boolean(busy) || Boolean(unavailable)} onClick={() => void c.refinement.refine()}
            title="Tunes the generator to this photo (pivotal tuning), in this browser">
            {refinement ? 'Refine again' : 'Refine (make it look like the photo)'}
          </button>
        )}{' '}
        <label className="inline"><input type="checkbox" checked={autoRefine} onChange={(e) => c.refinement.setAutoRefine(e.target.checked)} /> refine every photo automatically</label>{' '}
        <label className="inline" title="Also tunes maps of the photo's own fine detail: the reconstruction comes much closer to the photo (on the demo faces MSE 0.013 → 0.003), but every edit keeps that detail, so the sliders move the face somewhat less">
          <input type="checkbox" checked={fineDetail} onChange={(e) => c.refinement.setFineDetail(e.target.checked)} /> keep fine detail (a far closer likeness, faster; edits a little weaker)
        </label>
        {unavailable && <small className="model-note" data-testid="refine-unavailable">{unavailable}</small>}
        {note && <small className="model-note" data-testid="refine-note">{note}</small>}
        {refinement && !refining && <small data-testid="refined"> Refined ({refinement.steps} steps{refinement.fineDetail ? ', fine detail' : ''}).</small>}
        {refineFigures && (
          <small data-testid="refine-figures"> MSE {refineFigures.before.mse.toFixed(4)} → {refineFigures.after.mse.toFixed(4)}, SSIM {refineFigures.before.ssim.toFixed(3)} → {refineFigures.after.ssim.toFixed(3)} at the tuning size, refined in {(refineFigures.ms / 1000).toFixed(1)} s.</small>
        )}
      </div>
    </section>
  );
}
