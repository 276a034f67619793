/**
 * Idempotency keys claimed but never completed. A claim and its completion
 * commit together, so a committed row without completed_at comes from a bug
 * or a hand-made insert, and a retry of that request meets a claim that
 * nobody will ever complete.
 * @internal
 */

import type { ClientBase } from 'pg';

import { relationExists } from './catalog.js';
import type { DoctorFinding } from './finding.js';

export async function idempotencyFindings(client: ClientBase): Promise<DoctorFinding[]> {
  // The table arrives with the idempotency kit migration; older databases have nothing to check.
  if (!(await relationExists(client, 'racefree.idempotency_keys'))) return [];
  const { rows } = await client.query<{ scope: string; count: string; oldest: string | null }>(`
    SELECT scope::text AS scope, count(*)::text AS count,
           to_char(min(created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS oldest
      FROM racefree.idempotency_keys
     WHERE completed_at IS NULL
     GROUP BY scope
     ORDER BY scope`);
  return rows.map((r) => ({
    check: 'idempotency_incomplete',
    object: `racefree.idempotency_keys [${r.scope}]`,
    detail: `${r.count} key(s) claimed but never completed, oldest created ${r.oldest ?? 'at an unknown time'}`,
  }));
}
