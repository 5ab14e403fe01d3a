import { bytesSource } from '../io/byte-source';
import { loadCheckpoint } from '../io/torch';

/**
 * The editing directions published for the official generators (encoder4editing's InterFaceGAN boundaries and
 * GANSpace components, MIT licence; public/official-directions/), attached when a converted checkpoint is one of
 * the released Style Transformer models: a person who brings the real checkpoint has sliders on arrival.
 */
export type OfficialModel = 'ffhq' | 'cars';

/** The files, without their `.pt`, per official model (the GANSpace file becomes the published presets' sliders). */
export const PUBLISHED_DIRECTIONS: Record<OfficialModel, readonly string[]> = {
  ffhq: ['age', 'smile', 'pose', 'ffhq_pca'],
  cars: ['cars_pca'],
};

export const PUBLISHED_DIRECTIONS_CREDIT = 'Editing directions: InterFaceGAN (age, smile, pose) and GANSpace (with its published presets) for the official generators, as published with encoder4editing (Tov et al., 2021; MIT licence)';

/**
 * Which released model a checkpoint is, by its shapes: the encoder's and the generator's parameter counts of the
 * released FFHQ and cars checkpoints (../shared/spec/official-checkpoint-layout.json), which the layout check has
 * already matched tensor by tensor. Null for any other model (a demo model, a retrained one).
 */
export function officialModel(parameters: { encoder: number; decoder: number }): OfficialModel | null {
  if (parameters.encoder !== 40_620_224) return null;
  if (parameters.decoder === 30_370_060) return 'ffhq';
  if (parameters.decoder === 30_276_583) return 'cars';
  return null;
}

/** The published directions of a model (convert.ts's DirectionInput), read through `read` (a file name -> its bytes: the disk in Node, the page's own assets in a browser). */
export async function publishedDirections(model: OfficialModel, read: (file: string) => Promise<Uint8Array>): Promise<Array<{ name: string; value: unknown }>> {
  return Promise.all(PUBLISHED_DIRECTIONS[model].map(async (name) => {
    const file = `${name}.pt`;
    return { name, value: (await loadCheckpoint(bytesSource(await read(file), file))).root };
  }));
}
