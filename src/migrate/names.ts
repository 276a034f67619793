import { createHash } from 'node:crypto';
import { RacefreeConfigError } from '../errors/classes.js';
import { quoteQualified } from '../quote.js';

/** PostgreSQL's limit on a name, in bytes. */
const MAX_IDENTIFIER_BYTES = 63;

/** A table: a bare name (resolved through search_path, never split on dots) or `{ schema, name }`. */
export type TableRef = string | { readonly schema?: string; readonly name: string };

/*
 * The builders check here only what the SQL API cannot see: the JavaScript
 * type of an option, and NUL characters, which no PostgreSQL text can hold.
 * Every rule about values (empty, too long, unknown, twice) is the SQL
 * API's (sql/builders.sql and the installers it calls), checked when the
 * migration runs, before any DDL.
 */

/**
 * Check that a builder's option is a string PostgreSQL can hold.
 * @throws {RacefreeConfigError} naming the builder, option and value.
 * @internal
 */
export function requireString(builder: string, option: string, value: unknown): string {
  if (typeof value !== 'string') {
    throw new RacefreeConfigError(`${builder}: option "${option}" must be a string`, { option, value });
  }
  if (value.includes('\0')) {
    throw new RacefreeConfigError(`${builder}: option "${option}" contains a NUL character`, { option, value });
  }
  return value;
}

/**
 * Check a builder's column-list option: one name, or an array of names.
 * @throws {RacefreeConfigError} naming the builder, option and value.
 * @internal
 */
export function requireColumns(builder: string, option: string, value: unknown): string[] {
  const list: unknown = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list)) {
    throw new RacefreeConfigError(`${builder}: option "${option}" must be a column name or an array of them`, { option, value });
  }
  return list.map((c: unknown) => requireString(builder, option, c));
}

/**
 * The table as quoted SQL text, for `racefree_internal._table_oid()`. Its parts must be
 * non-empty here: an empty quoted name ("") is a syntax error, not a table.
 * @internal
 */
export function tableName(table: TableRef, builder: string): string {
  const part = (option: string, value: unknown) => requireIdentifier(builder, option, value);
  if (typeof table === 'string') return quoteQualified(part('table', table));
  if (table === null || typeof table !== 'object') {
    throw new RacefreeConfigError(`${builder}: option "table" must be a name or { schema, name }`, {
      option: 'table',
      value: table,
    });
  }
  const schema = table.schema === undefined ? undefined : part('table.schema', table.schema);
  return quoteQualified(schema, part('table.name', table.name));
}

/**
 * A name the builder itself writes into SQL (the table; the statements of a
 * concurrent unique key): a string that is not empty, since "" is a syntax
 * error rather than a name.
 * @internal
 */
export function requireIdentifier(builder: string, option: string, value: unknown): string {
  const text = requireString(builder, option, value);
  if (text === '') throw new RacefreeConfigError(`${builder}: option "${option}" must be a non-empty string`, { option, value });
  return text;
}

/** An optional string option: undefined stays undefined (the SQL API's DEFAULT applies). @internal */
export function optionalString(builder: string, option: string, value: unknown): string | undefined {
  return value === undefined ? undefined : requireString(builder, option, value);
}

/**
 * The name `racefree_internal._object_name(base, suffix)` gives in SQL, for the DDL a
 * builder must write itself (CREATE INDEX CONCURRENTLY runs in no function):
 * base || suffix when it fits 63 bytes, else base cut to fit with 8 hex
 * digits of md5(base || suffix) before the suffix. The installer checks that
 * both agree.
 * @internal
 */
export function objectName(base: string, suffix: string): string {
  if (Buffer.byteLength(base + suffix) <= MAX_IDENTIFIER_BYTES) return base + suffix;
  const tag = `_${createHash('md5')
    .update(base + suffix)
    .digest('hex')
    .slice(0, 8)}`;
  return cutToFit(base, tag + suffix);
}

/** `base` cut by characters (never inside one) so that `base + suffix` fits a name. @internal */
export function cutToFit(base: string, suffix = ''): string {
  let chars = [...base];
  while (Buffer.byteLength(chars.join('') + suffix) > MAX_IDENTIFIER_BYTES) chars = chars.slice(0, -1);
  return chars.join('') + suffix;
}
