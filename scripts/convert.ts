/**
 * npm run convert -- <checkpoint.pt> --out <dir> [--fp16] [--directions <file>...] [--edit <file>:<attribute>...]
 *                    [--classifier <file>] [--attributes a,b,c] [--name <text>] [--domain face|car]
 *                    [--input-size HxW] [--license <text>] [--source <text>] [--ganspace-presets <file.json>]
 * [--label-range <r>]; npm run convert -- --help lists them all.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { CheckpointError } from '../src/io/errors';
import { fileSource } from '../src/io/node-source';
import { readNpy } from '../src/io/npy';
import { loadCheckpoint, type Checkpoint } from '../src/io/torch';
import { convertCheckpoint, type DirectionInput, type GanspacePreset } from '../src/weights/convert';
import { publishedDirections } from '../src/weights/official-directions';
import { writeBundle } from '../src/weights/node-files';
import type { Domain } from '../src/weights/bundle';

const USAGE = `usage: npm run convert -- <checkpoint.pt> --out <dir> [options]
  --fp16                       store weights as float16 (half the download)
  --directions <file>          InterFaceGAN direction (.pt/.npy tensor) or GANSpace {comp, std, mean}; repeatable
                               (none given: the official FFHQ and cars models get their published directions,
                               public/official-directions/)
  --edit <file>:<attribute>    a reference editing block checkpoint for an attribute; repeatable
  --classifier <file>          LCNet latent classifier checkpoint
  --attributes a,b,c           the classifier's attribute names (default: CelebA's 40)
  --ganspace-presets <json>    [[label, component, first style, end style, strength], ...]
  --label-range <r>            slider limit of the classifier's label directions (default 3)
  --name <text> --domain face|car --input-size HxW --license <text> --source <text>
  --verbose                    the stack of an unexpected error (every failure is one line otherwise)`;

const opened: Array<{ close(): Promise<void> }> = [];

/** Tensors are read lazily from the file, so its handle stays open until conversion is done. */
async function open(path: string): Promise<Checkpoint> {
  if ((await stat(path).catch(() => null))?.isDirectory()) throw new CheckpointError('not-a-checkpoint', `${path} is a folder, not a checkpoint`);
  const source = await fileSource(path);
  opened.push(source);
  return loadCheckpoint(source);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      fp16: { type: 'boolean', default: false },
      directions: { type: 'string', multiple: true },
      edit: { type: 'string', multiple: true },
      classifier: { type: 'string' },
      attributes: { type: 'string' },
      name: { type: 'string' },
      domain: { type: 'string' },
      'input-size': { type: 'string' },
      license: { type: 'string' },
      source: { type: 'string' },
      'ganspace-presets': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      'label-range': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || positionals.length !== 1 || !values.out) {
    (values.help ? console.log : console.error)(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const directions: DirectionInput[] = [];
  for (const file of values.directions ?? []) {
    const name = basename(file, extname(file));
    if (extname(file) === '.npy') {
      directions.push({ name, value: readNpy(new Uint8Array(await readFile(file)), basename(file)) });
    } else {
      directions.push({ name, value: (await open(file)).root });
    }
  }
  const edits = [];
  for (const spec of values.edit ?? []) {
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
