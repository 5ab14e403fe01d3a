import * as D from '../document';
import { failed, type Picture, type PhotoPatch, type PhotoResult, type Pixels, type Result } from '../protocol';
import { neighbourValues, previewsToMakeAhead } from '../sliders';
import type { Context } from './context';
import type { Notices } from './notices';

const PREVIEW_TIMING = 'preview';
const PREPARED_TIMING = 'preview made ahead';
/** How long a held slider stays still before its neighbours are prepared: longer than between a drag's inputs. */
const ANTICIPATE_AFTER_MS = 40;
/** Positions prepared on the side the held slider last moved towards, and on the other, at most. */
const ANTICIPATED_AHEAD = 12;
const ANTICIPATED_BEHIND = 6;
/**
 * A full render that took longer than this last time shows the generator's coarser pictures on the way (a quarter,
 * then half the output size): the official 1024 px model renders in ~1.5-1.9 s on wasm, its 256 px picture comes
 * 0.85 s and its 512 px 1.25 s into a 1.9 s render (Node).
 */
const PROGRESSIVE_AFTER_MS = 400;

/**
 * The pictures follow the document: one render at a time, a request made meanwhile replacing any waiting one (only
 * the latest matters); previews while a gesture lasts, one full render when it ends.
 *
 * Previews made ahead of the hand: a person holding a slider looks at the picture between moves. Those pauses cost
 * the next move more than the move itself on a small machine (wasm's second thread and its core fall asleep: the
 * demo car's preview takes 11 ms back to back and ~30 ms after 200 ms still), so they are used to render the
 * neighbouring positions (EngineApi.anticipate); a move to one of them shows at once, and any other request stops
 * the work at once.
 */
export class Renders {
  private inFlight = false;
  private waiting: { preview: boolean } | null = null;
  private lastAsked = 0;
  /** The last preview the engine rendered (not one made ahead) took this long; null: none yet with this model. */
  private renderedPreviewMs: number | null = null;
  private held: { direction: string; towards: 1 | -1 } | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** An edit came while no picture was there to render it on (the photo was being inverted). */
  private skipped = false;

  constructor(private readonly ctx: Context, private readonly notices: Notices) {}

  /** The document's edits or transfer changed (`gesture`: a slider is still held): the picture follows. */
  request(preview: boolean): void {
    const { ctx } = this;
    this.lastAsked = performance.now();
    if (!ctx.get().reconstruction || ctx.device.restarting) { this.skipped = true; return; }
    this.skipped = false;
    if (!preview) ctx.view({ fullRenders: ctx.get().fullRenders + 1 });
    if (this.inFlight) { this.waiting = { preview }; return; }
    void this.render(preview);
  }

  /** The photo's pipeline is making its first picture after the inversion shown: the page says it is rendering. */
  awaitFirstPicture(): void {
    this.ctx.view({ rendering: true });
  }

  /**
   * The pipeline's answer came, with the photo's first picture or without (it failed, or a newer photo took over):
   * it is shown, and edits made while no picture was there are rendered now.
   */
  firstPicture(t: number, answer: Result<Picture> | null): void {
    if (answer) this.land(t, answer, false);
    if (!this.inFlight) this.ctx.view({ rendering: false });
    if (this.skipped && this.ctx.get().reconstruction) this.request(this.ctx.get().doc.gestureStart !== null);
  }

  /** Another model or backend: its previews cost what they cost. */
  forgetPreviewCost(): void {
    this.renderedPreviewMs = null;
  }

  private async render(preview: boolean): Promise<void> {
    const { ctx } = this;
    this.inFlight = true;
    this.cancelAnticipation();
    ctx.view({ rendering: true });
    const t = ctx.ticket;
    // A result of this photo on screen: the engine sends only the part of the photo an edit can change.
    const slow = !preview && (ctx.get().timings.render ?? 0) > PROGRESSIVE_AFTER_MS;
    const partial = slow ? ctx.ports.callback((picture: Pixels) => { if (t === ctx.ticket && this.inFlight) ctx.view({ edited: picture }); }) : undefined;
    const answer = await ctx.engine.render(t, D.editList(ctx.get().doc.edits), preview, ctx.activeTransfer(), !preview && !ctx.get().result, partial);
    this.inFlight = false;
    this.land(t, answer, preview);
    const next = this.waiting;
    this.waiting = null;
    if (next && ctx.device.restarting) this.skipped = true; // the reopened document renders it
    else if (next) void this.render(next.preview);
    else {
      ctx.view({ rendering: false });
      this.scheduleAnticipation();
    }
  }

