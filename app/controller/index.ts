import { createStudioStore, type StudioStore } from '../store';
import { Batch } from './batch';
import { Codes } from './codes';
import { Context } from './context';
import { Edits } from './edits';
import { Models } from './models';
import { Notices } from './notices';
import { Persistence } from './persistence';
import { Recovery } from './recovery';
import { Photos } from './photos';
import type { Ports } from './ports';
import { Refinement } from './refinement';
import { Renders } from './renders';
import { Teaching } from './teaching';

export type { Engine, Ports } from './ports';
export { defaultModel } from './models';
export { refineSteps } from './refinement';

/**
 * The one owner of the page's state. Components call the parts' commands; each changes the document through a pure
 * transition (document.ts) and runs the engine work it implies through the ports (ports.ts). One subscription renders
 * whatever the document's edits say and persists the document; no command has to remember to.
 *
 *   component --command--> part --transition--> document (store)
 *                            |  \--subscription: render (preview while a gesture lasts), persist
 *                            \--ticketed request--> engine (the worker in the page, a fake in tests)
 *
 * Parts, each one job: notices, persistence, renders (the render queue and previews made ahead), refinement
 * (and the likeness figure), photos (the photo's pipeline, restore), models (start, switch, add), recovery (a lost
 * GPU, an engine that stopped),
 * edits and downloads, codes, batch, teaching.
 */
export function createController(ports: Ports, store: StudioStore = createStudioStore((key) => ports.preferences.get(key))) {
  const ctx = new Context(ports, store);
  const notices = new Notices(ctx);
  const persistence = new Persistence(ctx, notices);
  const renders = new Renders(ctx, notices);
  const refinement = new Refinement(ctx, notices, renders, persistence);
  const codes = new Codes(ctx, notices, renders, persistence);
  const photos = new Photos(ctx, notices, renders, persistence, refinement, codes);
  const models = new Models(ctx, notices, renders, persistence, photos);
  const edits = new Edits(ctx, notices, renders);
  const recovery = new Recovery(ctx, notices, models, photos, refinement, edits, codes);
  ctx.onCrash = (crash) => void recovery.engineStopped(crash);
  ctx.onAnswer = (method) => recovery.answered(method);
  ctx.onDeviceLost = (reason) => void recovery.deviceLost(reason);

  store.subscribe((state, prev) => {
    if (state.doc === prev.doc) return;
    persistence.schedule();
    const [a, b] = [prev.doc, state.doc];
    if (a.photo?.blob !== b.photo?.blob || a.modelId !== b.modelId) return; // the photo's own pipeline renders it
    const gesture = b.gestureStart !== null;
    if (a.edits !== b.edits || a.transfer !== b.transfer) renders.request(gesture);
    else if (a.gestureStart !== null && !gesture) renders.request(false); // released: one full render
  });

  return {
    store,
    notices,
    models,
    photos,
    edits,
    refinement,
    recovery,
    renders,
    codes,
    persistence,
    batch: new Batch(ctx, notices),
    teaching: new Teaching(ctx, notices),
    /** The ticket of the photo and model on screen (tests and the page's diagnostics). */
    ticket: () => ctx.ticket,
  };
}

export type Controller = ReturnType<typeof createController>;
