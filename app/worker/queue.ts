import { RefineCancelled } from '../../src/engine/refine';
import { CheckpointError } from '../../src/io/errors';
import { PhotoError } from '../../src/photo/types';
import type { Result, WorkerError } from '../protocol';

/** Thrown at a stage of work whose ticket a newer one made void; answered as 'superseded'. */
export class Superseded extends Error {
  constructor() {
    super('superseded by a newer request');
  }
}

/**
 * The engine cannot go on after these: a trap in a WebAssembly module (tfjs-wasm's abort, our kernel's), or memory
 * the browser would not give. The page starts a fresh worker and makes the request again.
 */
function engineStopped(error: unknown): boolean {
  if (typeof WebAssembly !== 'undefined' && error instanceof WebAssembly.RuntimeError) return true;
  const message = (error as Error)?.message ?? String(error);
  return /\bAborted\(|\bout of memory\b|Cannot enlarge memory|memory access out of bounds|Array buffer allocation failed|could not allocate memory/i.test(message);
}

/** An error as the page is told it: what kind of thing failed, and the sentence to show. */
export function answerFor(error: unknown): WorkerError {
  if (error instanceof Superseded) return { error: { kind: 'superseded', code: 'superseded', message: error.message } };
  if (error instanceof RefineCancelled) return { error: { kind: 'cancelled', code: 'cancelled', message: 'Refinement cancelled; the encoder\'s result is kept.' } };
  if (error instanceof CheckpointError) return { error: { kind: 'checkpoint', code: error.code, message: error.message } };
  if (error instanceof PhotoError) return { error: { kind: 'photo', code: error.code, message: error.message } };
  if (engineStopped(error)) return { error: { kind: 'engine', code: 'crashed', message: `${(error as Error)?.name ?? 'Error'}: ${(error as Error)?.message ?? String(error)}` } };
  return { error: { kind: 'engine', code: 'engine', message: (error as Error)?.message ?? String(error) } };
}

async function guard<T>(work: () => Promise<T>): Promise<Result<T>> {
  try {
    return await work();
  } catch (error) {
    return answerFor(error);
  }
}

/**
 * The worker's work, one request at a time and in order: a new model must not be swapped in under an inversion that
 * is still using the old one. `latest` is the page's newest ticket; a queued or running request with an older one
 * stops at its next stage (see protocol.ts).
 */
export class WorkQueue {
  latest = 0;
  /** Requests queued behind the one running: work done ahead of the hand (anticipate) stops for them. */
  waiting = 0;
  private tail: Promise<unknown> = Promise.resolve();
  /**
   * The refinement running now: its photo's renders go beside it, between its steps, rather than waiting the whole
   * refinement behind it in the queue (a slider moved while a photo refines shows at once, on the encoder's picture;
   * the page renders it again through the tuned layers when they are ready). Renders touch only the photo's codes
   * and tuned layers, which the refinement replaces after its last step, once the renders beside it have finished.
   */
  private refinement: { ticket: number; beside: Set<Promise<unknown>> } | null = null;

  supersede(ticket: number): void {
    this.latest = Math.max(this.latest, ticket);
  }

  /** Throws Superseded when a newer ticket has come: called between the stages of long work. */
  check(ticket: number): void {
    if (ticket < this.latest) throw new Superseded();
  }

  serial<T>(ticket: number, work: () => Promise<T>): Promise<Result<T>> {
    this.waiting++;
    const run = this.tail.then(() => { this.waiting--; return guard(async () => { this.check(ticket); return work(); }); });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** A render of the photo being refined runs between the refinement's steps; anything else queues. */
  besideRefinement<T>(ticket: number, work: () => Promise<T>): Promise<Result<T>> {
    if (!this.refinement || this.refinement.ticket !== ticket) return this.serial(ticket, work);
    const { beside } = this.refinement;
    const run = guard(async () => { this.check(ticket); return work(); });
    beside.add(run);
    void run.finally(() => beside.delete(run));
    return run;
  }

  /** A refinement starts (inside serial work): from now its photo's renders go beside it. */
  openBeside(ticket: number): object {
    this.refinement = { ticket, beside: new Set() };
    return this.refinement;
  }

  /** Renders queue again from here; resolves when those already beside it have finished. */
  async closeBeside(opened: object): Promise<void> {
    const running = opened as NonNullable<WorkQueue['refinement']>;
    if (this.refinement === running) this.refinement = null;
    await Promise.all(running.beside);
  }
}

/**
 * Lets the messages that arrived meanwhile be handled (a request from the page is counted in `waiting` when its
 * message is): a task, not a microtask, and not a timer, which nested timers would slow to 4 ms.
 */
export function yieldToMessages(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => { channel.port1.close(); resolve(); };
    channel.port2.postMessage(null);
  });
}

/**
 * A real WebAssembly trap (a module whose one function is `unreachable`), for tests: the same RuntimeError a
 * backend's abort raises.
 */
export function webAssemblyTrap(): Error {
  const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 7, 8, 1, 4, 116, 114, 97, 112, 0, 0, 10, 5, 1, 3, 0, 0, 11]);
  const { trap } = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as { trap: () => void };
  try {
    trap();
  } catch (error) {
    return error as Error;
  }
  throw new Error('the trap did not trap');
}

/**
 * For tests: the next request to an armed method ends in a real WebAssembly trap after its work, answered as the
 * queue answers an abort in a backend's module.
 */
export class SimulatedCrashes<Api extends object> {
  private armed: keyof Api | null = null;

  arm(method: keyof Api): void {
    this.armed = method;
  }

  expose(api: Api): Api {
    return new Proxy(api, {
      get: (target, key) => {
        const method = Reflect.get(target, key) as unknown;
        if (typeof method !== 'function' || this.armed !== key) return method;
        this.armed = null;
        return async (...args: unknown[]) => {
          await (method as (...a: unknown[]) => unknown).apply(target, args);
          return answerFor(webAssemblyTrap());
        };
      },
    });
  }
}
