import { checkTaughtDirection, type TaughtDirection } from '../src/engine/teach';

/**
 * Sliders a person taught (src/engine/teach.ts) belong to the model they were taught on and persist in this browser:
 * a few kilobytes each (one vector of the style width), kept in localStorage under the model's id. A full or private
 * storage keeps them for this visit only; the page says so when saving fails.
 */
const key = (modelId: string) => `style-transformer-studio:taught:${modelId}`;

export function storedTaught(modelId: string): TaughtDirection[] {
  try {
    const parsed = JSON.parse(localStorage.getItem(key(modelId)) ?? '[]') as unknown;
    return Array.isArray(parsed) ? parsed.filter((t): t is TaughtDirection => (t as TaughtDirection)?.format === 'stst-taught-direction/1') : [];
  } catch {
    return [];
  }
}

/** Saves a taught slider (replacing one of the same name); false when the browser would not keep it. */
export function storeTaught(modelId: string, taught: TaughtDirection): boolean {
  const kept = [...storedTaught(modelId).filter((t) => t.name !== taught.name), taught];
  try {
    localStorage.setItem(key(modelId), JSON.stringify(kept));
    return true;
  } catch {
    return false;
  }
}

export function forgetTaught(modelId: string, name: string): void {
  try {
    localStorage.setItem(key(modelId), JSON.stringify(storedTaught(modelId).filter((t) => t.name !== name)));
  } catch {
    // nothing was kept, nothing to forget
  }
}

/** A file of taught sliders (exported from this page or written by npm run direction), checked against the model. */
export function parseTaughtFile(text: string, model: { nLatent: number; styleDim: number }): TaughtDirection[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error('it is not a file of taught sliders (not JSON)');
  }
  return (Array.isArray(parsed) ? parsed : [parsed]).map((t) => checkTaughtDirection(t, model));
}
