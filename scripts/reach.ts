/**
 * npm run reach -- --model <face bundle dir> --photos <folder of portraits> [--out sheet.jpg] [--json report.json] [--plain]
 * How much of each edit reaches the photo (issue 35), on portraits at their own resolution, as the page edits them
 * (every face of every photo in the folder, framed by its landmarks, refined with the page's default unless --plain):
 * for each slider the panel offers by default at both ends, and InterFaceGAN's smiling, young and male, the composite
 * under the landmark region alone (the rule before issue 35), under the region that follows the change
 * (src/photo/composite.ts followChange; the page's rule), and under that region with the generated picture itself
 * pasted where the region grew past the landmarks ('replacing', the alternative the page does not use: same weight,
 * so the same reach; its seam figure below 1 is the photo's detail lost at the edge). Per rule it reports the reach (the share of the generated change's energy
 * under the blend weight), the seam (the composite's gradient energy across the blend weight's edge over the photo's
 * own there: 1 is no seam) and, for smiling, young and male, face-api's reading of the composite in grayscale. The
 * sheet shows, per face and edit: the photo, the generated edit, both composites, the blend weight, and the composite
 * at 100% zoom where its edge crosses the strongest change.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { sliderPanel } from '../app/sliders';
import type { EditValue } from '../src/engine/model';
import { StudioModel } from '../src/engine/model';
import { DEFAULT_REFINEMENT } from '../src/engine/refine-presets';
import { EditorSession } from '../src/engine/session';
import { judgeFor } from '../src/engine/slider-effects';
import { useNodeBackend } from '../src/node/backend';
import { useGradients } from '../src/node/gradients';
import { decodePhoto, nodeFaceDetector } from '../src/node/photo';
import { resizeRgb } from '../src/photo/resample';
import { grayscale } from '../src/photo/colour-change';
import { cropExtent, editableRegion, FOLLOW_CHANGE, maskAt, pasteCrop, type Placement } from '../src/photo/composite';
import { AlignedFace } from '../src/photo/faces';
import { cropRgb } from '../src/photo/raster';
import type { RgbImage } from '../src/photo/types';
import type { DirectionSpec } from '../src/weights/bundle';
import { loadBundle } from '../src/weights/loader';
import { directoryFiles } from '../src/weights/node-files';
import { defineCli, parseCli, usageError } from './cli';
import { drawSheet } from './picture-sheet';

const CLI = defineCli({
  name: 'reach',
  usage: 'usage: npm run reach -- --model <face bundle dir> --photos <folder of portraits> [options]',
  about: 'How much of each edit reaches the photo (issue 35): on every face of every portrait in a folder, refined as the page does, the\nshare of each offered slider\'s generated change under the blend weight, with the landmark region alone and with the region that\nfollows the change, the seam at its edge, and face-api\'s grayscale reading for smiling, young and male.',
  options: {
    model: { type: 'string', value: '<bundle dir>', help: 'the face bundle' },
    photos: { type: 'string', value: '<folder>', help: 'portraits (jpg, png, webp)' },
    out: { type: 'string', value: '<sheet.jpg>', help: 'a sheet: photo, generated edit, the composites, the blend weight, a 100% zoom' },
    json: { type: 'string', value: '<file>', help: 'the summary as JSON' },
    plain: { type: 'boolean', default: false, help: 'the encoder\'s codes, not refined' },
    rule: { type: 'string', default: '{}', value: '<json>', help: 'another region rule to compare, e.g. {"from":12,"full":24}' },
  },
});
const TILE = 192;
const RULES = ['landmarks', 'follows the change', 'follows, replacing'] as const;

interface Edit { name: string; direction: DirectionSpec; value: number; onSheet: boolean }

async function main() {
  const { values } = parseCli(CLI);
  let followRule = FOLLOW_CHANGE;
  try {
    followRule = { ...FOLLOW_CHANGE, ...JSON.parse(values.rule) };
  } catch {
    usageError(CLI, `--rule takes JSON such as {"from":12}; got ${values.rule}`);
  }
  if (!values.model || !values.photos) usageError(CLI, '--model and --photos are required');
  await useNodeBackend('wasm');
  useGradients();
  const { manifest, weights } = await loadBundle(directoryFiles(values.model));
  if (manifest.domain !== 'face') throw new Error('the reach of an edit is measured on face bundles');
  const model = await StudioModel.load(manifest, weights);
  const detector = await nodeFaceDetector();

  const offered = sliderPanel(manifest.directions, manifest.classifier?.attributes ?? [], 'face').groups.flatMap((g) => g.sliders);
  const byId = new Map(manifest.directions.map((d) => [d.id, d]));
  const edits: Edit[] = [];
  for (const [id, ends] of [['male', [-1, 1]], ['smiling', [1]], ['young', [1]]] as const) {
    const d = byId.get(id);
    if (d) for (const end of ends) edits.push({ name: `${d.label} ${end < 0 ? '−' : '+'}`, direction: d, value: end < 0 ? d.min : d.max, onSheet: true });
  }
  for (const s of offered) {
    if (edits.some((e) => e.direction.id === s.direction.id)) continue;
    for (const value of [s.direction.min, s.direction.max]) edits.push({ name: `${s.name} ${value < 0 ? '−' : '+'}`, direction: s.direction, value, onSheet: false });
  }
  // one offered slider on the sheet beside the InterFaceGAN ones: hair, which leaves the face's hull most
  for (const e of edits.filter((x) => !x.onSheet && /hair|bangs/i.test(x.name) && x.value > 0).slice(0, 1)) e.onSheet = true;

  const files = (await readdir(values.photos)).filter((f) => /^\.(jpe?g|png|webp)$/i.test(extname(f))).sort();
  const results: Array<{ photo: string; face: number; edit: string; rule: string; reach: number; seam: number; judge: number | null }> = [];
  const rows: Array<{ label: string; pictures: RgbImage[] }> = [];
  for (const file of files) {
    const photo = await decodePhoto(new Uint8Array(await readFile(join(values.photos, file))), file);
    const session = new EditorSession(model, detector);
    session.followRule = followRule;
    const faces = await session.setPhoto(photo);
    for (let face = 0; face < faces.length; face++) {
      await session.frame({ kind: 'face', faceIndex: face });
      await session.invert('subject', { identity: false });
      if (!values.plain) await session.refine({ ...DEFAULT_REFINEMENT, identity: false });
      // face-api reads the largest face of a photo: the judges read the first face only
      const gray = face === 0 ? await AlignedFace.locate(detector, grayscale(photo)) : null;
      const before = gray ? await gray.faceJudgement() : null;
      for (const edit of edits) {
        const values: EditValue[] = [{ direction: edit.direction.id, value: edit.value }];
        const row: RgbImage[] = [];
        let zoom: { result: RgbImage; at: { x: number; y: number }; weight: RgbImage } | null = null;
        for (const rule of RULES) {
          session.regionRule = rule === 'landmarks' ? 'landmarks' : 'follows the change';
          const made = await session.renderWithComposite(values, null, { reach: true });
          if (rule === 'follows, replacing') {
            // the other way to bring a change past the face's hull: the generated picture itself, not its difference
            const { mask, base, placement } = made.weight;
            made.result = pasteCrop(made.result, made.image, mask.map((w, i) => Math.max(0, w - base[i])), placement);
          }
          // face-api reads smiling, young and male (the calibration's judges, src/engine/slider-effects.ts)
          const judged = judgeFor(model, edit.direction);
          let judge: number | null = null;
          if (gray && before && judged?.kind === 'face-api') judge = Math.sign(edit.value) * judged.sign * ((await gray.judge(grayscale(made.result)))[judged.measure] - before[judged.measure]);
          const seam = seamEnergy(photo, made.result, made.weight.mask, made.weight.placement);
          results.push({ photo: file, face, edit: edit.name, rule, reach: made.reach!, seam: seam.ratio, judge });
          if (edit.onSheet) {
            const box = editableRegion(photo, cropExtent(made.weight.placement.width, made.weight.placement.height), made.weight.placement)!;
            const shown = (image: RgbImage) => resizeRgb(cropRgb(image, box.x, box.y, box.x + box.width, box.y + box.height), [TILE, TILE]);
            if (rule === 'landmarks') row.push(await shown(photo), made.image);
            row.push(await shown(made.result));
            if (rule === 'follows the change') zoom = { result: made.result, at: seam.strongest, weight: weightPicture(made.weight.mask, made.weight.placement.width, made.weight.placement.height) };
          }
        }
        if (edit.onSheet && zoom) row.push(zoom.weight, cropRgb(zoom.result, ...zoomBox(photo, zoom.at)));
        if (edit.onSheet) rows.push({ label: `${file.replace(/\.\w+$/, '')}${faces.length > 1 ? ` #${face + 1}` : ''}: ${edit.name}`, pictures: row });
      }
      console.error(`reach: ${file} face ${face + 1}/${faces.length}`);
    }
    session.dispose();
  }

  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
  interface Figures { reach: number; seam: number; judgeMovesLabelledWay?: number; meanJudgeChange?: number }
  const summary = edits.map((e) => ({
    edit: e.name,
    rules: Object.fromEntries(RULES.map((rule): [string, Figures] => {
      const mine = results.filter((r) => r.edit === e.name && r.rule === rule);
      const judged = mine.filter((r) => r.judge !== null).map((r) => r.judge!);
      return [rule, { reach: Number(mean(mine.map((r) => r.reach)).toFixed(3)), seam: Number(mean(mine.map((r) => r.seam)).toFixed(2)), ...(judged.length ? { judgeMovesLabelledWay: Number(mean(judged.map((j) => (j > 0 ? 1 : 0))).toFixed(2)), meanJudgeChange: Number(mean(judged).toFixed(3)) } : {}) }];
    })),
  }));
  for (const s of summary) {
    console.log(`${s.edit.padEnd(28)} ${RULES.map((r) => `${r}: reach ${s.rules[r].reach} seam ${s.rules[r].seam}${s.rules[r].meanJudgeChange !== undefined ? ` judge ${s.rules[r].meanJudgeChange}` : ''}`).join(' | ')}`);
  }
  const offeredOnly = results.filter((r) => offered.some((s) => r.edit.startsWith(`${s.name} `)));
  for (const rule of RULES) {
    const mine = offeredOnly.filter((r) => r.rule === rule);
    console.log(`offered sliders, ${rule}: mean reach ${mean(mine.map((r) => r.reach)).toFixed(3)}, lowest ${Math.min(...mine.map((r) => r.reach)).toFixed(3)}, mean seam ${mean(mine.map((r) => r.seam)).toFixed(2)}`);
  }
  if (values.json) await writeFile(values.json, `${JSON.stringify({ model: manifest.name, photos: files, refined: !values.plain, rule: followRule, summary }, null, 2)}\n`);
  if (values.out) {
    const title = `${manifest.name}: photo | generated edit | composite: landmark region | following the change (adding it) | following it, replacing | the blend weight | 100% zoom (adding) at the edge's strongest change`;
    await writeFile(values.out, await drawSheet(rows, title, TILE, 300));
    console.log(`sheet ${values.out}: ${rows.length} rows`);
  }
  model.dispose();
}

/**
 * The seam a blend leaves: over the photo pixels where the blend weight crosses its edge (between 0.05 and 0.95),
 * the composite's gradient energy (luma, forward differences) over the photo's own there. An edge the eye sees as a
 * seam is a step the photo does not have: the ratio rises well above 1. `strongest`: the edge pixel where the
 * composite differs most from the photo (where a seam would show first).
 */
