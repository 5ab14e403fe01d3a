
import type { CropBox } from './types';

export type { CropBox } from './types';

/** The largest box of the given aspect (width / height, 4:3 for cars) centred in the photo. */
export function centredBox(photo: { width: number; height: number }, aspect = 4 / 3): CropBox {
  let width = photo.width;
  let height = Math.round(width / aspect);
  if (height > photo.height) {
    height = photo.height;
    width = Math.round(height * aspect);
  }
  return { x: Math.floor((photo.width - width) / 2), y: Math.floor((photo.height - height) / 2), width, height };
}

/** Clamps a user's box into the photo, keeping its aspect. */
export function clampBox(box: CropBox, photo: { width: number; height: number }): CropBox {
  const aspect = box.width / box.height;
  let width = Math.max(8, Math.min(box.width, photo.width, photo.height * aspect));
  let height = width / aspect;
  width = Math.round(width);
  height = Math.round(height);
  const x = Math.min(Math.max(0, Math.round(box.x)), photo.width - width);
  const y = Math.min(Math.max(0, Math.round(box.y)), photo.height - height);
  return { x, y, width, height };
}
