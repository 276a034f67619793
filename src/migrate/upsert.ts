import type { MigrationBuilder } from 'node-pg-migrate';
import { requireKit } from './kit-check.js';
import { RacefreeConfigError } from '../errors/classes.js';
import { optionalString, requireColumns, requireString, tableName, type TableRef } from './names.js';
import { builderCall, tableArgument } from './sql-call.js';

/** Options of {@link addUpsert}. */
export interface AddUpsertOptions {
  /** The table, unqualified (resolved by search_path) or `{ schema, name }`. */
  readonly table: TableRef;
  /** The conflict target: columns of a unique constraint or unique index of the table. */
  readonly key: string | readonly string[];
  /**
   * For a partial unique key: a condition that implies the index's WHERE,
   * usually the same text, e.g. `"status = 'active'"`. SQL, trusted like `pgm.sql`.
   */
  readonly where?: string;
  /**
   * The columns an update may change. Default: every column a caller may
   * give except the key, identity and primary key columns. `[]`: never
   * update (insert or return the row as it is).
   */
  readonly update?: readonly string[];
  /** Base of the function names instead of the table's name. */
  readonly name?: string;
}

/** Options of {@link dropUpsert}: the same object as for {@link addUpsert} will do. */
export interface DropUpsertOptions {
  readonly table: TableRef;
  readonly name?: string;
}

const B = 'addUpsert';

/**
 * Generate, in the table's schema, one-statement write functions for a
 * unique key (`<name>` defaults to the table's name), returning rows of the
 * generated type `upsert_<name>_result` (the table's columns and `action`):
 *
 * - `upsert_<name>(col => value, ...)`: `INSERT ... ON CONFLICT (key) DO
 *   UPDATE`; returns the row and `action`: `'inserted' | 'updated' |
 *   'unchanged'`. Arguments left out or NULL are not written (column default
 *   on insert, kept on update); equal values write nothing.
 * - `get_or_create_<name>(col => value, ...)`: the row and `action`:
 *   `'inserted' | 'existing'`; concurrent callers of one key never fail and
 *   never get zero rows.
 * - `upsert_<name>_many(rows jsonb)`: a batch; duplicate keys in it, last
 *   wins; keys written in key order, so concurrent batches never deadlock. A
 *   JSON null writes NULL.
 *
 * The conflict target is checked when the migration runs, by PostgreSQL's own
 * ON CONFLICT inference, against the table's unique indexes. Queues one call
 * of the SQL API, `racefree.add_upsert()`.
 *
 * @example
 * ```ts
 * const upsert = { table: 'assessments', key: ['technology', 'proficiency_level'] };
 * export const up = (pgm: MigrationBuilder) => addUpsert(pgm, upsert);
 * export const down = (pgm: MigrationBuilder) => dropUpsert(pgm, upsert);
 * // SELECT * FROM upsert_assessments(technology => 'Hive', proficiency_level => 'beginner', questions => '[]');
 * ```
 * @throws {RacefreeConfigError} at once for options of the wrong type; when
 *   the migration runs (before any DDL) for an unknown table or column, a
 *   column named twice, function names over 63 bytes, a key or `where` that
 *   matches no unique index, a generated key column, an `update` naming a
 *   key column, or functions that already exist.
 */
export function addUpsert(pgm: MigrationBuilder, options: AddUpsertOptions): void {
  if (options.update !== undefined && !Array.isArray(options.update)) {
    throw new RacefreeConfigError(`${B}: option "update" must be an array of column names`, { option: 'update', value: options.update });
  }
  const call = builderCall('add_upsert', {
    tbl: tableArgument(B, tableName(options.table, B)),
    key: requireColumns(B, 'key', options.key),
    where: optionalString(B, 'where', options.where),
    update: options.update?.map((c) => requireString(B, 'update', c)),
    name: optionalString(B, 'name', options.name),
  });
  requireKit(pgm);
  pgm.sql(call);
}

/**
 * Undo {@link addUpsert}: drops the three generated functions and their row
 * type. Queues one call of `racefree.drop_upsert()`.
 * @throws {RacefreeConfigError} at once for options of the wrong type; when the migration runs, when they are not all there.
 */
export function dropUpsert(pgm: MigrationBuilder, options: DropUpsertOptions): void {
  const call = builderCall('drop_upsert', {
    tbl: tableArgument('dropUpsert', tableName(options.table, 'dropUpsert')),
    name: optionalString('dropUpsert', 'name', options.name),
  });
  requireKit(pgm);
  pgm.sql(call);
}