function seamEnergy(photo: RgbImage, result: RgbImage, mask: Float32Array, placement: Placement): { ratio: number; strongest: { x: number; y: number } } {
  const box = editableRegion(photo, cropExtent(placement.width, placement.height), placement);
  const luma = (image: RgbImage, i: number) => 0.2126 * image.data[i * 3] + 0.7152 * image.data[i * 3 + 1] + 0.0722 * image.data[i * 3 + 2];
  let own = 0;
  let made = 0;
  let most = -1;
  let strongest = { x: photo.width >> 1, y: photo.height >> 1 };
  if (!box) return { ratio: 1, strongest };
  for (let y = box.y; y < box.y + box.height - 1; y++) {
    for (let x = box.x; x < box.x + box.width - 1; x++) {
      const w = maskAt(mask, placement, x, y);
      if (w <= 0.05 || w >= 0.95) continue;
      const i = y * photo.width + x;
      const g = (image: RgbImage) => (luma(image, i + 1) - luma(image, i)) ** 2 + (luma(image, i + photo.width) - luma(image, i)) ** 2;
      own += g(photo);
      made += g(result);
      const d = Math.abs(luma(result, i) - luma(photo, i));
      if (d > most) { most = d; strongest = { x, y }; }
    }
  }
  return { ratio: own > 0 ? made / own : 1, strongest };
}

/** A TILE-sized box of photo pixels around a point (100% zoom), inside the photo, as cropRgb's arguments. */
function zoomBox(photo: RgbImage, at: { x: number; y: number }): [number, number, number, number] {
  const side = Math.min(TILE, photo.width, photo.height);
  const x0 = Math.min(Math.max(0, at.x - side / 2), photo.width - side) | 0;
  const y0 = Math.min(Math.max(0, at.y - side / 2), photo.height - side) | 0;
  return [x0, y0, x0 + side, y0 + side];
}

/** A blend weight as a grey picture (white: the generator's change in full). */
function weightPicture(mask: Float32Array, width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  mask.forEach((w, i) => data.fill(Math.round(w * 255), i * 3, i * 3 + 3));
  return { width, height, data };
}

void main();
