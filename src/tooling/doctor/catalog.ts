/**
 * Catalog checks: INVALID indexes anywhere, and racefree functions that
 * PUBLIC may execute.
 * @internal
 */

import type { ClientBase } from 'pg';

import type { DoctorFinding } from './finding.js';

/** Indexes left INVALID, typically by a failed CREATE INDEX CONCURRENTLY: unused for reads, still paid for on writes. */
export async function invalidIndexFindings(client: ClientBase): Promise<DoctorFinding[]> {
  const { rows } = await client.query<{ index: string; table: string }>(`
    SELECT format('%I.%I', ns.nspname, ic.relname) AS index, format('%I.%I', ts.nspname, tc.relname) AS table
      FROM pg_catalog.pg_index AS i
      JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid
      JOIN pg_catalog.pg_namespace AS ns ON ns.oid = ic.relnamespace
      JOIN pg_catalog.pg_class AS tc ON tc.oid = i.indrelid
      JOIN pg_catalog.pg_namespace AS ts ON ts.oid = tc.relnamespace
     WHERE NOT i.indisvalid AND ns.nspname NOT IN ('pg_catalog', 'information_schema')
     ORDER BY 1`);
  return rows.map((r) => ({
    check: 'invalid_index',
    object: r.index,
    detail:
      `INVALID index on ${r.table} (a failed or still running CREATE INDEX CONCURRENTLY): ` +
      'queries skip it and it may be incomplete, yet every write maintains it; DROP INDEX CONCURRENTLY it and create it again',
  }));
}

/**
 * Functions whose callers should be racefree_user only: everything in schema
 * racefree, and every function the builders generated, as the registry lists them.
 */
export async function publicExecuteFindings(client: ClientBase): Promise<DoctorFinding[]> {
  const generated = (await relationExists(client, 'racefree.registry_objects'))
    ? `SELECT pg_catalog.to_regprocedure(format('%I.%I(%s)', object_schema, object_name, arguments))
         FROM racefree.registry_objects WHERE object_type = 'function'`
    : (await relationExists(client, 'racefree.numberings'))
      ? `SELECT pg_catalog.to_regprocedure(format('%I.%I()', table_schema, generator)) FROM racefree.numberings`
      : 'SELECT NULL::regprocedure';
  const { rows } = await client.query<{ signature: string }>(`
    SELECT p.oid::regprocedure::text AS signature
      FROM pg_catalog.pg_proc AS p
     WHERE (p.pronamespace IN (pg_catalog.to_regnamespace('racefree'), pg_catalog.to_regnamespace('racefree_internal')) OR p.oid IN (${generated}))
       AND pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE')
     ORDER BY 1`);
  return rows.map((r) => ({
    check: 'public_execute',
    object: r.signature,
    detail: `PUBLIC may execute it: REVOKE EXECUTE ON FUNCTION ${r.signature} FROM PUBLIC, and grant racefree_user instead`,
  }));
}

/** @internal */
export async function relationExists(client: ClientBase, name: string): Promise<boolean> {
  const { rows } = await client.query<{ found: boolean }>('SELECT pg_catalog.to_regclass($1) IS NOT NULL AS found', [name]);
  return rows[0]?.found === true;
}
