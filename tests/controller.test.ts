import { describe, expect, it } from 'vitest';
import { createController, type Controller } from '../app/controller';
import { LARGE_MODEL_TUNING, refinementNote, refinementPlan, refinementSettings, refinementUnavailable } from '../src/engine/refine-presets';
import { CATALOG, editMark, FakeEngine, fakePorts, MemoryStorage, PARTIAL_MARK } from './helpers/fake-engine';

/**
 * The page's controller (app/controller/) driven in Node through its ports, with a fake engine that answers the
 * worker's protocol (tests/helpers/fake-engine.ts) and storage in memory: tickets and races, one crossing per
 * photo, undo per gesture, persistence and restore, a lost GPU, model switches. What needs a real browser (the
 * worker, IndexedDB, Web Locks, the pictures themselves) stays in the Playwright tests.
 */

async function until(condition: () => boolean, what: string, ms = 4000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const photoFile = () => new Blob([new Uint8Array([0xff, 0xd8, 0xff])], { type: 'image/jpeg' });

async function studio(options: { autoRefine?: boolean; storage?: MemoryStorage } = {}) {
  const engine = new FakeEngine();
  const storage = options.storage ?? new MemoryStorage();
  const c = createController(fakePorts(engine, storage));
  c.refinement.setAutoRefine(options.autoRefine ?? false);
  await c.models.boot();
  return { engine, storage, c };
}

const state = (c: Controller) => c.store.getState();
/** Which edits made the picture in the photo on screen (FakeEngine's mark), or null when none is shown. */
const shownMark = (c: Controller) => state(c).result?.image.data[0] ?? null;
const noticeTexts = (c: Controller) => state(c).notices.map((n) => n.text);
const idle = (c: Controller) => until(() => !state(c).rendering && !state(c).busy, 'the page to be idle');

describe('a photo crosses to the engine once', () => {
  it('its stages land in order as they come, and its first picture, "before" and snapshot come with the answer', async () => {
    const { engine, storage, c } = await studio();
    const seen: string[] = [];
    c.store.subscribe((s, prev) => {
      if (s.photo && !prev.photo) seen.push('photo');
      if (s.aligned && !prev.aligned) seen.push('aligned');
      if (s.reconstruction && !prev.reconstruction) seen.push('reconstruction');
      if (s.rendering && !prev.rendering) seen.push('rendering'); // until its first picture comes
      if (s.result && !prev.result) seen.push('result');
    });
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');

    expect(seen).toEqual(['photo', 'aligned', 'reconstruction', 'rendering', 'result']);
    expect(state(c).rendering).toBe(false);
    expect(state(c).fullRenders).toBe(0); // a photo's own picture is not a render the person asked for
    const photoWork = engine.calls.map((x) => x.method).filter((m) => !['start', 'loadModel', 'prepareForPhoto'].includes(m));
    expect(photoWork).toEqual(['invertPhoto', 'identity']); // the likeness comes after, in a pause of the editing
    expect(state(c).photo?.name).toBe('anna.jpg');
    expect(state(c).doc.photo?.framing).toEqual({ kind: 'face', faceIndex: 0 });
    expect(state(c).steps).toEqual({ decode: 'done', detect: 'done', align: 'done', invert: 'done' });
    expect(shownMark(c)).toBe(editMark([]));
    expect(state(c).original).not.toBeNull();
    expect(state(c).identity).toBe(0.42);
    expect(storage.snapshots.subject?.identity).toBe(0.42);
    expect(storage.snapshots.subject?.blob).toBe(state(c).doc.photo?.blob);
  });

  it('a photo without a face is shown, with a sentence, and nothing is inverted', async () => {
    const { engine, c } = await studio();
    await c.photos.open(photoFile(), 'noface.jpg', 'subject');
    expect(state(c).photo?.name).toBe('noface.jpg');
    expect(state(c).reconstruction).toBeNull();
    expect(state(c).steps.detect).toBe('failed');
    expect(noticeTexts(c)).toContain('No face was found in this photo.');
    expect(engine.count('identity')).toBe(0);
  });

  it('a file that cannot be read changes nothing: the photo, its edits and its picture stay', async () => {
    const { c } = await studio();
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    c.edits.setValue('smile', 2);
    await idle(c);
    expect(shownMark(c)).toBe(120);
    await c.photos.open(photoFile(), 'corrupt.jpg', 'subject');
    expect(noticeTexts(c)).toContain('corrupt.jpg is not an image this browser can read.');
    expect(state(c).photo?.name).toBe('anna.jpg');
    expect(state(c).doc.photo?.name).toBe('anna.jpg');
    expect(state(c).doc.edits.values.smile).toBe(2);
    expect(shownMark(c)).toBe(120);
    expect(state(c).steps.invert).toBe('done');
  });
  it('a slow full render shows the generator\'s coarser picture on its way, a fast one and a preview do not ask for it', async () => {
    const { engine, c } = await studio();
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    const shown: number[] = [];
    c.store.subscribe((s, prev) => { if (s.edited !== prev.edited && s.edited) shown.push(s.edited.data[0]); });
    const asked = () => engine.calls.filter((x) => x.method === 'render').map((x) => x.args[3]);
    c.edits.setValue('smile', 1); // the last full render took 2 ms here
    await idle(c);
    c.store.setState({ timings: { ...state(c).timings, render: 1500 } }); // the official 1024 px model on wasm
    c.edits.preview('smile', 2);
    await idle(c);
    c.edits.commit();
    await idle(c);
    expect(asked()).toEqual([false, false, true]);
    expect(shown.slice(-2)).toEqual([PARTIAL_MARK, editMark([{ direction: 'smile', value: 2 }])]); // the partial, then the whole
    expect(shownMark(c)).toBe(editMark([{ direction: 'smile', value: 2 }]));
  });
});

describe('tickets', () => {
  it.each([
    ['the engine says the older photo was superseded', true],
    ['the engine answers the older photo anyway', false],
  ])('a newer photo wins a race (%s): nothing of the older one lands', async (_, honours) => {
    const { engine, c } = await studio();
    engine.honoursSupersede = honours;
    const releaseFirst = engine.holdNext('invertPhoto');
    const first = c.photos.open(photoFile(), 'first.jpg', 'subject');
    await until(() => engine.count('invertPhoto') === 1, 'the first photo to reach the engine');
    await c.photos.open(photoFile(), 'second.jpg', 'subject');
    releaseFirst();
    await first;
    await idle(c);
    expect(state(c).photo?.name).toBe('second.jpg');
    expect(state(c).doc.photo?.name).toBe('second.jpg');
    expect(state(c).steps.invert).toBe('done');
    expect(state(c).notices.filter((n) => n.kind === 'error')).toEqual([]);
    // the first photo's likeness was never asked for: its work stopped with its ticket
    const identities = engine.calls.filter((x) => x.method === 'identity').map((x) => x.ticket);
    expect(identities).toEqual([c.ticket()]);
  });

  it('a slider moved while the photo is inverted is rendered once the picture is there', async () => {
    const { engine, c } = await studio();
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    const release = engine.holdNext('invertPhoto');
    const reframed = c.photos.reframe({ kind: 'face', faceIndex: 0 });
    await until(() => engine.count('invertPhoto') === 2, 'the reframe to reach the engine');
    c.edits.setValue('smile', 1); // no picture yet: nothing to render it on
    release();
    await reframed;
    await idle(c);
    expect(shownMark(c)).toBe(110);
  });
});

describe('edits', () => {
  it('a drag previews while it lasts, renders once in full when released, and is one undo step', async () => {
    const { engine, c } = await studio();
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    const before = engine.count('render');
    for (const v of [1, 2, 3]) c.edits.preview('smile', v);
    await idle(c);
    expect(state(c).doc.past).toHaveLength(0); // not history until released
    c.edits.commit();
    await idle(c);
    const renders = engine.calls.filter((x) => x.method === 'render').slice(before);
    const full = renders.filter((x) => x.args[1] === false);
    expect(full).toHaveLength(1);
    expect(full[0].args[0]).toEqual([{ direction: 'smile', value: 3, range: undefined }]);
    expect(renders.filter((x) => x.args[1] === true).length).toBeGreaterThanOrEqual(1);
    expect(shownMark(c)).toBe(130);
    expect(state(c).doc.past).toHaveLength(1);

    c.edits.undo();
    await idle(c);
    expect(shownMark(c)).toBe(100);
    c.edits.redo();
    await idle(c);
    expect(shownMark(c)).toBe(130);
  });
});

describe('a reference photo', () => {
  it('changes nothing until the person chooses what to take from it, and nothing again once that is set back to none', async () => {
    const { engine, c } = await studio();
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    await c.photos.open(photoFile(), 'bangs.jpg', 'reference');
    await idle(c);
    expect(state(c).reference?.name).toBe('bangs.jpg');
    expect(state(c).referenceReady).toBe(true);
    expect(engine.calls.filter((x) => x.method === 'invertPhoto').map((x) => (x.args[0] as { which: string }).which)).toEqual(['subject', 'reference']);
    const transferred = () => state(c).result?.image.data[1] === 200;
    expect(transferred()).toBe(false);
    c.edits.setTransfer({ kind: 'block', block: 'bangs', strength: 1 });
    await idle(c);
    expect(transferred()).toBe(true);
    c.edits.setTransfer(null);
    await idle(c);
    expect(transferred()).toBe(false);
    expect(state(c).reference?.name).toBe('bangs.jpg'); // the reference stays for another choice
  });
});

describe('persistence', () => {
  it('a reload restores the photo from its snapshot (no inversion) with its edits and history', async () => {
    const storage = new MemoryStorage();
    const first = await studio({ storage });
    await first.c.photos.open(photoFile(), 'anna.jpg', 'subject');
    first.c.edits.setValue('smile', 2);
    await idle(first.c);
    await until(() => (storage.document as { edits?: { values: Record<string, number> } })?.edits?.values.smile === 2, 'the document to be saved');

    const { engine, c } = await studio({ storage });
    await idle(c);
    expect(engine.count('invertPhoto')).toBe(0);
    expect(engine.count('restorePhoto')).toBe(1);
    expect(state(c).photo?.name).toBe('anna.jpg');
    expect(state(c).doc.edits.values.smile).toBe(2);
    expect(state(c).doc.past).toHaveLength(1);
    expect(state(c).identity).toBe(0.42);
    expect(shownMark(c)).toBe(120);
    expect(noticeTexts(c)).toContain('Your last session was restored.');
  });

  it('a snapshot of another model is not used: the photo is inverted again with its framing', async () => {
    const storage = new MemoryStorage();
    const first = await studio({ storage });
    await first.c.photos.open(photoFile(), 'anna.jpg', 'subject');
    await until(() => storage.document !== undefined, 'the document to be saved');
    storage.snapshots.subject = { ...storage.snapshots.subject!, modelId: 'faces-2' };
    const { engine, c } = await studio({ storage });
    await idle(c);
    expect(engine.count('restorePhoto')).toBe(0);
    expect(engine.count('invertPhoto')).toBe(1);
    expect(state(c).photo?.name).toBe('anna.jpg');
    expect(shownMark(c)).toBe(100);
  });
});

describe('a browser that will not store', () => {
  it('full: editing goes on, the person is told once what a reload would lose, and told when saving works again', async () => {
    const { storage, c } = await studio();
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    storage.full = true;
    for (const v of [1, 2, 3]) {
      c.edits.setValue('smile', v);
      await idle(c);
      await new Promise((resolve) => setTimeout(resolve, 250)); // each change is saved (and refused) 200 ms later
    }
    expect(shownMark(c)).toBe(130); // the edits render as ever
    const refusals = state(c).notices.filter((n) => n.kind === 'error');
    expect(refusals).toHaveLength(1);
    expect(refusals[0].text).toContain('storage for this page is full');
    expect(refusals[0].text).toContain('download the edited photo');
    storage.full = false;
    c.edits.setValue('smile', 2);
    await until(() => noticeTexts(c).includes('Your session is saved in this browser again.'), 'saving to work again');
    expect(state(c).notices.filter((n) => n.kind === 'error')).toEqual([]);
    expect((storage.document as { edits: { values: Record<string, number> } }).edits.values.smile).toBe(2);
  });
});

describe('a browser that evicts the session while the page is open', () => {
  it('the next save puts back the document, its photo and its inversion: a reload restores without inverting', async () => {
    const storage = new MemoryStorage();
    const first = await studio({ storage });
    await first.c.photos.open(photoFile(), 'anna.jpg', 'subject');
    await until(() => storage.document !== undefined && storage.snapshots.subject !== undefined, 'the first save');
    storage.evict();
    first.c.edits.setValue('age', 1);
    await until(() => storage.snapshots.subject !== undefined, 'the inversion saved again');
    expect(storage.blobs.size).toBe(1);
    const { engine, c } = await studio({ storage });
    await idle(c);
    expect(engine.count('restorePhoto')).toBe(1);
    expect(engine.count('invertPhoto')).toBe(0);
    expect(state(c).doc.edits.values.age).toBe(1);
  });
});

describe('models', () => {
  it('a lost GPU: the engine restarts on the next backend and the photo comes back from its snapshot, edits kept', async () => {
    const { engine, c } = await studio();
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    c.edits.setValue('age', -1);
    await idle(c);
    engine.loseDevice();
    await until(() => state(c).backend === 'wasm' && engine.count('restorePhoto') === 1, 'the recovery');
    await idle(c);
    expect(engine.count('restart')).toBe(1);
    expect(engine.count('invertPhoto')).toBe(1);
    expect(state(c).doc.edits.values.age).toBe(-1);
    expect(shownMark(c)).toBe(90);
    expect(noticeTexts(c).some((t) => t.includes('the editor now runs on wasm'))).toBe(true);
  });

  it('a refinement the lost GPU took down runs again once the editor runs on the next backend', async () => {
    const { engine, c } = await studio();
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    await idle(c);
    const releaseRefine = engine.holdNext('refine');
    const releaseRestore = engine.holdNext('restorePhoto');
    const refining = c.refinement.refine();
    await until(() => engine.count('refine') === 1, 'the refinement started');
    engine.loseDevice(); // under the refinement: the recovery begins and waits on the photo's restore
    await until(() => engine.count('restorePhoto') === 1, 'the recovery reopening the photo');
    releaseRefine(); // the refinement's answer comes back failed while the recovery is still under way
    await refining;
    expect(engine.count('refine')).toBe(1);
    releaseRestore();
    await until(() => engine.count('refine') === 2, 'the refinement made again');
    await idle(c);
    expect(state(c).doc.refinement).not.toBeNull();
    expect(noticeTexts(c)).toContain('The GPU stopped working during the refinement; it runs again on the next backend.');
  });

  it('another face model keeps the photo and inverts it again with the new model', async () => {
    const { engine, c } = await studio();
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    await c.models.select(CATALOG[1]);
    await idle(c);
    expect(state(c).doc.modelId).toBe('faces-2');
    expect(state(c).photo?.name).toBe('anna.jpg');
    const inversions = engine.calls.filter((x) => x.method === 'invertPhoto');
    expect(inversions).toHaveLength(2);
    expect((inversions[1].args[0] as { file: { name: string } }).file.name).toBe('anna.jpg');
  });

  it('a car model does not take a face photo along', async () => {
    const { c } = await studio();
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    await c.models.select(CATALOG[3]);
    await idle(c);
    expect(state(c).doc.modelId).toBe('cars');
    expect(state(c).photo).toBeNull();
  });

  it('a model that cannot be loaded: back to the one that was open, with its photo and edits', async () => {
    const { c } = await studio();
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    c.edits.setValue('smile', 1);
    await idle(c);
    await c.models.select(CATALOG[2]);
    await idle(c);
    expect(noticeTexts(c)).toContain('A broken model could not be loaded: its weights file is cut short');
    expect(state(c).doc.modelId).toBe('faces');
    expect(state(c).photo?.name).toBe('anna.jpg');
    expect(state(c).doc.edits.values.smile).toBe(1);
    expect(shownMark(c)).toBe(110);
  });
});

describe('an engine that stops (a WebAssembly abort, memory exhausted)', () => {
  it('during a render: a fresh engine, the photo back from its snapshot with its edits, one line said', async () => {
    const { engine, c } = await studio();
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    engine.crashOn('render');
    c.edits.setValue('smile', 2);
    await until(() => engine.workers === 2 && engine.count('restorePhoto') === 1, 'the recovery');
    await idle(c);
    expect(engine.count('loadModel')).toBe(2);
    expect(engine.count('invertPhoto')).toBe(1); // from the snapshot: no inversion again
    expect(state(c).doc.edits.values.smile).toBe(2);
    expect(shownMark(c)).toBe(120);
    expect(noticeTexts(c)).toEqual(["The editor's engine stopped (RuntimeError: unreachable) and was started again; your photo and edits are kept."]);
  });

  it('during a refinement: the refinement is made again on the fresh engine', async () => {
    const { engine, c } = await studio();
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    engine.crashOn('refine');
    await c.refinement.refine(40, true);
    await until(() => engine.count('refine') === 2 && state(c).doc.refinement !== null, 'the refinement made again');
    await idle(c);
    expect(engine.workers).toBe(2);
    expect(state(c).reconstruction?.data[0]).toBe(70);
    expect(state(c).notices.filter((n) => n.kind === 'error')).toEqual([]);
  });

  it('while a new photo is inverted: the photo is opened again on the fresh engine', async () => {
    const { engine, c } = await studio();
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    engine.crashOn('invertPhoto');
    await c.photos.open(photoFile(), 'bob.jpg', 'subject');
    await until(() => engine.workers === 2 && state(c).photo?.name === 'bob.jpg' && state(c).steps.invert === 'done', 'bob.jpg opened again');
    await idle(c);
    expect(state(c).doc.photo?.name).toBe('bob.jpg');
    expect(shownMark(c)).toBe(100);
  });

  it('two requests in flight when it stops: one fresh engine, and the second answer of the old one is not a second stop', async () => {
    const { engine, c } = await studio();
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    engine.crashOn('render');
    engine.crashOn('identity');
    const [render, identity] = [engine.holdNext('render'), engine.holdNext('identity')];
    const measured = c.refinement.measureIdentity(c.ticket());
    await until(() => engine.count('identity') === 2, 'the likeness asked for');
    c.edits.setValue('smile', 1);
    await until(() => engine.count('render') === 1, 'a render asked for beside it');
    identity();
    render();
    await measured;
    await until(() => engine.count('restorePhoto') === 1, 'the recovery');
    await idle(c);
    expect(engine.workers).toBe(2);
    expect(state(c).notices.filter((n) => n.kind === 'error')).toEqual([]);
    expect(shownMark(c)).toBe(110);
  });

  it('again at the first picture the fresh engine makes: that is stopping again, not a new stop', async () => {
    const { engine, c } = await studio();
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    engine.crashOn('render', 2);
    c.edits.setValue('smile', 1);
    await until(() => state(c).notices.some((n) => n.kind === 'error'), 'the sentence that says what to do');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(engine.workers).toBe(2);
    expect(engine.count('restorePhoto')).toBe(1);
  });

  it('again while it is brought back: the person is told what to do, and the document stays as it was', async () => {
    const { engine, storage, c } = await studio();
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    c.edits.setValue('age', 1);
    await idle(c);
    await until(() => storage.saves > 0, 'the document to be saved');
    engine.crashOn('render');
    engine.crashOn('restorePhoto'); // bringing the photo back stops the fresh engine too
    c.edits.setValue('age', 2);
    await until(() => state(c).notices.some((n) => n.kind === 'error'), 'the sentence that says what to do');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(engine.workers).toBe(2); // no third engine: it does not try forever
    const error = state(c).notices.find((n) => n.kind === 'error')!.text;
    expect(error).toContain('stopped again');
    expect(error).toContain('reload the page');
    expect(error).toContain('smaller photo');
    expect(state(c).doc.photo?.name).toBe('anna.jpg');
    expect(state(c).doc.edits.values.age).toBe(2);
    expect(state(c).busy).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 300)); // a save asked for meanwhile
    const saved = storage.document as { photo?: { name: string }; edits?: { values: Record<string, number> } };
    expect(saved.photo?.name).toBe('anna.jpg'); // what a reload brings back
    expect(saved.edits?.values.age).toBe(2);
  });
});

