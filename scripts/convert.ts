/**
 * npm run convert -- <checkpoint.pt> --out <dir> [--fp16] [--directions <file>...] [--edit <file>:<attribute>...]
 *                    [--classifier <file>] [--attributes a,b,c] [--name <text>] [--domain face|car]
 *                    [--input-size HxW] [--license <text>] [--source <text>] [--ganspace-presets <file.json>]
 * [--label-range <r>]; npm run convert -- --help lists them all.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { CheckpointError } from '../src/io/errors';
import { fileSource } from '../src/io/node-source';
import { readNpy } from '../src/io/npy';
import { loadCheckpoint, type Checkpoint } from '../src/io/torch';
import { convertCheckpoint, type DirectionInput, type GanspacePreset } from '../src/weights/convert';
import { publishedDirections } from '../src/weights/official-directions';
import { writeBundle } from '../src/weights/node-files';
import type { Domain } from '../src/weights/bundle';
import { defineCli, parseCli, usageError } from './cli';

const CLI = defineCli({
  name: 'convert',
  usage: 'usage: npm run convert -- <checkpoint.pt> --out <dir> [options]',
  about: 'Converts a Style Transformer checkpoint in the official layout (or a rosinality StyleGAN2 one) into a bundle the app and the\nscripts load; the released FFHQ and cars models get their published directions by themselves.',
  allowPositionals: true,
  options: {
    out: { type: 'string', value: '<dir>', help: 'the bundle folder to write' },
    fp16: { type: 'boolean', default: false, help: 'store weights as float16 (half the download)' },
    directions: { type: 'string', multiple: true, default: [], value: '<file>', help: 'an InterFaceGAN direction (.pt/.npy tensor) or GANSpace {comp, std, mean}' },
    edit: { type: 'string', multiple: true, default: [], value: '<file>:<attribute>', help: 'a reference editing block checkpoint for an attribute' },
    classifier: { type: 'string', value: '<file>', help: 'an LCNet latent classifier checkpoint' },
    attributes: { type: 'string', value: '<a,b,c>', help: 'the classifier\'s attribute names (default: CelebA\'s 40)' },
    'ganspace-presets': { type: 'string', value: '<json>', help: 'GANSpace sliders: [[label, component, first style, end style, strength], ...]' },
    'label-range': { type: 'string', value: '<r>', help: 'slider limit of the classifier\'s label directions (default 3)' },
    name: { type: 'string', value: '<text>', help: 'the model\'s name' },
    domain: { type: 'string', value: 'face|car', help: 'the domain (default: from the shapes)' },
    'input-size': { type: 'string', value: '<HxW>', help: 'the encoder\'s input size (default: from the domain)' },
    license: { type: 'string', value: '<text>', help: 'the weights\' licence' },
    source: { type: 'string', value: '<text>', help: 'where the weights come from (default: the file\'s name)' },
    verbose: { type: 'boolean', default: false, help: 'the stack of an unexpected error (every failure is one line otherwise)' },
  },
});

const opened: Array<{ close(): Promise<void> }> = [];

/** Tensors are read lazily from the file, so its handle stays open until conversion is done. */
async function open(path: string): Promise<Checkpoint> {
  if ((await stat(path).catch(() => null))?.isDirectory()) throw new CheckpointError('not-a-checkpoint', `${path} is a folder, not a checkpoint`);
  const source = await fileSource(path);
  opened.push(source);
  return loadCheckpoint(source);
}

async function main(): Promise<void> {
  const { values, positionals } = parseCli(CLI);
  if (positionals.length !== 1 || !values.out) usageError(CLI, positionals.length > 1 ? 'give one checkpoint' : positionals.length === 0 ? 'give the checkpoint to convert' : '--out is required');
  const directions: DirectionInput[] = [];
  for (const file of values.directions) {
    const name = basename(file, extname(file));
    if (extname(file) === '.npy') {
      directions.push({ name, value: readNpy(new Uint8Array(await readFile(file)), basename(file)) });
    } else {
      directions.push({ name, value: (await open(file)).root });
    }
  }
  const edits = [];
  for (const spec of values.edit) {
    const at = spec.lastIndexOf(':');
    const file = at > 0 ? spec.slice(0, at) : spec;
    const attribute = at > 0 ? spec.slice(at + 1) : basename(file, extname(file));
    edits.push({ attribute, checkpoint: await open(file) });
  }
  const inputSize = values['input-size']?.split('x').map(Number) as [number, number] | undefined;
  const started = Date.now();
  const { manifest, shards } = await convertCheckpoint({
    checkpoint: await open(positionals[0]),
    name: values.name,
    domain: values.domain as Domain | undefined,
    inputSize,
    fp16: values.fp16,
    directions,
    edits,
    classifier: values.classifier ? await open(values.classifier) : undefined,
    attributes: values.attributes?.split(','),
    labelRange: values['label-range'] ? Number(values['label-range']) : undefined,
    ganspacePresets: values['ganspace-presets'] ? JSON.parse(await readFile(values['ganspace-presets'], 'utf8')) as GanspacePreset[] : undefined,
    publishedDirections: (model) => publishedDirections(model, async (file) => new Uint8Array(await readFile(join(import.meta.dirname, '..', 'public', 'official-directions', file)))),
    license: values.license,
    source: values.source ?? basename(positionals[0]),
    log: (line) => console.log(line),
  });
  await writeBundle(values.out, manifest, shards);
  await Promise.all(opened.map((s) => s.close()));
  console.log(`wrote ${values.out} (${manifest.domain}, input ${manifest.inputSize.join('x')}, output ${manifest.outputSize}, ` +
    `${manifest.directions.length} directions, ${manifest.editBlocks.length} editing blocks) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

// Every failure is one line that says what is wrong (a damaged or crafted file must not print a stack trace);
// --verbose adds the stack of an unexpected one.
main().catch((error: NodeJS.ErrnoException) => {
  const files: Record<string, string> = { ENOENT: 'does not exist', EISDIR: 'is a folder, not a checkpoint', EACCES: 'cannot be read (permission denied)' };
  const message = error instanceof CheckpointError ? error.message
    : error.code && files[error.code] ? `${error.path ?? 'a file'} ${files[error.code]}`
      : `unexpected error reading the checkpoint: ${error.message}`;
  console.error(`convert: ${message}`);
  if (process.argv.includes('--verbose') && !(error instanceof CheckpointError)) console.error(error.stack);
  process.exit(1);
});
