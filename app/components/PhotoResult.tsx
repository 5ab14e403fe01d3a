import { memo, useEffect, useRef, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { useStudio } from '../use-studio';
import { ImageCanvas } from './ImageCanvas';

/**
 * The main result: the edit in the photo itself (the photo's own detail, the edit's change inside the face or
 * the crop box), with a before/after divider and a zoom to the photo's pixels, centred on the face.
 */
export const PhotoResult = memo(function PhotoResult() {
  const { result, original, photo, framing, refining } = useStudio(useShallow((s) => ({ result: s.result, original: s.original, photo: s.photo, framing: s.doc.photo?.framing, refining: s.refining })));
  const [split, setSplit] = useState(0);
  const [zoomed, setZoomed] = useState(false);
  const frame = useRef<HTMLDivElement>(null);
  const shown = result?.image ?? original;
  // What the edit is about, in photo pixels: the chosen face, or the car's crop box.
  const focus = photo?.faces[framing?.kind === 'face' ? framing.faceIndex ?? 0 : 0]?.box ?? framing?.box;

  useEffect(() => {
    // Zoomed in, the face (or the crop) is what a person wants to see first.
    const f = frame.current;
    if (!zoomed || !f || !shown) return;
    const k = 1 / (result?.factor ?? 1);
    const cx = focus ? (focus.x + focus.width / 2) * k : shown.width / 2;
    const cy = focus ? (focus.y + focus.height / 2) * k : shown.height / 2;
    f.scrollTo({ left: cx - f.clientWidth / 2, top: cy - f.clientHeight / 2 });
  }, [zoomed]); // once per zoom: later renders must not move the user's scroll

  if (!shown) return null;
  const width = zoomed ? shown.width : undefined;
  return (
    <div className="photo-result" data-focus={focus ? JSON.stringify(focus) : undefined}>
      <div ref={frame} className={`photo-result-frame${zoomed ? ' zoomed' : ''}`}>
        <div className="compare" style={{ ['--split' as string]: `${split}%`, width }}>
          <ImageCanvas pixels={shown} label="" fill changed={result?.region} testId="photo-result" />
          {original && <div className="before" aria-hidden="true"><ImageCanvas pixels={original} label="" fill testId="photo-original" /></div>}
        </div>
        {refining && (
          // On the picture itself: the likeness is what is changing, and edits made meanwhile land on the refined photo.
          <div className="photo-refining" data-testid="photo-refining" role="status">
            <progress max={refining.steps} value={refining.step} aria-label="refining this photo" />
            <span>Making it look like you… {refining.step}/{refining.steps}; edits go on meanwhile</span>
          </div>
        )}
      </div>
      <p className="photo-result-controls">
        <span>Your photo, edited{result && ` · ${result.width}×${result.height}${result.factor > 1 ? ` (shown at 1/${result.factor})` : ''}`}</span>
        <label className="inline">Before{' '}
          <input type="range" min={0} max={100} value={split} onChange={(e) => setSplit(Number(e.target.value))} aria-label="show the photo before the edit, from the left" />
        {' '}after</label>
        <button type="button" onClick={() => setZoomed(!zoomed)} aria-pressed={zoomed}>{zoomed ? 'Fit to the panel' : 'Zoom to 100%'}</button>
      </p>
    </div>
  );
});
