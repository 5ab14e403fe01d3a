/**
 * npm run evaluate -- --model <bundle dir> --data ../shared/datasets/faces-64 [--limit N] [--json out.json] [--grid out.png]
 * npm run evaluate -- --model <bundle dir> --data ../shared/datasets/cars-128x96 [--limit N]
 * Reports a demo model on images it never trained on. Faces: the 100 held-out identities of
 * models/training/holdout-faces.txt (500 faces) — reconstruction MSE (images in [-1, 1]) and SSIM at 64x64,
 * identity similarity (face-api descriptors, input vs reconstruction), and per face direction the change of the
 * latent classifier's logit for its attribute per unit of slider. Cars: reconstruction MSE on the last 200
 * images of the index (the training stage holds them out), and per GANSpace slider at its preset the change of
 * the picture's colour statistics (lighting, paint brightness, saturation, warmth), the terms the sliders are named in.
 * --sliders measures every slider that has a judge at its end and at --multiples of it (src/engine/slider-effects.ts):
 * on the composite a user downloads (the photo plus the edit's change), face-api's expression and age/gender
 * networks for smiling, young and male, reading the pictures in grayscale; the latent classifier for the other face
 * attributes; colour statistics for the car sliders; with, in the face region or the car's crop, the mean change,
 * the lightness change (|ΔL*|) and the share of the change that is colour (Lab), and for attributes that should
 * keep the person, how often face-api still reads the same person (first --slider-images held-out images, 60 by
 * default; --only id,id: just these). --ranges measures each slider on several style ranges (own, all, coarse,
 * medium, fine joined by +, or styles a-b as 0-6).
 * --sliders-refined refines each photo first, as the page does. --calibrate then writes each slider's scale (its end
 * is the smallest multiple where its effect is clear: CLEAR_EFFECT), its style range (where its change is least
 * colour), the measured effect and whether it is offered by default into the bundle's model.json. --blocks measures
 * each learned editing block the same way (sources without the attribute, a held-out face with it as the reference;
 * --block-pairs of them). --refine reports pivotal tuning on the first --refine-limit faces: the page's refinement
 * (src/engine/refine-presets.ts DEFAULT_REFINEMENT) unless --refine-options / --refine-steps say otherwise.
 * --recheck (with --sliders --multiples 1) measures each slider at its calibrated end again and withdraws the ones
 * no longer clear from the default list; --recheck --from <report.json> applies the rule to a saved measurement.
 * --grid writes a sample grid of the first 8 held-out images: input, reconstruction, then one column per slider
 * (InterFaceGAN at +3, GANSpace at its preset) and per editing block (the next held-out face as the reference).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { fromRgb, toRgb } from '../src/engine/image';
import { StudioModel } from '../src/engine/model';
import { colourStatistics, reencodingError, ssim, type ColourStatistics } from '../src/engine/quality';
import { useNodeBackend } from '../src/node/backend';
import { nodeFaceDetector } from '../src/node/photo';
import { resizeRgb } from '../src/photo/resample';
import { alignedFaceRegion } from '../src/photo/composite';
import { AlignedFace, describeAlignedPair, descriptorDistance, SAME_PERSON_DISTANCE, type FaceDetector } from '../src/photo/faces';
import { reconstructionError, refine, type RefineOptions } from '../src/engine/refine';
import { DEFAULT_REFINEMENT } from '../src/engine/refine-presets';
import { blockJudge, judgeFor, measureOnPhoto, summarise, type TrialResult } from '../src/engine/slider-effects';
import { CLEAR_EFFECT, clearlyVisible, COLOUR_ATTRIBUTES, directionAttribute, notClearBecause } from '../src/engine/slider-rules';
import type { StyleRange } from '../src/models/editing';
import { namedStyleRange as styleRange } from '../src/models/style-groups';
import type { BundleManifest, DirectionSpec, SliderMeasurement } from '../src/weights/bundle';
import { useGradients } from '../src/node/gradients';
import type { TunedLayers } from '../src/models/stylegan2';
import type { RgbImage } from '../src/photo/types';
import { loadBundle } from '../src/weights/loader';
import { directoryFiles } from '../src/weights/node-files';
import { defineCli, parseCli, usageError } from './cli';
import { heldOutRows, tiles } from './held-out';

const CLI = defineCli({
  name: 'evaluate',
  usage: 'usage: npm run evaluate -- --model <bundle dir> --data <dataset folder> [options]',
  about: 'Reports a demo model on images it never trained on (reconstruction, identity, sliders, editing blocks, refinement) and\ncalibrates its sliders into its model.json; the comment at the top of scripts/evaluate.ts says what each measure is.',
  options: {
    model: { type: 'string', value: '<bundle dir>', help: 'the bundle to evaluate' },
    data: { type: 'string', value: '<folder>', help: 'its dataset (../shared/datasets/faces-64 or cars-128x96): the held-out images' },
    limit: { type: 'string', value: '<n>', help: 'held-out images for the reconstruction report (default: all)' },
    json: { type: 'string', value: '<file>', help: 'write the report as JSON' },
    grid: { type: 'string', value: '<file.png>', help: 'a sample grid of the first 8 held-out images' },
    refine: { type: 'boolean', default: false, help: 'report pivotal tuning on the first --refine-limit faces' },
    'refine-steps': { type: 'string', value: '<n>', help: 'refinement steps (default: the page\'s)' },
    'refine-options': { type: 'string', default: '{}', value: '<json>', help: 'RefineOptions over the page\'s refinement' },
    'refine-limit': { type: 'string', default: '100', value: '<n>', help: 'faces for --refine' },
    sliders: { type: 'boolean', default: false, help: 'measure every judged slider on the composite' },
    'sliders-refined': { type: 'boolean', default: false, help: 'refine each photo first, as the page does' },
    'slider-images': { type: 'string', default: '60', value: '<n>', help: 'held-out images the sliders are measured on' },
    multiples: { type: 'string', default: '1,2,4,8', value: '<a,b>', help: 'multiples of each slider\'s labelled end' },
    ranges: { type: 'string', default: 'own', value: '<a,b>', help: 'style ranges: own, all, coarse / medium / fine joined by +, or a-b' },
    regions: { type: 'string', default: 'follows', value: '<a,b>', help: 'where an edit reaches the photo: follows (the page\'s), landmarks (before issue 35)' },
    only: { type: 'string', value: '<ids>', help: 'just these sliders' },
    calibrate: { type: 'boolean', default: false, help: 'write each slider\'s end, styles and measured effect into model.json' },
    recheck: { type: 'boolean', default: false, help: 'withdraw offered sliders no longer clear at their calibrated end' },
    from: { type: 'string', value: '<report.json>', help: 'apply --calibrate or --recheck to a saved measurement' },
    blocks: { type: 'boolean', default: false, help: 'measure each learned editing block the same way' },
    'block-pairs': { type: 'string', value: '<n>', help: 'pairs for --blocks (default: --slider-images)' },
  },
});

async function main() {
  const { values } = parseCli(CLI);
  if (!values.model || !values.data) usageError(CLI, '--model and --data are required');
  if (values.calibrate && values.from) {
    // The calibration applied again to a saved measurement (a report written with --sliders --calibrate --json).
    const saved = JSON.parse(await readFile(values.from, 'utf8')) as { sliders: Record<string, Record<string, SliderMeasurement>> };
    const bundle = JSON.parse(await readFile(join(values.model, 'model.json'), 'utf8')) as BundleManifest;
    const nLatent = bundle.generator.nLatent;
    const ranges = values.ranges.split(',').map((name) => ({ name, range: namedStyleRange(name, nLatent) }));
    await calibrate(join(values.model, 'model.json'), new Map(Object.entries(saved.sliders)), values.multiples.split(',').map(Number), ranges, bundle);
    return;
  }
  if (values.recheck && values.from) {
    // The rule applied again to a saved measurement (a report written with --sliders --multiples 1 --json).
    const saved = JSON.parse(await readFile(values.from, 'utf8')) as { sliders: Record<string, Record<string, SliderMeasurement>> };
    const bundle = JSON.parse(await readFile(join(values.model, 'model.json'), 'utf8')) as BundleManifest;
    await recheck(join(values.model, 'model.json'), new Map(Object.entries(saved.sliders)), bundle);
    return;
  }
  await useNodeBackend('wasm');
  const { manifest, weights } = await loadBundle(directoryFiles(values.model));
  const model = await StudioModel.load(manifest, weights);
  const face = manifest.domain === 'face';
  const held = await heldOutRows(values.data, manifest.domain, values.limit ? Number(values.limit) : undefined);
  const images = await tiles(values.data, held, manifest.domain);
  const detector = face ? await nodeFaceDetector() : null;
  let mse = 0;
  let ssimSum = 0;
  const described: Array<{ identity: string; input: Float32Array; reconstruction: Float32Array }> = [];
  let undetected = 0;
  const kept: tf.Tensor3D[] = [];
  const perDirection = new Map<string, number[]>();
  const presetEffects = new Map<string, ColourStatistics[]>();
  const ganspace = manifest.directions.filter((d) => d.kind === 'ganspace');
  for (const [index, image] of images.entries()) {
    const codes = await invertImage(model, image);
    const truth = fromRgb(image);
    const resized = renderAt(model, codes, image);
    mse += tf.tidy(() => tf.mean(tf.square(tf.sub(resized, truth))).dataSync()[0]);
    ssimSum += tf.tidy(() => ssim(resized, truth).dataSync()[0]);
    if (detector) {
      const pair = await describeAlignedPair(detector, image, await toRgb(resized));
      if (pair) {
        described.push({ identity: held[index].identity, input: pair.face, reconstruction: pair.rendering });
      } else undetected++;
    }
    if (model.classifier) {
      const attributes = manifest.classifier!.attributes;
      const before = model.classifier.logits(codes);
      for (const d of manifest.directions) {
        const attribute = attributes.indexOf(directionAttribute(d, attributes) ?? '');
        if (attribute < 0) continue;
        const edited = model.applyEdits(codes, [{ direction: d.id, value: 1 }]);
        const after = model.classifier.logits(edited);
        const change = tf.tidy(() => tf.mean(tf.sub(tf.slice(after, [0, attribute], [-1, 1]), tf.slice(before, [0, attribute], [-1, 1]))).dataSync()[0]);
        perDirection.set(d.label, [...(perDirection.get(d.label) ?? []), change]);
        tf.dispose([edited, after]);
      }
      before.dispose();
    }
    if (ganspace.length) {
      const before = colourStatistics(resized);
      for (const d of ganspace) {
        const edited = model.applyEdits(codes, [{ direction: d.id, value: d.preset }]);
        const picture = renderAt(model, edited, image);
        const after = colourStatistics(picture);
        const change = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof ColourStatistics]])) as unknown as ColourStatistics;
        presetEffects.set(d.label, [...(presetEffects.get(d.label) ?? []), change]);
        tf.dispose([edited, picture]);
      }
    }
    tf.dispose([truth, resized]);
    if (manifest.editBlocks.length) kept.push(codes); else codes.dispose();
  }
  const blocks = editingBlockReport(model, held, kept);
  tf.dispose(kept);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const report = {
    model: manifest.name, images: images.length, heldOut: face ? '100 identities (holdout-faces.txt)' : 'last 200 of the index',
    reconstructionMse: mse / images.length, ssim: ssimSum / images.length,
    identity: face ? identityReport(described, undetected) : undefined,
    classifierLogitChangePerUnit: Object.fromEntries([...perDirection].map(([k, v]) => [k, Number(mean(v).toFixed(4))])),
    editingBlocks: blocks,
    ganspacePresetColourChange: presetEffects.size ? Object.fromEntries([...presetEffects].map(([label, changes]) => [label,
      Object.fromEntries(Object.keys(changes[0]).map((k) => {
        const values = changes.map((c) => c[k as keyof ColourStatistics]);
        return [k, { meanChange: Number(mean(values).toFixed(4)), risesIn: Number(mean(values.map((v) => (v > 0 ? 1 : 0))).toFixed(3)) }];
      }))])) : undefined,
  };
  // The page's refinement unless told otherwise: --refine-options overrides its settings, --refine-steps its steps.
  const refinement: RefineOptions & { steps: number } = { ...DEFAULT_REFINEMENT, ...JSON.parse(values['refine-options']!) };
  if (values['refine-steps']) refinement.steps = Number(values['refine-steps']);
  if (values.refine || values['sliders-refined']) useGradients();
  if (values.refine && detector) {
    (report as Record<string, unknown>).refinement = await refinementReport(model, images.slice(0, Number(values['refine-limit'])), held, detector, refinement);
  }
  const sliderRefinement = values['sliders-refined'] ? refinement : undefined;
  if (values.blocks && manifest.editBlocks.length) {
    (report as Record<string, unknown>).editingBlocksOnTheComposite = await blockReport(model, images, held, detector, Number(values['block-pairs'] ?? values['slider-images']), sliderRefinement);
  }
  if (values.sliders || values.calibrate) {
    const multiples = values.multiples.split(',').map(Number);
    const ranges = values.ranges.split(',').map((name) => ({ name, range: namedStyleRange(name, model.generator.config.nLatent) }));
    const on = `${face ? 'held-out CelebA faces' : 'held-out cars'}${sliderRefinement ? `, refined (${sliderRefinement.steps} steps${sliderRefinement.detailLearningRate ? ', fine detail' : ''})` : ''}`;
    const regions = values.regions.split(',').map((name) => {
      if (name !== 'follows' && name !== 'landmarks') usageError(CLI, `unknown region rule "${name}" (follows, landmarks)`);
      return name;
    });
    const measured = await sliderReport(model, images.slice(0, Number(values['slider-images'])), detector, multiples, ranges, on, sliderRefinement, values.only?.split(','), regions);
    (report as Record<string, unknown>).sliders = Object.fromEntries([...measured].map(([id, byMultiple]) => [id, byMultiple]));
    if (values.calibrate) await calibrate(join(values.model, 'model.json'), measured, multiples, ranges, model.manifest);
    else if (values.recheck) await recheck(join(values.model, 'model.json'), measured, model.manifest);
  }
  console.log(JSON.stringify(report, null, 2));
  if (values.json) await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
  if (values.grid) await writeGrid(model, images.slice(0, 9), values.grid);
}

/** The slider value, in the bundle's current slider units, of the end its label names. */
function labelledEnd(d: DirectionSpec): number {
  if (d.scale !== undefined) return d.max; // calibrated: + is the labelled way
  return d.kind === 'ganspace' ? Math.sign(d.preset || 1) * d.max : d.max;
}

