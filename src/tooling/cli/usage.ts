import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { RacefreeConfigError } from '../../errors/classes.js';

/** A command line that does not parse: exit code 2. @internal */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** One option: what `util.parseArgs` needs, and its line of help. @internal */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
  /** The value's name in the help (`--dir DIR`); none for a boolean. */
  readonly value?: string;
  /** The help text; a second line is indented under the first. */
  readonly help: string | readonly string[];
}

/** A command's options, in the order its help lists them. @internal */
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/**
 * The options several commands take, declared once: each command lists the
 * ones it takes (`DATABASE_URL_OPTION`, ...) beside its own.
 * @internal
 */
export const DATABASE_URL_OPTION = { type: 'string', value: 'URL', help: 'default DATABASE_URL' } as const satisfies OptionSpec;
/** @internal */
export const DIR_OPTION = {
  type: 'string',
  value: 'DIR',
  help: ['your migrations (.js or .sql, node-pg-migrate format); default', 'migrations (skipped when it does not exist)'],
} as const satisfies OptionSpec;
/** @internal */
export const MIGRATIONS_TABLE_OPTION = { type: 'string', value: 'T', help: 'your migrations table; default pgmigrations' } as const satisfies OptionSpec;
/** @internal */
export const HELP_OPTION = { type: 'boolean', short: 'h', help: 'show this help' } as const satisfies OptionSpec;

/** A command's command line: parsed and documented from the same options. @internal */
export interface CommandSpec<O extends OptionSpecs> {
  /** The usage, without the leading `Usage:`: one form (it may wrap), or several, a line each. */
  readonly usage: string | readonly string[];
  /** What the command does: the text between the usage and the options. */
  readonly about: string;
  readonly options: O;
  /** After the options: notes and exit codes. */
  readonly notes: string;
  /** Whether it takes positional arguments; otherwise they are a usage error. */
  readonly positionals?: boolean;
}

type ValueOf<S extends OptionSpec> = S['type'] extends 'boolean' ? boolean : S['multiple'] extends true ? string[] : string;
/** The parsed options: each is absent when not given. @internal */
export type OptionValues<O extends OptionSpecs> = { -readonly [K in keyof O]?: ValueOf<O[K]> };

const COLUMN = 24;

/** The options as help lines: `  --name VALUE` padded to one column, then the help. @internal */
export function renderOptions(options: OptionSpecs): string {
  return Object.entries(options)
    .map(([name, o]) => {
      const label = `${o.short === undefined ? '' : `-${o.short}, `}--${name}${o.value === undefined ? '' : ` ${o.value}`}`;
      const [first = '', ...rest] = typeof o.help === 'string' ? [o.help] : o.help;
      return [`  ${label.padEnd(COLUMN - 2)}  ${first}`, ...rest.map((line) => `${' '.repeat(COLUMN + 2)}${line}`)].join('\n');
    })
    .join('\n');
}

/** A command's `--help`. @internal */
export function helpText(spec: CommandSpec<OptionSpecs>): string {
  const usage = typeof spec.usage === 'string' ? `Usage: ${spec.usage}` : ['Usage:', ...spec.usage.map((form) => `  ${form}`)].join('\n');
  return `${usage}\n\n${spec.about}\n\nOptions:\n${renderOptions(spec.options)}\n\n${spec.notes}`;
}

/**
 * Parse a command line by the command's options; a parse error is a
 * `UsageError`. With `--help` it prints the help and returns `undefined`.
 * @internal
 */
export function parseCommand<O extends OptionSpecs>(
  spec: CommandSpec<O>,
  argv: readonly string[],
): { values: OptionValues<O>; positionals: string[] } | undefined {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: spec.options, allowPositionals: spec.positionals === true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (parsed.values['help'] === true) {
    console.log(helpText(spec));
    return undefined;
  }
  return { values: parsed.values as OptionValues<O>, positionals: parsed.positionals };
}

/**
 * `--database-url`, else DATABASE_URL.
 * @throws {RacefreeConfigError} when there is neither.
 * @internal
 */
export function databaseUrlOf(command: string, given: string | undefined): string {
  const databaseUrl = given ?? process.env['DATABASE_URL'];
  if (!databaseUrl) {
    throw new RacefreeConfigError(`${command}: no database: pass --database-url or set DATABASE_URL`, { option: 'databaseUrl' });
  }
  return databaseUrl;
}

/** Parse a whole number option. @internal */
export function wholeNumber(option: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new UsageError(`${option} must be a whole number, not ${JSON.stringify(value)}`);
  return Number(value);
}

/** Parse a duration option such as `10s`, `500ms` or `2m` into milliseconds. @internal */
export function duration(option: string, value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(value);
  const ms = match ? Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm'] : 0;
  if (!(ms > 0)) throw new UsageError(`${option} must be a positive duration such as 10s, 500ms or 2m, not ${JSON.stringify(value)}`);
  return ms;
}

/**
 * `--dir`: one given must exist; without it, `migrations` if it exists here,
 * else `false` (the kit lane only).
 * @throws {UsageError} when the given one does not exist.
 * @internal
 */
export function migrationsDirOf(given: string | undefined): string | false {
  if (given !== undefined) {
    if (!existsSync(given)) throw new UsageError(`--dir ${given} does not exist`);
    return given;
  }
  return existsSync('migrations') ? 'migrations' : false;
}
