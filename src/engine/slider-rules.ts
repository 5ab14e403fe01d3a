import type { DirectionSpec, SliderMeasurement } from '../weights/bundle';

/**
 * The rules that say what a slider edits and whether it is offered: plain data and arithmetic, free of tfjs, so the
 * page's own bundle (the slider panel, app/sliders.ts) reads them without the engine; slider-effects.ts measures.
 */

/**
 * InterFaceGAN boundaries are named by their attribute in lower case (smiling, young, ...). The published `age`
 * boundary of the official FFHQ model is not Young: its + end is older, so it keeps its own name ("Age").
 */
const INTERFACEGAN_ATTRIBUTE: Record<string, string> = { smiling: 'Smiling', smile: 'Smiling', young: 'Young', male: 'Male', eyeglasses: 'Eyeglasses', bangs: 'Bangs' };

/**
 * Attributes that *are* colour (hair colour, make-up, pale skin, rosy cheeks): their change may be mostly chroma.
 * Every other face attribute is a change of shape or shading, and a slider whose change is mostly colour paints.
 */
export const COLOUR_ATTRIBUTES = new Set(['Black_Hair', 'Blond_Hair', 'Brown_Hair', 'Gray_Hair', 'Heavy_Makeup', 'Wearing_Lipstick', 'Pale_Skin', 'Rosy_Cheeks']);

/** Attributes whose edit should leave the same person (face-api's rule), unlike gender or age. */
export const KEEPS_THE_PERSON = new Set(['Smiling', 'Mouth_Slightly_Open', 'Eyeglasses', 'Bangs', 'Black_Hair', 'Blond_Hair', 'Brown_Hair', 'Gray_Hair', 'Wavy_Hair', 'Straight_Hair']);

/** The CelebA attribute a face direction edits (InterFaceGAN by its name, label directions by their class). */
export function directionAttribute(d: DirectionSpec, classifierAttributes: readonly string[]): string | null {
  if (d.kind === 'interfacegan') return INTERFACEGAN_ATTRIBUTE[d.id] ?? null;
  if (d.kind === 'label') return classifierAttributes[d.attribute] ?? null;
  return null;
}

/**
 * What a slider must do at its end to be offered by default: its edited codes re-encode within 5 times the photo's
 * own error (median over the photos: the picture is still a face the generator makes; chosen by looking at the GAN
 * bundle's picture sheet, where ends at 2.5-5x look like faces and Narrow eyes at 6.4x and Male at 27x show smudges
 * that face-api still read as the attribute; the weak encoder maps even good edits some way off); its judge moves the
 * labelled way on 80% of photos;
 * a face attribute that is not itself a colour changes lightness by 3.5 L* with at most 40% of its change in colour
 * (a slider that paints is not offered, however its judge reads it); colour attributes and car sliders change the
 * region by 12/255; an attribute that should keep the person keeps face-api's same-person verdict on 80% of photos.
 */
export const CLEAR_EFFECT = { movesLabelledWay: 0.8, regionChange: 12, chromaShare: 0.4, lightnessChange: 3.5, samePerson: 0.8, reencodingRatio: 5 };

export function clearlyVisible(m: SliderMeasurement, attribute: string | null = null, domain: 'face' | 'car' = 'face'): boolean {
  if (m.judged === 0 || m.movesLabelledWay < CLEAR_EFFECT.movesLabelledWay) return false;
  if (m.samePerson !== undefined && m.samePerson < CLEAR_EFFECT.samePerson) return false;
  if (m.reencodingRatio !== undefined && m.reencodingRatio > CLEAR_EFFECT.reencodingRatio) return false;
  if (domain === 'car' || (attribute !== null && COLOUR_ATTRIBUTES.has(attribute))) return m.regionChange >= CLEAR_EFFECT.regionChange;
  return (m.chromaShare ?? 1) <= CLEAR_EFFECT.chromaShare && (m.lightnessChange ?? 0) >= CLEAR_EFFECT.lightnessChange;
}

/** Why a measured slider is not offered, in a few words (null when it is clear). */
export function notClearBecause(m: SliderMeasurement, attribute: string | null = null, domain: 'face' | 'car' = 'face'): string | null {
  if (clearlyVisible(m, attribute, domain)) return null;
  if (m.judged === 0) return 'its judge could not read it';
  if (m.movesLabelledWay < CLEAR_EFFECT.movesLabelledWay) return `its judge moves the labelled way on ${Math.round(m.movesLabelledWay * 100)}% of faces`;
  if (m.samePerson !== undefined && m.samePerson < CLEAR_EFFECT.samePerson) return `it keeps the person on ${Math.round(m.samePerson * 100)}% of faces`;
  if (m.reencodingRatio !== undefined && m.reencodingRatio > CLEAR_EFFECT.reencodingRatio) return `its end leaves the faces the generator makes (re-encoding error ${m.reencodingRatio}× the photo's)`;
  if (domain === 'car' || (attribute !== null && COLOUR_ATTRIBUTES.has(attribute))) return `the picture changes by ${m.regionChange}/255`;
  if ((m.chromaShare ?? 1) > CLEAR_EFFECT.chromaShare) return `${Math.round((m.chromaShare ?? 1) * 100)}% of its change is colour`;
  return `its lightness changes by ${m.lightnessChange} L*`;
}
