import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError } from '../io/errors';
import type { BundleManifest } from './bundle';
import type { BundleFiles } from './loader';

/** A bundle folder on disk (Node). */
export function directoryFiles(dir: string): BundleFiles {
  const read = async (path: string) => {
    try {
      return await readFile(join(dir, path));
    } catch (error) {
      throw new CheckpointError('truncated', `${join(dir, path)}: ${(error as Error).message}`);
    }
  };
  return {
    async readText(path) {
      return (await read(path)).toString('utf8');
    },
    async readBytes(path, onBytes) {
      const bytes = new Uint8Array(await read(path));
      onBytes?.(bytes.length);
      return bytes;
    },
  };
}

export async function writeBundle(dir: string, manifest: BundleManifest, shards: Uint8Array[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  const paths = manifest.weightsManifest.flatMap((g) => g.paths);
  await Promise.all(shards.map((s, i) => writeFile(join(dir, paths[i]), s)));
  await writeFile(join(dir, 'model.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}
