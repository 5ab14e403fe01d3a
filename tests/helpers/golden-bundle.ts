import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { bytesSource } from '../../src/io/byte-source';
import { readNpy } from '../../src/io/npy';
import { loadCheckpoint } from '../../src/io/torch';
import { convertCheckpoint, type ConvertOutput } from '../../src/weights/convert';
import { GOLDEN } from './golden';

async function checkpoint(path: string) {
  return loadCheckpoint(bytesSource(new Uint8Array(await readFile(path)), basename(path)));
}

/** The golden tiny Style Transformer with every kind of edit, converted as `npm run convert` would. */
export async function convertGolden(fp16 = false): Promise<ConvertOutput> {
  return convertCheckpoint({
    checkpoint: await checkpoint(join(GOLDEN, 'style-transformer-tiny.pt')),
    fp16,
    directions: [
      { name: 'smile', value: (await checkpoint(join(GOLDEN, 'directions', 'smile.pt'))).root },
      { name: 'smile_npy', value: readNpy(new Uint8Array(await readFile(join(GOLDEN, 'directions', 'smile_boundary.npy')))) },
      { name: 'pcs', value: (await checkpoint(join(GOLDEN, 'directions', 'ganspace_pcs.pt'))).root },
    ],
    edits: [{ attribute: 'Bangs', checkpoint: await checkpoint(join(GOLDEN, 'edit-tiny.pt')) }],
    classifier: await checkpoint(join(GOLDEN, 'classifier-tiny.pt')),
    source: 'golden tiny checkpoints',
  });
}
