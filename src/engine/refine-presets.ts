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
 * A generator over 256 px (the official FFHQ 1024 and cars 512 models) on WebAssembly is tuned at 64 px, in the
 * page's usual steps: its layers up to 64 px follow the photo (the face's shape, pose and tones), the finer ones stay
 * the checkpoint's. Measured on this project's 2-core VM (2026-12-07): `npm run bench:refine -- --models ffhq` (Node,
 * the stride-1 and upsampling layers and their gradients in the WebAssembly kernel on 2 threads) 61 s a face, a
 * median 1.53 s a step, 1.2 GB (tfjs-wasm's heap and the kernel's memory); in Chromium 2.1 s a step (e2e 19). At
 * 128 px a step took 3.5 s and 1.8 GB in Node: over 90 s a face in Chromium.
 */
export const LARGE_MODEL_TUNING = { resolution: 64 } as const;

/** Over this output size a generator is tuned at LARGE_MODEL_TUNING's resolution on the CPU backends. */
const CPU_TUNING_LIMIT = 256;

/**
 * The page's refinement of a model of this output size on this backend: refinementSettings, tuned at the model's
 * own size up to 256 px (refine.ts), or on WebAssembly a larger generator at LARGE_MODEL_TUNING's.
 */
export function refinementPlan(fineDetail: boolean, outputSize: number | undefined, backend: string | null): RefineOptions & { steps: number } {
  const settings = refinementSettings(fineDetail);
  if (outputSize === undefined || outputSize <= CPU_TUNING_LIMIT || (backend !== 'wasm' && backend !== 'cpu')) return settings;
  return { ...settings, ...LARGE_MODEL_TUNING };
}

/** What a refinement at a reduced size means, for the Result panel (null where the model is tuned at its own size up to 256 px). */
export function refinementNote(outputSize: number | undefined, backend: string | null): string | null {
  const plan = refinementPlan(true, outputSize, backend);
  if (plan.resolution === undefined || refinementUnavailable(outputSize, backend)) return null;
  return `On WebAssembly this ${outputSize} px model is refined at ${plan.resolution} px (${plan.steps} steps, about a minute on 2 cores): ` +
    'the face\'s shape, pose and tones follow the photo; finer detail stays the generator\'s. A browser with a GPU refines it at 256 px.';
}

/**
 * Why refinement is not offered for a generator of this size on this backend, before the person clicks (null: it
 * is). On plain JavaScript (the cpu backend, where WebAssembly is unavailable) a generator over 256 px is refused:
 * it has no SIMD kernel and one thread, and tuning the official FFHQ model there took minutes a step.
 */
export function refinementUnavailable(outputSize: number | undefined, backend: string | null): string | null {
  if (outputSize === undefined || outputSize <= CPU_TUNING_LIMIT || backend !== 'cpu') return null;
  return `Refining this ${outputSize} px model is not offered on plain JavaScript: tuning its layers there takes minutes a step. ` +
    'WebAssembly refines it at 64 px and a browser with a GPU (WebGPU or WebGL) at 256 px; the encoder\'s picture and every edit work here.';
}
