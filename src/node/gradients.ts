import { createRequire } from 'node:module';
import { registerMissingGradients } from '../engine/gradients';

/**
 * tfjs's gradients live in @tensorflow/tfjs-core/dist/register_all_gradients, an ES module whose extension-less
 * imports Node cannot load; @tensorflow/tfjs's CommonJS build registers the same gradients in the one registry
 * tfjs-core keeps (a global), so requiring it is enough.
 */
let done = false;
export function useGradients(): void {
  if (done) return;
  createRequire(import.meta.url)('@tensorflow/tfjs');
  registerMissingGradients();
  done = true;
}
