import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { neighbourValues, previewsToMakeAhead, sliderPanel } from '../app/sliders';
import type { BundleManifest, DirectionSpec, SliderMeasurement } from '../src/weights/bundle';
import { attributeLabel, CELEBA_ATTRIBUTES } from '../src/weights/celeba';
import { clearlyVisible, notClearBecause } from '../src/engine/slider-rules';

const ROOT = join(import.meta.dirname, '..');
const manifest = async (dir: string): Promise<BundleManifest> => JSON.parse(await readFile(join(ROOT, 'models', dir, 'model.json'), 'utf8'));
const all = { start: 0, end: 10 };
const measured = (movesLabelledWay: number, regionChange: number): SliderMeasurement =>
  ({ judge: 'j', at: 1, on: 'held-out faces', images: 60, judged: 60, movesLabelledWay, meanJudgeChange: 1, regionChange });

describe('the slider panel', () => {
  it('reads CelebA names as a person writes them', () => {
    expect(['5_o_Clock_Shadow', 'Blond_Hair', 'Wearing_Hat', 'Gray_Hair', 'No_Beard'].map(attributeLabel))
      .toEqual(["5 o'clock shadow", 'Blond hair', 'Hat', 'Grey hair', 'No beard']);
    for (const a of CELEBA_ATTRIBUTES) expect(attributeLabel(a)).not.toMatch(/_| [A-Z]/);
  });

  it('shows one slider per attribute, the better-measured method, and keeps the rest under "more"', () => {
    const directions: DirectionSpec[] = [
      { id: 'smiling', label: 'smiling', kind: 'interfacegan', tensor: 't', range: all, min: -5, max: 5, measured: measured(0.7, 8), offered: false },
      { id: 'label-smiling', label: 'Smiling', kind: 'label', attribute: 31, range: all, min: -1, max: 1, measured: measured(0.95, 14), offered: true },
      { id: 'label-bald', label: 'Bald', kind: 'label', attribute: 4, range: all, min: -1, max: 1, measured: measured(0.9, 20), offered: true },
      { id: 'label-blurry', label: 'Blurry', kind: 'label', attribute: 10, range: all, min: -1, max: 1, measured: measured(0.5, 20), offered: false },
    ];
    const panel = sliderPanel(directions, CELEBA_ATTRIBUTES, 'face');
    expect(panel.groups.map((g) => [g.name, g.sliders.map((s) => s.direction.id)])).toEqual([['Expression', ['label-smiling']], ['Hair', ['label-bald']]]);
    expect(panel.more.map((s) => s.direction.id).sort()).toEqual(['label-blurry', 'smiling']);
    expect(panel.groups[0].sliders[0].effect).toMatch(/95% of 60 held-out faces.*14\.0\/255/);
    // the filter narrows both lists, by name, attribute or group
    expect(sliderPanel(directions, CELEBA_ATTRIBUTES, 'face', 'hair').groups.map((g) => g.name)).toEqual(['Hair']);
    expect(sliderPanel(directions, CELEBA_ATTRIBUTES, 'face', 'smil').more.map((s) => s.direction.id)).toEqual(['smiling']);
    expect(sliderPanel(directions, CELEBA_ATTRIBUTES, 'face', 'glasses').groups).toEqual([]);
  });

  it('the shipped face model: grouped, unique readable names, nothing lost', async () => {
    const m = await manifest('demo-faces-64');
    const panel = sliderPanel(m.directions, m.classifier!.attributes, 'face');
    const shown = panel.groups.flatMap((g) => g.sliders);
    const names = shown.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    expect(shown.length + panel.more.length).toBe(m.directions.length);
    expect([...shown, ...panel.more].map((s) => s.name)).toContain("5 o'clock shadow");
    for (const s of shown) expect(s.direction.offered).not.toBe(false);
    const cars = await manifest('demo-cars-128');
    expect(sliderPanel(cars.directions, [], 'car').groups.map((g) => g.name)).toEqual(['Colour & light']);
  });
});

