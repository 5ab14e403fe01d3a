/**
 * npm run sheet -- --model <face bundle dir> --data ../shared/datasets/faces-64 --out <file.jpg> [--faces 8] [--plain]
 * A picture sheet of what the model does to faces it never saw, as the page does it: one column per held-out face;
 * rows: the photo, its refined reconstruction (the page's default refinement; --plain: the encoder's alone), each
 * slider the panel offers by default at both ends, and each learned editing block with the next face as the
 * reference. Every picture but the reconstruction is the composite a person downloads (the photo plus the edit's
 * change), so anyone can see what the sliders do before using them.
 */
import { writeFile } from 'node:fs/promises';
import { sliderPanel } from '../app/sliders';
import { StudioModel } from '../src/engine/model';
import { DEFAULT_REFINEMENT } from '../src/engine/refine-presets';
import { EditorSession } from '../src/engine/session';
import { useNodeBackend } from '../src/node/backend';
import { useGradients } from '../src/node/gradients';
import { nodeFaceDetector } from '../src/node/photo';
import type { RgbImage } from '../src/photo/types';
import { loadBundle } from '../src/weights/loader';
import { directoryFiles } from '../src/weights/node-files';
import { heldOutRows, tiles } from './held-out';
import { defineCli, parseCli, usageError } from './cli';
import { drawSheet } from './picture-sheet';

const CLI = defineCli({
  name: 'sheet',
  usage: 'usage: npm run sheet -- --model <face bundle dir> --data <faces dataset folder> --out <file.jpg> [options]',
  about: 'A picture sheet of what a face model does to held-out faces, as the page does it: the photo, its refined reconstruction, each\nslider the panel offers at both ends and each editing block, as composites.',
  options: {
    model: { type: 'string', value: '<bundle dir>', help: 'the face bundle' },
    data: { type: 'string', value: '<folder>', help: 'the faces dataset (../shared/datasets/faces-64): its held-out identities' },
    out: { type: 'string', value: '<file.jpg>', help: 'the sheet' },
    faces: { type: 'string', default: '8', value: '<n>', help: 'held-out faces (columns)' },
    plain: { type: 'boolean', default: false, help: 'the encoder\'s reconstruction, not refined' },
  },
});

async function main() {
  const { values } = parseCli(CLI);
  if (!values.model || !values.data || !values.out) usageError(CLI, '--model, --data and --out are required');
  await useNodeBackend('wasm');
  useGradients();
  const { manifest, weights } = await loadBundle(directoryFiles(values.model));
  if (manifest.domain !== 'face') throw new Error('the picture sheet is for face bundles');
  const model = await StudioModel.load(manifest, weights);
  const detector = await nodeFaceDetector();
  const faces = await tiles(values.data, await heldOutRows(values.data, 'face', Number(values.faces)), 'face');
  const attributes = manifest.classifier?.attributes ?? [];
  const offered = sliderPanel(manifest.directions, attributes, 'face').groups.flatMap((g) => g.sliders);
  const rows: Array<{ label: string; pictures: RgbImage[] }> = [
    { label: 'photo (held out)', pictures: faces },
    { label: values.plain ? 'reconstruction (encoder)' : `refined (${DEFAULT_REFINEMENT.steps} steps)`, pictures: [] },
    ...offered.flatMap((s) => [{ label: `${s.name} −`, pictures: [] }, { label: `${s.name} +`, pictures: [] }]),
    ...manifest.editBlocks.map((b) => ({ label: `${b.attribute.replace(/_/g, ' ')} from the next face`, pictures: [] as RgbImage[] })),
  ];
  for (const [i, face] of faces.entries()) {
    const session = new EditorSession(model, detector);
    await session.setPhoto(face, 'subject', false);
    await session.frame({ kind: 'resize' });
    await session.invert('subject', { identity: false });
    if (!values.plain) await session.refine({ ...DEFAULT_REFINEMENT, identity: false });
    let row = 1;
    rows[row++].pictures.push((await session.reconstruct('subject')).reconstruction);
    for (const s of offered) {
      for (const value of [s.direction.min, s.direction.max]) rows[row++].pictures.push(await session.composite([{ direction: s.direction.id, value }]));
    }
    const reference = faces[(i + 1) % faces.length];
    await session.setPhoto(reference, 'reference', false);
    await session.frame({ kind: 'resize' }, 'reference');
    await session.invert('reference', { identity: false });
    for (const b of manifest.editBlocks) rows[row++].pictures.push(await session.composite([], { kind: 'block', block: b.id, strength: 1 }));
    session.dispose();
    console.error(`sheet: face ${i + 1}/${faces.length}`);
  }
  await writeFile(values.out, await drawSheet(rows, `${manifest.name}: ${faces.length} held-out faces; every picture but the reconstruction is the photo edited as the page edits it`));
  console.log(`sheet ${values.out}: ${rows.length} rows (${offered.length} sliders offered by default at both ends, ${manifest.editBlocks.length} editing blocks) x ${faces.length} faces`);
  model.dispose();
}

void main();