describe('refinement', () => {
  it('every new photo is refined by itself when the setting is on; its likeness is measured after', async () => {
    const { engine, c } = await studio({ autoRefine: true });
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    await idle(c);
    const order = engine.calls.map((x) => x.method).filter((m) => ['invertPhoto', 'refine', 'snapshot', 'identity'].includes(m));
    expect(order).toEqual(['invertPhoto', 'refine', 'snapshot', 'identity']);
    expect(state(c).reconstruction?.data[0]).toBe(70);
    expect(state(c).doc.refinement).not.toBeNull();
    expect(state(c).refineFigures?.after.ssim).toBe(0.7);
  });

  it('is not started for a model the backend cannot tune (the official 1024 px one on plain JavaScript), and the panel says why', async () => {
    const { engine, c } = await studio({ autoRefine: true });
    c.store.setState({ model: { ...state(c).model!, outputSize: 1024 }, backend: 'cpu' });
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    await idle(c);
    await c.refinement.refine(); // a click that got through anyway
    expect(engine.count('refine')).toBe(0);
    expect(engine.count('identity')).toBe(1); // the likeness is still measured
    expect(refinementUnavailable(1024, 'cpu')).toMatch(/not offered on plain JavaScript.*WebAssembly refines it at 64 px/);
    expect(refinementUnavailable(1024, 'wasm')).toBeNull();
    expect(refinementUnavailable(1024, 'webgpu')).toBeNull();
    expect(refinementUnavailable(64, 'cpu')).toBeNull();
  });

  it('tunes the official 1024 px model at 64 px on WebAssembly, and says so; at its own size up to 256 px elsewhere', async () => {
    const { engine, c } = await studio({ autoRefine: true });
    c.store.setState({ model: { ...state(c).model!, outputSize: 1024 }, backend: 'wasm' });
    await c.photos.open(photoFile(), 'anna.jpg', 'subject');
    await idle(c);
    const call = engine.calls.find((x) => x.method === 'refine');
    expect(call?.args[0]).toBe(refinementSettings(true).steps);
    expect(refinementPlan(true, 1024, 'wasm')).toEqual({ ...refinementSettings(true), resolution: LARGE_MODEL_TUNING.resolution });
    expect(refinementPlan(true, 1024, 'webgpu').resolution).toBeUndefined(); // refine.ts: the output size, at most 256
    expect(refinementPlan(true, 64, 'wasm')).toEqual(refinementSettings(true));
    expect(refinementNote(1024, 'wasm')).toMatch(/refined at 64 px .*finer detail stays the generator's/);
    expect(refinementNote(1024, 'webgpu')).toBeNull();
    expect(refinementNote(64, 'wasm')).toBeNull();
  });
});