/**
 * The styles a slider can be measured on: 'own' (the direction's range), 'all', or the edit panel's groups joined by
 * '+' ('coarse+medium': without the fine styles, where StyleGAN keeps colour).
 */
function namedStyleRange(name: string, n: number): StyleRange | undefined {
  return name === 'own' ? undefined : styleRange(name, n);
}

const measurementKey = (rangeName: string, m: number) => (rangeName === 'own' ? `x${m}` : `${rangeName} x${m}`);

/** Every judged slider at multiples of its labelled end on each style range, on each image's composite: measurement per key. */
async function sliderReport(model: StudioModel, images: RgbImage[], detector: FaceDetector | null, multiples: number[], ranges: Array<{ name: string; range?: StyleRange }>, on: string, refinement?: RefineOptions, only?: string[], regions: Array<'follows' | 'landmarks'> = ['follows']) {
  const sliders = model.manifest.directions.filter((d) => !only || only.includes(d.id)).flatMap((d) => {
    const judge = judgeFor(model, d);
    return judge ? [{ d, judge }] : [];
  });
  // 'landmarks': the face region of the 68 landmarks alone, the composite's rule before it followed the change
  // (issue 35), measured beside it under keys ending ' @landmarks'
  const trials = sliders.flatMap(({ d, judge }) => ranges.flatMap(({ name, range }) => multiples.flatMap((m) => regions.map((region) => ({
    direction: d, value: labelledEnd(d) * m, judge, range, key: `${measurementKey(name, m)}${region === 'landmarks' ? ' @landmarks' : ''}`,
    region: region === 'landmarks' ? 'landmarks' as const : undefined,
  })))));
  const results: TrialResult[][] = trials.map(() => []);
  const started = performance.now();
  for (const [i, image] of images.entries()) {
    const out = await measureOnPhoto(model, detector, image, trials, refinement);
    out.forEach((r, k) => results[k].push(r));
    console.error(`sliders: image ${i + 1}/${images.length} (${((performance.now() - started) / 1000 / (i + 1)).toFixed(1)} s each)`);
  }
  const report = new Map<string, Record<string, SliderMeasurement>>();
  trials.forEach((t, k) => {
    const entry = report.get(t.direction.id) ?? {};
    entry[t.key] = summarise(t.judge, t.value, results[k], on);
    report.set(t.direction.id, entry);
  });
  for (const [id, byKey] of report) {
    console.error(`${id}: ${Object.entries(byKey).map(([m, s]) => `${m} ${(s.movesLabelledWay * 100).toFixed(0)}% ${s.lightnessChange} L* colour ${s.chromaShare}${s.samePerson !== undefined ? ` same ${s.samePerson}` : ''}`).join(', ')}`);
  }
  return report;
}

