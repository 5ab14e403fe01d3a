/**
 * npm run invert -- --model <bundle dir> --out <dir> [--aligned] [--raw] [--pasteback [--paste change|generated]]
 *                    [--edit <direction>=<value>]... [--direction <taught.json>=<value>]... [--transfer <reference photo>:<block>]
 *                    [--refine [--refine-steps N] [--refine-plain]]
 *                    [--backend wasm|cpu] <image>...
 * The whole photo pipeline without a browser (the same EditorSession the app's worker uses). Per image,
 * <out>/<name>/: aligned.png, reconstruction.png, codes.npy (W+, float32), report.json, with --raw image.npy (the
 * generator's float32 output before clamping, NCHW, full resolution).
 * --edit moves the codes along a direction of the model (repeatable; the ids are the model's slider ids), --direction
 * along a direction taught with `npm run direction` (repeatable; 1 moves from the average photo without to the
 * average with), and
 * --transfer applies a learned editing block with a second photo as the reference; both write edit.png.
 * --pasteback writes pasteback.png at the photo's full resolution: by default the photo plus what the edit changes,
 * inside the face-and-hair region (faces) or the crop box (cars), so the photo keeps its own detail and an
 * unedited photo comes back unchanged (src/photo/composite.ts); --paste generated puts the generated crop itself
 * into the photo instead.
 * --refine tunes the generator to each photo (pivotal tuning, src/engine/refine.ts) after the encoder, as the page's
 * Refine does (DEFAULT_REFINEMENT: with the photo's fine detail): the reconstruction, codes and paste-back are then
 * the refined ones, and the report gives the error before and after. --refine-plain runs PTI's plain tuning instead
 * (the page's "keep fine detail" unticked).
 * Each input gets its own folder inside --out (the file's name; -2, -3... when names repeat), listed in
 * <out>/index.json. A bad file is reported in one line and the batch goes on (--verbose adds the stack of an
 * unexpected error); the exit code is 1 when any image failed.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { StudioModel, type EditValue } from '../src/engine/model';
import { EditorSession, type Transfer } from '../src/engine/session';
import type { TaughtDirection } from '../src/engine/teach';
import { CheckpointError } from '../src/io/errors';
import { writeNpy } from '../src/io/npy';
import { isBackendFailure, restartNodeBackend, useNodeBackend, type NodeBackend } from '../src/node/backend';
import { decodePhoto, encodePng, forgetFaceDetector, nodeFaceDetector } from '../src/node/photo';
import { useGradients } from '../src/node/gradients';
import { SAME_PERSON_DISTANCE } from '../src/photo/faces';
import { refinementSettings } from '../src/engine/refine-presets';
import { isFlat } from '../src/photo/raster';
import { PhotoError } from '../src/photo/types';
import { loadBundle } from '../src/weights/loader';
import { defineCli, parseCli, usageError } from './cli';
import { directoryFiles } from '../src/weights/node-files';

interface Options {
  aligned: boolean;
  raw: boolean;
  pasteback: 'change' | 'generated' | null;
  refine: number;
  refineDetail: boolean;
  edits: EditValue[];
  transfer: Transfer | null;
}

/** `--edit smiling=2`: the model's direction and a value; a sentence naming the model's ids when it has no such direction. */
function parseEdit(text: string, model: StudioModel): EditValue {
  const match = /^([^=]+)=(-?\d+(?:\.\d+)?)$/.exec(text.trim());
  if (!match) throw new UsageError(`--edit takes <direction>=<value> (e.g. smiling=2); got "${text}"`);
  const direction = model.manifest.directions.find((d) => d.id === match[1]);
  if (!direction) throw new UsageError(`this model has no direction "${match[1]}"; it has: ${model.manifest.directions.map((d) => d.id).join(', ')}`);
  return { direction: direction.id, value: Number(match[2]) };
}

class UsageError extends Error {}

