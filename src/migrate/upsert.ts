import type { MigrationBuilder } from 'node-pg-migrate';
import { requireKit } from './kit-check.js';
import { RacefreeConfigError } from '../errors.js';
import { quoteLiteral } from '../quote.js';
import { requireColumns, requireString, tableName, type TableRef } from './names.js';

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

const MAX_IDENTIFIER_BYTES = 63;
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
 * ON CONFLICT inference, against the table's unique indexes.
 *
 * @example
 * ```ts
 * const upsert = { table: 'assessments', key: ['technology', 'proficiency_level'] };
 * export const up = (pgm: MigrationBuilder) => addUpsert(pgm, upsert);
 * export const down = (pgm: MigrationBuilder) => dropUpsert(pgm, upsert);
 * // SELECT * FROM upsert_assessments(technology => 'Hive', proficiency_level => 'beginner', questions => '[]');
 * ```
 * @throws {RacefreeConfigError} at once for bad options or function names over
 *   63 bytes; when the migration runs (before any DDL) for an unknown table or
 *   column, a key or `where` that matches no unique index, a generated key
 *   column, an `update` naming a key column, or functions that already exist.
 */
export function addUpsert(pgm: MigrationBuilder, options: AddUpsertOptions): void {
  const table = tableName(options.table, B);
  const key = requireColumns(B, 'key', options.key);
  const name = baseName(B, options);
  const where = options.where === undefined ? undefined : requireString(B, 'where', options.where);
  if (options.update !== undefined && !Array.isArray(options.update)) {
    throw new RacefreeConfigError(`${B}: option "update" must be an array of column names`, { option: 'update', value: options.update });
  }
  const update = options.update?.map((c) => requireString(B, 'update', c));
  const config = { table, key, where, update, name };
  requireKit(pgm);
  pgm.sql(`SELECT racefree._add_upsert(${quoteLiteral(JSON.stringify(config))}::jsonb)`);
}

/**
 * Undo {@link addUpsert}: drops the three generated functions and their row type.
 * @throws {RacefreeConfigError} at once for bad options; when the migration runs, when they are not all there.
 */
export function dropUpsert(pgm: MigrationBuilder, options: DropUpsertOptions): void {
  const config = { table: tableName(options.table, 'dropUpsert'), name: baseName('dropUpsert', options) };
  requireKit(pgm);
  pgm.sql(`SELECT racefree._drop_upsert(${quoteLiteral(JSON.stringify(config))}::jsonb)`);
}

/** `name`, or the table's own name; the longest generated name must fit 63 bytes. */
function baseName(builder: string, options: { table: TableRef; name?: string }): string {
  // Called after tableName() accepted the table.
  const table = typeof options.table === 'string' ? options.table : options.table.name;
  const name = options.name === undefined ? table : requireString(builder, 'name', options.name);
  const longest = `get_or_create_${name}`;
  if (Buffer.byteLength(longest) > MAX_IDENTIFIER_BYTES) {
    throw new RacefreeConfigError(
      `${builder}: ${longest} is ${Buffer.byteLength(longest)} bytes; PostgreSQL names hold at most ${MAX_IDENTIFIER_BYTES}: give option "name" a shorter value`,
      { option: 'name', value: name },
    );
  }
  return name;
}