/**
 * Each learned editing block on held-out faces, through the composite: sources that lack the attribute (by their
 * CelebA label), each with the next held-out face that has it as the reference, at strength 1; the attribute's
 * judge must move towards having it.
 */
async function blockReport(model: StudioModel, images: RgbImage[], rows: Array<Record<string, string>>, detector: FaceDetector | null, pairs: number, refinement?: RefineOptions) {
  const report: Record<string, SliderMeasurement> = {};
  for (const block of model.manifest.editBlocks) {
    const judge = blockJudge(model, block.attribute);
    if (!judge || !(block.attribute in rows[0])) continue;
    const having = rows.flatMap((r, i) => (r[block.attribute] === '1' ? [i] : []));
    const lacking = rows.flatMap((r, i) => (r[block.attribute] === '1' ? [] : [i]));
    const n = Math.min(pairs, having.length, lacking.length);
    const results: TrialResult[] = [];
    for (let i = 0; i < n; i++) {
      const [r] = await measureOnPhoto(model, detector, images[lacking[i]], [{ judge, transfer: { block: block.id, reference: images[having[i]], strength: 1 } }], refinement);
      results.push(r);
    }
    report[block.id] = summarise(judge, 1, results, 'held-out faces without the attribute, a face with it as the reference');
    const m = report[block.id];
    console.error(`block ${block.id}: ${(m.movesLabelledWay * 100).toFixed(0)}% towards ${block.attribute}, ${m.regionChange}/255, ${m.lightnessChange} L*, colour ${m.chromaShare}${m.samePerson !== undefined ? `, same person ${m.samePerson}` : ''}`);
  }
  return report;
}