  /** A picture the engine made for the photo on screen (by a render, or at the end of the photo's pipeline). */
  land(t: number, answer: Result<Picture>, preview: boolean): void {
    const { ctx } = this;
    if (ctx.stale(t, answer)) return;
    if (failed(answer)) { this.notices.notify(answer.error.message, 'error', 'render'); return; }
    const inPhoto = answer.result && ('patch' in answer.result ? this.repaint(answer.result) : answer.result);
    if (answer.result && !inPhoto) this.waiting ??= { preview: false }; // the picture it was for is gone: whole again
    const timings = { ...ctx.get().timings };
    if (preview) {
      // A preview made ahead says so (its figure is a lookup's), in place of a rendered one's, and back.
      delete timings[PREVIEW_TIMING];
      delete timings[PREPARED_TIMING];
      timings[answer.prepared ? PREPARED_TIMING : PREVIEW_TIMING] = answer.ms;
      if (!answer.prepared) this.renderedPreviewMs = answer.ms;
    } else timings.render = answer.ms;
    if (answer.result) timings['in the photo'] = answer.result.ms;
    ctx.view({ edited: answer.image, ...(inPhoto ? { result: inPhoto } : {}), timings });
  }

  /**
   * The result on screen with the engine's patch written over its region (in place: the pixels are the page's own,
   * and a canvas repaints only the region), or null when no result of that size is on screen any more.
   */
  private repaint({ patch, region, ...rest }: PhotoPatch): PhotoResult | null {
    const shown = this.ctx.get().result;
    if (!shown || shown.factor !== 1 || shown.image.width !== rest.width || shown.image.height !== rest.height) return null;
    const { data, width } = shown.image;
    for (let y = 0; y < region.height; y++) {
      data.set(patch.data.subarray(y * region.width * 4, (y + 1) * region.width * 4), ((region.y + y) * width + region.x) * 4);
    }
    return { ...rest, image: { ...shown.image }, region };
  }

  /**
   * Resolves once no picture has been asked for `ms` and none is being made. Secondary work waits for such a pause:
   * face-api's identity figure holds the engine's queue ~0.3 s (its face detection is one call), and a slider grabbed
   * right after the picture showed waited that long for its first preview.
   */
  async pause(ms = 400): Promise<void> {
    for (;;) {
      const quiet = performance.now() - this.lastAsked;
      if (!this.inFlight && quiet >= ms) return;
      await new Promise((resolve) => setTimeout(resolve, Math.max(20, ms - quiet)));
    }
  }

  // ---- Previews made ahead of the hand ----

  /** A slider grabbed, focused or moved: once it has been still ANTICIPATE_AFTER_MS, its neighbouring positions are prepared. */
  hold(direction: string): void {
    if (this.held?.direction !== direction) this.held = { direction, towards: 1 };
    this.scheduleAnticipation();
  }

  /** The held slider moved up or down: the positions that way are prepared first. */
  steer(direction: string, towards: 1 | -1): void {
    this.held = { direction, towards };
  }

  /** The slider lost focus: nothing more is prepared for it. */
  letGo(direction: string): void {
    if (this.held?.direction === direction) this.held = null;
    this.cancelAnticipation();
  }

  private cancelAnticipation(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private scheduleAnticipation(): void {
    this.cancelAnticipation();
    if (this.held) this.timer = setTimeout(() => this.anticipate(), ANTICIPATE_AFTER_MS);
  }

  private anticipate(): void {
    const { ctx, held } = this;
    this.timer = null;
    const spec = held && ctx.get().model?.directions.find((d) => d.id === held.direction);
    if (!ctx.ports.options.anticipate || !held || !spec || !ctx.get().reconstruction || this.inFlight || this.waiting) return;
    const count = previewsToMakeAhead(this.renderedPreviewMs, ctx.get().timings.render);
    if (count === 0) return;
    const edits = ctx.get().doc.edits;
    const candidates = neighbourValues(spec, edits.values[spec.id] ?? 0, held.towards, ANTICIPATED_AHEAD, ANTICIPATED_BEHIND)
      .slice(0, count)
      .map((value) => D.editList({ ...edits, values: { ...edits.values, [spec.id]: value } }));
    void ctx.engine.anticipate(ctx.ticket, candidates, ctx.activeTransfer());
  }
}
