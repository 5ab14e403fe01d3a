import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { readNpy } from '../src/io/npy';
import { FIXTURES } from './helpers/golden';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');

describe('npm run invert (batch CLI)', () => {
  it('writes every file per photo, reports bad files and exits 1 when any failed', async () => {
    const out = await mkdtemp(join(tmpdir(), 'stst-invert-'));
    const bad = join(out, 'notes.jpg');
    await writeFile(bad, 'this is text');
    const photos = ['faces/obama.jpg', 'faces/two_people.jpg'].map((p) => join(FIXTURES, 'photos', p));
    const result = await run('npx', ['tsx', 'scripts/invert.ts', '--model', 'models/golden-tiny', '--out', out, '--pasteback', '--raw', ...photos, bad], { cwd: ROOT })
      .then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/notes\.jpg: FAILED: notes\.jpg is not an image.* \[3\/3, 1 failed\]/);
    // a batch says where it stands after each photo: done of all, failures so far, the time left
    expect(result.stdout).toMatch(/obama\.jpg: ok .*\[1\/3, about \d+ s left\]/);
    for (const name of ['obama', 'two_people']) {
      const files = (await readdir(join(out, name))).sort();
      expect(files).toEqual(['aligned.png', 'codes.npy', 'image.npy', 'pasteback.png', 'reconstruction.png', 'report.json']);
      const report = JSON.parse(await readFile(join(out, name, 'report.json'), 'utf8'));
      expect(report.backend).toBe('wasm');
      expect(report.facesFound).toBe(name === 'two_people' ? 2 : 1);
      expect(report.reconstructionMse).toBeGreaterThan(0);
      expect(report).toHaveProperty('identityDistance'); // null here: the noise reconstruction holds no face
      expect(Object.keys(report.timingsMs)).toEqual(expect.arrayContaining(['decode', 'detect', 'align', 'encode', 'generate']));
      const codes = readNpy(new Uint8Array(await readFile(join(out, name, 'codes.npy'))));
      expect(codes.shape).toEqual([1, 8, 64]);
      const raw = readNpy(new Uint8Array(await readFile(join(out, name, 'image.npy'))));
      expect(raw.shape).toEqual([1, 3, 32, 32]);
      expect((await sharp(join(out, name, 'aligned.png')).metadata()).width).toBe(64);
      const original = await sharp(join(FIXTURES, 'photos', 'faces', `${name}.jpg`)).metadata();
      const pasted = await sharp(join(out, name, 'pasteback.png')).metadata();
      expect([pasted.width, pasted.height]).toEqual([original.width, original.height]);
    }
    const failure = JSON.parse(await readFile(join(out, 'notes', 'report.json'), 'utf8'));
    expect(failure.code).toBe('not-an-image');
  });

  it('--edit and --transfer write the edit; --pasteback keeps the photo\'s own pixels outside the edited face', async () => {
    const out = await mkdtemp(join(tmpdir(), 'stst-invert-edit-'));
    const photo = join(FIXTURES, 'photos', 'faces', 'obama.jpg');
    const reference = join(FIXTURES, 'photos', 'faces', 'two_people.jpg');
    const pixels = async (file: string) => (await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true }));
    await run('npx', ['tsx', 'scripts/invert.ts', '--model', 'models/demo-faces-64', '--out', join(out, 'plain'), '--pasteback', photo], { cwd: ROOT });
    await run('npx', ['tsx', 'scripts/invert.ts', '--model', 'models/demo-faces-64', '--out', join(out, 'edited'), '--pasteback',
      '--edit', 'smiling=5', '--edit', 'male=-5', '--transfer', `${reference}:bangs`, photo], { cwd: ROOT });
    const original = await pixels(photo);
    // no edit: the photo itself, byte for byte
    expect(Buffer.compare((await pixels(join(out, 'plain', 'obama', 'pasteback.png'))).data, original.data)).toBe(0);
    const edited = await pixels(join(out, 'edited', 'obama', 'pasteback.png'));
    const report = JSON.parse(await readFile(join(out, 'edited', 'obama', 'report.json'), 'utf8'));
    expect(report.edits).toEqual([{ direction: 'smiling', value: 5 }, { direction: 'male', value: -5 }]);
    expect(report.transfer).toEqual({ kind: 'block', block: 'bangs', strength: 1 });
    expect(report.outputs).toContain('edit.png');
    // changed pixels lie inside the face's box, grown by its size (the hair and the feather), none elsewhere
    const face = report.chosenFace.box;
    let inside = 0;
    let outside = 0;
    for (let i = 0; i < original.info.width * original.info.height; i++) {
      if (edited.data[i * 3] === original.data[i * 3] && edited.data[i * 3 + 1] === original.data[i * 3 + 1] && edited.data[i * 3 + 2] === original.data[i * 3 + 2]) continue;
      const x = i % original.info.width;
      const y = Math.floor(i / original.info.width);
      if (Math.abs(x - (face.x + face.width / 2)) < face.width * 1.5 && Math.abs(y - (face.y + face.height / 2)) < face.height * 1.5) inside++; else outside++;
    }
    expect(inside).toBeGreaterThan(face.width * face.height * 0.5);
    expect(outside).toBe(0);
    const unknown = await run('npx', ['tsx', 'scripts/invert.ts', '--model', 'models/demo-faces-64', '--out', out, '--edit', 'smile=2', photo], { cwd: ROOT })
      .then(() => null, (e: { code: number; stderr: string }) => e);
    expect(unknown?.code).toBe(2);
    expect(unknown?.stderr).toMatch(/no direction "smile"; it has: smiling, young/);
  });

  it('inverts a car photo through its centred 4:3 crop and pastes it back into the box', async () => {
    const out = await mkdtemp(join(tmpdir(), 'stst-invert-car-'));
    const G = join(FIXTURES, 'golden');
    // The golden tiny model read as a car model: 4:3 input, the picture in the middle band of the square.
    await run('npx', ['tsx', 'scripts/convert.ts', join(G, 'style-transformer-tiny.pt'), '--out', join(out, 'car-model'), '--domain', 'car'], { cwd: ROOT });
    const photo = join(FIXTURES, 'photos', 'cars', 'ferrari-red-3852233337_7593a392c1_b.jpg');
    await run('npx', ['tsx', 'scripts/invert.ts', '--model', join(out, 'car-model'), '--out', out, '--pasteback', photo], { cwd: ROOT });
    const dir = join(out, 'ferrari-red-3852233337_7593a392c1_b');
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
    const meta = await sharp(photo).metadata();
    expect(report.cropBox.width / report.cropBox.height).toBeCloseTo(4 / 3, 2);
    expect(Math.max(report.cropBox.width, report.cropBox.height)).toBeGreaterThanOrEqual(Math.min(meta.width!, (meta.height! * 4) / 3) - 1);
    expect((await sharp(join(dir, 'aligned.png')).metadata()).width).toBe(32);
    expect((await sharp(join(dir, 'aligned.png')).metadata()).height).toBe(24);
    expect((await sharp(join(dir, 'reconstruction.png')).metadata()).height).toBe(24); // rows 4..27 of 32
    const pasted = await sharp(join(dir, 'pasteback.png')).metadata();
    expect([pasted.width, pasted.height]).toEqual([meta.width, meta.height]);
  });

  it('--refine tunes the generator to each photo and reports the error before and after', async () => {
    const out = await mkdtemp(join(tmpdir(), 'stst-invert-refine-'));
    const photo = join(FIXTURES, 'photos', 'faces', 'obama.jpg');
    // As the page refines by default: with the photo's fine detail.
    await run('npx', ['tsx', 'scripts/invert.ts', '--model', 'models/golden-tiny', '--out', out, '--refine', '--refine-steps', '8', photo], { cwd: ROOT });
    const report = JSON.parse(await readFile(join(out, 'obama', 'report.json'), 'utf8'));
    expect(report.refinement.steps).toBe(8);
    expect(report.refinement.fineDetail).toBe(true);
    expect(report.refinement.after.mse).toBeLessThan(report.refinement.before.mse);
    expect(report.timingsMs.refine).toBeGreaterThan(0);
    const plainOut = join(out, 'plain');
    await run('npx', ['tsx', 'scripts/invert.ts', '--model', 'models/golden-tiny', '--out', plainOut, '--refine', '--refine-steps', '8', '--refine-plain', photo], { cwd: ROOT });
    const plain = JSON.parse(await readFile(join(plainOut, 'obama', 'report.json'), 'utf8'));
    expect(plain.refinement.fineDetail).toBe(false);
    expect(plain.refinement.after.mse).toBeLessThan(plain.refinement.before.mse);
    const bad = await run('npx', ['tsx', 'scripts/invert.ts', '--model', 'models/golden-tiny', '--out', out, '--refine', '--refine-steps', 'many', photo], { cwd: ROOT })
      .then(() => null, (e: { code: number; stderr: string }) => e);
    expect(bad?.code).toBe(2);
    expect(bad?.stderr).toMatch(/--refine-steps must be a positive whole number/);
  });

  it('gives every input its own folder inside --out, and a clear line for a missing path or a folder', async () => {
    const work = await mkdtemp(join(tmpdir(), 'stst-invert-names-'));
    const out = join(work, 'out');
    const face = await readFile(join(FIXTURES, 'photos', 'faces', 'obama.jpg'));
    for (const sub of ['x', 'y']) {
      await mkdir(join(work, sub), { recursive: true });
      await writeFile(join(work, sub, 'same.jpg'), face);
    }
    const inputs = [join(work, 'x', 'same.jpg'), join(work, 'y', 'same.jpg'), join(work, 'missing.jpg'), '..'];
    const result = await run('npx', ['tsx', 'scripts/invert.ts', '--model', 'models/golden-tiny', '--out', out, ...inputs], { cwd: ROOT })
      .then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${join(work, 'missing.jpg')}: FAILED: ${join(work, 'missing.jpg')} does not exist`);
    expect(result.stderr).toContain('..: FAILED: .. is a folder, not an image');
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    expect(index.map((e: { input: string; folder: string; ok: boolean }) => [e.folder.slice(out.length + 1), e.ok])).toEqual([['same', true], ['same-2', true], ['missing', false], ['_', false]]);
    expect((await readdir(work)).sort()).toEqual(['out', 'x', 'y']); // nothing written beside --out
    for (const [folder, source] of [['same', 'x'], ['same-2', 'y']]) {
      const report = JSON.parse(await readFile(join(out, folder, 'report.json'), 'utf8'));
      expect(report.file).toBe(join(work, source, 'same.jpg'));
    }
  });
});