/**
 * Writes the calibration into the bundle: for each measured slider, on each style range, the smallest multiple where
 * its effect is clear (`clearlyVisible`: its judge, its lightness, how little of it is colour, the person kept);
 * of the ranges where it is clear, the one whose change is least colour (colour attributes: the first) becomes the
 * slider's own range, and its scale is set so that the slider's end is that multiple. A slider that is clear on no
 * range is not offered by default, and gets the range and multiple nearest to clear (see below).
 */
async function calibrate(path: string, measured: Map<string, Record<string, SliderMeasurement>>, multiples: number[], ranges: Array<{ name: string; range?: StyleRange }>, bundle: Pick<BundleManifest, 'classifier' | 'domain'>) {
  const manifest = JSON.parse(await readFile(path, 'utf8'));
  const attributes = bundle.classifier?.attributes ?? [];
  for (const d of manifest.directions as DirectionSpec[]) {
    const byKey = measured.get(d.id);
    if (!byKey) continue;
    const attribute = directionAttribute(d, attributes);
    const clearOn = ranges.flatMap(({ name, range }) => {
      const m = multiples.find((x) => clearlyVisible(byKey[measurementKey(name, x)], attribute, bundle.domain));
      return m === undefined ? [] : [{ name, range, m, measurement: byKey[measurementKey(name, m)] }];
    });
    clearOn.sort((a, b) => (attribute && COLOUR_ATTRIBUTES.has(attribute) ? 0 : (a.measurement.chromaShare ?? 0) - (b.measurement.chromaShare ?? 0)));
    // Not clear anywhere: the nearest to it, so that the slider under "more" still edits by the least colour it can
    // (its judge on 80% with the least colour; else where its judge moves most often).
    const every = ranges.flatMap(({ name, range }) => multiples.map((m) => ({ name, range, m, measurement: byKey[measurementKey(name, m)] })));
    const nearest = every.filter((c) => c.measurement.movesLabelledWay >= CLEAR_EFFECT.movesLabelledWay)
      .sort((a, b) => (a.measurement.chromaShare ?? 1) - (b.measurement.chromaShare ?? 1))[0]
      ?? [...every].sort((a, b) => b.measurement.movesLabelledWay - a.measurement.movesLabelledWay)[0];
    const chosen = clearOn[0] ?? nearest;
    const end = labelledEnd(d);
    d.scale = Number(((d.scale ?? 1) * chosen.m * Math.sign(end)).toPrecision(6));
    if (chosen.range) d.range = chosen.range;
    d.measured = { ...chosen.measurement, at: d.max };
    d.offered = clearOn.length > 0;
    if (d.kind === 'ganspace') d.preset = d.max;
    const why = notClearBecause(chosen.measurement, attribute, bundle.domain);
    console.error(`calibrated ${d.id}: scale ${d.scale} on styles ${d.range.start}-${d.range.end}, ${d.offered ? 'offered' : `not offered by default (${why})`} (${(d.measured.movesLabelledWay * 100).toFixed(0)}%, ${d.measured.lightnessChange} L*, colour ${d.measured.chromaShare})`);
  }
  await writeFile(path, `${JSON.stringify(manifest, null, 2)}
`);
}

