import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { registerMissingGradients } from '../engine/gradients';

/** tfjs's gradients (registered by the import above) and ours, in the page or a worker. */
export function useGradients(): void {
  registerMissingGradients();
}
