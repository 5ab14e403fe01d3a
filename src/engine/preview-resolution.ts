import type { GeneratorConfig } from '../models/stylegan2';

/**
 * A preview that keeps up with a hand: while a slider is dragged, each position is rendered at the generator's early
 * exit, and the exit is chosen from how long renders took on this model and backend, not fixed. A quarter of the
 * size was a fixed rule: the official 1024 generator's 256 px exit took 1.4-2.5 s on wasm (nothing moved while
 * dragging), while the 64 px demo generator's full picture takes ~20 ms (its 16 px preview was blurrier than needed).
 */

/** A drag shows at least 10 pictures a second. */
export const PREVIEW_BUDGET_MS = 100;
/** The smallest exit offered: below 16 px a face is a blur of colour, however fast. */
const SMALLEST = 16;
/** Renders remembered per resolution: the least of them predicts the next (a shader compiled or a pause for garbage
 *  collection makes one render slow, not the resolution). */
const REMEMBERED = 3;

/**
 * Multiply-adds of the synthesis network up to `resolution` (the styled 3×3 convolutions and the 1×1 ToRGBs): what a
 * render there costs, relative to the others, where it has not been timed yet.
 */
export function synthesisCost(config: Pick<GeneratorConfig, 'channels'>, resolution: number): number {
  const c = config.channels;
  let cost = 16 * 9 * c[4] * c[4] + 16 * c[4] * 3;
  for (let r = 8; r <= resolution; r *= 2) cost += r * r * (9 * (c[r / 2] * c[r] + c[r] * c[r]) + 3 * c[r]);
  return cost;
}

/** A resolution's recent render times; the first render of a shape sets up its kernels, so it counts only until a second comes. */
interface Timings { ms: number[]; settled: boolean }

export class PreviewResolution {
  private readonly timed = new Map<number, Timings>();
  /** The resolutions a preview may stop at, smallest first. */
  readonly exits: number[];

  constructor(private readonly config: Pick<GeneratorConfig, 'channels' | 'size'>, private readonly budgetMs = PREVIEW_BUDGET_MS) {
    this.exits = Object.keys(config.channels).map(Number).filter((r) => r >= Math.min(SMALLEST, config.size)).sort((a, b) => a - b);
  }

  /** A render at `resolution` took `ms` (the picture's pixels read back included). */
  observe(resolution: number, ms: number): void {
    if (!this.exits.includes(resolution) || !(ms >= 0)) return;
    const timings = this.timed.get(resolution);
    if (!timings) this.timed.set(resolution, { ms: [ms], settled: false });
    else if (!timings.settled) this.timed.set(resolution, { ms: [ms], settled: true });
    else {
      timings.ms.push(ms);
      if (timings.ms.length > REMEMBERED) timings.ms.shift();
    }
  }

  /**
   * What a render at `resolution` is expected to take: its own fastest recent time once it has rendered twice
   * (a first render that was slow setting up would otherwise keep a resolution out for good); else from the others:
   * between two timed resolutions, a line through them in multiply-adds (a render costs a fixed overhead plus its
   * arithmetic); past them, scaled by multiply-adds from the nearest (down from a larger one this errs fast — its
   * time is mostly arithmetic — and a timed preview corrects it; up from a smaller one it errs slow). Null: nothing
   * timed yet.
   */
  expectedMs(resolution: number): number | null {
    const own = this.timed.get(resolution);
    if (own?.settled) return Math.min(...own.ms);
    const fastest = (r: number) => Math.min(...this.timed.get(r)!.ms);
    const cost = (r: number) => synthesisCost(this.config, r);
    const others = [...this.timed.keys()].filter((r) => r !== resolution).sort((a, b) => a - b);
    const below = others.filter((r) => r < resolution).at(-1);
    const above = others.find((r) => r > resolution);
    let estimate: number | null = null;
    if (below !== undefined && above !== undefined) {
      const slope = (fastest(above) - fastest(below)) / (cost(above) - cost(below));
      estimate = fastest(below) + Math.max(0, slope) * (cost(resolution) - cost(below));
    } else if (above !== undefined || below !== undefined) {
      const from = (above ?? below)!;
      estimate = fastest(from) * cost(resolution) / cost(from);
    }
    if (own) return estimate === null ? own.ms[0] : Math.min(own.ms[0], estimate);
    return estimate;
  }

  /**
   * The largest exit expected within the budget; before anything is timed a quarter of the size (the old rule); the
   * smallest exit when none fits.
   */
  choose(): number {
    if (this.timed.size === 0) return Math.max(this.exits[0], this.config.size / 4);
    let chosen = this.exits[0];
    for (const r of this.exits) {
      const ms = this.expectedMs(r);
      if (ms !== null && ms <= this.budgetMs) chosen = r;
    }
    return chosen;
  }
}
