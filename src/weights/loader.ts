import { CheckpointError } from '../io/errors';
import { RawWeights } from '../models/weights';
import { BUNDLE_FORMAT, decodeWeights, manifestByteLength, type BundleManifest } from './bundle';
import { checkFinite, checkShards, validateManifest } from './validate';

/** Where a bundle's files come from: a URL (browser), a folder (Node), IndexedDB (user-converted models). */
export interface BundleFiles {
  readText(path: string): Promise<string>;
  /** Reads a binary file, reporting each received chunk's length. */
  readBytes(path: string, onBytes?: (received: number) => void): Promise<Uint8Array>;
}

export interface LoadProgress {
  loaded: number;
  total: number;
}

export async function readManifest(files: BundleFiles): Promise<BundleManifest> {
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(await files.readText('model.json')) as BundleManifest;
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    throw new CheckpointError('not-a-checkpoint', `model.json could not be read: ${(error as Error).message}`);
  }
  if (!manifest || typeof manifest !== 'object' || manifest.format !== BUNDLE_FORMAT) {
    throw new CheckpointError('unsupported-format', `model.json is not a ${BUNDLE_FORMAT} bundle (format: ${String(manifest?.format)})`);
  }
  validateManifest(manifest);
  return manifest;
}

/** Loads every shard with byte progress and decodes the weights; see validate.ts for what is checked. */
export async function loadBundle(files: BundleFiles, onProgress?: (p: LoadProgress) => void): Promise<{ manifest: BundleManifest; weights: RawWeights }> {
  const manifest = await readManifest(files);
  const total = manifestByteLength(manifest);
  let loaded = 0;
  onProgress?.({ loaded, total });
  const tensors = new Map();
  for (const group of manifest.weightsManifest) {
    const shards: Uint8Array[] = [];
    for (const path of group.paths) {
      shards.push(await files.readBytes(path, (n) => {
        loaded += n;
        onProgress?.({ loaded: Math.min(loaded, total), total });
      }));
    }
    checkShards(group, shards);
    for (const [k, v] of decodeWeights(group, shards)) tensors.set(k, v);
  }
  checkFinite(tensors);
  return { manifest, weights: new RawWeights(tensors) };
}

/**
 * Bundle files over HTTP, kept in the Cache API so a model downloads once. The body is read as a stream so the
 * page can show byte progress.
 */
export function httpFiles(baseUrl: string, cacheName = 'stst-models-v1'): BundleFiles {
  const url = (path: string) => new URL(path, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).toString();
  const get = async (path: string): Promise<Response> => {
    const cache = typeof caches !== 'undefined' ? await caches.open(cacheName).catch(() => null) : null;
    const cached = await cache?.match(url(path));
    if (cached) return cached;
    const response = await fetch(url(path));
    if (!response.ok) throw new CheckpointError('truncated', `${path}: HTTP ${response.status}`);
    if (cache) await cache.put(url(path), response.clone()).catch(() => undefined);
    return response;
  };
  return {
    async readText(path) {
      return (await get(path)).text();
    },
    async readBytes(path, onBytes) {
      const response = await get(path);
      if (!response.body) return new Uint8Array(await response.arrayBuffer());
      const reader = response.body.getReader();
      const chunks: Uint8Array[] = [];
      let size = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        size += value.length;
        onBytes?.(value.length);
      }
      const bytes = new Uint8Array(size);
      let at = 0;
      for (const c of chunks) { bytes.set(c, at); at += c.length; }
      return bytes;
    },
  };
}

/** Bundle files held in memory (a freshly converted checkpoint, or one read back from IndexedDB). */
export function memoryFiles(manifest: BundleManifest, shards: Uint8Array[]): BundleFiles {
  const byPath = new Map<string, Uint8Array>();
  manifest.weightsManifest.flatMap((g) => g.paths).forEach((p, i) => byPath.set(p, shards[i]));
  return {
    async readText(path) {
      if (path !== 'model.json') throw new CheckpointError('truncated', `${path} is not part of the bundle`);
      return JSON.stringify(manifest);
    },
    async readBytes(path, onBytes) {
      const bytes = byPath.get(path);
      if (!bytes) throw new CheckpointError('truncated', `${path} is missing from the bundle`);
      onBytes?.(bytes.length);
      return bytes;
    },
  };
}
