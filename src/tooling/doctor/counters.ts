/**
 * Counters behind their column: a numbering whose counter is lower than a
 * number already in the table hands out that number again, and the insert
 * fails with 23505. It happens when counters are edited or restored by hand,
 * or rows are copied in with triggers disabled.
 * @internal
 */

import type { ClientBase } from 'pg';

import { quoteIdent, quoteLiteral, quoteQualified } from '../../quote.js';
import { relationExists } from './catalog.js';
import type { DoctorFinding } from './finding.js';

interface Numbering {
  counter: string;
  table_schema: string;
  table_name: string;
  column_name: string;
  parts: unknown;
  mode: 'gapless' | 'fast';
  sequence_name: string | null;
}

interface Behind {
  scope: string;
  highest: string;
  value: string;
}

export async function counterFindings(client: ClientBase): Promise<DoctorFinding[]> {
  if (!(await relationExists(client, 'racefree.numberings'))) return [];
  // A kit before the scan existed: its pending migration is a finding of its own.
  const { rows: scan } = await client.query<{ ok: boolean }>(
    `SELECT to_regprocedure('racefree_internal._numbering_highest(jsonb, regclass, name)') IS NOT NULL AS ok`,
  );
  if (!scan[0]?.ok) return [];
  const { rows: numberings } = await client.query<Numbering>(`
    SELECT counter, table_schema, table_name, column_name, parts, mode, sequence_name
      FROM racefree.numberings ORDER BY counter`);
  const findings: DoctorFinding[] = [];
  for (const n of numberings) {
    const table = quoteQualified(n.table_schema, n.table_name);
    if (!(await relationExists(client, table))) continue;
    for (const b of await behind(client, n, table)) {
      const column = `${table}.${quoteIdent(n.column_name)}`;
      const fix =
        n.mode === 'gapless'
          ? `INSERT INTO racefree.counters (counter, scope, value) VALUES (${quoteLiteral(n.counter)}, ${quoteLiteral(b.scope)}, ${b.highest}) ` +
            'ON CONFLICT (counter, scope) DO UPDATE SET value = excluded.value'
          : `SELECT setval(${quoteLiteral(quoteQualified(n.table_schema, n.sequence_name ?? ''))}, ${b.highest})`;
      findings.push({
        check: 'counter_behind',
        object: b.scope === '' ? n.counter : `${n.counter} [${b.scope}]`,
        detail: `counter at ${b.value}, but ${column} already holds sequence number ${b.highest}: the next inserts collide (23505); fix: ${fix}`,
      });
    }
  }
  return findings;
}

/** Scopes whose highest existing number is above the counter: the retrofit's own scan (racefree_internal._numbering_highest). */
async function behind(client: ClientBase, n: Numbering, table: string): Promise<Behind[]> {
  const highest = 'SELECT h.scope, h.seq AS highest FROM racefree_internal._numbering_highest($1::jsonb, $2::regclass, $3) AS h';
  // A missing counter row, or a sequence never used, counts as 0.
  const [current, params] =
    n.mode === 'gapless'
      ? ['(SELECT c.value FROM racefree.counters AS c WHERE c.counter = $4 AND c.scope = h.scope)', [n.counter]]
      : ['(SELECT s.last_value FROM pg_catalog.pg_sequences AS s WHERE s.schemaname = $4 AND s.sequencename = $5)', [n.table_schema, n.sequence_name]];
  const { rows } = await client.query<Behind>(
    `SELECT h.scope, h.highest::text AS highest, coalesce(${current}, 0)::text AS value
       FROM (${highest}) AS h
      WHERE coalesce(${current}, 0) < h.highest
      ORDER BY h.scope`,
    [JSON.stringify(n.parts), table, n.column_name, ...params],
  );
  return rows;
}
