import * as tf from '@tensorflow/tfjs-core';
import { alignedFaceRegion, boxRegion } from '../photo/composite';
import { resizeRgb } from '../photo/resample';
import { colourChange, grayscale, labPixels } from '../photo/colour-change';
import { AlignedFace, descriptorDistance, SAME_PERSON_DISTANCE, type FaceDetector, type FaceJudgement } from '../photo/faces';
import type { RgbImage } from '../photo/types';
import type { StyleRange } from '../models/editing';
import type { DirectionSpec, SliderMeasurement } from '../weights/bundle';
import { fromRgb } from './image';
import type { EditValue, StudioModel } from './model';
import type { RefineOptions } from './refine';
import { colourStatistics, reencodingError, type ColourStatistics } from './quality';
import { EditorSession, type Transfer } from './session';
import { directionAttribute, KEEPS_THE_PERSON } from './slider-rules';

/**
 * What each slider does to a photo, read by judges: face-api's expression network ("happy") for smiling, its age
 * and gender network for young and male (networks we did not train), reading the pictures in grayscale so that a
 * change of colour alone cannot move them; the latent classifier for the other face attributes, the colour
 * statistics its name claims for a car slider; how much it changes the face-and-hair region (or the car's crop),
 * and how much of that change is colour rather than lightness (Lab). Measured on the composite a user downloads
 * (src/photo/composite.ts): the photo plus the edit's change, so "before" is the photo itself.
 */
export type SliderJudge =
  | { kind: 'face-api'; measure: keyof FaceJudgement; sign: 1 | -1; attribute: string }
  | { kind: 'classifier'; attribute: string; index: number; sign: 1 }
  | { kind: 'colour'; measure: keyof ColourStatistics; sign: 1 | -1; attribute: string };

/** Attributes face-api reads itself, and the way its reading moves when the attribute grows. */
const FACE_API: Record<string, [keyof FaceJudgement, 1 | -1]> = { Smiling: ['happy', 1], Young: ['age', -1], Male: ['male', 1] };

/**
 * The car sliders' names and what each claims, in the colour statistics of the picture (named by looking at the
 * components; measured here). A new model's GANSpace names need a row.
 */
export const COLOUR_NAMED_BY: Record<string, [keyof ColourStatistics, 1 | -1]> = {
  lighting: ['brightness', 1], 'lighter paint': ['centreBrightness', 1], 'deeper colour': ['centreBrightness', -1], 'warmer colour': ['warmth', 1],
};

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
  if (judge.kind === 'face-api') return `face-api ${judge.measure === 'happy' ? 'expression (happy)' : judge.measure === 'age' ? 'age (lower)' : 'gender (male)'} in grayscale`;
  if (judge.kind === 'classifier') return `latent classifier (${judge.attribute})`;
  return `colour statistics (${judge.measure}${judge.sign < 0 ? ', lower' : ''})`;
}

/** A slider at a value, or (with `transfer`) a learned editing block with a reference photo framed like the photo. */
export interface Trial {
  direction?: DirectionSpec;
  value?: number;
  /** The styles the slider edits (its own range when absent). */
  range?: StyleRange;
  transfer?: { block: string; reference: RgbImage; strength: number };
  judge: SliderJudge;
  /** Where the edit reaches the photo (EditorSession.regionRule; the page's rule when absent). */
  region?: EditorSession['regionRule'];
}

/** The judge of an editing block: its attribute read as a slider of that attribute would be. */
export function blockJudge(model: StudioModel, attribute: string): SliderJudge | null {
  if (FACE_API[attribute]) return { kind: 'face-api', measure: FACE_API[attribute][0], sign: FACE_API[attribute][1], attribute };
  const index = model.manifest.classifier?.attributes.indexOf(attribute) ?? -1;
  return index >= 0 ? { kind: 'classifier', attribute, index, sign: 1 } : null;
}

/**
 * One trial on one photo: the judge's change in the labelled direction (null: the judge could not read it), the
 * region's mean change (of 255), its change in Lab, and, where the attribute should keep the person, whether
 * face-api still reads the composite as the photo's person (null: not asked, or no face found); `reach`: the
 * share of the generated change's energy under the blend weight (src/photo/composite.ts changeReach); `reencoding`:
 * the edited codes' re-encoding error over the photo's own codes' (1: as much a face of the generator as the photo).
 */
export interface TrialResult { delta: number | null; regionChange: number; lightness: number; chroma: number; samePerson: boolean | null; reach: number; reencoding: number }

/** The re-encoding error of the photo's codes with these edits, rendered by the bundle's generator (not the photo's tuned layers). */
function reencodingOf(model: StudioModel, session: EditorSession, edits: EditValue[], transfer: Transfer | null = null): number {
  const codes = session.editedCodes(edits, transfer);
  try {
    return reencodingError(model, codes);
  } finally {
    codes.dispose();
  }
}

