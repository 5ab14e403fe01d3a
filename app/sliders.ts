import { PREVIEW_BUDGET_MS } from '../src/engine/preview-resolution';
import { directionAttribute, notClearBecause } from '../src/engine/slider-rules';
import type { DirectionSpec } from '../src/weights/bundle';
import { ATTRIBUTE_GROUPS, attributeLabel } from '../src/weights/celeba';

/**
 * The slider panel as a person reads it: one slider per attribute (when InterFaceGAN and the classifier's
 * gradient both edit it, the better-measured one; the other goes under "more"), in groups (expression, age &
 * gender, hair, ...; colour & light for cars), with readable names, and the sliders whose measured effect is not
 * clear (the bundle's calibration, `offered: false`) under "more". A filter narrows both lists.
 */
export interface PanelSlider {
  direction: DirectionSpec;
  name: string;
  /** How the direction was found: InterFaceGAN, the classifier's gradient, GANSpace. */
  method: string;
  attribute: string | null;
  /** The measured effect at the slider's end, in a sentence; null when the bundle has no measurement. */
  effect: string | null;
}

export interface SliderPanel {
  groups: Array<{ name: string; sliders: PanelSlider[] }>;
  more: PanelSlider[];
}

const METHOD: Record<DirectionSpec['kind'], string> = { interfacegan: 'InterFaceGAN', label: 'classifier gradient', ganspace: 'GANSpace' };

function describe(d: DirectionSpec, attributes: readonly string[], domain: 'face' | 'car'): PanelSlider {
  const attribute = directionAttribute(d, attributes);
  const name = attribute ? attributeLabel(attribute) : d.label.charAt(0).toUpperCase() + d.label.slice(1);
  const m = d.measured;
  const colour = m?.chromaShare !== undefined ? `, ${m.lightnessChange} L* of lightness with ${Math.round(m.chromaShare * 100)}% of the change in colour` : '';
  const why = m && d.offered === false ? notClearBecause(m, attribute, domain) : null;
  const effect = m ? `At its end: ${m.judge} moves the labelled way on ${Math.round(m.movesLabelledWay * 100)}% of ${m.judged} ${m.on}; the picture changes by ${m.regionChange.toFixed(1)}/255 on average${colour}${why ? `. Not offered by default: ${why}` : ''}` : null;
  return { direction: d, name, method: taught(d) ? 'taught by you' : METHOD[d.kind], attribute, effect };
}

/** A slider the person taught on this model (app/teaching.ts). */
const taught = (d: DirectionSpec) => d.id.startsWith('taught-');

/** Higher is better measured: a clear effect first, then how often and how much it moves. */
function score(d: DirectionSpec): number {
  const m = d.measured;
  if (!m) return d.kind === 'interfacegan' ? 0.5 : 0;
  return (d.offered === false ? 0 : 10) + m.movesLabelledWay + m.regionChange / 100;
}

export function sliderPanel(directions: DirectionSpec[], attributes: readonly string[], domain: 'face' | 'car', filter = ''): SliderPanel {
  const all = directions.map((d) => describe(d, attributes, domain));
  const best = new Map<string, PanelSlider>();
  for (const s of all) {
    const key = s.attribute ?? s.direction.id;
    const kept = best.get(key);
    if (!kept || score(s.direction) > score(kept.direction)) best.set(key, s);
  }
  const shown = all.filter((s) => best.get(s.attribute ?? s.direction.id) === s && s.direction.offered !== false);
  const words = filter.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const groupOf = (s: PanelSlider) => {
    if (taught(s.direction)) return 'Taught by you';
    if (s.direction.kind === 'ganspace') return domain === 'car' ? 'Colour & light' : 'Style';
    return ATTRIBUTE_GROUPS.find(([, members]) => s.attribute && members.includes(s.attribute))?.[0] ?? 'Other';
  };
  const matches = (s: PanelSlider) => words.every((w) => `${s.name} ${s.attribute ?? ''} ${groupOf(s)} ${s.method}`.toLowerCase().includes(w));
  const order = ['Taught by you', ...ATTRIBUTE_GROUPS.map(([name]) => name), 'Colour & light', 'Style', 'Other'];
  const groups = order
    .map((name) => {
      const members = ATTRIBUTE_GROUPS.find(([g]) => g === name)?.[1] ?? [];
      const rank = (s: PanelSlider) => (s.attribute && members.includes(s.attribute) ? members.indexOf(s.attribute) : members.length);
      return { name, sliders: shown.filter((s) => groupOf(s) === name && matches(s)).sort((a, b) => rank(a) - rank(b)) };
    })
    .filter((g) => g.sliders.length > 0);
  const more = all.filter((s) => !shown.includes(s) && matches(s)).sort((a, b) => a.name.localeCompare(b.name));
  return { groups, more };
}

/** Positions on every direction's slider: its range in 100 steps. */
export const SLIDER_STEPS = 100;

export const sliderStep = (d: Pick<DirectionSpec, 'min' | 'max'>) => (d.max - d.min) / SLIDER_STEPS;

/**
 * Where a held slider's next move most likely lands, nearest first: up to `ahead` steps on the side it last moved
 * towards and `behind` steps on the other, two ahead for each one behind (a hand mostly carries on), within the
 * slider. Written as the browser writes a range input's value (min + n·step in decimal, so 0 is 0 and not
 * 8.9e-16), so that the move's value finds them.
 */
export function neighbourValues(d: Pick<DirectionSpec, 'min' | 'max'>, value: number, towards: 1 | -1, ahead: number, behind: number): number[] {
  const step = sliderStep(d);
  const decimals = Math.max(decimalPlaces(d.min), decimalPlaces(step));
  const n = Math.round((value - d.min) / step);
  const offsets: number[] = [];
  for (let f = 1, b = 1; f <= ahead || b <= behind;) {
    for (let i = 0; i < 2 && f <= ahead; i++) offsets.push(towards * f++);
    if (b <= behind) offsets.push(-towards * b++);
  }
  return offsets.map((k) => n + k).filter((m) => m >= 0 && m <= SLIDER_STEPS).map((m) => Number((d.min + m * step).toFixed(decimals)));
}

/** Digits after the point in the shortest decimal form of x (0.08: 2; 1e-7: 7), at most 20. */
function decimalPlaces(x: number): number {
  const [mantissa, exponent = '0'] = String(x).split('e');
  return Math.min(20, Math.max(0, (mantissa.split('.')[1]?.length ?? 0) - Number(exponent)));
}

/**
 * How many previews to make ahead in one pause, from what one costs: a move that comes while one is being made
 * waits for it, so only quick ones are (the demo models' take 7-30 ms on wasm here, the official 1024 px model's
 * 16 px exit of the official 1024 px model's 30-40 ms), as many as fit in 400 ms. Before any preview was rendered,
 * the full render stands for one, up to the preview's budget (the engine picks the exit that keeps within it, or the
 * full picture where that does: src/engine/preview-resolution.ts); with neither, none.
 */
export function previewsToMakeAhead(renderedPreviewMs: number | null, fullRenderMs: number | undefined): number {
  const previewMs = renderedPreviewMs ?? (fullRenderMs === undefined ? null : Math.min(fullRenderMs, PREVIEW_BUDGET_MS));
  if (previewMs === null || previewMs > 60) return 0;
  return Math.floor(400 / Math.max(previewMs, 1));
}
