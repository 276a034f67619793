import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command line that does not parse: exit code 2. @internal */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `util.parseArgs` with its errors turned into usage errors. @internal */
export function parse<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
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
