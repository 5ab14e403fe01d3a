import * as tf from '@tensorflow/tfjs-core';
import { alignedFaceRegion, boxRegion } from '../photo/composite';
import { resizeRgb } from '../photo/cars';
import { judgeAlignedEdits, type FaceDetector, type FaceJudgement } from '../photo/faces';
import type { RgbImage } from '../photo/types';
import type { DirectionSpec, SliderMeasurement } from '../weights/bundle';
import { fromRgb } from './image';
import type { StudioModel } from './model';
import { colourStatistics, type ColourStatistics } from './quality';
import { EditorSession } from './session';

/**
 * What each slider does to a photo, read by judges: face-api's expression network ("happy") for smiling, its age
 * and gender network for young and male (networks we did not train), the latent classifier for the other face
 * attributes, the colour statistics its name claims for a car slider; and how much it changes the face-and-hair
 * region (or the car's crop). Measured on the composite a user downloads (src/photo/composite.ts): the photo plus
 * the edit's change, so "before" is the photo itself.
 */
export type SliderJudge =
  | { kind: 'face-api'; measure: keyof FaceJudgement; sign: 1 | -1; attribute: string }
  | { kind: 'classifier'; attribute: string; index: number; sign: 1 }
  | { kind: 'colour'; measure: keyof ColourStatistics; sign: 1 | -1; attribute: string };

/** InterFaceGAN boundaries are named by their attribute in lower case (smiling, young, ...). */
const INTERFACEGAN_ATTRIBUTE: Record<string, string> = { smiling: 'Smiling', smile: 'Smiling', young: 'Young', age: 'Young', male: 'Male', eyeglasses: 'Eyeglasses', bangs: 'Bangs' };

/** Attributes face-api reads itself, and the way its reading moves when the attribute grows. */
const FACE_API: Record<string, [keyof FaceJudgement, 1 | -1]> = { Smiling: ['happy', 1], Young: ['age', -1], Male: ['male', 1] };

/**
 * The car sliders' names and what each claims, in the colour statistics of the picture (named by looking at the
 * components; measured here). A new model's GANSpace names need a row.
 */
export const COLOUR_NAMED_BY: Record<string, [keyof ColourStatistics, 1 | -1]> = {
  lighting: ['brightness', 1], 'lighter paint': ['centreBrightness', 1], 'deeper colour': ['centreBrightness', -1], 'warmer colour': ['warmth', 1],
};

/** The CelebA attribute a face direction edits (InterFaceGAN by its name, label directions by their class). */
export function directionAttribute(d: DirectionSpec, classifierAttributes: readonly string[]): string | null {
  if (d.kind === 'interfacegan') return INTERFACEGAN_ATTRIBUTE[d.id] ?? null;
  if (d.kind === 'label') return classifierAttributes[d.attribute] ?? null;
  return null;
}

/** The judge of a direction; null when nothing we have can read what it claims. */
export function judgeFor(model: StudioModel, d: DirectionSpec): SliderJudge | null {
  if (d.kind === 'ganspace') {
    const named = COLOUR_NAMED_BY[d.label];
    return named ? { kind: 'colour', measure: named[0], sign: named[1], attribute: d.label } : null;
  }
  const attribute = directionAttribute(d, model.manifest.classifier?.attributes ?? []);
  if (!attribute) return null;
  if (FACE_API[attribute]) return { kind: 'face-api', measure: FACE_API[attribute][0], sign: FACE_API[attribute][1], attribute };
  const index = model.manifest.classifier?.attributes.indexOf(attribute) ?? -1;
  return index >= 0 ? { kind: 'classifier', attribute, index, sign: 1 } : null;
}

export function judgeName(judge: SliderJudge): string {
  if (judge.kind === 'face-api') return `face-api ${judge.measure === 'happy' ? 'expression (happy)' : judge.measure === 'age' ? 'age (lower)' : 'gender (male)'}`;
  if (judge.kind === 'classifier') return `latent classifier (${judge.attribute})`;
  return `colour statistics (${judge.measure}${judge.sign < 0 ? ', lower' : ''})`;
}

/** A slider at a value, or (with `transfer`) a learned editing block with a reference photo framed like the photo. */
export interface Trial {
  direction?: DirectionSpec;
  value?: number;
  transfer?: { block: string; reference: RgbImage; strength: number };
  judge: SliderJudge;
}

/** The judge of an editing block: its attribute read as a slider of that attribute would be. */
export function blockJudge(model: StudioModel, attribute: string): SliderJudge | null {
  if (FACE_API[attribute]) return { kind: 'face-api', measure: FACE_API[attribute][0], sign: FACE_API[attribute][1], attribute };
  const index = model.manifest.classifier?.attributes.indexOf(attribute) ?? -1;
  return index >= 0 ? { kind: 'classifier', attribute, index, sign: 1 } : null;
}

