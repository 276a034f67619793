/**
 * The kit lane's own records: a kit migration recorded twice, records in an
 * order other than the migrations', or a racefree schema whose migrations are
 * not recorded at all (two migrators at once through a transaction pooler,
 * or SQL installed by hand). Any of them makes every later `migrate up` fail,
 * so each finding carries the statement that repairs the records.
 * @internal
 */

import { readFile } from 'node:fs/promises';
import path from 'node:path';

import type pg from 'pg';

import { quoteLiteral } from '../../quote.js';
import { KIT_DIR, migrationNames } from '../../migrate/lanes.js';
import type { DoctorFinding } from './finding.js';

const TABLE = 'racefree.kit_migrations';

interface Installs {
  readonly functions: string[];
  readonly tables: string[];
}

/** The Up section of a kit migration. */
async function upSection(name: string): Promise<string> {
  const text = await readFile(path.join(KIT_DIR, `${name}.sql`), 'utf8');
  return text.split('-- Down Migration')[0] ?? '';
}

const matches = (text: string, re: RegExp): string[] => [...text.matchAll(re)].map((m) => m[1]!);

/**
 * What each kit migration's Up section creates and no later one drops: its
 * objects tell whether it ran. (A migration that only re-creates objects an
 * earlier one made counts as run once they exist.) Functions count by name in
 * either kit schema: kit migration 0061 moved racefree._* to racefree_internal.
 */
async function installs(migrations: readonly string[]): Promise<Installs[]> {
  const ups = await Promise.all(migrations.map(upSection));
  return ups.map((up, i) => {
    const later = ups.slice(i + 1).join('\n');
    const droppedFunctions = new Set(matches(later, /^DROP FUNCTION (?:IF EXISTS )?racefree(?:_internal)?\.(\w+)\(/gm));
    const droppedTables = new Set(matches(later, /^DROP TABLE (?:IF EXISTS )?racefree\.(\w+)/gm));
    return {
      functions: matches(up, /^CREATE (?:OR REPLACE )?FUNCTION racefree(?:_internal)?\.(\w+)\(/gm).filter((f) => !droppedFunctions.has(f)),
      tables: matches(up, /^CREATE TABLE (?:IF NOT EXISTS )?racefree\.(\w+)/gm).filter((t) => !droppedTables.has(t)),
    };
  });
}

/**
 * The findings; `unrecorded` when the schema exists without records, whose
 * finding then stands for the "pending" ones (migrate up would fail on them).
 */
export async function kitRecordFindings(client: pg.ClientBase): Promise<{ findings: DoctorFinding[]; unrecorded: boolean }> {
  const { rows: state } = await client.query<{ schema: boolean; table: boolean }>(
    "SELECT to_regnamespace('racefree') IS NOT NULL AS schema, to_regclass('racefree.kit_migrations') IS NOT NULL AS table",
  );
  if (!state[0]?.schema) return { findings: [], unrecorded: false };
  const names = await migrationNames(KIT_DIR);
  const recorded = state[0].table ? (await client.query<{ name: string }>(`SELECT name FROM ${TABLE} ORDER BY run_on, id`)).rows.map((r) => r.name) : [];
  if (recorded.length === 0) return { findings: [await unrecorded(client, names, state[0].table)], unrecorded: true };

  const findings: DoctorFinding[] = [];
  const counts = new Map<string, number>();
  for (const name of recorded) counts.set(name, (counts.get(name) ?? 0) + 1);
  for (const [name, count] of counts) {
    if (count < 2) continue;
    findings.push({
      check: 'migrations',
      object: `kit migration ${name}`,
      detail:
        `recorded ${count} times in ${TABLE} (two migrators ran at once); every later migrate up fails until one record is left: ` +
        `DELETE FROM ${TABLE} WHERE name = ${quoteLiteral(name)} AND id <> (SELECT min(id) FROM ${TABLE} WHERE name = ${quoteLiteral(name)})`,
    });
  }
  const distinct = [...new Set(recorded)];
  const inOrder = [...distinct].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (distinct.some((name, i) => name !== inOrder[i])) {
    findings.push({
      check: 'migrations',
      object: 'kit migrations',
      detail:
        `recorded in the order ${distinct.join(', ')}, not in the migrations' order; every later migrate up fails until the records are renumbered: ` +
        `UPDATE ${TABLE} AS k SET run_on = o.run_on FROM (SELECT id, min(run_on) OVER () + (row_number() OVER (ORDER BY name, id)) * interval '1 microsecond' AS run_on FROM ${TABLE}) AS o WHERE o.id = k.id`,
    });
  }
  return { findings, unrecorded: false };
}

/** A racefree schema without records: which kit migrations' objects are there, and the INSERT that records them. */
async function unrecorded(client: pg.ClientBase, names: readonly string[], tableExists: boolean): Promise<DoctorFinding> {
  const present: string[] = [];
  const created = await installs(names);
  for (const [i, name] of names.entries()) {
    const { functions, tables } = created[i]!;
    const { rows } = await client.query<{ ok: boolean }>(
      `SELECT (SELECT count(DISTINCT p.proname) FROM pg_proc p WHERE p.pronamespace IN (to_regnamespace('racefree'), to_regnamespace('racefree_internal')) AND p.proname = ANY ($1))
                = cardinality(ARRAY(SELECT DISTINCT unnest($1::text[])))
          AND (SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'racefree'::regnamespace AND c.relname = ANY ($2))
                = cardinality($2::text[]) AS ok`,
      [functions, tables],
    );
    // A migration's objects all there: it ran. The first one that is not ends the run of recorded ones.
    if (!rows[0]?.ok) break;
    present.push(name);
  }
  const values = present.map((name) => `(${quoteLiteral(name)}, now())`).join(', ');
  const create = tableExists ? '' : `CREATE TABLE ${TABLE} (id serial PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL); `;
  return {
    check: 'migrations',
    object: 'kit migrations',
    detail:
      `schema racefree exists but ${tableExists ? `${TABLE} is empty` : `${TABLE} is missing`}: migrate up would install the kit over itself and fail` +
      (present.length === 0
        ? "; none of the kit migrations' objects are all there: drop what is in schema racefree by hand, then migrate up"
        : `; the objects of ${present.join(', ')} are there, record them: ${create}INSERT INTO ${TABLE} (name, run_on) VALUES ${values}`),
  };
}
