import { parseArgs } from 'node:util';

/**
 * The command line of every `npm run` script: node's parseArgs (strict), plus what it does not do by itself:
 * --help / -h print the usage and one line per option with its default; an unknown or mistyped option, or a value
 * missing, gets one sentence naming it (and the nearest known option), the usage, and exit code 2, never a stack.
 */
export interface CliOption {
  type: 'string' | 'boolean';
  /** What the option does, in one line (printed by --help). */
  help: string;
  default?: string | boolean | readonly string[];
  multiple?: boolean;
  short?: string;
  /** How the value is shown in --help (`<file>`); `<value>` by default. */
  value?: string;
}

export interface CliSpec<O extends Record<string, CliOption>> {
  /** The npm script's name (`invert`): errors start with it. */
  name: string;
  /** `npm run invert -- --model <bundle dir> ... <image>...` */
  usage: string;
  /** What the script does, a few lines. */
  about: string;
  options: O;
  allowPositionals?: boolean;
}

type Value<T extends CliOption> = T['type'] extends 'boolean' ? boolean
  : T extends { multiple: true } ? string[] : T extends { default: string } ? string : string | undefined;
type Values<O extends Record<string, CliOption>> = { [K in keyof O]: Value<O[K]> };

/** A script's command line, its option types kept literal (so `values.model` is a string, `values.edit` a list). */
export function defineCli<const O extends Record<string, CliOption>>(spec: CliSpec<O>): CliSpec<O> {
  return spec;
}

/** Levenshtein distance, for "did you mean": option names are short, so the plain table is enough. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** The known option nearest to `name`, if it is near enough to be a slip of the keyboard. */
export function nearestOption(name: string, known: string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(name, k);
    if (d < bestDistance) { best = k; bestDistance = d; }
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : null;
}

/** The --help text: usage, what it does, each option with its line and its default. */
export function helpText<O extends Record<string, CliOption>>(spec: CliSpec<O>): string {
  const rows = Object.entries({ ...spec.options, help: { type: 'boolean', short: 'h', help: 'print this help and exit' } as CliOption })
    .map(([name, o]) => {
      const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.value ?? '<value>'}` : ''}`;
      const shown = o.default === undefined || o.default === false || (Array.isArray(o.default) && !o.default.length) ? '' : ` (default: ${Array.isArray(o.default) ? o.default.join(',') : o.default})`;
      return [flag, `${o.help}${o.multiple ? '; repeatable' : ''}${shown}`];
    });
  const width = Math.min(36, Math.max(...rows.map(([f]) => f.length)) + 2);
  return `${spec.usage}\n\n${spec.about}\n\noptions:\n${rows.map(([f, h]) => `  ${f.padEnd(width)}${h}`).join('\n')}`;
}

/** One sentence, the usage line, exit code 2: what a person who typed the command wrong needs. */
export function usageError(spec: { name: string; usage: string }, message: string): never {
  console.error(`${spec.name}: ${message}\n${spec.usage}\n(npm run ${spec.name} -- --help lists every option)`);
  process.exit(2);
}

/** Parses process.argv for a script as described; --help and every mistake are answered here. */
export function parseCli<O extends Record<string, CliOption>>(spec: CliSpec<O>, argv = process.argv.slice(2)): { values: Values<O>; positionals: string[] } {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(helpText(spec));
    process.exit(0);
  }
  const options = Object.fromEntries(Object.entries(spec.options).map(([name, o]) => [name, {
    type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}), ...(o.default !== undefined ? { default: o.default } : {}),
  }]));
  try {
    const { values, positionals } = parseArgs({ args: argv, options: options as never, allowPositionals: spec.allowPositionals ?? false, strict: true });
    return { values: values as Values<O>, positionals };
  } catch (error) {
    const e = error as Error & { code?: string };
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const given = /'(-{1,2}[^']+)'/.exec(e.message)?.[1] ?? 'an option';
      const near = nearestOption(given.replace(/^-+/, '').split('=')[0], [...Object.keys(spec.options), 'help']);
      usageError(spec, `unknown option ${given}${near ? `; did you mean --${near}?` : ''}`);
    }
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const option = /'(-{1,2}[\w-]+)/.exec(e.message)?.[1] ?? 'an option';
      usageError(spec, /argument missing/.test(e.message) ? `option ${option} needs a value` : `option ${option} takes no value`);
    }
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') usageError(spec, `${e.message.replace(/\.$/, '')}: this script takes options only`);
    throw error;
  }
}
