import type { MigrationBuilder } from 'node-pg-migrate';
import { requireKit } from './kit-check.js';
import { RacefreeConfigError } from '../errors.js';
import { quoteIdent, quoteLiteral, quoteQualified } from '../quote.js';
import { requireColumns, requireString, tableName, type TableRef } from './names.js';

/** Options of {@link addUniqueKey}. */
export interface AddUniqueKeyOptions {
  /** The table, unqualified (resolved by search_path) or `{ schema, name }`. */
  readonly table: TableRef;
  /** The key's column, or columns for a composite key. */
  readonly columns: string | readonly string[];
  /**
   * SQL condition making the key partial: unique only among rows where it
   * holds, e.g. `"status = 'active'"` (one active sprint per team). Becomes a
   * unique index `WHERE (...)`; it is SQL, trusted like `pgm.sql`.
   */
  readonly where?: string;
  /** Constraint or index name; default `<table>_<columns>_key`, cut to 63 bytes. */
  readonly name?: string;
  /** NULLs count as equal values (PostgreSQL 15+): at most one row with a NULL key. */
  readonly nullsNotDistinct?: boolean;
  /**
   * Build with `CREATE UNIQUE INDEX CONCURRENTLY`: writers keep running. The
   * whole migration then runs outside a transaction (`pgm.noTransaction()`),
   * so give such a key a migration of its own.
   */
  readonly concurrently?: boolean;
}

/** Options of {@link dropUniqueKey}: the same object as for {@link addUniqueKey} will do. */
export interface DropUniqueKeyOptions {
  readonly table: TableRef;
  /** Needed only for the default name. */
  readonly columns?: string | readonly string[];
  readonly name?: string;
}

const MAX_IDENTIFIER_BYTES = 63;
const B = 'addUniqueKey';

/**
 * Add a unique key, after proving the table holds no duplicates for it.
 *
 * A composite key becomes a `UNIQUE` constraint; with `where`, a partial
 * unique index. Before any DDL the migration checks the existing rows (under
 * a SHARE lock, so none slips in meanwhile) and fails with
 * `DuplicateRowsError` listing up to 10 groups of duplicates when there are
 * any; nothing is changed then. With `concurrently`, the check takes no lock,
 * a leftover INVALID index of the same name from a failed earlier attempt is
 * dropped, the index is built with `CREATE UNIQUE INDEX CONCURRENTLY`, and a
 * non-partial key is then attached as a constraint (`USING INDEX`). A run
 * interrupted at any step is finished by the next: a VALID index of that
 * name with the same definition is adopted, one with another is RF100.
 *
 * @example
 * ```ts
 * const key = { table: 'sprints', columns: ['team_id'], where: "status = 'active'" };
 * export const up = (pgm: MigrationBuilder) => addUniqueKey(pgm, key);
 * export const down = (pgm: MigrationBuilder) => dropUniqueKey(pgm, key);
 * ```
 * @throws {RacefreeConfigError} at once for a missing table or columns or a bad
 *   option; when the migration runs, for an unknown table or column, a name in
 *   use, or a `where` that is not a condition (nothing created).
 * @throws {DuplicateRowsError} when the migration runs and existing rows share a key value.
 */
export function addUniqueKey(pgm: MigrationBuilder, options: AddUniqueKeyOptions): void {
  const table = tableName(options.table, B);
  const columns = requireColumns(B, 'columns', options.columns);
  const name = options.name === undefined ? defaultName(options.table, columns) : requireString(B, 'name', options.name);
  if (Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) {
    throw new RacefreeConfigError(`${B}: option "name" is ${Buffer.byteLength(name)} bytes; PostgreSQL names hold at most ${MAX_IDENTIFIER_BYTES}`, {
      option: 'name',
      value: name,
    });
  }
  const where = options.where === undefined ? undefined : requireString(B, 'where', options.where);
  const nullsNotDistinct = requireBoolean('nullsNotDistinct', options.nullsNotDistinct);
  const concurrently = requireBoolean('concurrently', options.concurrently);
  // Index names live in the table's schema; the concurrent cleanup names it the same way.
  const schema = typeof options.table === 'object' ? options.table.schema : undefined;
  const index = quoteQualified(schema, name);
  // Where an INVALID leftover of an interrupted build is moved before it is dropped concurrently.
  const scratch = cut(`${name}_racefree_old`);
  const config = { table, columns, name, where, nullsNotDistinct, index, scratch, scratchIndex: quoteQualified(schema, scratch) };
  const literal = `${quoteLiteral(JSON.stringify(config))}::jsonb`;
  requireKit(pgm);
  if (!concurrently) {
    pgm.sql(`SELECT racefree._add_unique_key(${literal})`);
    return;
  }
  const list = columns.map(quoteIdent).join(', ');
  pgm.noTransaction();
  // Each step can be interrupted (a killed migrator, a lost connection) and
  // the migration then stays unrecorded; every step is safe to run again.
  pgm.sql(`SELECT racefree._prepare_unique_key(${literal})`);
  pgm.sql(`DROP INDEX CONCURRENTLY IF EXISTS ${config.scratchIndex}`);
  pgm.sql(
    `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ${quoteIdent(name)} ON ${table} (${list})` +
      `${nullsNotDistinct ? ' NULLS NOT DISTINCT' : ''}${where === undefined ? '' : ` WHERE (${where})`}`,
  );
  if (where === undefined) pgm.sql(`SELECT racefree._attach_unique_key(${literal})`);
  pgm.sql(`SELECT racefree._register_unique_key(${literal})`);
}

/**
 * Undo {@link addUniqueKey}: drops the constraint or unique index of that name
 * on the table, in the migration's transaction (a catalog change under a
 * brief exclusive lock; `concurrently` does not apply).
 * @throws {RacefreeConfigError} at once for bad options; when the migration runs, when there is no such key.
 */
export function dropUniqueKey(pgm: MigrationBuilder, options: DropUniqueKeyOptions): void {
  const table = tableName(options.table, 'dropUniqueKey');
  const name =
    options.name === undefined
      ? defaultName(options.table, requireColumns('dropUniqueKey', 'columns', options.columns))
      : requireString('dropUniqueKey', 'name', options.name);
  requireKit(pgm);
  pgm.sql(`SELECT racefree._drop_unique_key(${quoteLiteral(JSON.stringify({ table, name }))}::jsonb)`);
}

/** PostgreSQL's own default for `UNIQUE (a, b)`, `<table>_a_b_key`, cut to fit 63 bytes. */
function defaultName(table: TableRef, columns: readonly string[]): string {
  return cut(`${typeof table === 'string' ? table : table.name}_${columns.join('_')}`, '_key');
}

/** `base` + `suffix`, `base` cut (by characters) until the whole fits 63 bytes. */
function cut(base: string, suffix = ''): string {
  let chars = [...base];
  while (Buffer.byteLength(chars.join('') + suffix) > MAX_IDENTIFIER_BYTES) chars = chars.slice(0, -1);
  return chars.join('') + suffix;
}

function requireBoolean(option: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') {
    throw new RacefreeConfigError(`${B}: option "${option}" must be true or false`, { option, value });
  }
  return value;
}
