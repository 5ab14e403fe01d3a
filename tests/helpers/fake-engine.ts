import type { EditValue } from '../../src/engine/model';
import type { SubjectSnapshot, Transfer } from '../../src/engine/session';
import type { Engine, Ports } from '../../app/controller';
import type { StudioDocument } from '../../app/document';
import type { SavedSnapshot, StoredModel } from '../../app/persist';
import type { ModelSummary, Picture, PhotoInfo, PhotoOutcome, PhotoRequest, PhotoStage, Pixels, Result, WorkerError } from '../../app/protocol';
import type { CatalogEntry } from '../../app/store';

/**
 * A stand-in for the engine worker, for driving the page's controller in Node (tests/controller.test.ts). It answers
 * the protocol (app/protocol.ts) as the worker does — tickets, stages in order, 'superseded' for an older ticket at
 * each stage — with tiny pictures whose pixels say which edits made them, so a test can tell what is on screen. It
 * records every call (the crossings), and holds an answer back when asked, to play a race.
 */
export class FakeEngine implements Engine {
  readonly calls: Array<{ method: string; ticket?: number; args: unknown[] }> = [];
  /** The newest ticket the page announced (EngineApi.supersede). */
  latest = 0;
  /** False: answers older tickets with data anyway (a worker slower to notice); the page must still drop them. */
  honoursSupersede = true;
  backend = 'webgpu';
  private held = new Map<string, Array<Promise<void>>>();
  private deviceLost: ((reason: string) => void) | null = null;

  /** The next call of `method` waits until the returned function is called. */
  holdNext(method: keyof Engine): () => void {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    this.held.set(method, [...(this.held.get(method) ?? []), gate]);
    return release;
  }

  count(method: string): number {
    return this.calls.filter((c) => c.method === method).length;
  }

  /** The GPU goes away, as a driver reset would. */
  loseDevice(reason = 'device was lost (test)'): void {
    this.deviceLost?.(reason);
  }

  private async arrive(method: string, ticket: number | undefined, args: unknown[]): Promise<void> {
    this.calls.push({ method, ticket, args });
    await this.held.get(method)?.shift();
    await Promise.resolve(); // an answer never comes back in the same tick, as across a worker boundary
    const crashes = this.crashes.get(method) ?? 0;
    if (crashes > 0) {
      this.crashes.set(method, crashes - 1);
      throw new EngineStopped();
    }
  }

  private superseded(ticket: number): WorkerError | null {
    return this.honoursSupersede && ticket < this.latest ? { error: { kind: 'superseded', code: 'superseded', message: 'superseded by a newer request' } } : null;
  }

  async start() {
    await this.arrive('start', undefined, []);
    return { backend: this.backend, reason: 'the test chose it' };
  }

  async supersede(ticket: number) {
    this.latest = Math.max(this.latest, ticket);
  }

  async watchDeviceLoss(callback: (reason: string) => void) {
    this.deviceLost = callback;
  }

  async restart() {
    await this.arrive('restart', undefined, []);
    this.backend = 'wasm';
    return { backend: 'wasm', reason: 'webgpu stopped working' };
  }

  async simulateDeviceLoss() { return false; }
  async simulateCrash() {}
  async memory() { return { numTensors: 0, numBytes: 0 }; }

  /** Requests to `method` answer as an engine that stopped (a WebAssembly trap), `times` times in a row. */
  crashOn(method: keyof Engine, times = 1): void {
    this.crashes.set(method, times);
  }

  /** A new worker in place of one that stopped (Ports.restartEngine): nothing loaded, no ticket seen. */
  freshWorker(): void {
    this.workers += 1;
    this.latest = 0;
  }

  workers = 1;
  private crashes = new Map<string, number>();

  async loadModel(ticket: number, url: string): Promise<Result<ModelSummary>> {
    await this.arrive('loadModel', ticket, [url]);
    if (url.includes('broken')) return { error: { kind: 'checkpoint', code: 'corrupt', message: 'its weights file is cut short' } };
    return this.superseded(ticket) ?? summary(url.includes('cars') ? 'car' : 'face');
  }

  async convert(): Promise<never> { throw new Error('not in the fake'); }
  async loadStoredModel(): Promise<never> { throw new Error('not in the fake'); }

