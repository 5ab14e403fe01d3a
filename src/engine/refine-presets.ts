import type { RefineOptions } from './refine';

/**
 * "Keep fine detail", the app's default refinement: the generator's layers from 32 px up are tuned (the 16 px ones,
 * which hold the face's shape that edits move, stay the bundle's), with one detail map per top-resolution styled
 * layer at Adam 1e-3 (40 steps until session 17; DEFAULT_REFINEMENT below has its steps). Chosen on 6 held-out faces of the demo face model (session 11),
 * against the plain tuning's 100 steps from 16 px: MSE 0.0133 -> 0.0051, SSIM 0.879 -> 0.971, face-api distance
 * 0.50 -> 0.16, sliders at their end in the photo 0.84-1.10 -> 0.83-0.97 of their unrefined effect, 49 -> 10.5 s a
 * face on Node wasm. (The earlier recipe, maps at 3e-4 from 16 px for 100 steps, held edits to 0.74-0.92.) The
 * 100-face figures are in the demo face model's card. Kept free of tfjs so the page's own bundle can read it.
 */
export const FINE_DETAIL: RefineOptions = { fromResolution: 32, detailLearningRate: 1e-3 };

/**
 * What the page's Refine (and automatic refinement) runs by default: fine detail in 32 steps, the locality
 * regulariser every 4th step. Chosen on the GAN face bundle (demo-faces-gan-64; 16 held-out faces, Node wasm, beside
 * other work: `npm run evaluate -- --refine --refine-limit 16 ...`, session 17) against the 40 steps with it every 2nd:
 * MSE 0.0858 -> 0.025 (0.0167), SSIM 0.889 (0.93), face-api distance 0.29 (0.21), same person and rank-1 100% (100%),
 * 5.1 s a face (8.4 s); 25 steps: MSE 0.031, SSIM 0.85, distance 0.35; 30 steps cooled from 4e-3: MSE 0.033; the plain
 * tuning's 40 steps from 16 px: MSE 0.023, SSIM 0.81, distance 0.42, 9.4 s. The sliders' effect in the photo, read by
 * the judges, is the same or stronger than with 40 steps (a lighter tuning holds edits less).
 */
export const DEFAULT_REFINEMENT: RefineOptions & { steps: number } = { ...FINE_DETAIL, localityEvery: 4, steps: 32 };

/** PTI's plain tuning from 16 px (the "keep fine detail" box unticked), which needs more steps. */
export const PLAIN_REFINEMENT: RefineOptions & { steps: number } = { steps: 100 };

/** The page's refinement with or without the photo's fine detail. */
export const refinementSettings = (fineDetail: boolean) => (fineDetail ? DEFAULT_REFINEMENT : PLAIN_REFINEMENT);

/**
 * Why refinement is not offered for a generator of this size on this backend, before the person clicks (null: it
 * is). On the CPU backends a generator over 256 px (the official FFHQ 1024 and cars 512 models) is refused, from
 * `npm run bench:refine -- --models ffhq --resolution N` (Node, wasm, one thread, 2026-12-07): tuning its layers at
 * 128 px held 3.3 GB of tensors (WebAssembly's heap ends at 4 GB; at 256 px it ran out) and took 21 s a step, at
 * 64 px 2.2-2.6 GB and 10-12 s a step: minutes a face, where the demo models take seconds.
 */
export function refinementUnavailable(outputSize: number | undefined, backend: string | null): string | null {
  if (outputSize === undefined || outputSize <= 256 || (backend !== 'wasm' && backend !== 'cpu')) return null;
  return `Refining this ${outputSize} px model is not offered on ${backend === 'wasm' ? 'WebAssembly' : 'plain JavaScript'}: ` +
    'tuning its layers needs more memory than WebAssembly has (over 3 GB at 128 px) and minutes a photo on a CPU. ' +
    'A browser with a GPU (WebGPU or WebGL) refines it; the encoder\'s picture and every edit work here.';
}
