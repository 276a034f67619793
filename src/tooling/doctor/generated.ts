/**
 * Generated code that no longer matches its generator: a function the
 * builders generated whose source differs from what the kit's current
 * generator makes from its registry entry and the table as it is now.
 * @internal
 */

import type { ClientBase } from 'pg';

import { relationExists } from './catalog.js';
import type { DoctorFinding } from './finding.js';

export async function generatedStaleFindings(client: ClientBase): Promise<DoctorFinding[]> {
  // Before kit migration 0005 there is no registry, and the migrations check says so.
  if (!(await relationExists(client, 'racefree.registry'))) return [];
  const { rows } = await client.query<{ object: string; detail: string }>('SELECT object, detail FROM racefree_internal._generated_stale()');
  return rows.map((r) => ({ check: 'generated_stale', object: r.object, detail: r.detail }));
}
