import type { MigrationBuilder } from 'node-pg-migrate';
import { requireKit } from './kit-check.js';
import { RacefreeConfigError } from '../errors.js';
import { quoteLiteral } from '../quote.js';
import { requireString, tableName, type TableRef } from './names.js';
import { parseTemplate } from './template.js';

/** Options of {@link addNumbering}. */
export interface AddNumberingOptions {
  /** Names the generator: `generate_<name>_number()` in the table's schema. */
  readonly name: string;
  /** The table, unqualified (resolved by search_path) or `{ schema, name }`. */
  readonly table: TableRef;
  /** The text or varchar column to fill. */
  readonly column: string;
  /**
   * `{YYYY}` `{YY}` `{MM}` `{DD}` (the finest sets the reset period), exactly one
   * `{seq}` or `{seq:N}` (N = minimum width; wider numbers grow), `{column}` (the
   * row's value, which also scopes the counter), `{{` and `}}` for braces.
   */
  readonly template: string;
  /**
   * `gapless` (default): committed numbers are exactly 1..n per period and scope;
   * inserters of the same period and scope queue on one counter row.
   * `fast`: unique, never waits, gaps allowed. One sequence per numbering: with
   * date tokens or `{column}` scopes the count goes on across periods and scopes
   * (`ASM-2026-041`, then `ASM-2027-042`); the date and the column values are a
   * label, not a reset (a reset would make concurrent inserters wait).
   */
  readonly mode?: 'gapless' | 'fast';
  /** IANA zone the date tokens are read in (default `UTC`), never the session's TimeZone. */
  readonly timeZone?: string;
  /** Date, timestamp or timestamptz column to date numbers by, instead of the transaction's start. */
  readonly dateColumn?: string;
}

/** Options of {@link dropNumbering}. */
export interface DropNumberingOptions {
  readonly name: string;
  readonly table: TableRef;
  readonly column: string;
}

const MAX_IDENTIFIER_BYTES = 63;
const B = 'addNumbering';

/**
 * Number a column race-free: creates `generate_<name>_number()` in the table's
 * schema, used as the column DEFAULT (or, when the template needs row values
 * or `dateColumn` is set, as a BEFORE INSERT trigger), adds a unique constraint
 * if the column has none, and starts the counters after numbers already in the
 * table. Rows that bring their own number move the counter past it.
 *
 * @example
 * ```ts
 * export const up = (pgm: MigrationBuilder) =>
 *   addNumbering(pgm, { name: 'assessment', table: 'assessments', column: 'assessment_number',
 *     template: 'ASM-{YYYY}-{seq:3}', timeZone: 'UTC' });
 * export const down = (pgm: MigrationBuilder) =>
 *   dropNumbering(pgm, { name: 'assessment', table: 'assessments', column: 'assessment_number' });
 * ```
 * @throws {RacefreeConfigError} at once for a bad template, mode, name or option;
 *   when the migration runs (before any DDL, nothing created) for an unknown
 *   table or column, a column that is not text, or an unknown time zone.
 */
export function addNumbering(pgm: MigrationBuilder, options: AddNumberingOptions): void {
  const name = requireString(B, 'name', options.name);
  const column = requireString(B, 'column', options.column);
  const table = tableName(options.table, B);
  const generator = `generate_${name}_number`;
  if (Buffer.byteLength(generator) > MAX_IDENTIFIER_BYTES) {
    throw new RacefreeConfigError(
      `addNumbering: option "name" ${JSON.stringify(name)} makes ${generator}, ${Buffer.byteLength(generator)} bytes; PostgreSQL names hold at most ${MAX_IDENTIFIER_BYTES}`,
      { option: 'name', value: name },
    );
  }
  const mode = options.mode ?? 'gapless';
  if (mode !== 'gapless' && mode !== 'fast') {
    throw new RacefreeConfigError(`addNumbering: option "mode" must be 'gapless' or 'fast', not ${JSON.stringify(mode)}`, {
      option: 'mode',
      value: mode,
    });
  }
  const timeZone = requireString(B, 'timeZone', options.timeZone ?? 'UTC');
  const dateColumn = options.dateColumn === undefined ? undefined : requireString(B, 'dateColumn', options.dateColumn);
  const parsed = parseTemplate(options.template);
  if (dateColumn !== undefined && parsed.reset === 'never') {
    throw new RacefreeConfigError(
      `addNumbering: option "dateColumn" is set but template ${JSON.stringify(options.template)} has no date token`,
      { option: 'dateColumn', value: dateColumn },
    );
  }
  const config = {
    name,
    table,
    column,
    template: options.template,
    parts: parsed.parts,
    reset: parsed.reset,
    mode,
    timeZone,
    ...(dateColumn === undefined ? {} : { dateColumn }),
  };
  requireKit(pgm);
  pgm.sql(`SELECT racefree._add_numbering(${quoteLiteral(JSON.stringify(config))}::jsonb)`);
}

/**
 * Undo {@link addNumbering}: drops the generator, default, triggers, sequence,
 * the unique constraint it added, and the numbering's counters.
 * @throws {RacefreeConfigError} when the migration runs and no such numbering exists.
 */
export function dropNumbering(pgm: MigrationBuilder, options: DropNumberingOptions): void {
  const config = {
    name: requireString('dropNumbering', 'name', options.name),
    table: tableName(options.table, 'dropNumbering'),
    column: requireString('dropNumbering', 'column', options.column),
  };
  requireKit(pgm);
  pgm.sql(`SELECT racefree._drop_numbering(${quoteLiteral(JSON.stringify(config))}::jsonb)`);
}
