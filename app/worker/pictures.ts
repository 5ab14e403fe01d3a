import * as Comlink from 'comlink';
import type { EditValue } from '../../src/engine/model';
import type { EditorSession, Framing, Transfer } from '../../src/engine/session';
import { downscaleRgb } from '../../src/photo/raster';
import type { RgbImage } from '../../src/photo/types';
import { SHOWN_MAX_SIDE, type FaceBox, type Picture, type PhotoInfo, type Pixels } from '../protocol';

/** The engine's pictures as the page draws them: RGBA, handed over (transferred), not copied. */
export function pixels(image: RgbImage): Pixels {
  const data = new Uint8ClampedArray(image.width * image.height * 4);
  for (let i = 0, j = 0; j < image.data.length; i += 4, j += 3) {
    data[i] = image.data[j]; data[i + 1] = image.data[j + 1]; data[i + 2] = image.data[j + 2]; data[i + 3] = 255;
  }
  return Comlink.transfer({ width: image.width, height: image.height, data }, [data.buffer]);
}

/** An image file of `image`: PNG (downloads) or JPEG (a batch's results, quality 0.92). */
export async function encoded(image: RgbImage, type: 'image/png' | 'image/jpeg' = 'image/png'): Promise<Blob> {
  const canvas = new OffscreenCanvas(image.width, image.height);
  const ctx = canvas.getContext('2d')!;
  const p = pixels(image);
  ctx.putImageData(new ImageData(p.data as Uint8ClampedArray<ArrayBuffer>, p.width, p.height), 0, 0);
  return canvas.convertToBlob(type === 'image/jpeg' ? { type, quality: 0.92 } : { type });
}

export function photoInfo(photo: RgbImage, faces: FaceBox[], framing: Framing | null, noFace?: string): PhotoInfo {
  const { image: small, factor } = downscaleRgb(photo, 640);
  return { width: photo.width, height: photo.height, thumb: pixels(small), thumbScale: factor, faces, framing, noFace };
}

export const faceBoxes = (faces: Array<FaceBox & object>): FaceBox[] => faces.map(({ box, score }) => ({ box, score }));

/**
 * The generator's edit; a full render also brings the edit in the photo: whole when `whole` or when the photo is
 * shown shrunk, else only the part any edit can change (a patch the page writes over the result it shows).
 */
export async function renderPicture(session: EditorSession, edits: EditValue[], preview: boolean, transfer: Transfer | null, whole: boolean, onPartial?: (picture: Pixels) => void): Promise<Picture> {
  if (preview) {
    const { image, ms, prepared } = await session.render(edits, { preview, transfer });
    return { image: pixels(image), ms, prepared };
  }
  const photo = session.photo();
  const inRegion = !whole && Math.max(photo.width, photo.height) <= SHOWN_MAX_SIDE;
  const partials = onPartial && { onPartial: (picture: RgbImage) => onPartial(pixels(picture)), partialFrom: session.model.manifest.outputSize / 4 };
  const { image, result: full, region, renderMs, compositeMs } = await session.renderWithComposite(edits, transfer, { inRegion, ...partials });
  if (region) {
    return { image: pixels(image), ms: renderMs, result: { patch: pixels(full), region, factor: 1 as const, width: photo.width, height: photo.height, ms: compositeMs } };
  }
  const shown = downscaleRgb(full, SHOWN_MAX_SIDE);
  return { image: pixels(image), ms: renderMs, result: { image: pixels(shown.image), factor: shown.factor, width: full.width, height: full.height, ms: compositeMs } };
}