const CLI = defineCli({
  name: 'invert',
  usage: 'usage: npm run invert -- --model <bundle dir> --out <dir> [options] <image>...',
  about: 'Inverts each photo with a model as the page does (detect, align, encode, generate) and writes, per photo, aligned.png,\nreconstruction.png, codes.npy and report.json into its own folder of --out; edits, transfers, paste-back and refinement on request.',
  allowPositionals: true,
  options: {
    model: { type: 'string', value: '<bundle dir>', help: 'the model: a bundle folder (models/demo-faces-gan-64, or one npm run convert wrote)' },
    out: { type: 'string', value: '<dir>', help: 'where each photo\'s folder is written' },
    aligned: { type: 'boolean', default: false, help: 'the images are aligned crops already: resized, not detected and aligned' },
    raw: { type: 'boolean', default: false, help: 'also write image.npy, the generator\'s float32 output before clamping (NCHW)' },
    pasteback: { type: 'boolean', default: false, help: 'write pasteback.png, the edited photo at its full resolution' },
    paste: { type: 'string', default: 'change', value: 'change|generated', help: 'pasteback: the photo plus the edit\'s change, or the generated crop itself' },
    edit: { type: 'string', multiple: true, default: [], value: '<direction>=<value>', help: 'move along one of the model\'s directions (its slider ids)' },
    direction: { type: 'string', multiple: true, default: [], value: '<file>=<value>', help: 'move along a direction taught with npm run direction' },
    transfer: { type: 'string', value: '<photo>:<block>', help: 'transfer an attribute from a reference photo with a learned editing block' },
    refine: { type: 'boolean', default: false, help: 'tune the generator to each photo first, as the page does (DEFAULT_REFINEMENT)' },
    'refine-steps': { type: 'string', value: '<n>', help: 'refinement steps (default: the page\'s)' },
    'refine-plain': { type: 'boolean', default: false, help: 'PTI\'s plain tuning instead of keeping the photo\'s fine detail' },
    backend: { type: 'string', default: 'wasm', value: 'wasm|cpu', help: 'the tfjs backend' },
    verbose: { type: 'boolean', default: false, help: 'print the stack of an unexpected error' },
  },
});

/** `--direction hat.json=1.5`: a taught direction (npm run direction) added to the model's sliders, and its value. */
async function taughtEdit(text: string, model: StudioModel): Promise<EditValue> {
  const at = text.lastIndexOf('=');
  const value = at > 0 ? Number(text.slice(at + 1)) : Number.NaN;
  if (!Number.isFinite(value)) throw new UsageError(`--direction takes <file>=<value> (e.g. hat.json=1.5); got "${text}"`);
  const file = text.slice(0, at);
  const json = await readFile(file, 'utf8').catch(() => { throw new UsageError(`--direction: ${file} cannot be read`); });
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new UsageError(`--direction: ${file} is not JSON (a file written by npm run direction)`);
  }
  try {
    return { direction: model.addTaughtDirection(parsed as TaughtDirection).id, value };
  } catch (error) {
    throw new UsageError(`--direction: ${file}: ${(error as Error).message}`);
  }
}

/**
 * One output folder per input, inside `out` whatever the name: the file's name without its extension, made safe
 * ('..', separators and odd characters replaced), with -2, -3... when two inputs share it (x/a.jpg, y/a.jpg, a.png).
 */
function outputFolders(paths: string[]): string[] {
  const used = new Set<string>();
  return paths.map((path) => {
    const stem = basename(path, extname(path)).replace(/[^\w.-]+/g, '_').replace(/^\.+/, '_') || 'image';
    let name = stem;
    for (let n = 2; used.has(name.toLowerCase()); n++) name = `${stem}-${n}`;
    used.add(name.toLowerCase());
    return name;
  });
}

/** A sentence for a file that cannot be read, instead of Node's error code and stack. */
function readFailure(path: string, error: NodeJS.ErrnoException): string | null {
  if (error.code === 'ENOENT') return `${path} does not exist`;
  if (error.code === 'EISDIR') return `${path} is a folder, not an image (give the images in it)`;
  if (error.code === 'EACCES' || error.code === 'EPERM') return `${path} cannot be read (permission denied)`;
  return null;
}

