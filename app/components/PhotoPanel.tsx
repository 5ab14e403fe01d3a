import { BatchPanel } from './BatchPanel';
import { useEffect, useRef, useState, type PointerEvent as ReactPointerEvent } from 'react';
import type { CropBox as Box } from '../../src/photo/cars';
import type { Point } from '../../src/photo/types';
import { useShallow } from 'zustand/react/shallow';
import type { Step } from '../store';
import { useController, useStudio } from '../use-studio';
import { ImageCanvas } from './ImageCanvas';

interface GalleryItem { file: string; domain: 'face' | 'car'; credit: string }

/** Width of the photo preview, in CSS pixels. */
const THUMB = 260;

const STEP_LABELS: Record<Step, string> = { decode: 'Decode', detect: 'Find the face', align: 'Align', invert: 'Invert' };

export function PhotoPanel() {
  const c = useController();
  const { photo, steps, model, framing } = useStudio(useShallow((s) => ({ photo: s.photo, steps: s.steps, model: s.model, framing: s.doc.photo?.framing ?? null })));
  const [gallery, setGallery] = useState<GalleryItem[]>([]);
  const [points, setPoints] = useState<Point[]>([]);
  useEffect(() => { void fetch('/gallery/gallery.json').then((r) => r.json()).then(setGallery).catch(() => setGallery([])); }, []);
  const domain = model?.domain ?? 'face';
  const steplist = domain === 'car' ? (['decode', 'align', 'invert'] as Step[]) : (['decode', 'detect', 'align', 'invert'] as Step[]);
  // No face found: the user places the eyes and mouth; once placed (framed), the prompt goes.
  const manual = Boolean(photo && photo.noFace !== undefined && (!framing || framing.kind === 'manual'));
  const placing = manual && !framing;

  async function place(x: number, y: number) {
    if (!photo || !manual) return;
    const next = [...points, { x: x * photo.thumbScale, y: y * photo.thumbScale }];
    if (next.length < 3) { setPoints(next); return; }
    setPoints([]);
    await c.photos.reframe({ kind: 'manual', points: { eyeLeft: next[0], eyeRight: next[1], mouth: next[2] } });
  }

  const box = framing?.box;
  const moveBox = (dx: number, dy: number, grow: number) => {
    if (!photo || !box) return;
    const width = Math.max(16, box.width * grow);
    const height = width * (box.height / box.width);
    void c.photos.reframe({ kind: 'car', box: insidePhoto({ x: box.x + dx * box.width + (box.width - width) / 2, y: box.y + dy * box.height + (box.height - height) / 2, width, height }, photo) });
  };

  return (
    <section aria-labelledby="photo-heading" className="panel">
      <h2 id="photo-heading">Photo</h2>
      <label className="file">
        Open a {domain === 'car' ? 'car' : 'face'} photo{' '}
        <input type="file" accept="image/*" data-testid="photo-input" onChange={(e) => { const f = e.target.files?.[0]; if (f) void c.photos.open(f, f.name, 'subject'); e.target.value = ''; }} />
      </label>
      <p className="hint">or drop it anywhere on the page, or paste it (Ctrl+V).</p>
      {/* the rule that keeps this browser's storage bounded (app/controller/persistence.ts), said where it applies */}
      <p className="hint" data-testid="kept-rule">This browser keeps the photo you are editing, with its reference and edits, for your next visit; opening another photo replaces it (download what you want to keep).</p>
      <ol className="steps" aria-label="progress">
        {steplist.map((s) => <li key={s} className={steps[s]}>{STEP_LABELS[s]}: {steps[s]}</li>)}
      </ol>
      {photo && (
        <div className="thumb">
          <div className="thumb-frame">
            <ImageCanvas pixels={photo.thumb} label={`${photo.name} (${photo.width}×${photo.height})`} size={THUMB} onClick={manual ? place : undefined} testId="photo-thumb" />
            {photo.faces.length > 1 && photo.faces.map((f, i) => (
              <button
                key={i} type="button" className="face-box" tabIndex={-1} aria-hidden="true"
                data-selected={framing?.faceIndex === i}
                style={{ left: (f.box.x / photo.width) * THUMB, top: (f.box.y / photo.width) * THUMB, width: (f.box.width / photo.width) * THUMB, height: (f.box.height / photo.width) * THUMB }}
                onClick={() => void c.photos.reframe({ kind: 'face', faceIndex: i })}
              >{i + 1}</button>
            ))}
            {box && <CropBox box={box} photo={photo} scale={THUMB / photo.width} onChange={(b) => void c.photos.reframe({ kind: 'car', box: b })} />}
          </div>
          {photo.faces.length > 1 && (
            <div role="group" aria-label="faces found">
              {photo.faces.length} faces found:{' '}
              {photo.faces.map((f, i) => (
                <button key={i} type="button" aria-pressed={framing?.faceIndex === i} onClick={() => void c.photos.reframe({ kind: 'face', faceIndex: i })}>
                  Face {i + 1}{i === 0 ? ' (largest)' : ''}
                </button>
              ))}
            </div>
          )}
          {placing && (
            <p className="manual" role="status">Manual alignment: click the {['left eye', 'right eye', 'mouth centre'][points.length]} on the photo ({points.length}/3).</p>
          )}
          {manual && framing && <p className="hint">Aligned by hand; click the eyes and mouth again to re-align.</p>}
          {box && (
            <div role="group" aria-label="crop box">
              Crop box {Math.round(box.width)}×{Math.round(box.height)} at {Math.round(box.x)},{Math.round(box.y)} (drag it on the photo, or):{' '}
              <button type="button" onClick={() => moveBox(-0.1, 0, 1)}>←</button>
              <button type="button" onClick={() => moveBox(0.1, 0, 1)}>→</button>
              <button type="button" onClick={() => moveBox(0, -0.1, 1)}>↑</button>
              <button type="button" onClick={() => moveBox(0, 0.1, 1)}>↓</button>
              <button type="button" onClick={() => moveBox(0, 0, 0.9)}>smaller</button>
              <button type="button" onClick={() => moveBox(0, 0, 1.1)}>larger</button>
            </div>
          )}
        </div>
      )}
      <details className="gallery" open={!photo}>
        <summary>Sample photos</summary>
        <ul>
          {gallery.filter((g) => g.domain === domain).map((g) => (
            <li key={g.file}>
              <button type="button" onClick={() => void fetch(`/gallery/${g.file}`).then((r) => r.blob()).then((b) => c.photos.open(b, g.file, 'subject'))}>
                <img src={`/gallery/${g.file}`} alt={g.file} width={64} height={64} />
              </button>
              <small>{g.credit}</small>
            </li>
          ))}
        </ul>
      </details>
      <BatchPanel />
    </section>
  );
}

