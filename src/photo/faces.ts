import * as tf from '@tensorflow/tfjs-core';
import { resizeRgb } from './resample';
import { downscaleRgb } from './raster';
import type { Point, RgbImage } from './types';

export interface DetectedFace {
  box: { x: number; y: number; width: number; height: number };
  score: number;
  /** The 68 landmarks (iBUG order), in the photo's pixel coordinates. */
  landmarks: Point[];
}

export interface FaceDetector {
  /** Every face, largest first. */
  detect(photo: RgbImage): Promise<DetectedFace[]>;
  /**
   * face-api's 128-d identity descriptor of a given region, without detecting: to compare a picture with a re-rendering
   * of it on the same pixels (a smooth reconstruction may be too soft for the detector, yet still be comparable).
   */
  describeRegion(photo: RgbImage, box: DetectedFace['box']): Promise<Float32Array>;
  /**
   * face-api's own reading of a region's expression, age and gender (judges we did not train): present where
   * those nets are loaded (Node: src/node/photo.ts), to measure what an edit does.
   */
  judgeRegion?(photo: RgbImage, box: DetectedFace['box']): Promise<FaceJudgement>;
}

export interface FaceJudgement {
  /** Probability of the "happy" expression. */
  happy: number;
  /** Estimated age in years. */
  age: number;
  /** Probability that the face is male. */
  male: number;
}

/**
 * Euclidean distance of two face-api descriptors: face-api's own measure, with its rule that below
 * SAME_PERSON_DISTANCE two faces are the same person. (Cosine similarity of these descriptors is 0.85-0.95 for
 * almost any two faces, a black picture included, so it tells a user nothing.)
 */
export function descriptorDistance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return Math.sqrt(sum);
}

export const SAME_PERSON_DISTANCE = 0.6;

/** Cosine similarity of two identity descriptors (1 = same direction). */
export function cosineSimilarity(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return dot / Math.sqrt(na * nb);
}

/** The part of @vladmandic/face-api we use (its Node and browser builds both have it). */
export interface FaceApi {
  detectAllFaces(input: tf.Tensor3D, options: unknown): { withFaceLandmarks(): Promise<Array<{
    detection: { box: { x: number; y: number; width: number; height: number }; score: number };
    landmarks: { positions: Array<{ x: number; y: number }> };
  }>> };
  computeFaceDescriptor(input: tf.Tensor3D): Promise<Float32Array | Float32Array[]>;
  nets: {
    faceExpressionNet: { isLoaded: boolean; predictExpressions(input: tf.Tensor3D): Promise<{ happy: number } | Array<{ happy: number }>> };
    ageGenderNet: { isLoaded: boolean; predictAgeAndGender(input: tf.Tensor3D): Promise<{ age: number; gender: string; genderProbability: number } | Array<{ age: number; gender: string; genderProbability: number }>> };
  };
  SsdMobilenetv1Options: new (options: { minConfidence: number; maxResults?: number }) => unknown;
}

/** Detection runs on a copy no larger than this; landmarks are scaled back to the original. */
export const DETECTION_MAX_SIDE = 1024;

/**
 * Runs `work` with tfjs switched to `backend`, then switches back. Tensors made inside stay on that backend.
 * Used for face-api, which finds no faces on tfjs-webgpu 4.22 (measured: e2e/photo.spec.ts) but works on wasm and
 * webgl; the Style Transformer keeps its own backend.
 */
export async function withBackend<T>(backend: string | undefined, work: () => Promise<T>): Promise<T> {
  const previous = tf.getBackend();
  if (!backend || backend === previous) return work();
  await tf.setBackend(backend);
  try {
    return await work();
  } finally {
    await tf.setBackend(previous);
  }
}

export function faceApiDetector(faceapi: FaceApi, minConfidence = 0.5, backend?: string): FaceDetector {
  return {
    detect: (photo) => withBackend(backend, async () => {
      const { image, factor } = downscaleRgb(photo, DETECTION_MAX_SIDE);
      const input = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
      try {
        const found = await faceapi.detectAllFaces(input, new faceapi.SsdMobilenetv1Options({ minConfidence, maxResults: 20 })).withFaceLandmarks();
        // face-api places landmarks relative to the downscaled copy; pixel centres scale about +0.5
        const up = (v: number) => (v + 0.5) * factor - 0.5;
        return found
          .map((f) => ({
            box: { x: up(f.detection.box.x), y: up(f.detection.box.y), width: f.detection.box.width * factor, height: f.detection.box.height * factor },
            score: f.detection.score,
            landmarks: f.landmarks.positions.map((p) => ({ x: up(p.x), y: up(p.y) })),
          }))
          .sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height);
      } finally {
        input.dispose();
      }
    }),
    describeRegion: (photo, box) => withBackend(backend, () => onRegion(photo, box, async (region) => {
      const descriptor = await faceapi.computeFaceDescriptor(region);
      return Array.isArray(descriptor) ? descriptor[0] : descriptor;
    })),
    judgeRegion: faceapi.nets.faceExpressionNet.isLoaded && faceapi.nets.ageGenderNet.isLoaded
      ? (photo, box) => withBackend(backend, () => onRegion(photo, box, async (region) => {
        const expressions = await faceapi.nets.faceExpressionNet.predictExpressions(region);
        const estimate = await faceapi.nets.ageGenderNet.predictAgeAndGender(region);
        const { happy } = Array.isArray(expressions) ? expressions[0] : expressions;
        const { age, gender, genderProbability } = Array.isArray(estimate) ? estimate[0] : estimate;
        return { happy, age, male: gender === 'male' ? genderProbability : 1 - genderProbability };
      }))
      : undefined,
  };
}

