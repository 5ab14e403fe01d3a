import { useEffect, useRef } from 'react';
import type { PhotoRegion } from '../../src/photo/composite';
import type { Pixels } from '../protocol';

/**
 * Draws engine pixels; the box keeps its size while empty or computing (no layout jumps). `fill`: as wide as its
 * container (the photo result); otherwise `size` pixels wide. `changed`: the only part of `pixels` that differs
 * from what the canvas shows (repainted alone when the size is unchanged).
 */
export function ImageCanvas({ pixels, label, size = 224, fill = false, changed, testId, onClick }: { pixels: Pixels | null; label: string; size?: number; fill?: boolean; changed?: PhotoRegion; testId?: string; onClick?: (x: number, y: number) => void }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    if (!pixels) { c.getContext('2d')!.clearRect(0, 0, c.width, c.height); return; } // nothing stale stays on screen
    const image = new ImageData(pixels.data as Uint8ClampedArray<ArrayBuffer>, pixels.width, pixels.height); // no copy
    if (changed && c.width === pixels.width && c.height === pixels.height) {
      c.getContext('2d')!.putImageData(image, 0, 0, changed.x, changed.y, changed.width, changed.height);
      return;
    }
    c.width = pixels.width;
    c.height = pixels.height;
    c.getContext('2d')!.putImageData(image, 0, 0);
  }, [pixels]);
  const aspect = pixels ? pixels.width / pixels.height : 1;
  return (
    <figure className="image" style={{ width: fill ? '100%' : size }}>
      <canvas
        ref={canvas}
        role="img"
        aria-label={label}
        data-testid={testId}
        style={fill ? { width: '100%', aspectRatio: `${aspect}` } : { width: size, height: size / aspect }}
        onClick={onClick ? (e) => {
          const r = e.currentTarget.getBoundingClientRect();
          onClick(((e.clientX - r.left) / r.width) * e.currentTarget.width, ((e.clientY - r.top) / r.height) * e.currentTarget.height);
        } : undefined}
      />
      {label && <figcaption>{label}</figcaption>}
    </figure>
  );
}
