import type { MigrationBuilder } from 'node-pg-migrate';
import { requireKit } from './kit-check.js';
import { RacefreeConfigError } from '../errors/classes.js';
import { quoteIdent, quoteLiteral, quoteQualified } from '../quote.js';
import { cutToFit, optionalString, requireColumns, requireIdentifier, tableName, type TableRef } from './names.js';
import { builderCall, builderExpression, tableArgument } from './sql-call.js';

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

const B = 'addUniqueKey';

/**
 * Add a unique key, after proving the table holds no duplicates for it.
 *
 * A composite key becomes a `UNIQUE` constraint; with `where`, a partial
 * unique index. Before any DDL the migration checks the existing rows (under
 * a SHARE lock, so none slips in meanwhile) and fails with
 * `DuplicateRowsError` listing up to 10 groups of duplicates when there are
 * any; nothing is changed then. Queues one call of the SQL API,
 * `racefree.add_unique_key()`. With `concurrently`, the check takes no lock,
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
 * @throws {RacefreeConfigError} at once for an option of the wrong type; when
 *   the migration runs, before any DDL (nothing created), for an unknown
 *   table or column, a column named twice, a name in use or over 63 bytes,
 *   or a `where` that is not a condition.
 * @throws {DuplicateRowsError} when the migration runs and existing rows share a key value.
 */
export function addUniqueKey(pgm: MigrationBuilder, options: AddUniqueKeyOptions): void {
  const concurrently = requireBoolean('concurrently', options.concurrently);
  const table = tableName(options.table, B);
  const columns = requireColumns(B, 'columns', options.columns);
  const where = optionalString(B, 'where', options.where);
  const nullsNotDistinct = options.nullsNotDistinct === undefined ? undefined : requireBoolean('nullsNotDistinct', options.nullsNotDistinct);
  const args = {
    tbl: tableArgument(B, table),
    columns,
    where,
    nulls_not_distinct: nullsNotDistinct,
    name: optionalString(B, 'name', options.name),
  };
  requireKit(pgm);
  if (!concurrently) {
    pgm.sql(builderCall('add_unique_key', args));
    return;
  }
  // CREATE INDEX CONCURRENTLY cannot run inside a function: the steps are
  // queued one by one, each given the configuration the SQL API checks and
  // builds (racefree_internal._unique_key_config), under the name written here.
  const name = options.name === undefined ? defaultName(options.table, columns) : requireIdentifier(B, 'name', options.name);
  columns.forEach((c) => requireIdentifier(B, 'columns', c));
  const schema = typeof options.table === 'object' ? options.table.schema : undefined;
  // Where an INVALID leftover of an interrupted build is moved before it is dropped concurrently.
  const scratch = cutToFit(`${name}_racefree_old`);
  const scratchIndex = quoteQualified(schema, scratch);
  const config = `(${builderExpression('_unique_key_config', { ...args, name })}` + ` || ${quoteLiteral(JSON.stringify({ scratch, scratchIndex }))}::jsonb)`;
  const list = columns.map(quoteIdent).join(', ');
  pgm.noTransaction();
  // Each step can be interrupted (a killed migrator, a lost connection) and
  // the migration then stays unrecorded; every step is safe to run again.
  pgm.sql(`SELECT racefree_internal._prepare_unique_key(${config})`);
  pgm.sql(`DROP INDEX CONCURRENTLY IF EXISTS ${scratchIndex}`);
  pgm.sql(
    `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ${quoteIdent(name)} ON ${table} (${list})` +
      `${nullsNotDistinct ? ' NULLS NOT DISTINCT' : ''}${where === undefined ? '' : ` WHERE (${where})`}`,
  );
  if (where === undefined) pgm.sql(`SELECT racefree_internal._attach_unique_key(${config})`);
  pgm.sql(`SELECT racefree_internal._register_unique_key(${config})`);
}

/**
 * Undo {@link addUniqueKey}: drops the constraint or unique index of that name
 * on the table, in the migration's transaction (a catalog change under a
 * brief exclusive lock; `concurrently` does not apply). Queues one call of
 * `racefree.drop_unique_key()`.
 * @throws {RacefreeConfigError} at once for options of the wrong type; when the migration runs, when there is no such key.
 */
export function dropUniqueKey(pgm: MigrationBuilder, options: DropUniqueKeyOptions): void {
  const D = 'dropUniqueKey';
  const call = builderCall('drop_unique_key', {
    tbl: tableArgument(D, tableName(options.table, D)),
    columns: options.columns === undefined ? undefined : requireColumns(D, 'columns', options.columns),
    name: optionalString(D, 'name', options.name),
  });
  requireKit(pgm);
  pgm.sql(call);
}

/**
 * The default name, `<table>_<columns>_key`, for the concurrent path alone,
 * which must write the name into its CREATE INDEX statement when the
 * migration is queued. Elsewhere racefree_internal._unique_key_name() names the key;
 * test/sql-api.test.ts checks that the two agree.
 */
function defaultName(table: TableRef, columns: readonly string[]): string {
  return cutToFit(`${typeof table === 'string' ? table : table.name}_${columns.join('_')}`, '_key');
}

function requireBoolean(option: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') {
    throw new RacefreeConfigError(`${B}: option "${option}" must be true or false`, { option, value });
  }
  return value;
}
