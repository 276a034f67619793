import type { MigrationBuilder } from 'node-pg-migrate';
import { requireKit } from './kit-check.js';
import { optionalString, requireString, tableName, type TableRef } from './names.js';
import { builderCall, tableArgument } from './sql-call.js';

/** How often the counter starts again at 1: set by the finest date token. */
export type ResetPeriod = 'never' | 'yearly' | 'monthly' | 'daily';

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

const B = 'addNumbering';

/**
 * Number a column race-free: creates `generate_<name>_number()` in the table's
 * schema, used as the column DEFAULT (or, when the template needs row values
 * or `dateColumn` is set, as a BEFORE INSERT trigger), adds a unique constraint
 * if the column has none, and starts the counters after numbers already in the
 * table. Rows that bring their own number move the counter past it. Queues
 * one call of the SQL API, `racefree.add_numbering()`.
 *
 * @example
 * ```ts
 * export const up = (pgm: MigrationBuilder) =>
 *   addNumbering(pgm, { name: 'assessment', table: 'assessments', column: 'assessment_number',
 *     template: 'ASM-{YYYY}-{seq:3}', timeZone: 'UTC' });
 * export const down = (pgm: MigrationBuilder) =>
 *   dropNumbering(pgm, { name: 'assessment', table: 'assessments', column: 'assessment_number' });
 * ```
 * @throws {RacefreeConfigError} at once for an option of the wrong type; when
 *   the migration runs (before any DDL, nothing created) for a bad template,
 *   mode, name or time zone, an unknown table or column, or a column that is
 *   not text.
 */
export function addNumbering(pgm: MigrationBuilder, options: AddNumberingOptions): void {
  const call = builderCall('add_numbering', {
    tbl: tableArgument(B, tableName(options.table, B)),
    col: requireString(B, 'column', options.column),
    template: requireString(B, 'template', options.template),
    mode: optionalString(B, 'mode', options.mode),
    time_zone: optionalString(B, 'timeZone', options.timeZone),
    date_column: optionalString(B, 'dateColumn', options.dateColumn),
    // Required here, unlike in SQL (where it defaults to the column): it names the counter.
    name: requireString(B, 'name', options.name),
  });
  requireKit(pgm);
  pgm.sql(call);
}

/**
 * Undo {@link addNumbering}: drops the generator, default, triggers, sequence,
 * the unique constraint it added, and the numbering's counters.
 * @throws {RacefreeConfigError} when the migration runs and no such numbering exists.
 */
export function dropNumbering(pgm: MigrationBuilder, options: DropNumberingOptions): void {
  const D = 'dropNumbering';
  const call = builderCall('drop_numbering', {
    tbl: tableArgument(D, tableName(options.table, D)),
    col: requireString(D, 'column', options.column),
    name: requireString(D, 'name', options.name),
  });
  requireKit(pgm);
  pgm.sql(call);
}
