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