/**
 * Measures each calibrated slider again at its end (--sliders --multiples 1, its own styles) and withdraws from the
 * default list the ones no longer clear under today's rule; scales and styles stay. A cheaper pass than a
 * calibration when a criterion is added (a slider withdrawn here may be clear at a smaller end: calibrate again).
 */
async function recheck(path: string, measured: Map<string, Record<string, SliderMeasurement>>, bundle: Pick<BundleManifest, 'classifier' | 'domain'>) {
  const manifest = JSON.parse(await readFile(path, 'utf8'));
  const attributes = bundle.classifier?.attributes ?? [];
  for (const d of manifest.directions as DirectionSpec[]) {
    const now = measured.get(d.id)?.x1;
    if (!now || !d.offered) continue; // only what is offered can be withdrawn; the rest keeps its calibration
    const attribute = directionAttribute(d, attributes);
    const clear = clearlyVisible(now, attribute, bundle.domain);
    if (!clear) console.error(`withdrawn ${d.id}: ${notClearBecause(now, attribute, bundle.domain)}`);
    d.offered = clear;
    d.measured = { ...now, at: d.max };
  }
  await writeFile(path, `${JSON.stringify(manifest, null, 2)}
`);
}

/**
 * Each reference editing block on held-out pairs: a source without the attribute (by its CelebA label) and a
 * reference with it. How often the latent classifier reads the attribute before and after the transfer, and the
 * re-encoding error of the edit next to the source's (an edit that renders noise does not re-encode).
 */
