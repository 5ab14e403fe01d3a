import type { RefineOptions } from './refine';

/**
 * "Keep fine detail", the app's default refinement: the generator's layers from 32 px up are tuned (the 16 px ones,
 * which hold the face's shape that edits move, stay the bundle's), with one detail map per top-resolution styled
 * layer at Adam 1e-3, for FINE_DETAIL_STEPS steps. Chosen on 6 held-out faces of the demo face model (session 11),
 * against the plain tuning's 100 steps from 16 px: MSE 0.0133 -> 0.0051, SSIM 0.879 -> 0.971, face-api distance
 * 0.50 -> 0.16, sliders at their end in the photo 0.84-1.10 -> 0.83-0.97 of their unrefined effect, 49 -> 10.5 s a
 * face on Node wasm. (The earlier recipe, maps at 3e-4 from 16 px for 100 steps, held edits to 0.74-0.92.) The
 * 100-face figures are in the demo face model's card. Kept free of tfjs so the page's own bundle can read it.
 */
export const FINE_DETAIL: RefineOptions = { fromResolution: 32, detailLearningRate: 1e-3 };
export const FINE_DETAIL_STEPS = 40;
/** The plain tuning (no detail maps): PTI's recipe from 16 px, which needs more steps. */
export const PLAIN_REFINE_STEPS = 100;

/** What the page's Refine (and automatic refinement) runs by default, and `invert --refine` too. */
export const DEFAULT_REFINEMENT: RefineOptions & { steps: number } = { ...FINE_DETAIL, steps: FINE_DETAIL_STEPS };