/**
 * Runs trials on one photo that is already framed as the model frames (an aligned face, a car crop): the photo
 * is inverted (and refined, with `refinement`, as the page refines it), each trial's composite made and judged
 * against the photo itself.
 */
export async function measureOnPhoto(model: StudioModel, detector: FaceDetector | null, photo: RgbImage, trials: Trial[], refinement?: RefineOptions): Promise<TrialResult[]> {
  const session = new EditorSession(model, detector);
  try {
    await session.setPhoto(photo, 'subject', false);
    await session.frame({ kind: 'resize' });
    await session.invert('subject', { identity: false });
    if (refinement) await session.refine({ ...refinement, identity: false });
    const composites: RgbImage[] = [];
    const reach: number[] = [];
    const manifold: number[] = [];
    // How far an edit leaves the faces the generator makes: the re-encoding error of its codes against the photo's
    // own (quality.ts). A slider pushed until a judge moves can render smudges a judge still reads as the attribute.
    const ownError = reencodingOf(model, session, []);
    for (const t of trials) {
      let edits: EditValue[] = [];
      let transfer: Transfer | null = null;
      if (t.transfer) {
        await session.setPhoto(t.transfer.reference, 'reference', false);
        await session.frame({ kind: 'resize' }, 'reference');
        await session.invert('reference');
        transfer = { kind: 'block', block: t.transfer.block, strength: t.transfer.strength };
      } else {
        edits = [{ direction: t.direction!.id, value: t.value!, range: t.range }];
      }
      session.regionRule = t.region ?? 'follows the change';
      const made = await session.renderWithComposite(edits, transfer, { reach: true });
      composites.push(made.result);
      reach.push(made.reach!);
      manifold.push(reencodingOf(model, session, edits, transfer) / ownError);
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
    const samePerson: Array<boolean | null> = trials.map(() => null);
    const faceApiTrials = trials.flatMap((t, i) => (t.judge.kind === 'face-api' ? [i] : []));
    if (faceApiTrials.length && detector?.judgeRegion) {
      const gray = await AlignedFace.locate(detector, grayscale(photo));
      if (gray) {
        const before = await gray.faceJudgement();
        for (const i of faceApiTrials) {
          const judge = trials[i].judge as Extract<SliderJudge, { kind: 'face-api' }>;
          deltas[i] = judge.sign * ((await gray.judge(grayscale(composites[i])))[judge.measure] - before[judge.measure]);
        }
      }
    }
    const identityTrials = trials.flatMap((t, i) => (KEEPS_THE_PERSON.has(t.judge.attribute) && model.manifest.domain === 'face' ? [i] : []));
    if (identityTrials.length && detector) {
      const located = await AlignedFace.locate(detector, photo);
      if (located) {
        const own = await located.faceDescriptor();
        for (const i of identityTrials) samePerson[i] = descriptorDistance(own, await located.describe(composites[i])) < SAME_PERSON_DISTANCE;
      }
    }
    const photoLab = labPixels(photo);
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
    return trials.map((_, i) => {
      const { lightness, chroma } = colourChange(photoLab, composites[i], mask);
      return { delta: deltas[i], regionChange: regionChange(composites[i]), lightness, chroma, samePerson: samePerson[i], reach: reach[i], reencoding: manifold[i] };
    });
  } finally {
    session.dispose();
  }
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : 0;
};

/** The measurement of a slider at one value over many photos. */
export function summarise(judge: SliderJudge, at: number, results: TrialResult[], on: string): SliderMeasurement {
  // `at`: the slider's value, or a block's strength
  const judged = results.filter((r) => r.delta !== null);
  const round = (v: number, digits: number) => Number(v.toFixed(digits));
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
  const lightness = mean(results.map((r) => r.lightness));
  const chroma = mean(results.map((r) => r.chroma));
  const asked = results.filter((r) => r.samePerson !== null);
  return {
    judge: judgeName(judge), at, on, images: results.length, judged: judged.length,
    movesLabelledWay: round(judged.filter((r) => r.delta! > 0).length / Math.max(1, judged.length), 3),
    meanJudgeChange: round(mean(judged.map((r) => r.delta!)), 4),
    regionChange: round(mean(results.map((r) => r.regionChange)), 2),
    lightnessChange: round(lightness, 2),
    chromaShare: round(lightness + chroma > 0 ? chroma / (lightness + chroma) : 0, 3),
    ...(asked.length ? { samePerson: round(asked.filter((r) => r.samePerson).length / asked.length, 3) } : {}),
    reach: round(mean(results.map((r) => r.reach)), 3),
    reencodingRatio: round(median(results.map((r) => r.reencoding)), 2),
  };
}
