import { refinementPlan, refinementUnavailable } from '../../src/engine/refine-presets';
import * as D from '../document';
import { failed, type RefineProgressMessage } from '../protocol';
import { AUTO_REFINE_KEY, FINE_DETAIL_KEY } from '../store';
import type { Context } from './context';
import type { Notices } from './notices';
import type { Persistence } from './persistence';
import type { Renders } from './renders';

/** Steps of a refinement: "keep fine detail" needs fewer (src/engine/refine-presets.ts refinementPlan). */
export const refineSteps = (fineDetail: boolean, outputSize?: number, backend: string | null = null) => refinementPlan(fineDetail, outputSize, backend).steps;

/**
 * Pivotal tuning of the photo on screen (src/engine/refine.ts), and the likeness figure measured after a picture:
 * progress and a live preview while it runs; the tuned layers then render every edit.
 */
export class Refinement {
  constructor(
    private readonly ctx: Context,
    private readonly notices: Notices,
    private readonly renders: Renders,
    private readonly persistence: Persistence,
  ) {}

  /** "Refine every photo automatically" (a preference of this browser, not part of a document). */
  setAutoRefine(on: boolean): void {
    this.ctx.ports.preferences.set(AUTO_REFINE_KEY, on);
    this.ctx.view({ autoRefine: on });
  }

  /** "Keep fine detail" for the next refinements (src/engine/refine.ts FINE_DETAIL). */
  setFineDetail(on: boolean): void {
    this.ctx.ports.preferences.set(FINE_DETAIL_KEY, on);
    this.ctx.view({ fineDetail: on });
  }

  /** Why this model cannot be refined on this backend (the panel says it before any click), or null. */
  unavailable(): string | null {
    return refinementUnavailable(this.ctx.get().model?.outputSize, this.ctx.get().backend);
  }

  /** Cancelled, the encoder's reconstruction comes back as it was. */
  async refine(steps?: number, fineDetail = this.ctx.get().fineDetail): Promise<void> {
    const { ctx, notices } = this;
    steps ??= refineSteps(fineDetail, ctx.get().model?.outputSize, ctx.get().backend);
    const t = ctx.ticket;
    const losses = ctx.device.losses;
    const { reconstruction, mse, identity } = ctx.get();
    if (!reconstruction || ctx.get().refining || this.unavailable()) return;
    ctx.view({ refining: { step: 0, steps, loss: null }, busy: `Refining (0/${steps})`, refineFigures: null });
    const started = performance.now();
    const result = await ctx.engine.refine(t, steps, fineDetail, ctx.ports.callback((p: RefineProgressMessage) => {
      if (t !== ctx.ticket) return;
      // After the last step the tuned layers render the photo (its likeness is measured after it is shown).
      const tail = p.step === p.steps ? ': rendering the refined photo' : '';
      ctx.view({ refining: { step: p.step, steps: p.steps, loss: p.loss }, busy: `Refining (${p.step}/${p.steps})${tail}`, ...(p.preview ? { reconstruction: p.preview } : {}) });
    }));
    ctx.view({ refining: null }); // one refinement at a time: whatever became of this one, it is over
    const gpuLost = failed(result) && (ctx.device.losses !== losses || /destroyed|device (was )?lost/i.test(result.error.message));
    if (gpuLost) {
      // The GPU went away under the refinement: the recovery brings the photo back on the next backend, and the
      // refinement runs again there (now, if the recovery is done; else when it is).
      notices.notify('The GPU stopped working during the refinement; it runs again on the next backend.', 'info', 'refine');
      if (!ctx.device.recovering && t !== ctx.ticket) void this.refine(steps, fineDetail);
      else ctx.device.interrupted = { method: 'refine', args: [t, steps, fineDetail], message: result.error.message };
      return;
    }
    if (ctx.stale(t, result)) return;
    ctx.view({ busy: null });
    if (failed(result)) {
      // The engine kept what it had: show exactly that again (the previews replaced it on screen).
      const kept = await ctx.engine.reconstruction(t);
      if (ctx.stale(t, kept)) return;
      ctx.view(failed(kept) ? { reconstruction, mse, identity } : { reconstruction: kept.reconstruction, mse: kept.mse, identity });
      if (result.error.kind === 'cancelled') notices.notify(result.error.message, 'info', 'refine');
      else notices.notify(`The photo could not be refined: ${result.error.message}`, 'error', 'refine');
      if (ctx.get().measuringIdentity) await this.measureIdentity(t); // an automatic refinement was to measure it
      return;
    }
    ctx.view({ reconstruction: result.reconstruction, mse: result.mse, identity: null, measuringIdentity: true, refineFigures: { before: result.before, after: result.after, ms: performance.now() - started } });
    ctx.dispatch((d) => D.refined(d, steps, fineDetail));
    this.renders.request(false);
    await this.persistence.keepCurrent('subject', t);
    await this.measureIdentity(t);
  }

  cancel(): void {
    void this.ctx.engine.cancelRefine();
  }

  /**
   * face-api's identity distance of the reconstruction on screen, in a pause of the person's editing (its three
   * networks take longer than inverting), kept with the photo's snapshot.
   */
  async measureIdentity(t: number): Promise<void> {
    await this.renders.pause();
    const measured = await this.ctx.engine.identity(t);
    if (this.ctx.stale(t, measured)) return;
    const identity = failed(measured) ? null : measured;
    this.ctx.view({ identity, measuringIdentity: false });
    await this.persistence.keepIdentity(identity);
  }
}
