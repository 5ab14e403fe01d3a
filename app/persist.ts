import { openDB, type IDBPDatabase } from 'idb';
import type { Framing, SubjectSnapshot } from '../src/engine/session';
import type { BundleManifest } from '../src/weights/bundle';
import { emptyDocument, type StudioDocument } from './document';

/**
 * The document, the bytes it names (photos, imported codes), the photos' inversions (for an instant restore) and
 * the user's converted models live in IndexedDB, on this machine only, so a reload loses nothing and a checkpoint
 * is converted once.
 */
export interface SavedSnapshot {
  modelId: string;
  blob: string;
  framing: Framing | null;
  identity: number | null;
  snapshot: SubjectSnapshot;
}

export interface SavedSession {
  /** The stored document as it was read: the controller parses and checks it (parseDocument, fitToModel). */
  document: unknown;
  blobs: Map<string, Blob>;
  snapshots: { subject?: SavedSnapshot; reference?: SavedSnapshot };
}

/** A converted model as the catalog lists it: its weights are read only when it is opened (storedModelShards). */
export interface StoredModelInfo {
  id: string;
  name: string;
  manifest: BundleManifest;
}

export interface StoredModel extends StoredModelInfo {
  shards: Uint8Array[];
}

let db: Promise<IDBPDatabase> | null = null;
/** The browser closed the database under the page (its data evicted, or deleted from its settings). */
let lost = false;

function open() {
  db ??= openDB('style-transformer-studio', 3, {
    terminated() {
      db = null;
      lost = true;
    },
    async upgrade(d, oldVersion, _newVersion, tx) {
      if (oldVersion < 1) {
        d.createObjectStore('session');
        d.createObjectStore('models', { keyPath: 'id' });
      }
      if (oldVersion < 2) d.createObjectStore('blobs');
      if (oldVersion < 3) {
        // A model's weights apart from what lists it: listing the models read every one's hundreds of megabytes
        // (twice on a reload: for the menu, then to open one; 147 MB each for the official FFHQ model).
        d.createObjectStore('model-shards');
        for (let cursor = await tx.objectStore('models').openCursor(); cursor; cursor = await cursor.continue()) {
          const { shards, ...info } = cursor.value as StoredModel;
          if (!shards) continue;
          await tx.objectStore('model-shards').put(shards, info.id);
          await cursor.update(info);
        }
      }
    },
  });
  return db;
}

/**
 * Saves the document with the bytes it names, in one transaction (all of it or none). True when the database had
 * been lost since the last save and was opened afresh: what else the page keeps there must be saved again.
 */
export async function saveDocument(doc: StudioDocument, blobs: Map<string, Blob>): Promise<boolean> {
  const afresh = lost;
  lost = false;
  const d = await open();
  const tx = d.transaction(['session', 'blobs'], 'readwrite');
  const stored = new Set((await tx.objectStore('blobs').getAllKeys()) as string[]);
  for (const [key, blob] of blobs) if (!stored.has(key)) await tx.objectStore('blobs').put(blob, key);
  for (const key of stored) if (!blobs.has(key)) await tx.objectStore('blobs').delete(key);
  await tx.objectStore('session').put(doc, 'document');
  if (!doc.reference) await tx.objectStore('session').delete('snapshot:reference');
  if (!doc.photo) await tx.objectStore('session').delete('snapshot:subject');
  await tx.done;
  return afresh;
}

export async function saveSnapshot(which: 'subject' | 'reference', saved: SavedSnapshot): Promise<void> {
  await (await open()).put('session', saved, `snapshot:${which}`);
}

export async function loadSession(): Promise<SavedSession | undefined> {
  const d = await open();
  const legacy = await d.get('session', 'current');
  if (legacy) return fromLegacy(legacy);
  const document = await d.get('session', 'document');
  if (!document) return undefined;
  const tx = d.transaction('blobs');
  const keys = (await tx.store.getAllKeys()) as string[];
  const blobs = new Map<string, Blob>();
  for (const key of keys) blobs.set(key, await tx.store.get(key));
  const [subject, reference] = [await d.get('session', 'snapshot:subject'), await d.get('session', 'snapshot:reference')];
  return { document, blobs, snapshots: { subject, reference } };
}

/** The first version kept one record: photo and reference blobs inline, no history. Read once, then replaced. */
async function fromLegacy(old: Record<string, unknown>): Promise<SavedSession> {
  await (await open()).delete('session', 'current');
  const blobs = new Map<string, Blob>();
  const ref = (blob: unknown, name: unknown, framing: unknown, key: string) => {
    if (!(blob instanceof Blob)) return null;
    blobs.set(key, blob);
    return { blob: key, name: String(name ?? 'photo'), framing: framing ?? null };
  };
  if (old.codes instanceof Uint8Array) blobs.set('legacy-codes', new Blob([old.codes as Uint8Array<ArrayBuffer>]));
  const document = {
    ...emptyDocument(typeof old.modelId === 'string' ? old.modelId : null),
    photo: ref(old.photo, old.photoName, old.framing, 'legacy-photo'),
    reference: ref(old.reference, old.referenceName, null, 'legacy-reference'),
    edits: old.edits,
    transfer: old.transfer,
    importedCodes: blobs.has('legacy-codes') ? 'legacy-codes' : null,
  };
  return { document, blobs, snapshots: {} };
}

/** A model and its weights in one transaction: it is listed only once its weights are all there. */
export async function storeModel({ shards, ...info }: StoredModel): Promise<void> {
  const tx = (await open()).transaction(['models', 'model-shards'], 'readwrite');
  await tx.objectStore('model-shards').put(shards, info.id);
  await tx.objectStore('models').put(info);
  await tx.done;
}

export async function storedModels(): Promise<StoredModelInfo[]> {
  return (await open()).getAll('models');
}

export async function storedModelShards(id: string): Promise<Uint8Array[] | undefined> {
  return (await open()).get('model-shards', id);
}

export async function removeModel(id: string): Promise<void> {
  const tx = (await open()).transaction(['models', 'model-shards'], 'readwrite');
  await tx.objectStore('models').delete(id);
  await tx.objectStore('model-shards').delete(id);
  await tx.done;
}

export async function persist(): Promise<boolean> {
  return (await navigator.storage?.persist?.()) ?? false;
}
