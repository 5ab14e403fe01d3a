import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from './helpers/golden';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const settle = <T>(p: Promise<T>) => p.then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);

describe('npm run direction (a slider taught from examples) and invert --direction', () => {
  it('inverts both folders, skips what it cannot read, writes the direction with its accuracy, and invert applies it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stst-direction-'));
    const faces = join(FIXTURES, 'photos', 'faces');
    await mkdir(join(dir, 'with'));
    await mkdir(join(dir, 'without'));
    for (const f of ['obama.jpg', 'obama2.jpg', 'obama3.jpg']) await copyFile(join(faces, f), join(dir, 'with', f));
    for (const f of ['biden.jpg', 'two_people.jpg']) await copyFile(join(faces, f), join(dir, 'without', f));
    await writeFile(join(dir, 'with', 'notes.jpg'), 'this is text');
    const file = join(dir, 'obama.json');
    const taught = await settle(run('npx', ['tsx', 'scripts/direction.ts', '--model', 'models/golden-tiny', '--with', join(dir, 'with'), '--without', join(dir, 'without'),
      '--name', 'Obama', '--styles', 'coarse', '--out', file], { cwd: ROOT }));
    expect(taught.code).toBe(0);
    expect(taught.stderr).toMatch(/notes\.jpg skipped: notes\.jpg is not an image/);
    expect(taught.stderr).toMatch(/only 3 with and 2 without/);
    expect(taught.stdout).toMatch(/Obama: taught from 3 photos with and 2 without on styles 0-3; held-out accuracy \d+%/);
    const direction = JSON.parse(await readFile(file, 'utf8'));
    expect(direction.format).toBe('stst-taught-direction/1');
    expect(direction.model).toMatchObject({ nLatent: 8, styleDim: 64 });
    expect(direction.range).toEqual({ start: 0, end: 4 });
    expect(direction.vector).toHaveLength(64);
    expect(direction.accuracy).toMatchObject({ with: 3, without: 2, folds: 2 });

    const out = join(dir, 'inverted');
    const applied = await settle(run('npx', ['tsx', 'scripts/invert.ts', '--model', 'models/golden-tiny', '--out', out, '--direction', `${file}=1.5`, join(faces, 'biden.jpg')], { cwd: ROOT }));
    expect(applied.code).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'biden', 'report.json'), 'utf8'));
    expect(report.edits).toEqual([{ direction: 'taught-obama', value: 1.5 }]);
    // a direction taught on another model is refused in one sentence, before any photo
    const other = await settle(run('npx', ['tsx', 'scripts/invert.ts', '--model', 'models/demo-faces-64', '--out', out, '--direction', `${file}=1`, join(faces, 'biden.jpg')], { cwd: ROOT }));
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/was taught on .* \(8 styles of 64\); this model has 10 of 256/);
  }, 180_000);
});
