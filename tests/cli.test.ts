import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { helpText, nearestOption } from '../scripts/cli';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const settle = (p: Promise<{ stdout: string; stderr: string }>) => p.then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);

/** Every npm script that runs one of scripts/*.ts, from package.json itself: a new script is checked without a new line here. */
const SCRIPTS = Object.entries(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>)
  .flatMap(([name, command]) => { const m = /^tsx (scripts\/[\w-]+\.ts)$/.exec(command); return m ? [{ name, file: m[1] }] : []; });

describe('the command line: --help everywhere, a mistyped option gets a sentence', () => {
  it('finds the scripts', () => {
    expect(SCRIPTS.map((s) => s.name)).toEqual(expect.arrayContaining(['convert', 'invert', 'evaluate', 'bench', 'bench:refine', 'bench:app', 'sheet', 'reach', 'direction']));
  });

  it('every script answers --help and -h with its usage and options, and a mistyped option with its name, the nearest one and exit code 2', async () => {
    const results = await Promise.all(SCRIPTS.map(async ({ name, file }) => ({
      name,
      help: await settle(run('npx', ['tsx', file, '--help'], { cwd: ROOT })),
      short: await settle(run('npx', ['tsx', file, '-h'], { cwd: ROOT })),
      typo: await settle(run('npx', ['tsx', file, '--helpp'], { cwd: ROOT })),
    })));
    for (const { name, help, short, typo } of results) {
      expect(help.code, name).toBe(0);
      expect(help.stdout, name).toMatch(new RegExp(`^usage: npm run ${name}\\b`));
      expect(help.stdout, name).toContain('options:');
      expect(help.stdout, name).toMatch(/-h, --help +print this help and exit/);
      expect(short.stdout, name).toBe(help.stdout);
      expect(typo.code, name).toBe(2);
      expect(typo.stderr, name).toContain(`${name}: unknown option --helpp; did you mean --help?`);
      expect(typo.stderr, name).toContain(`usage: npm run ${name}`);
      expect(typo.stderr, name).not.toMatch(/\n\s+at /); // no stack
    }
  }, 240_000);

  it('names the nearest option only when it is near, and lists each option with its default', () => {
    expect(nearestOption('modle', ['model', 'out', 'refine'])).toBe('model');
    expect(nearestOption('refine-step', ['model', 'refine-steps'])).toBe('refine-steps');
    expect(nearestOption('xyz', ['model', 'out'])).toBeNull();
    const text = helpText({ name: 'x', usage: 'usage: npm run x', about: 'Does x.', options: { runs: { type: 'string', default: '3', value: '<n>', help: 'timed runs' }, fast: { type: 'boolean', default: false, help: 'go fast' } } });
    expect(text).toMatch(/--runs <n> +timed runs \(default: 3\)/);
    expect(text).toMatch(/--fast +go fast\n/);
  });
});
