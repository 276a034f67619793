import { createHash } from 'node:crypto';
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
 * Check a builder's column-list option: one name, or a non-empty array of distinct names.
 * @throws {RacefreeConfigError} naming the builder, option and value.
 * @internal
 */
export function requireColumns(builder: string, option: string, value: unknown): string[] {
  const list: unknown = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) {
    throw new RacefreeConfigError(`${builder}: option "${option}" must be a column name or a non-empty array of them`, {
      option,
      value,
    });
  }
  const columns = list.map((c: unknown) => requireString(builder, option, c));
  const twice = columns.find((c, i) => columns.indexOf(c) !== i);
  if (twice !== undefined) {
    throw new RacefreeConfigError(`${builder}: option "${option}" names column ${JSON.stringify(twice)} twice`, { option, value });
  }
  return columns;
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

/**
 * The name `racefree._object_name(base, suffix)` gives in SQL, for the DDL a
 * builder must write itself (CREATE INDEX CONCURRENTLY runs in no function):
 * base || suffix when it fits 63 bytes, else base cut to fit with 8 hex
 * digits of md5(base || suffix) before the suffix. The installer checks that
 * both agree.
 * @internal
 */
export function objectName(base: string, suffix: string): string {
  const bytes = (s: string) => Buffer.byteLength(s);
  if (bytes(base + suffix) <= 63) return base + suffix;
  const tag = `_${createHash('md5').update(base + suffix).digest('hex').slice(0, 8)}`;
  let chars = [...base];
  while (bytes(chars.join('') + tag + suffix) > 63) chars = chars.slice(0, -1);
  return chars.join('') + tag + suffix;
}
