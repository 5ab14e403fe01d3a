import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { RgbImage } from '../src/photo/types';

/**
 * The demo datasets' held-out images, as the evaluation and the picture sheets read them: faces of the 100
 * identities in models/training/holdout-faces.txt (never trained on by any stage), or the last 200 cars of the
 * index. The datasets are sheets of 16 tiles a row (`../shared/datasets/*`, never committed).
 */
const ROOT = join(import.meta.dirname, '..');

export type DatasetRow = Record<string, string>;

function csv(text: string): DatasetRow[] {
  const [head, ...lines] = text.trim().split('\n');
  const keys = head.split(',');
  return lines.map((l) => {
    const cells = l.split(',');
    // class names may contain commas: everything past the known columns is the last field
    const row: DatasetRow = {};
    keys.forEach((k, i) => { row[k] = i === keys.length - 1 ? cells.slice(i).join(',') : cells[i]; });
    return row;
  });
}

/** The held-out rows of a dataset folder (its index.csv), the first `limit` of them. */
export async function heldOutRows(folder: string, domain: 'face' | 'car', limit?: number): Promise<DatasetRow[]> {
  const rows = csv(await readFile(join(folder, 'index.csv'), 'utf8'));
  let held: DatasetRow[];
  if (domain === 'face') {
    const ids = new Set((await readFile(join(ROOT, 'models', 'training', 'holdout-faces.txt'), 'utf8')).split('\n').filter((l) => l && !l.startsWith('#')));
    held = rows.filter((r) => ids.has(r.identity));
  } else {
    held = rows.slice(-200);
  }
  return limit ? held.slice(0, limit) : held;
}

/** The tiles of these rows, cut from their sheets. */
export async function tiles(folder: string, rows: DatasetRow[], domain: 'face' | 'car'): Promise<RgbImage[]> {
  const [h, w] = domain === 'face' ? [64, 64] : [96, 128];
  const sheets = new Map<string, Buffer>();
  const out: RgbImage[] = [];
  for (const r of rows) {
    const file = `sheet-${String(Number(r.sheet)).padStart(3, '0')}.jpg`;
    if (!sheets.has(file)) sheets.set(file, await readFile(join(folder, file)));
    const slot = Number(r.slot);
    const { data } = await sharp(sheets.get(file)!).extract({ left: (slot % 16) * w, top: Math.floor(slot / 16) * h, width: w, height: h })
      .removeAlpha().raw().toBuffer({ resolveWithObject: true });
    out.push({ width: w, height: h, data: new Uint8Array(data) });
  }
  return out;
}
