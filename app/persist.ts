import { openDB, type IDBPDatabase } from 'idb';
import type { Framing, Transfer } from '../src/engine/session';
import type { BundleManifest } from '../src/weights/bundle';
import type { EditState } from './store';

/**
 * The session (photo, framing, slider values, reference) and the user's converted models live in IndexedDB, on
 * this machine only, so a reload loses nothing and a checkpoint is converted once.
 */
export interface SavedSession {
  modelId: string;
  photo: Blob | null;
  photoName: string;
  framing: Framing | null;
  edits: EditState;
  reference: Blob | null;
  referenceName: string;
  transfer: Transfer | null;
  /** Imported W+ codes (.npy bytes), when the user replaced the inversion with them. */
  codes?: Uint8Array | null;
}

export interface StoredModel {
  id: string;
  name: string;
  manifest: BundleManifest;
  shards: Uint8Array[];
}

let db: Promise<IDBPDatabase> | null = null;

function open() {
  db ??= openDB('style-transformer-studio', 1, {
    upgrade(d) {
      d.createObjectStore('session');
      d.createObjectStore('models', { keyPath: 'id' });
    },
  });
  return db;
}

export async function saveSession(session: SavedSession): Promise<void> {
  await (await open()).put('session', session, 'current');
}

export async function loadSession(): Promise<SavedSession | undefined> {
  return (await open()).get('session', 'current');
}

export async function storeModel(model: StoredModel): Promise<void> {
  await (await open()).put('models', model);
}

export async function storedModels(): Promise<StoredModel[]> {
  return (await open()).getAll('models');
}

export async function removeModel(id: string): Promise<void> {
  await (await open()).delete('models', id);
}