/** Runs `work` on a box of the photo as an int32 [h, w, 3] tensor (face-api's input), freed afterwards. */
async function onRegion<T>(photo: RgbImage, box: DetectedFace['box'], work: (region: tf.Tensor3D) => Promise<T>): Promise<T> {
  const x = Math.max(0, Math.round(box.x));
  const y = Math.max(0, Math.round(box.y));
  const width = Math.min(photo.width - x, Math.round(box.width));
  const height = Math.min(photo.height - y, Math.round(box.height));
  const region = tf.tidy(() => tf.slice(tf.tensor3d(photo.data, [photo.height, photo.width, 3], 'int32'), [y, x, 0], [height, width, 3]));
  try {
    return await work(region);
  } finally {
    region.dispose();
  }
}

/**
 * An aligned face found once by face-api's detector, so that renderings of it on the same pixels (its
 * reconstruction, edits, a refined reconstruction) are all read in the face's own box, and the face itself is
 * detected and described once however many renderings are compared with it. Face-api's SSD finds no face that
 * fills its picture (0 of 40 aligned CelebA faces, upscaled to 160, 256 or 400 px), so every picture is shown at
 * 128 px in the middle of a 384 px grey frame (40 of 40 found); a rendering need not be detectable itself, which
 * a smooth 64 px reconstruction often is not.
 */
export class AlignedFace {
  private descriptor: Promise<Float32Array> | null = null;
  private judgement: Promise<FaceJudgement> | null = null;

  private constructor(private readonly detector: FaceDetector, private readonly framed: RgbImage, private readonly box: DetectedFace['box']) {}

  /** Null when the detector finds no face. */
  static async locate(detector: FaceDetector, face: RgbImage): Promise<AlignedFace | null> {
    const framed = await frameAligned(face);
    const box = (await detector.detect(framed))[0]?.box;
    return box ? new AlignedFace(detector, framed, box) : null;
  }

  /** The face's own descriptor (computed once). */
  faceDescriptor(): Promise<Float32Array> {
    return (this.descriptor ??= this.detector.describeRegion(this.framed, this.box));
  }

  /** A rendering's descriptor, taken in the face's box. */
  async describe(rendering: RgbImage): Promise<Float32Array> {
    return this.detector.describeRegion(await frameAligned(rendering), this.box);
  }

  /** Whether the detector has the expression and age/gender nets that judge(). */
  get judges(): boolean {
    return !!this.detector.judgeRegion;
  }

  /** The face's own expression, age and gender (computed once). */
  faceJudgement(): Promise<FaceJudgement> {
    return (this.judgement ??= this.judge(null));
  }

  /** A rendering's expression, age and gender, read in the face's box (the face itself for null). */
  async judge(rendering: RgbImage | null): Promise<FaceJudgement> {
    if (!this.detector.judgeRegion) throw new Error('this face detector has no expression or age/gender nets');
    return this.detector.judgeRegion(rendering ? await frameAligned(rendering) : this.framed, this.box);
  }
}

/** face-api descriptors of an aligned face and of a rendering of it (see AlignedFace); null when no face is found. */
export async function describeAlignedPair(detector: FaceDetector, face: RgbImage, rendering: RgbImage): Promise<{ face: Float32Array; rendering: Float32Array } | null> {
  const located = await AlignedFace.locate(detector, face);
  if (!located) return null;
  // One after the other: the detector switches tfjs backends around each call.
  const a = await located.faceDescriptor();
  return { face: a, rendering: await located.describe(rendering) };
}

/** An aligned face at 128 px in the middle of a 384 px grey frame, where face-api's SSD finds it (see above). */
async function frameAligned(image: RgbImage): Promise<RgbImage> {
  const inner = await resizeRgb(image, [FRAMED_FACE, FRAMED_FACE]);
  const data = new Uint8Array(FRAME * FRAME * 3).fill(128);
  const offset = (FRAME - FRAMED_FACE) / 2;
  for (let y = 0; y < FRAMED_FACE; y++) {
    data.set(inner.data.subarray(y * FRAMED_FACE * 3, (y + 1) * FRAMED_FACE * 3), ((y + offset) * FRAME + offset) * 3);
  }
  return { width: FRAME, height: FRAME, data };
}

const FRAMED_FACE = 128;
const FRAME = 384;
