import type { MigrationBuilder } from 'node-pg-migrate';
import { requireKit } from './kit-check.js';
import { RacefreeConfigError } from '../errors.js';
import { quoteIdent, quoteLiteral, quoteQualified } from '../quote.js';
import { objectName, requireString, tableName, type TableRef } from './names.js';
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
   * `fast`: unique, never waits, gaps allowed; needs a template without date
   * tokens and columns (a reset would make concurrent inserters wait).
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
 * @throws {DuplicateRowsError} when the migration runs, the column has no unique key
 *   yet and holds duplicate numbers (before any DDL, nothing created).
 * @throws {LockTimeoutError} with `concurrently`, when a catalog step's lock could not
 *   be taken in `lockRetries` retries (that step changed nothing; the next run goes on).
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
  if (mode === 'fast' && (parsed.reset !== 'never' || parsed.columns.length > 0)) {
    throw new RacefreeConfigError(
      `addNumbering: mode 'fast' cannot be combined with template ${JSON.stringify(options.template)}: ` +
        'restarting a sequence per period or per scope would make concurrent inserters wait for each other, ' +
        "which fast mode promises never to do; use mode 'gapless', or a template with only {seq} and literal text",
      { option: 'mode', value: mode },
    );
  }
  const concurrently = options.concurrently ?? false;
  if (typeof concurrently !== 'boolean') {
    throw new RacefreeConfigError('addNumbering: option "concurrently" must be true or false', { option: 'concurrently', value: concurrently });
  }
  const lockTimeoutMs = lockOption('lockTimeoutMs', options.lockTimeoutMs, concurrently, 1);
  const lockRetries = lockOption('lockRetries', options.lockRetries, concurrently, 0);
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
    ...(concurrently ? { concurrently } : {}),
    ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }),
    ...(lockRetries === undefined ? {} : { lockRetries }),
  };
  requireKit(pgm);
  if (!concurrently) {
    pgm.sql(`SELECT racefree._add_numbering(${quoteLiteral(JSON.stringify(config))}::jsonb)`);
    return;
  }
  retrofitOnline(pgm, options.table, config);
}

/**
 * The online retrofit, one statement per step, each its own transaction:
 * every step is safe to run again, so a run interrupted anywhere is finished
 * by the next one.
 */
function retrofitOnline(pgm: MigrationBuilder, tableRef: TableRef, config: { table: string; column: string }): void {
  // Index names live in the table's schema, named as the installer names them.
  const schema = typeof tableRef === 'object' ? tableRef.schema : undefined;
  const name = objectName(`${typeof tableRef === 'string' ? tableRef : tableRef.name}_${config.column}`, '_key');
  const scratch = objectName(name, '_racefree_old');
  const key = {
    table: config.table,
    columns: [config.column],
    name,
    index: quoteQualified(schema, name),
    scratch,
    scratchIndex: quoteQualified(schema, scratch),
  };
  const literal = (step?: string) => `${quoteLiteral(JSON.stringify({ ...config, key, ...(step === undefined ? {} : { step }) }))}::jsonb`;
  pgm.noTransaction();
  pgm.sql(`SELECT racefree._prepare_numbering(${literal()})`);
  pgm.sql(`DROP INDEX CONCURRENTLY IF EXISTS ${key.scratchIndex}`);
  // Explicit-number triggers first: from here every number written moves the counters.
  pgm.sql(`SELECT racefree._add_numbering(${literal('install')})`);
  pgm.sql(`SELECT racefree._retrofit_numbering(${literal()})`);
  // No number is generated before the key exists; then one short lock attaches it and starts generating.
  pgm.sql(`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ${quoteIdent(name)} ON ${config.table} (${quoteIdent(config.column)})`);
  pgm.sql(`SELECT racefree._activate_numbering(${literal()})`);
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
  const config = {
    name: requireString('dropNumbering', 'name', options.name),
    table: tableName(options.table, 'dropNumbering'),
    column: requireString('dropNumbering', 'column', options.column),
  };
  requireKit(pgm);
  pgm.sql(`SELECT racefree._drop_numbering(${quoteLiteral(JSON.stringify(config))}::jsonb)`);
}