function editingBlockReport(model: StudioModel, rows: Array<Record<string, string>>, codes: tf.Tensor3D[], pairs = 64) {
  const classifier = model.classifier;
  if (!classifier || !codes.length) return undefined;
  const report: Record<string, object> = {};
  for (const block of model.manifest.editBlocks) {
    // Blocks, classifier outputs and the dataset's label columns all use CelebA's names (e.g. Blond_Hair).
    const column = block.attribute;
    const attribute = model.manifest.classifier!.attributes.indexOf(column);
    if (!(column in rows[0]) || attribute < 0) continue;
    const having = rows.flatMap((r, i) => (r[column] === '1' ? [i] : []));
    const lacking = rows.flatMap((r, i) => (r[column] === '1' ? [] : [i]));
    const n = Math.min(pairs, having.length, lacking.length);
    let before = 0;
    let after = 0;
    let sourceError = 0;
    let editedError = 0;
    for (let i = 0; i < n; i++) {
      const source = codes[lacking[i]];
      const edited = model.transfer(source, codes[having[i]], block.id, 1);
      const read = (c: tf.Tensor3D) => tf.tidy(() => classifier.logits(c).dataSync()[attribute] > 0 ? 1 : 0);
      before += read(source);
      after += read(edited);
      sourceError += reencodingError(model, source);
      editedError += reencodingError(model, edited);
      edited.dispose();
    }
    report[block.attribute] = {
      pairs: n, classifierSeesAttributeBefore: Number((before / n).toFixed(3)), after: Number((after / n).toFixed(3)),
      reencodingErrorSource: Number((sourceError / n).toFixed(5)), reencodingErrorEdited: Number((editedError / n).toFixed(5)),
    };
  }
  return report;
}

/**
 * face-api descriptor distance (its own measure; below 0.6 is the same person by its rule): each input with its own
 * reconstruction, and as the scale to read it against, each input with the reconstruction of the next face of
 * another identity; and rank-1 identification: how often a reconstruction's nearest input, among all the inputs
 * described, shows the same identity.
 */
function identityReport(described: Array<{ identity: string; input: Float32Array; reconstruction: Float32Array }>, undetected: number) {
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  const own = described.map((d) => descriptorDistance(d.input, d.reconstruction));
  const pairs = described.flatMap((d, i) => {
    const next = described.slice(i + 1).concat(described.slice(0, i)).find((e) => e.identity !== d.identity);
    return next ? [{ input: d.input, reconstruction: next.reconstruction }] : [];
  });
  const other = pairs.map((p) => descriptorDistance(p.input, p.reconstruction));
  const samePerson = (xs: typeof pairs) => mean(xs.map((d) => (descriptorDistance(d.input, d.reconstruction) < SAME_PERSON_DISTANCE ? 1 : 0)));
  const rank1 = mean(described.map((d) => {
    let best = Infinity;
    let who = '';
    for (const e of described) {
      const dist = descriptorDistance(d.reconstruction, e.input);
      if (dist < best) [best, who] = [dist, e.identity];
    }
    return who === d.identity ? 1 : 0;
  }));
  const round = (v: number | null) => (v === null ? null : Number(v.toFixed(4)));
  return {
    facesDetectedInInput: described.length,
    facesNotDetected: undetected,
    meanDistance: round(mean(own)),
    otherIdentityMeanDistance: round(mean(other)),
    samePersonByFaceApiRule: round(samePerson(described)),
    otherIdentitySamePersonByFaceApiRule: round(samePerson(pairs)),
    rank1Identification: round(rank1),
  };
}

