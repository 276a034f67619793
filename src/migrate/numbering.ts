import type { MigrationBuilder } from 'node-pg-migrate';
import { requireKit } from './kit-check.js';
import { RacefreeConfigError } from '../errors/classes.js';
import { quoteIdent, quoteLiteral, quoteQualified } from '../quote.js';
import { objectName, optionalString, requireString, tableName, type TableRef } from './names.js';
import { builderCall, builderExpression, tableArgument, type SqlArgument } from './sql-call.js';

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
  /**
   * Retrofit a live table without blocking its writers: the unique index is
   * built `CREATE UNIQUE INDEX CONCURRENTLY`, the existing numbers are scanned
   * without a table lock, and the strong locks of the short catalog steps are
   * taken under `lockTimeoutMs` with retries and backoff, printing what they
   * wait for. The whole migration then runs outside a transaction
   * (`pgm.noTransaction()`), so give such a numbering a migration of its own.
   * The numbering always brings its own unique key then (`<table>_<column>_key`),
   * unless the column has a unique index of that very name.
   */
  readonly concurrently?: boolean;
  /** With `concurrently`: how long one attempt at a catalog step's lock may wait (default 100 ms; writers queue behind it that long). */
  readonly lockTimeoutMs?: number;
  /** With `concurrently`: how many times a catalog step tries again after its lock timed out (default 20), then fails with `LockTimeoutError`. */
  readonly lockRetries?: number;
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
 * schema, a BEFORE INSERT trigger (so a gapless number is taken only by
 * inserting; a fast numbering without row values is the column DEFAULT
 * instead, inlined into the INSERT), adds a unique constraint
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
 * @throws {DuplicateRowsError} when the migration runs, the column has no unique key
 *   yet and holds duplicate numbers (before any DDL, nothing created).
 * @throws {LockTimeoutError} with `concurrently`, when a catalog step's lock could not
 *   be taken in `lockRetries` retries (that step changed nothing; the next run goes on).
 */
export function addNumbering(pgm: MigrationBuilder, options: AddNumberingOptions): void {
  const table = tableName(options.table, B);
  const column = requireString(B, 'column', options.column);
  const args: Record<string, SqlArgument> = {
    tbl: tableArgument(B, table),
    col: column,
    template: requireString(B, 'template', options.template),
    mode: optionalString(B, 'mode', options.mode),
    time_zone: optionalString(B, 'timeZone', options.timeZone),
    date_column: optionalString(B, 'dateColumn', options.dateColumn),
    // Required here, unlike in SQL (where it defaults to the column): it names the counter.
    name: requireString(B, 'name', options.name),
  };
  const concurrently = options.concurrently ?? false;
  if (typeof concurrently !== 'boolean') {
    throw new RacefreeConfigError('addNumbering: option "concurrently" must be true or false', { option: 'concurrently', value: concurrently });
  }
  const lock = {
    lockTimeoutMs: lockOption('lockTimeoutMs', options.lockTimeoutMs, concurrently, 1),
    lockRetries: lockOption('lockRetries', options.lockRetries, concurrently, 0),
  };
  requireKit(pgm);
  if (!concurrently) {
    pgm.sql(builderCall('add_numbering', args));
    return;
  }
  retrofitOnline(pgm, options.table, table, column, builderExpression('_numbering_config', args), lock);
}

/**
 * The online retrofit, one statement per step, each its own transaction:
 * every step is safe to run again, so a run interrupted anywhere is finished
 * by the next one. Each step reads the configuration the SQL API checks and
 * builds (racefree_internal._numbering_config), plus the unique key's names and the step.
 */
function retrofitOnline(
  pgm: MigrationBuilder,
  tableRef: TableRef,
  table: string,
  column: string,
  configSql: string,
  lock: { lockTimeoutMs: number | undefined; lockRetries: number | undefined },
): void {
  // Index names live in the table's schema, named as the installer names them.
  const schema = typeof tableRef === 'object' ? tableRef.schema : undefined;
  const name = objectName(`${typeof tableRef === 'string' ? tableRef : tableRef.name}_${column}`, '_key');
  const scratch = objectName(name, '_racefree_old');
  const key = {
    table,
    columns: [column],
    name,
    index: quoteQualified(schema, name),
    scratch,
    scratchIndex: quoteQualified(schema, scratch),
  };
  const extra = (step?: string) =>
    JSON.stringify({
      concurrently: true,
      key,
      ...(lock.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: lock.lockTimeoutMs }),
      ...(lock.lockRetries === undefined ? {} : { lockRetries: lock.lockRetries }),
      ...(step === undefined ? {} : { step }),
    });
  const config = (step?: string) => `(${configSql} || ${quoteLiteral(extra(step))}::jsonb)`;
  pgm.noTransaction();
  pgm.sql(`SELECT racefree_internal._prepare_numbering(${config()})`);
  pgm.sql(`DROP INDEX CONCURRENTLY IF EXISTS ${key.scratchIndex}`);
  // Explicit-number triggers first: from here every number written moves the counters.
  pgm.sql(`SELECT racefree_internal._add_numbering(${config('install')})`);
  pgm.sql(`SELECT racefree_internal._retrofit_numbering(${config()})`);
  // No number is generated before the key exists; then one short lock attaches it and starts generating.
  pgm.sql(`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ${quoteIdent(name)} ON ${table} (${quoteIdent(column)})`);
  pgm.sql(`SELECT racefree_internal._activate_numbering(${config()})`);
}

function lockOption(option: string, value: unknown, concurrently: boolean, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!concurrently) {
    throw new RacefreeConfigError(`addNumbering: option "${option}" applies only with concurrently: true`, { option, value });
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 1_000_000) {
    throw new RacefreeConfigError(`addNumbering: option "${option}" must be an integer from ${min} to 1000000`, { option, value });
  }
  return value;
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
