/**
 * npm run direction -- --model <bundle dir> --with <folder> --without <folder> --name <name> --out <file.json>
 *                       [--styles all|coarse|medium|fine|a-b] [--orthogonal-to <id,id>] [--aligned] [--folds 5]
 * Teaches the model a slider from your own examples (issue 33; InterFaceGAN's method, src/engine/teach.ts): every
 * photo in --with has the attribute, every photo in --without does not (10 or more of each); each is framed and
 * inverted as the page does, and a linear boundary between their codes (the mean of the chosen styles) gives the
 * direction. It prints the boundary's leave-some-out accuracy and writes the direction, which
 * `npm run invert -- --direction <file>=<value>` applies (1: from the average photo without to the average with).
 * --orthogonal-to makes it leave the model's InterFaceGAN directions with those ids alone (conditional editing, so a
 * taught "beard" need not also change "male"). --aligned: the photos are already aligned crops (held-out CelebA).
 * A photo that fails (no face, not an image) is named and skipped.
 * --celeba <attribute> --data <faces dataset> teaches from the held-out CelebA identities instead of folders (the
 * first --examples faces with the attribute and without it, by their labels) and then measures the slider as the
 * calibration measures the shipped ones (src/engine/slider-effects.ts): on the next --test held-out faces without the
 * attribute, refined as the page refines them, at 1 and 2, the latent classifier's reading of the attribute and, for
 * smiling, young or male, face-api's in grayscale; with the change's lightness and colour share.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { StudioModel } from '../src/engine/model';
import { EditorSession } from '../src/engine/session';
import { DEFAULT_REFINEMENT } from '../src/engine/refine-presets';
import { blockJudge, measureOnPhoto, summarise, type SliderJudge, type Trial, type TrialResult } from '../src/engine/slider-effects';
import { clearlyVisible, notClearBecause } from '../src/engine/slider-rules';
import { ENOUGH_EXAMPLES, meanStyle, taughtDirectionFile, teachDirection, type TaughtDirection } from '../src/engine/teach';
import { namedStyleRange } from '../src/models/style-groups';
import { useNodeBackend } from '../src/node/backend';
import { useGradients } from '../src/node/gradients';
import { decodePhoto, nodeFaceDetector } from '../src/node/photo';
import type { FaceDetector } from '../src/photo/faces';
import type { RgbImage } from '../src/photo/types';
import { loadBundle } from '../src/weights/loader';
import { directoryFiles } from '../src/weights/node-files';
import { defineCli, parseCli, usageError } from './cli';
import { heldOutRows, tiles, type DatasetRow } from './held-out';

const CLI = defineCli({
  name: 'direction',
  usage: 'usage: npm run direction -- --model <bundle dir> --with <folder> --without <folder> --name <name> --out <file.json> [options]',
  about: 'Teaches the model a slider from examples (InterFaceGAN\'s linear boundary between the codes of photos with and without an\nattribute), prints its leave-some-out accuracy and writes it for npm run invert -- --direction <file>=<value>.',
  options: {
    model: { type: 'string', value: '<bundle dir>', help: 'the model to teach' },
    with: { type: 'string', value: '<folder>', help: 'photos that have the attribute (10 or more)' },
    without: { type: 'string', value: '<folder>', help: 'photos that do not (10 or more)' },
    name: { type: 'string', value: '<name>', help: 'the slider\'s name' },
    out: { type: 'string', value: '<file.json>', help: 'where the direction is written' },
    styles: { type: 'string', default: 'all', value: '<range>', help: 'the styles to learn on and edit: all, coarse, medium, fine (joined by +) or a-b' },
    'orthogonal-to': { type: 'string', value: '<ids>', help: 'the model\'s InterFaceGAN directions to leave alone, comma-separated' },
    aligned: { type: 'boolean', default: false, help: 'the photos are aligned crops already (no face detection)' },
    folds: { type: 'string', default: '5', value: '<k>', help: 'parts of the leave-some-out accuracy' },
    celeba: { type: 'string', value: '<attribute>', help: 'teach from held-out CelebA faces by this label instead of folders, then measure it (with --data)' },
    data: { type: 'string', value: '<folder>', help: 'the faces dataset for --celeba (../shared/datasets/faces-64)' },
    examples: { type: 'string', default: '20', value: '<n>', help: '--celeba: faces on each side' },
    test: { type: 'string', default: '20', value: '<n>', help: '--celeba: other held-out faces to measure on' },
    verbose: { type: 'boolean', default: false, help: 'print the stack of an unexpected error' },
  },
});

/** One updating line on a terminal; only the last line of a count in a log (CI, a file). */
function progress(line: string, last: boolean) {
  if (process.stderr.isTTY) process.stderr.write(`\r${line}${last ? '\n' : ''}`);
  else if (last) console.error(line);
}