/**
 * Pivotal tuning on held-out faces (src/engine/refine.ts, as the app and `invert --refine` run it): error before
 * and after at the output size, identity (distance, same-person rule, rank-1) before and after, the time per face,
 * and whether the InterFaceGAN sliders still work through the tuned layers: each slider at its end, rendered,
 * re-encoded, read by the latent classifier, against the same without tuning.
 */
async function refinementReport(model: StudioModel, images: RgbImage[], held: Array<Record<string, string>>, detector: FaceDetector, options: RefineOptions & { steps: number }) {
  const { steps } = options;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const before: Array<{ mse: number; ssim: number }> = [];
  const after: Array<{ mse: number; ssim: number }> = [];
  const times: number[] = [];
  const described: Record<'before' | 'after', Array<{ identity: string; input: Float32Array; reconstruction: Float32Array }>> = { before: [], after: [] };
  const attributes = model.manifest.classifier?.attributes ?? [];
  const sliders = model.manifest.directions.filter((d) => d.kind === 'interfacegan' && directionAttribute(d, attributes));
  const sliderChange: Record<string, { plain: number[]; tuned: number[] }> = Object.fromEntries(sliders.map((d) => [d.label, { plain: [], tuned: [] }]));
  const compositeChange: Record<string, { plain: number[]; tuned: number[] }> = Object.fromEntries(sliders.map((d) => [d.label, { plain: [], tuned: [] }]));
  const [inputH, inputW] = model.inputSize;
  const region = tf.tensor4d(alignedFaceRegion(inputW), [1, inputH, inputW, 1]);
  // What a slider shows, read by the classifier (re-encoding): the rendered picture at the input size, and the photo
  // plus the edit's change under the face-and-hair region, as the app shows it.
  const picture = (codes: tf.Tensor3D, layers: TunedLayers | undefined) => tf.tidy(() =>
    tf.image.resizeBilinear(tf.clipByValue(model.render(codes, { tuned: layers }), -1, 1) as tf.Tensor4D, [inputH, inputW], false, true));
  const logits = (image: tf.Tensor4D) => tf.tidy(() => model.classifier!.logits(model.invert(image)).dataSync() as Float32Array);
  const inPhoto = (photo: tf.Tensor4D, edited: tf.Tensor4D, reconstruction: tf.Tensor4D) => tf.tidy(() =>
    tf.clipByValue(tf.add(photo, tf.mul(tf.sub(edited, reconstruction), region)), -1, 1) as tf.Tensor4D);
  for (const [i, image] of images.entries()) {
    const codes = await invertImage(model, image);
    const input = fromRgb(await resizeRgb(image, model.inputSize));
    const truth = fromRgb(image);
    before.push(reconstructionError(model, codes, truth));
    const { codes: pivot, refinement, ms } = await refine(model, input, codes, options);
    times.push(ms);
    after.push(reconstructionError(model, pivot, truth, refinement.layers));
    const located = await AlignedFace.locate(detector, image);
    for (const [which, c, layers] of [['before', codes, undefined], ['after', pivot, refinement.layers]] as const) {
      if (!located) break;
      const rendering = renderAt(model, c, image, layers);
      const reconstruction = await located.describe(await toRgb(rendering));
      rendering.dispose();
      described[which].push({ identity: held[i].identity, input: await located.faceDescriptor(), reconstruction });
    }
    const photoLogits = logits(input);
    for (const [kind, c, layers] of [['plain', codes, undefined], ['tuned', pivot, refinement.layers]] as const) {
      const reconstruction = picture(c, layers);
      const reconstructionLogits = logits(reconstruction);
      for (const d of sliders) {
        const attribute = attributes.indexOf(directionAttribute(d, attributes) ?? '');
        if (attribute < 0) continue;
        const edited = tf.tidy(() => {
          const codesEdited = model.applyEdits(c, [{ direction: d.id, value: d.max }]);
          return picture(codesEdited, layers);
        });
        const composite = inPhoto(input, edited, reconstruction);
        sliderChange[d.label][kind].push(logits(edited)[attribute] - reconstructionLogits[attribute]);
        compositeChange[d.label][kind].push(logits(composite)[attribute] - photoLogits[attribute]);
        tf.dispose([edited, composite]);
      }
      reconstruction.dispose();
    }
    console.error(`refined ${i + 1}/${images.length}: MSE ${before.at(-1)!.mse.toFixed(4)} -> ${after.at(-1)!.mse.toFixed(4)}, SSIM ${before.at(-1)!.ssim.toFixed(3)} -> ${after.at(-1)!.ssim.toFixed(3)}, ${(ms / 1000).toFixed(1)} s`);
    tf.dispose([codes, input, truth, pivot]);
    refinement.dispose();
  }
  region.dispose();
  const sorted = [...times].sort((a, b) => a - b);
  const round = (v: number, digits = 4) => Number(v.toFixed(digits));
  return {
    faces: images.length, steps, settings: options, backend: tf.getBackend(),
    mse: { before: round(mean(before.map((e) => e.mse))), after: round(mean(after.map((e) => e.mse))) },
    ssim: { before: round(mean(before.map((e) => e.ssim)), 3), after: round(mean(after.map((e) => e.ssim)), 3) },
    identity: { before: identityReport(described.before, images.length - described.before.length), after: identityReport(described.after, images.length - described.after.length) },
    medianSecondsPerFace: round(sorted[Math.floor(sorted.length / 2)] / 1000, 1),
    sliderAtItsEndClassifierChangeThroughPicture: Object.fromEntries(Object.entries(sliderChange).map(([label, { plain, tuned }]) => [label, {
      withoutRefinement: round(mean(plain), 3), refined: round(mean(tuned), 3), ratio: round(mean(tuned) / mean(plain), 3),
    }])),
    sliderAtItsEndClassifierChangeInThePhoto: Object.fromEntries(Object.entries(compositeChange).map(([label, { plain, tuned }]) => [label, {
      withoutRefinement: round(mean(plain), 3), refined: round(mean(tuned), 3), ratio: round(mean(tuned) / mean(plain), 3),
    }])),
  };
}