describe('the positions a held slider is prepared for', () => {
  it('are its neighbours, two ahead for each behind, on the slider, written as the browser writes them', () => {
    expect(neighbourValues({ min: -4, max: 4 }, 0.24, 1, 4, 2)).toEqual([0.32, 0.4, 0.16, 0.48, 0.56, 0.08]);
    // moving down: ahead is below; 0 is 0 (min + 50 steps is 8.9e-16 in binary)
    expect(neighbourValues({ min: -4, max: 4 }, 0.16, -1, 3, 1)).toEqual([0.08, 0, 0.24, -0.08]);
    // the ends bound them
    expect(neighbourValues({ min: -0.3, max: 0.3 }, 0.3, 1, 2, 2)).toEqual([0.294, 0.288]);
    expect(neighbourValues({ min: -5, max: 5 }, -4.9, -1, 3, 3)).toEqual([-5, -4.8, -4.7, -4.6]);
  });
});

describe('how many previews are made ahead', () => {
  it('as many as fit in 400 ms when one is quick, none when one is slow or its cost is unknown', () => {
    expect(previewsToMakeAhead(8, 40)).toBe(50); // the demo faces on wasm: the caller takes its 18 neighbours
    expect(previewsToMakeAhead(25, 40)).toBe(16);
    expect(previewsToMakeAhead(null, 40)).toBe(10); // no preview yet: the full render's 40 ms (the preview may be the full picture)
    expect(previewsToMakeAhead(1700, 2900)).toBe(0); // a slow preview
    expect(previewsToMakeAhead(32, 2900)).toBe(12); // the official 1024 px model's 16 px exit on wasm
    expect(previewsToMakeAhead(null, 2900)).toBe(0);
    expect(previewsToMakeAhead(null, undefined)).toBe(0);
  });
});

describe('when a slider is clear enough to offer', () => {
  const at = (over: Partial<SliderMeasurement>): SliderMeasurement =>
    ({ ...measured(0.9, 15), lightnessChange: 6, chromaShare: 0.3, ...over });
  it('its judge moves on 80%, and a shape attribute changes lightness by 3.5 L* with at most 40% of its change in colour', () => {
    expect(clearlyVisible(at({}), 'Male')).toBe(true);
    expect(clearlyVisible(at({ movesLabelledWay: 0.78 }), 'Male')).toBe(false);
    expect(clearlyVisible(at({ chromaShare: 0.45 }), 'Male')).toBe(false);
    expect(notClearBecause(at({ chromaShare: 0.45 }), 'Male')).toBe('45% of its change is colour');
    expect(clearlyVisible(at({ lightnessChange: 3 }), 'Male')).toBe(false);
    // a bundle calibrated before the Lab measure has none: not offered under this rule
    expect(clearlyVisible(measured(0.9, 15), 'Male')).toBe(false);
  });
  it('a colour attribute may be mostly colour; it must change the region by 12/255', () => {
    expect(clearlyVisible(at({ chromaShare: 0.7, lightnessChange: 1 }), 'Blond_Hair')).toBe(true);
    expect(clearlyVisible(at({ chromaShare: 0.7, regionChange: 8 }), 'Rosy_Cheeks')).toBe(false);
  });
  it('an attribute that should keep the person keeps face-api\'s verdict on 80% of faces', () => {
    expect(clearlyVisible(at({ samePerson: 0.95 }), 'Smiling')).toBe(true);
    expect(clearlyVisible(at({ samePerson: 0.7 }), 'Smiling')).toBe(false);
    expect(notClearBecause(at({ samePerson: 0.7 }), 'Smiling')).toBe('it keeps the person on 70% of faces');
  });
  it('its end stays a face the generator makes: the edit re-encodes within 5 times the photo\'s own error', () => {
    expect(clearlyVisible(at({ reencodingRatio: 4.5 }), 'Male')).toBe(true);
    expect(clearlyVisible(at({ reencodingRatio: 6.4 }), 'Male')).toBe(false);
    expect(notClearBecause(at({ reencodingRatio: 6.4 }), 'Male')).toMatch(/re-encoding error 6.4×/);
  });
  it('cars keep the 12/255 rule: their sliders are colour and light', () => {
    expect(clearlyVisible(at({ chromaShare: 0.9 }), 'lighting', 'car')).toBe(true);
    expect(clearlyVisible(at({ regionChange: 10 }), 'lighting', 'car')).toBe(false);
  });
});