  async invertPhoto(ticket: number, request: PhotoRequest, onStage?: (stage: PhotoStage) => void): Promise<Result<PhotoOutcome>> {
    await this.arrive('invertPhoto', ticket, [request]);
    let framing = request.framing ?? null;
    if (request.file) {
      if (request.file.name.includes('corrupt')) return { error: { kind: 'photo', code: 'decode', message: `${request.file.name} is not an image this browser can read.` } };
      const noFace = request.file.name.includes('noface');
      framing ??= noFace ? null : { kind: 'face', faceIndex: 0 };
      await onStage?.({ stage: 'opened', photo: photoInfo(framing, noFace ? 'No face was found in this photo.' : undefined), ms: 1 });
      if (!framing) return { framing: null, snapshot: null };
    }
    framing ??= { kind: 'face', faceIndex: 0 };
    const stop = () => this.superseded(ticket);
    if (stop()) return stop()!;
    await onStage?.({ stage: 'aligned', aligned: pixels(4, 50), ms: 1 });
    if (stop()) return stop()!;
    await onStage?.({ stage: 'inverted', reconstruction: pixels(4, 60), mse: 0.01, ms: 2, kernel: null });
    if (stop()) return stop()!;
    if (request.which === 'reference') return { framing, snapshot: snapshot() };
    return { framing, picture: picture(request.edits, false, request.transfer), snapshot: snapshot(), original: pixels(8, 10) };
  }

  async prepareForPhoto(ticket: number) { await this.arrive('prepareForPhoto', ticket, []); }

  async identity(ticket: number): Promise<Result<number | null>> {
    await this.arrive('identity', ticket, []);
    return this.superseded(ticket) ?? 0.42;
  }

  async snapshot(ticket: number): Promise<Result<SubjectSnapshot | null>> {
    await this.arrive('snapshot', ticket, []);
    return this.superseded(ticket) ?? snapshot();
  }

  async restorePhoto(ticket: number, _blob: Blob, name: string, which: 'subject' | 'reference', _snapshot: SubjectSnapshot, framing: PhotoInfo['framing']) {
    await this.arrive('restorePhoto', ticket, [name, which]);
    return this.superseded(ticket) ?? { ...photoInfo(framing), aligned: pixels(4, 50), reconstruction: pixels(4, 60), mse: 0.01, original: which === 'subject' ? pixels(8, 10) : undefined };
  }

  async refine(ticket: number, steps: number) {
    await this.arrive('refine', ticket, [steps]);
    return this.superseded(ticket) ?? { reconstruction: pixels(4, 70), mse: 0.005, before: { mse: 0.01, ssim: 0.5 }, after: { mse: 0.005, ssim: 0.7 }, ms: 5 };
  }

  async cancelRefine() {}
  async teachingCodes(): Promise<never> { throw new Error('not in the fake'); }
  async fixedDirections(): Promise<never> { throw new Error('not in the fake'); }
  async addTaughtDirections(): Promise<never> { throw new Error('not in the fake'); }
  async startBatch(): Promise<never> { throw new Error('not in the fake'); }
  async batchPhoto(): Promise<never> { throw new Error('not in the fake'); }
  async endBatch() {}

  async reconstruction(ticket: number) {
    await this.arrive('reconstruction', ticket, []);
    return { reconstruction: pixels(4, 60), mse: 0.01 };
  }

  async render(ticket: number, edits: EditValue[], preview: boolean, transfer: Transfer | null, _whole?: boolean, onPartial?: (picture: Pixels) => void): Promise<Result<Picture>> {
    await this.arrive('render', ticket, [edits, preview, transfer, Boolean(onPartial)]);
    onPartial?.(pixels(2, PARTIAL_MARK)); // the coarser picture a slow full render sends on its way
    return this.superseded(ticket) ?? picture(edits, preview, transfer);
  }

  async anticipate(ticket: number) {
    await this.arrive('anticipate', ticket, []);
    return 0;
  }

  async editPng(): Promise<never> { throw new Error('not in the fake'); }
  async pasteBackPng(): Promise<never> { throw new Error('not in the fake'); }
  async exportCodes(): Promise<never> { throw new Error('not in the fake'); }
  async importCodes(): Promise<never> { throw new Error('not in the fake'); }
}

class EngineStopped extends Error {}

/** What the worker answers when its WebAssembly module traps (app/worker/queue.ts answerFor). */
const STOPPED: WorkerError = { error: { kind: 'engine', code: 'crashed', message: 'RuntimeError: unreachable' } };

/** A picture whose every pixel says which edits made it: 100 + 10 × the sum of the edit values. */
export const editMark = (edits: EditValue[]) => 100 + Math.round(10 * edits.reduce((sum, e) => sum + e.value, 0));

/** Its green channel says whether a reference transfer made it (200) or not (the mark). */
/** The value of every pixel of a partial picture (Renders' progressive full render). */
export const PARTIAL_MARK = 77;

function picture(edits: EditValue[], preview: boolean, transfer: Transfer | null = null): Picture {
  const marked = (side: number) => {
    const p = pixels(side, editMark(edits));
    if (transfer) for (let i = 1; i < p.data.length; i += 4) p.data[i] = 200;
    return p;
  };
  return preview ? { image: marked(4), ms: 1 } : { image: marked(4), ms: 2, result: { image: marked(8), factor: 1, width: 8, height: 8, ms: 1 } };
}

function pixels(side: number, value: number): Pixels {
  return { width: side, height: side, data: new Uint8ClampedArray(side * side * 4).fill(value) };
}