async function main() {
  const { values } = parseCli(CLI);
  const fromCeleba = values.celeba !== undefined && values.data !== undefined;
  if (!values.model || !(fromCeleba || (values.with && values.without)) || !values.name || !values.out) {
    usageError(CLI, '--model, --name, --out and either --with and --without or --celeba with --data are required');
  }
  await useNodeBackend('wasm');
  const { manifest, weights } = await loadBundle(directoryFiles(values.model));
  const model = await StudioModel.load(manifest, weights);
  const { nLatent, styleDim } = model.generator.config;
  let range: { start: number; end: number };
  let orthogonalTo: Float32Array[];
  const ids = values['orthogonal-to']?.split(',').map((s) => s.trim()).filter(Boolean) ?? [];
  try {
    range = namedStyleRange(values.styles, nLatent);
    orthogonalTo = await Promise.all(ids.map((id) => model.fixedDirection(id, range)));
  } catch (error) {
    usageError(CLI, (error as Error).message);
  }
  const aligned = values.aligned || fromCeleba;
  const detector = manifest.domain === 'face' ? await nodeFaceDetector() : null;
  const session = new EditorSession(model, detector);

  // the photos of each side: a folder's files, or held-out CelebA tiles by their label
  const examples = Number(values.examples);
  const held = fromCeleba ? await heldOutRows(values.data!, 'face') : [];
  if (fromCeleba && !(values.celeba! in (held[0] ?? {}))) usageError(CLI, `${values.celeba} is not a CelebA attribute of ${values.data}'s index.csv`);
  const labelled = (label: string) => held.filter((r) => r[values.celeba!] === label);
  const photosOf = async (folder: string | undefined, label: string): Promise<Array<{ name: string; photo: () => Promise<RgbImage> }>> => {
    if (fromCeleba) {
      const rows = labelled(label).slice(0, examples);
      const images = await tiles(values.data!, rows, 'face');
      return images.map((image, i) => ({ name: `held-out ${rows[i].identity}`, photo: async () => image }));
    }
    const files = (await readdir(folder!)).filter((f) => /^\.(jpe?g|png|webp)$/i.test(extname(f))).sort();
    return files.map((file) => ({ name: file, photo: async () => decodePhoto(new Uint8Array(await readFile(join(folder!, file))), file) }));
  };

  const codesOf = async (folder: string | undefined, label: string, side: string): Promise<Float64Array[]> => {
    const files = await photosOf(folder, label);
    const out: Float64Array[] = [];
    for (const [i, { name: file, photo }] of files.entries()) {
      try {
        await session.setPhoto(await photo(), 'subject', !aligned);
        await session.frame(aligned ? { kind: 'resize' } : session.defaultFraming());
        await session.invert('subject', { identity: false });
        const codes = await session.exportCodes();
        out.push(meanStyle(codes.data, nLatent, styleDim, range));
        progress(`${side}: ${i + 1}/${files.length} inverted`, i + 1 === files.length);
      } catch (error) {
        console.error(`${side}: ${file} skipped: ${(error as Error).message}`);
      }
    }
    return out;
  };
  const having = await codesOf(values.with, '1', 'with');
  const lacking = await codesOf(values.without, '-1', 'without');
  if (having.length < 2 || lacking.length < 2) {
    console.error(`direction: a boundary needs photos on both sides; inverted ${having.length} with and ${lacking.length} without`);
    process.exit(1);
  }
  if (having.length < ENOUGH_EXAMPLES || lacking.length < ENOUGH_EXAMPLES) {
    console.error(`direction: only ${having.length} with and ${lacking.length} without; ${ENOUGH_EXAMPLES} or more of each give a boundary to trust`);
  }
  const folds = Math.max(2, Number(values.folds));
  const taught = teachDirection(having, lacking, orthogonalTo, folds);
  const file = taughtDirectionFile(values.name, { name: manifest.name, nLatent, styleDim }, range, taught, { with: having.length, without: lacking.length }, ids);
  await writeFile(values.out, `${JSON.stringify(file)}\n`);
  console.log(`${values.name}: taught from ${having.length} photos with and ${lacking.length} without on styles ${range.start}-${range.end - 1}; ` +
    `held-out accuracy ${(taught.heldOut * 100).toFixed(0)}% (${file.accuracy.folds} folds)${ids.length ? `, orthogonal to ${ids.join(', ')}` : ''} -> ${values.out}`);
  console.log(`apply it: npm run invert -- --model ${values.model} --direction ${values.out}=1 --out <dir> <photo>`);
  session.dispose();
  if (fromCeleba) await measure(model, detector!, file, labelled('-1').slice(examples, examples + Number(values.test)), values.data!, values.celeba!);
  model.dispose();
}

