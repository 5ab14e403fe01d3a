import sharp from 'sharp';
import type { RgbImage } from '../src/photo/types';

/** Rows of pictures, each scaled to tile px (nearest: the model's own pixels), named on the left; a JPEG. */
export async function drawSheet(rows: Array<{ label: string; pictures: RgbImage[] }>, title: string, tile = 128, labelWidth = 230): Promise<Buffer> {
  const columns = Math.max(...rows.map((r) => r.pictures.length));
  const header = 36;
  const width = labelWidth + columns * tile;
  const height = header + rows.length * tile;
  const escape = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const text = [`<text x="8" y="24" font-size="16" font-family="sans-serif">${escape(title)}</text>`,
    ...rows.map((r, i) => `<text x="8" y="${header + i * tile + tile / 2 + 6}" font-size="17" font-family="sans-serif">${escape(r.label)}</text>`)];
  const labels = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${text.join('')}</svg>`);
  const pictures = await Promise.all(rows.flatMap((r, i) => r.pictures.map(async (p, j) => ({
    input: await sharp(Buffer.from(p.data), { raw: { width: p.width, height: p.height, channels: 3 } }).resize(tile, tile, { kernel: 'nearest' }).png().toBuffer(),
    left: labelWidth + j * tile, top: header + i * tile,
  }))));
  return sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite([{ input: labels, left: 0, top: 0 }, ...pictures]).jpeg({ quality: 88 }).toBuffer();
}