function photoInfo(framing: PhotoInfo['framing'], noFace?: string): PhotoInfo {
  return { width: 8, height: 8, thumb: pixels(8, 10), thumbScale: 1, faces: noFace ? [] : [{ box: { x: 2, y: 2, width: 4, height: 4 }, score: 0.99 }], framing, noFace };
}

function snapshot(): SubjectSnapshot {
  return { faces: [], aligned: { width: 2, height: 2, data: new Uint8Array(12) }, transform: null, box: null, codes: new Float32Array(4), codesShape: [1, 2, 2] };
}

function summary(domain: 'face' | 'car'): ModelSummary {
  const range = { start: 0, end: 2 };
  return {
    name: `fake ${domain}s`, domain, inputSize: [8, 8], outputSize: 4, nStyles: 2, nLatent: 2, styleDim: 2, parameters: { generator: 1 },
    directions: [
      { id: 'smile', label: 'Smile', kind: 'label', attribute: 31, range, min: -3, max: 3 },
      { id: 'age', label: 'Age', kind: 'label', attribute: 39, range, min: -3, max: 3 },
    ],
    attributes: [], editBlocks: [], license: 'test', source: 'the fake engine',
  };
}

/** The browser's storage, in memory, shared by the controllers of one test (a reload is a second controller). */
export class MemoryStorage {
  document: unknown = undefined;
  blobs = new Map<string, Blob>();
  snapshots: { subject?: SavedSnapshot; reference?: SavedSnapshot } = {};
  models: StoredModel[] = [];
  saves = 0;

  async loadSession() {
    return this.document === undefined ? undefined : { document: structuredClone(this.document), blobs: new Map(this.blobs), snapshots: { ...this.snapshots } };
  }

  /** A browser whose storage for the page is full: every write fails as IndexedDB's does. */
  full = false;

  private refuse(): void {
    if (this.full) throw Object.assign(new Error('The current transaction exceeded its quota limitations.'), { name: 'QuotaExceededError' });
  }

  async saveDocument(doc: StudioDocument, blobs: Map<string, Blob>) {
    this.refuse();
    this.saves += 1;
    this.document = structuredClone(doc);
    this.blobs = new Map(blobs);
    if (!doc.photo) delete this.snapshots.subject;
    if (!doc.reference) delete this.snapshots.reference;
    const afresh = this.evicted;
    this.evicted = false;
    return afresh;
  }

  /** The browser evicts this origin's data while the page is open (the page's next save opens it afresh). */
  evict(): void {
    this.document = undefined;
    this.blobs = new Map();
    this.snapshots = {};
    this.evicted = true;
  }

  private evicted = false;

  async saveSnapshot(which: 'subject' | 'reference', saved: SavedSnapshot) { this.refuse(); this.snapshots[which] = saved; }
  async storedModels() { return this.models.map(({ shards: _, ...info }) => info); }
  async storedModelShards(id: string) { return this.models.find((m) => m.id === id)?.shards; }
  async storeModel(model: StoredModel) { this.models.push(model); }
  async removeModel(id: string) { this.models = this.models.filter((m) => m.id !== id); }
  persisted = 0;
  async persist() { this.persisted += 1; return true; }
}

export const CATALOG: CatalogEntry[] = [
  { id: 'faces', name: 'Fake faces', domain: 'face', path: 'faces' },
  { id: 'faces-2', name: 'Other fake faces', domain: 'face', path: 'faces-2' },
  { id: 'broken', name: 'A broken model', domain: 'face', path: 'broken' },
  { id: 'cars', name: 'Fake cars', domain: 'car', path: 'cars' },
];

/** The controller's ports around a fake engine and memory storage. */
export function fakePorts(engine: FakeEngine, storage: MemoryStorage, options: Partial<Ports['options']> = {}): Ports & { downloads: string[] } {
  const preferences = new Map<string, boolean>();
  const downloads: string[] = [];
  // As the worker's queue does (app/worker/queue.ts), an engine that stopped is an answer, not a rejection.
  // Each worker is its own object, as each Comlink proxy is: the page can tell an answer of a replaced one.
  const worker = () => new Proxy(engine, {
    get: (target, key) => {
      const value = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)
        .catch((error) => { if (error instanceof EngineStopped) return STOPPED; throw error; });
    },
  });
  let current = worker();
  return {
    get engine() {
      return current;
    },
    restartEngine: () => { engine.freshWorker(); current = worker(); },
    callback: (fn) => fn,
    handOver: (value) => value,
    storage,
    writer: { canWrite: () => true, claimWriter: async () => true },
    catalog: async () => CATALOG,
    modelUrl: (path) => `memory://models/${path}/`,
    taught: { stored: () => [], store: () => true },
    preferences: { get: (key) => preferences.get(key) ?? null, set: (key, on) => void preferences.set(key, on) },
    download: (_blob, name) => void downloads.push(name),
    downloads,
    options: { backend: null, model: null, anticipate: false, ...options },
  };
}