/**
 * The taught slider on held-out faces it was not taught on (without the attribute), refined as the page refines them,
 * at 1 and 2: the judges the calibration uses for the shipped sliders.
 */
async function measure(model: StudioModel, detector: FaceDetector, taught: TaughtDirection, rows: DatasetRow[], data: string, attribute: string) {
  useGradients();
  const spec = model.addTaughtDirection(taught);
  const photos = await tiles(data, rows, 'face');
  const index = model.manifest.classifier?.attributes.indexOf(attribute) ?? -1;
  const judges: SliderJudge[] = [];
  if (index >= 0) judges.push({ kind: 'classifier', attribute, index, sign: 1 });
  const faceApi = blockJudge(model, attribute);
  if (faceApi?.kind === 'face-api') judges.push(faceApi);
  const trials: Trial[] = judges.flatMap((judge) => [1, 2].map((value) => ({ direction: spec, value, judge })));
  const results: TrialResult[][] = trials.map(() => []);
  for (const [i, photo] of photos.entries()) {
    (await measureOnPhoto(model, detector, photo, trials, DEFAULT_REFINEMENT)).forEach((r, k) => results[k].push(r));
    progress(`measured on ${i + 1}/${photos.length} held-out faces without ${attribute}`, i + 1 === photos.length);
  }
  for (const [k, t] of trials.entries()) {
    const m = summarise(t.judge, t.value!, results[k], 'held-out CelebA faces without the attribute, refined');
    console.log(`${taught.name} at ${t.value}: ${m.judge} moves the labelled way on ${Math.round(m.movesLabelledWay * 100)}% of ${m.judged} (mean change ${m.meanJudgeChange}); ` +
      `${m.lightnessChange} L*, colour share ${m.chromaShare}${m.samePerson !== undefined ? `, same person ${Math.round(m.samePerson * 100)}%` : ''}, re-encoding ${m.reencodingRatio}x; clear by the shipped sliders' rule: ${clearlyVisible(m, attribute, 'face') ? 'yes' : `no (${notClearBecause(m, attribute, 'face')})`}`);
  }
}

// One line for a failure (a stack only with --verbose): the wasm backend's own source would otherwise fill the screen.
main().catch((error: Error) => {
  console.error(`direction: ${error.message}`);
  if (process.argv.includes('--verbose')) console.error(error.stack);
  process.exit(1);
});
