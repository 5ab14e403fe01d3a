// Test harness (not part of the product): the photo intake path in Chromium, driven by e2e/photo.spec.ts.
import { startBackend, type BrowserBackend } from '../../src/browser/backend';
import { browserFaceDetector, decodePhotoBlob } from '../../src/browser/photo';
import { alignFace } from '../../src/photo/align';
import { applyAffine, ffhqQuad, invertAffine } from '../../src/photo/geometry';
import { findFaces } from '../../src/photo/intake';
import { PhotoError } from '../../src/photo/types';

export interface IntakeResult {
  width?: number;
  height?: number;
  faces?: number;
  eyeMid?: [number, number];
  ruleEyeMid?: [number, number];
  eyeDistance?: number;
  ruleEyeDistance?: number;
  error?: { code: string; message: string };
}

declare global {
  interface Window { intake?: (bytes: number[] | null, url: string | null, name: string) => Promise<IntakeResult>; intakeReady?: string }
}

const SIZE = 256;

async function intake(bytes: number[] | null, url: string | null, name: string): Promise<IntakeResult> {
  try {
    const blob = bytes ? new Blob([new Uint8Array(bytes)]) : await (await fetch(url!)).blob();
    const photo = await decodePhotoBlob(blob, name);
    const detector = await browserFaceDetector();
    const faces = await findFaces(photo, detector, name);
    const q = ffhqQuad(faces[0].landmarks);
    const aligned = await alignFace(photo, q, SIZE);
    const rule = applyAffine(invertAffine(aligned.transform.toSource), { x: (q.eyeLeft.x + q.eyeRight.x) / 2, y: (q.eyeLeft.y + q.eyeRight.y) / 2 });
    const again = ffhqQuad((await findFaces(aligned.image, detector, `aligned ${name}`))[0].landmarks);
    return {
      width: photo.width,
      height: photo.height,
      faces: faces.length,
      eyeMid: [(again.eyeLeft.x + again.eyeRight.x) / 2 / SIZE, (again.eyeLeft.y + again.eyeRight.y) / 2 / SIZE],
      ruleEyeMid: [rule.x / SIZE, rule.y / SIZE],
      eyeDistance: Math.hypot(again.eyeRight.x - again.eyeLeft.x, again.eyeRight.y - again.eyeLeft.y) / SIZE,
      ruleEyeDistance: Math.hypot(q.eyeRight.x - q.eyeLeft.x, q.eyeRight.y - q.eyeLeft.y) / q.size,
    };
  } catch (error) {
    if (error instanceof PhotoError) return { error: { code: error.code, message: error.message } };
    return { error: { code: 'exception', message: (error as Error).stack ?? String(error) } };
  }
}

void (async () => {
  const backend = await startBackend([(new URLSearchParams(location.search).get('backend') ?? 'webgpu') as BrowserBackend]);
  window.intake = intake;
  window.intakeReady = backend;
})();

// The aligned crop of a photo, for the spec to compare backends.
(window as unknown as { alignedPixels: (url: string) => Promise<number[]> }).alignedPixels = async (url: string) => {
  const photo = await decodePhotoBlob(await (await fetch(url)).blob(), 'x');
  const faces = await findFaces(photo, await browserFaceDetector(), 'x');
  return Array.from((await alignFace(photo, ffhqQuad(faces[0].landmarks), 64)).image.data);
};
