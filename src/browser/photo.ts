import * as tf from '@tensorflow/tfjs-core';
import { faceApiDetector, withBackend, type FaceApi, type FaceDetector } from '../photo/faces';
import { checkImageBytes } from '../photo/sniff';
import { initialiseWasmBackend } from './backend';
import { checkPhotoMemory, PhotoError, type RgbImage } from '../photo/types';

/**
 * Memory a photo may use in a page: 40% of the device's memory as the browser reports it (navigator.deviceMemory,
 * rounded and capped at 8 GB by the browser; 4 GB assumed where it is not told), as the page also holds the model.
 */
export function browserMemoryBudget(): number {
  const gb = (navigator as { deviceMemory?: number }).deviceMemory ?? 4;
  return 0.4 * gb * 1e9;
}

/**
 * Decodes a dropped File or Blob in the page or a worker: the browser's own decoders (JPEG, PNG, WebP, GIF's
 * first frame, AVIF...), EXIF orientation applied, transparency composited over neutral grey, always RGB.
 */
export async function decodePhotoBlob(blob: Blob, name = (blob as File).name ?? 'photo'): Promise<RgbImage> {
  const head = new Uint8Array(await blob.slice(0, 64 * 1024).arrayBuffer());
  checkImageBytes(head, name, blob.size, browserMemoryBudget());
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'default' });
  } catch (error) {
    throw new PhotoError('decode-failed', `${name} could not be decoded (${(error as Error).message}); it may be damaged`);
  }
  const { width, height } = bitmap;
  try {
    checkPhotoMemory(name, width, height, browserMemoryBudget()); // formats whose header we do not read
  } catch (error) {
    bitmap.close();
    throw error;
  }
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new PhotoError('decode-failed', 'this browser cannot draw images off-screen');
  ctx.fillStyle = 'rgb(128, 128, 128)';
  ctx.fillRect(0, 0, width, height);
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    data[j] = rgba[i];
    data[j + 1] = rgba[i + 1];
    data[j + 2] = rgba[i + 2];
  }
  return { width, height, data };
}

let detector: Promise<FaceDetector> | null = null;

type FaceApiModule = typeof import('@vladmandic/face-api/dist/face-api.esm-nobundle.js');
/**
 * face-api's code (8.8 MB as the dev server sends it), read when a photo first needs it: the engine's start parsed and
 * ran it before any photo, and a reopened photo comes back from its snapshot without it.
 */
let faceApiModule: Promise<FaceApiModule> | null = null;
const loadFaceApi = () => (faceApiModule ??= import('@vladmandic/face-api/dist/face-api.esm-nobundle.js'));

/**
 * face-api recognises only a page or Node; in a worker it must be told what it has. It gets tensors from us, so
 * off-screen canvases stand in for the DOM elements it would otherwise create.
 */
function useWorkerEnvironment(faceapi: FaceApiModule): void {
  const unavailable = () => { throw new Error('not available in a worker'); };
  faceapi.env.setEnv({
    Canvas: OffscreenCanvas, CanvasRenderingContext2D: OffscreenCanvasRenderingContext2D, Image: OffscreenCanvas,
    ImageData, Video: OffscreenCanvas, createCanvasElement: () => new OffscreenCanvas(1, 1),
    createImageElement: unavailable, createVideoElement: unavailable, fetch: globalThis.fetch.bind(globalThis), readFile: unavailable,
  } as unknown as Parameters<typeof faceapi.env.setEnv>[0]);
}

/**
 * face-api's nets, loaded from our own origin (`modelsUrl`, served from the npm package), on our tfjs. They load
 * and run on the wasm backend whatever the editor uses (see withBackend).
 */
export function browserFaceDetector(modelsUrl = '/face-api-models', backend = 'wasm'): Promise<FaceDetector> {
  // The WASM backend may start here (the editor on a GPU): with every core, as the editor's own would.
  detector ??= (backend === 'wasm' ? initialiseWasmBackend() : Promise.resolve()).then(() => withBackend(backend, async () => {
    const faceapi = await loadFaceApi();
    if (typeof document === 'undefined') useWorkerEnvironment(faceapi);
    await faceapi.nets.ssdMobilenetv1.loadFromUri(modelsUrl);
    await faceapi.nets.faceLandmark68Net.loadFromUri(modelsUrl);
    await faceapi.nets.faceRecognitionNet.loadFromUri(modelsUrl);
    return faceApiDetector(faceapi as unknown as FaceApi, 0.5, backend);
  }));
  return detector;
}

/**
 * Loads face-api's nets and runs each once on a blank picture: their first inference sets up the backend's
 * operators (in Node, 2.5 s for a first detection of a portrait against 1.4 s for the next), which then happens
 * while the person is still choosing a photo, not after they dropped it.
 */
export async function warmUpFaceDetector(modelsUrl = '/face-api-models', backend = 'wasm'): Promise<void> {
  await browserFaceDetector(modelsUrl, backend);
  const faceapi = await loadFaceApi();
  await withBackend(backend, async () => {
    const blank = tf.fill([160, 160, 3], 128, 'int32') as tf.Tensor3D;
    const input = blank as unknown as Parameters<typeof faceapi.computeFaceDescriptor>[0]; // face-api types its own tfjs
    try {
      await faceapi.detectAllFaces(input, new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5 }));
      await faceapi.nets.faceLandmark68Net.detectLandmarks(input);
      await faceapi.computeFaceDescriptor(input);
    } finally {
      blank.dispose();
    }
  });
}
