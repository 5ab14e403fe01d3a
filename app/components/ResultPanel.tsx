import { useState } from 'react';
import { useStudio } from '../store';
import { ImageCanvas } from './ImageCanvas';

export function ResultPanel() {
  const { aligned, reconstruction, edited, mse, identity, model, fullRenders } = useStudio();
  const [split, setSplit] = useState(50);
  return (
    <section aria-labelledby="result-heading" className="panel result" data-full-renders={fullRenders}>
      <h2 id="result-heading">Result</h2>
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
        {mse !== null && model?.domain === 'face' && ` · identity similarity ${identity === null ? 'n/a (face-api found no face in the aligned photo)' : identity.toFixed(3)}`}
      </p>
    </section>
  );
}
