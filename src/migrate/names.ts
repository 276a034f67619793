import { RacefreeConfigError } from '../errors.js';
import { quoteQualified } from '../quote.js';

/** A table: a bare name (resolved through search_path, never split on dots) or `{ schema, name }`. */
export type TableRef = string | { readonly schema?: string; readonly name: string };

/**
 * Check a builder's string option.
 * @throws {RacefreeConfigError} naming the builder, option and value.
 * @internal
 */
export function requireString(builder: string, option: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new RacefreeConfigError(`${builder}: option "${option}" must be a non-empty string`, { option, value });
  }
  if (value.includes('\0')) {
    throw new RacefreeConfigError(`${builder}: option "${option}" contains a NUL character`, { option, value });
  }
  return value;
}

/**
 * The table as quoted SQL text, for `to_regclass()` in the installers.
 * @internal
 */
export function tableName(table: TableRef, builder: string): string {
  if (typeof table === 'string') return quoteQualified(requireString(builder, 'table', table));
  if (table === null || typeof table !== 'object') {
    throw new RacefreeConfigError(`${builder}: option "table" must be a name or { schema, name }`, {
      option: 'table',
      value: table,
    });
  }
  const schema = table.schema === undefined ? undefined : requireString(builder, 'table.schema', table.schema);
  return quoteQualified(schema, requireString(builder, 'table.name', table.name));
}