/** One trial on one photo: the judge's change in the labelled direction (null: the judge could not read it) and the region's mean change (of 255). */
export interface TrialResult { delta: number | null; regionChange: number }

/**
 * Runs trials on one photo that is already framed as the model frames (an aligned face, a car crop): the photo
 * is inverted, each trial's composite made and judged against the photo itself.
 */
export async function measureOnPhoto(model: StudioModel, detector: FaceDetector | null, photo: RgbImage, trials: Trial[]): Promise<TrialResult[]> {
  const session = new EditorSession(model, detector);
  try {
    await session.setPhoto(photo, 'subject', false);
    await session.frame({ kind: 'resize' });
    await session.invert();
    const composites: RgbImage[] = [];
    for (const t of trials) {
      if (t.transfer) {
        await session.setPhoto(t.transfer.reference, 'reference', false);
        await session.frame({ kind: 'resize' }, 'reference');
        await session.invert('reference');
        composites.push(await session.composite([], { kind: 'block', block: t.transfer.block, strength: t.transfer.strength }));
      } else {
        composites.push(await session.composite([{ direction: t.direction!.id, value: t.value! }]));
      }
    }
    const mask = model.manifest.domain === 'face' && photo.width === photo.height ? alignedFaceRegion(photo.width) : boxRegion(photo.width, photo.height);
    const regionChange = (image: RgbImage) => {
      let sum = 0;
      let n = 0;
      for (let i = 0; i < mask.length; i++) {
        if (mask[i] < 0.5) continue;
        for (let c = 0; c < 3; c++) sum += Math.abs(image.data[i * 3 + c] - photo.data[i * 3 + c]);
        n += 3;
      }
      return sum / Math.max(1, n);
    };
    const deltas: Array<number | null> = trials.map(() => null);
    const faceApiTrials = trials.flatMap((t, i) => (t.judge.kind === 'face-api' ? [i] : []));
    if (faceApiTrials.length && detector) {
      const judged = await judgeAlignedEdits(detector, photo, faceApiTrials.map((i) => composites[i]));
      if (judged) {
        faceApiTrials.forEach((i, k) => {
          const judge = trials[i].judge as Extract<SliderJudge, { kind: 'face-api' }>;
          deltas[i] = judge.sign * (judged.edits[k][judge.measure] - judged.face[judge.measure]);
        });
      }
    }
    const logits = async (image: RgbImage) => {
      const input = fromRgb(await resizeRgb(image, model.inputSize));
      const out = tf.tidy(() => model.classifier!.logits(model.invert(input)));
      const values = (await out.data()) as Float32Array;
      tf.dispose([input, out]);
      return values;
    };
    const colours = (image: RgbImage) => {
      const picture = fromRgb(image);
      const out = colourStatistics(picture);
      picture.dispose();
      return out;
    };
    const base = trials.some((t) => t.judge.kind === 'classifier') && model.classifier ? await logits(photo) : null;
    const baseColours = trials.some((t) => t.judge.kind === 'colour') ? colours(photo) : null;
    for (const [i, t] of trials.entries()) {
      if (t.judge.kind === 'classifier' && base) deltas[i] = (await logits(composites[i]))[t.judge.index] - base[t.judge.index];
      if (t.judge.kind === 'colour' && baseColours) deltas[i] = t.judge.sign * (colours(composites[i])[t.judge.measure] - baseColours[t.judge.measure]);
    }
    return trials.map((_, i) => ({ delta: deltas[i], regionChange: regionChange(composites[i]) }));
  } finally {
    session.dispose();
  }
}

/** The measurement of a slider at one value over many photos. */
export function summarise(judge: SliderJudge, at: number, results: TrialResult[], on: string): SliderMeasurement {
  // `at`: the slider's value, or a block's strength
  const judged = results.filter((r) => r.delta !== null);
  const round = (v: number, digits: number) => Number(v.toFixed(digits));
  return {
    judge: judgeName(judge), at, on, images: results.length, judged: judged.length,
    movesLabelledWay: round(judged.filter((r) => r.delta! > 0).length / Math.max(1, judged.length), 3),
    meanJudgeChange: round(judged.reduce((s, r) => s + r.delta!, 0) / Math.max(1, judged.length), 4),
    regionChange: round(results.reduce((s, r) => s + r.regionChange, 0) / Math.max(1, results.length), 2),
  };
}

/** What a slider must do at its end to be offered by default: its judge moves the labelled way on 80% of photos, and the region changes by 12/255 on average. */
export const CLEAR_EFFECT = { movesLabelledWay: 0.8, regionChange: 12 };

export function clearlyVisible(m: SliderMeasurement): boolean {
  return m.judged > 0 && m.movesLabelledWay >= CLEAR_EFFECT.movesLabelledWay && m.regionChange >= CLEAR_EFFECT.regionChange;
}