/**
 * The car crop box over the photo preview: drag it to move, drag its corner to resize (the 4:3 shape is kept). The
 * box follows the pointer live; the photo is re-framed and inverted once, on release.
 */
function CropBox({ box, photo, scale, onChange }: { box: Box; photo: { width: number; height: number }; scale: number; onChange: (box: Box) => void }) {
  const [live, setLive] = useState<Box | null>(null);
  const drag = useRef<{ x: number; y: number; start: Box; resize: boolean } | null>(null);
  const shown = live ?? box;
  const down = (e: ReactPointerEvent<HTMLDivElement>, resize: boolean) => {
    e.stopPropagation();
    e.currentTarget.setPointerCapture(e.pointerId);
    drag.current = { x: e.clientX, y: e.clientY, start: box, resize };
  };
  const move = (e: ReactPointerEvent<HTMLDivElement>) => {
    const d = drag.current;
    if (!d) return;
    const dx = (e.clientX - d.x) / scale;
    const dy = (e.clientY - d.y) / scale;
    if (d.resize) {
      const aspect = d.start.height / d.start.width;
      const fits = Math.min(photo.width - d.start.x, (photo.height - d.start.y) / aspect);
      const width = Math.min(fits, Math.max(16, d.start.width + Math.max(dx, dy / aspect)));
      setLive({ ...d.start, width, height: width * aspect });
    } else {
      setLive(insidePhoto({ ...d.start, x: d.start.x + dx, y: d.start.y + dy }, photo));
    }
  };
  const up = () => {
    const next = live;
    drag.current = null;
    setLive(null);
    if (next) onChange(next);
  };
  return (
    <div
      className="crop-box" data-testid="crop-box" onPointerDown={(e) => down(e, false)} onPointerMove={move} onPointerUp={up} onPointerCancel={up}
      style={{ left: shown.x * scale, top: shown.y * scale, width: shown.width * scale, height: shown.height * scale }}
    >
      <div className="crop-handle" data-testid="crop-handle" onPointerDown={(e) => down(e, true)} onPointerMove={move} onPointerUp={up} onPointerCancel={up} />
    </div>
  );
}

/** The box moved (not shrunk) back inside the photo, and no larger than it, keeping its shape. */
function insidePhoto(box: Box, photo: { width: number; height: number }): Box {
  const k = Math.min(1, photo.width / box.width, photo.height / box.height);
  const width = box.width * k;
  const height = box.height * k;
  return {
    x: Math.min(Math.max(0, box.x), photo.width - width),
    y: Math.min(Math.max(0, box.y), photo.height - height),
    width, height,
  };
}