/** The whole image resized to the model's input, inverted to W+ codes. */
async function invertImage(model: StudioModel, image: RgbImage): Promise<tf.Tensor3D> {
  const input = fromRgb(await resizeRgb(image, model.inputSize));
  const codes = model.invert(input);
  input.dispose();
  return codes;
}

/** The picture of `codes`, resized to the size of `like` and clipped to [-1, 1], for comparing with it. */
function renderAt(model: StudioModel, codes: tf.Tensor3D, like: RgbImage, layers?: TunedLayers): tf.Tensor4D {
  return tf.tidy(() => tf.clipByValue(tf.image.resizeBilinear(model.render(codes, { tuned: layers }), [like.height, like.width], false, true), -1, 1) as tf.Tensor4D);
}

/** Rows: held-out images; columns: input, reconstruction, each slider, each editing block. */
async function writeGrid(model: StudioModel, images: RgbImage[], path: string) {
  const sliders = model.manifest.directions.filter((d) => d.kind === 'interfacegan' || d.kind === 'ganspace');
  const blocks = model.manifest.editBlocks;
  const rows = images.slice(0, 8);
  const tiles: RgbImage[][] = [];
  const invert = (image: RgbImage) => invertImage(model, image);
  const picture = async (codes: tf.Tensor3D) => {
    const resized = renderAt(model, codes, images[0]);
    const rgb = await toRgb(resized);
    resized.dispose();
    return rgb;
  };
  for (let r = 0; r < rows.length; r++) {
    const codes = await invert(rows[r]);
    const reference = blocks.length ? await invert(images[(r + 1) % images.length]) : null;
    const row = [rows[r], await picture(codes)];
    for (const d of sliders) {
      const edited = model.applyEdits(codes, [{ direction: d.id, value: d.kind === 'ganspace' ? d.preset : 3 }]);
      row.push(await picture(edited));
      edited.dispose();
    }
    for (const b of blocks) {
      const edited = model.transfer(codes, reference!, b.id);
      row.push(await picture(edited));
      edited.dispose();
    }
    tf.dispose([codes, reference].filter((t): t is tf.Tensor3D => t !== null));
    tiles.push(row);
  }
  const { width, height } = rows[0];
  const columns = tiles[0].length;
  const canvas = new Uint8Array(rows.length * height * columns * width * 3);
  tiles.forEach((row, r) => row.forEach((tile, c) => {
    for (let y = 0; y < height; y++) {
      canvas.set(tile.data.subarray(y * width * 3, (y + 1) * width * 3), ((r * height + y) * columns * width + c * width) * 3);
    }
  }));
  await sharp(canvas, { raw: { width: columns * width, height: rows.length * height, channels: 3 } })
    .resize(columns * width * 2, rows.length * height * 2, { kernel: 'nearest' }).png().toFile(path);
  console.log(`grid ${path}: columns input, reconstruction, ${[...sliders.map((d) => d.label), ...blocks.map((b) => `${b.attribute} from the next row's face`)].join(', ')}`);
}

void main();