async function processImage(session: EditorSession, path: string, dir: string, options: Options, backend: string) {
  const timings: Record<string, number> = {};
  const time = async <T>(stage: string, run: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const result = await run();
    timings[stage] = Math.round(performance.now() - t);
    return result;
  };
  await mkdir(dir, { recursive: true });
  const photo = await time('decode', async () => decodePhoto(new Uint8Array(await readFile(path)), basename(path)));
  const report: Record<string, unknown> = { file: path, folder: dir, width: photo.width, height: photo.height, backend, domain: session.domain };
  const faces = await time('detect', () => session.setPhoto(photo, 'subject', !options.aligned));
  if (session.domain === 'face' && !options.aligned) {
    report.facesFound = faces.length;
    const { box, score } = faces[0];
    report.chosenFace = { box: { x: Math.round(box.x), y: Math.round(box.y), width: Math.round(box.width), height: Math.round(box.height) }, score: Number(score.toFixed(3)) };
  }
  const framing = options.aligned ? { kind: 'resize' as const } : session.defaultFraming();
  if (framing.kind === 'car') report.cropBox = framing.box;
  const input = await time('align', () => session.frame(framing));
  await writeFile(join(dir, 'aligned.png'), await encodePng(input));
  const inverted = await session.invert();
  let { reconstruction, mse, identity } = inverted;
  timings.encode = Math.round(inverted.encodeMs);
  timings.generate = Math.round(inverted.generateMs);
  if (options.refine > 0) {
    const refined = await time('refine', () => session.refine({ ...refinementSettings(options.refineDetail), steps: options.refine }));
    report.refinement = {
      steps: options.refine, fineDetail: options.refineDetail,
      before: { mse: refined.before.mse, ssim: refined.before.ssim, identityDistance: identity },
      after: { mse: refined.after.mse, ssim: refined.after.ssim, identityDistance: refined.identity },
    };
    ({ reconstruction, mse, identity } = refined);
  }
  if (isFlat(reconstruction) && !isFlat(input)) {
    throw new CheckpointError('non-finite', `the reconstruction is a single colour (rgb ${[...reconstruction.data.subarray(0, 3)].join(', ')}): the model or the backend is broken for this photo`);
  }
  report.reconstructionMse = mse;
  if (session.domain === 'face') {
    report.identityDistance = identity;
    report.samePerson = identity === null ? null : identity < SAME_PERSON_DISTANCE;
  }
  await writeFile(join(dir, 'reconstruction.png'), await encodePng(reconstruction));
  const codes = await session.exportCodes();
  await writeFile(join(dir, 'codes.npy'), writeNpy(codes.data, codes.shape));
  const outputs = ['aligned.png', 'reconstruction.png', 'codes.npy', 'report.json'];
  if (options.raw) {
    const raw = await session.rawOutput();
    await writeFile(join(dir, 'image.npy'), writeNpy(raw.data, raw.shape));
    outputs.push('image.npy');
  }
  const edited = options.edits.length > 0 || options.transfer !== null;
  let edit = reconstruction;
  if (edited) {
    report.edits = options.edits;
    if (options.transfer) report.transfer = options.transfer;
    edit = (await time('edit', () => session.render(options.edits, { transfer: options.transfer }))).image;
    await writeFile(join(dir, 'edit.png'), await encodePng(edit));
    outputs.push('edit.png');
  }
  if (options.pasteback) {
    const full = await time('pasteback', () => options.pasteback === 'generated' ? session.pasteBack(edit) : session.composite(options.edits, options.transfer));
    if (isFlat(full) && !isFlat(photo)) throw new CheckpointError('non-finite', 'the photo with the edit came out a single colour: the backend failed on it (out of memory?)');
    report.paste = options.pasteback;
    await writeFile(join(dir, 'pasteback.png'), await encodePng(full));
    outputs.push('pasteback.png');
  }
  report.timingsMs = timings;
  report.outputs = outputs;
  await writeFile(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

/**
 * `--transfer <photo>:<block>`: the reference photo is framed and inverted once, for every image of the batch.
 * The block is one of the model's learned editing blocks.
 */
async function takeReference(session: EditorSession, spec: string, aligned: boolean): Promise<Transfer> {
  const at = spec.lastIndexOf(':');
  const [path, block] = at > 0 ? [spec.slice(0, at), spec.slice(at + 1)] : [spec, ''];
  const blocks = session.model.manifest.editBlocks.map((b) => b.id);
  if (!blocks.includes(block)) {
    throw new UsageError(blocks.length ? `--transfer takes <reference photo>:<block>, the block one of: ${blocks.join(', ')}; got "${spec}"`
      : 'this model has no learned editing blocks to transfer with');
  }
  let photo;
  try {
    photo = await decodePhoto(new Uint8Array(await readFile(path)), basename(path));
  } catch (error) {
    throw new UsageError(`the reference photo: ${readFailure(path, error as NodeJS.ErrnoException) ?? (error as Error).message}`);
  }
  await session.setPhoto(photo, 'reference', !aligned);
  await session.frame(aligned ? { kind: 'resize' } : session.defaultFraming('reference'), 'reference');
  await session.invert('reference');
  return { kind: 'block', block, strength: 1 };
}

async function main() {
  const { values, positionals } = parseCli(CLI);
  if (!values.model || !values.out || positionals.length === 0) usageError(CLI, !values.model ? '--model is required' : !values.out ? '--out is required' : 'give at least one image');
  if (values.paste !== 'change' && values.paste !== 'generated') usageError(CLI, `--paste is change (the photo plus the edit's change) or generated (the generated crop); got ${values.paste}`);
  if (values.backend !== 'wasm' && values.backend !== 'cpu') usageError(CLI, `--backend is wasm or cpu; got ${values.backend}`);
  const refineDetail = !values['refine-plain'];
  const refineSteps = values.refine ? Number(values['refine-steps'] ?? refinementSettings(refineDetail).steps) : 0;
  if (values.refine && !(Number.isInteger(refineSteps) && refineSteps > 0)) usageError(CLI, `--refine-steps must be a positive whole number; got ${values['refine-steps']}`);
  const backend = await useNodeBackend(values.backend as NodeBackend);
  if (refineSteps) useGradients();
  let edits: EditValue[] = [];
  // The model (and the reference, for --transfer) are loaded again after a backend restart.
  const openSession = async () => {
    const { manifest, weights } = await loadBundle(directoryFiles(values.model!)).catch((error: Error) => {
      throw new UsageError(`the model in ${values.model} could not be loaded: ${error.message}`);
    });
    const opened = new EditorSession(await StudioModel.load(manifest, weights), manifest.domain === 'face' ? await nodeFaceDetector() : null);
    edits = values.edit.map((e) => parseEdit(e, opened.model));
    for (const text of values.direction) edits.push(await taughtEdit(text, opened.model));
    const transfer = values.transfer ? await takeReference(opened, values.transfer, values.aligned) : null;
    return { session: opened, transfer };
  };
  let session: EditorSession;
  let transfer: Transfer | null;
  try {
    ({ session, transfer } = await openSession());
  } catch (error) {
    console.error(`invert: ${(error as Error).message}`);
    process.exit(2);
  }
  let failed = 0;
  const folders = outputFolders(positionals).map((name) => join(values.out!, name));
  const index: Array<{ input: string; folder: string; ok: boolean }> = [];
  const started = performance.now();
  // where a batch stands, after each photo: done of all, failures so far, the time left at the pace so far
  const standing = (done: number) => {
    if (positionals.length < 2) return '';
    const left = ((performance.now() - started) / done) * (positionals.length - done) / 1000;
    const time = left < 90 ? `${Math.round(left)} s` : `${Math.round(left / 60)} min`;
    return ` [${done}/${positionals.length}${failed ? `, ${failed} failed` : ''}${done < positionals.length ? `, about ${time} left` : ''}]`;
  };
  for (const [i, path] of positionals.entries()) {
    const dir = folders[i];
    try {
      const report = await processImage(session, path, dir, {
        aligned: values.aligned, raw: values.raw, pasteback: values.pasteback ? values.paste : null, refine: refineSteps, refineDetail, edits, transfer,
      }, backend);
      console.log(`${path}: ok -> ${dir}, MSE ${(report.reconstructionMse as number).toFixed(4)}, ${JSON.stringify(report.timingsMs)}${standing(i + 1)}`);
      index.push({ input: path, folder: dir, ok: true });
    } catch (error) {
      failed++;
      const known = error instanceof PhotoError || error instanceof CheckpointError ? error.message : readFailure(path, error as NodeJS.ErrnoException);
      const message = known ?? `unexpected error: ${(error as Error).message}`;
      console.error(`${path}: FAILED: ${message}${standing(i + 1)}`);
      if (values.verbose && !known) console.error((error as Error).stack);
      index.push({ input: path, folder: dir, ok: false });
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'report.json'), `${JSON.stringify({ file: path, error: message, code: (error as PhotoError).code ?? null }, null, 2)}\n`);
      if (isBackendFailure(error)) {
        // The backend is dead for every later photo too: start a fresh one and load the model again.
        console.error(`${path}: the ${backend} backend failed on this photo; restarting it and reloading the model for the next`);
        await restartNodeBackend();
        forgetFaceDetector();
        ({ session, transfer } = await openSession());
      }
    }
  }
  await writeFile(join(values.out, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
  console.log(`${positionals.length - failed} of ${positionals.length} images done${failed ? `, ${failed} failed` : ''} (${join(values.out, 'index.json')} lists each input's folder)`);
  process.exit(failed ? 1 : 0);
}

void main();
