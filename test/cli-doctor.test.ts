import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { createTestDatabase } from '../src/tooling/testing/index.js';
import { doctorJson, migratedClone, runCli, userMigrations, type DoctorFindingJson } from './helpers/cli.js';
import { withClient } from './helpers/db.js';

const SCHEMA = {
  '0001_tables.js': `
export const up = (pgm) => {
  pgm.createTable('assessments', { id: 'bigserial', title: 'text', assessment_number: 'text' });
  pgm.createTable('tickets', { id: 'bigserial', ticket_number: 'text' });
};
export const down = (pgm) => { pgm.dropTable('tickets'); pgm.dropTable('assessments'); };
`,
  '0002_numbers.js': `
import { addNumbering, dropNumbering } from 'racefree/migrate';
const assessment = { name: 'assessment', table: 'assessments', column: 'assessment_number' };
const ticket = { name: 'ticket', table: 'tickets', column: 'ticket_number' };
export const up = (pgm) => {
  addNumbering(pgm, { ...assessment, template: 'ASM-{YYYY}-{seq:3}', timeZone: 'UTC' });
  addNumbering(pgm, { ...ticket, template: 'T-{seq}', mode: 'fast' });
};
export const down = (pgm) => { dropNumbering(pgm, ticket); dropNumbering(pgm, assessment); };
`,
};

const keys = (findings: readonly DoctorFindingJson[]) => findings.map((f) => `${f.check} ${f.object}`).sort();

test('exits 0 with no findings on a clean, fully migrated database', async (t) => {
  const { url, dir } = await migratedClone(t, SCHEMA);
  await withClient(url, (c) => c.query(`INSERT INTO assessments (title) VALUES ('a'), ('b'); INSERT INTO tickets DEFAULT VALUES`));
  const json = await runCli(['doctor', '--json', '--dir', dir, '--database-url', url]);
  t.is(json.code, 0, json.stderr);
  t.deepEqual(JSON.parse(json.stdout), { ok: true, findings: [] });
  const human = await runCli(['doctor', '--dir', dir, '--database-url', url]);
  t.is(human.code, 0, human.stderr);
  t.is(human.stdout.trim(), 'racefree doctor: no findings');
});

test('without a migrations directory it checks the kit lane only, and says so', async (t) => {
  const db = await createTestDatabase();
  const cwd = await mkdtemp(path.join(tmpdir(), 'racefree-doctor-'));
  t.teardown(async () => {
    await db.drop();
    await rm(cwd, { recursive: true, force: true });
  });
  const r = await runCli(['doctor', '--database-url', db.connectionString], { cwd });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /no migrations directory here; checking the kit lane only/);
});

test('finds every planted problem, one finding each, and exits 1', async (t) => {
  const { url, dir } = await migratedClone(t, SCHEMA);
  // migrations: one of ours pending (written after migrate up), one recorded whose file is gone
  await writeFile(path.join(dir, '0003_pending.sql'), '-- Up Migration\nSELECT 1;\n-- Down Migration\nSELECT 1;\n');
  await withClient(url, async (c) => {
    await c.query(`INSERT INTO pgmigrations (name, run_on) VALUES ('0000_gone', now())`);
    // drift: a kit function changed by hand, one dropped, one added to the schema
    await c.query(`CREATE OR REPLACE FUNCTION racefree.current_value(counter text, scope text DEFAULT '')
                   RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
                   AS $$ SELECT 42::bigint $$`);
    await c.query(`DROP FUNCTION racefree_internal._config_error(text, text, text)`);
    await c.query(`CREATE FUNCTION racefree.extra() RETURNS int LANGUAGE sql AS 'SELECT 1'`);
    // invalid_index: a unique index built concurrently over duplicates is left INVALID
    await c.query(`CREATE TABLE dup (v int); INSERT INTO dup VALUES (1), (1)`);
    await c.query(`CREATE UNIQUE INDEX CONCURRENTLY dup_v ON dup (v)`).catch(() => undefined);
    // counter_behind: a gapless counter and a fast sequence set back below existing numbers
    await c.query(`INSERT INTO assessments (title) VALUES ('a'), ('b'), ('c'); INSERT INTO tickets DEFAULT VALUES; INSERT INTO tickets DEFAULT VALUES`);
    await c.query(`UPDATE racefree.counters SET value = 1 WHERE counter = 'public.assessment'`);
    await c.query(`SELECT setval('public.ticket_number_seq', 1)`);
    // idempotency_incomplete: a committed claim without completion (the table as the idempotency migration makes it)
    await c.query(`CREATE TABLE IF NOT EXISTS racefree.idempotency_keys (scope text, key text, fingerprint text,
                     response jsonb, created_at timestamptz NOT NULL DEFAULT now(), completed_at timestamptz)`);
    await c.query(`INSERT INTO racefree.idempotency_keys (scope, key, fingerprint) VALUES ('orders', 'k1', 'f'), ('orders', 'k2', 'f')`);
    // public_execute: a kit function and a generated one opened to PUBLIC
    await c.query(`GRANT EXECUTE ON FUNCTION racefree.next_value(text, text) TO PUBLIC`);
    await c.query(`GRANT EXECUTE ON FUNCTION public.generate_assessment_number() TO PUBLIC`);
    // generated_stale: a generated function edited by hand
    await c.query(`CREATE OR REPLACE FUNCTION public.generate_ticket_number() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN 'T-1'; END $$`);
  });
  const year = new Date().getUTCFullYear();

  const report = await doctorJson(url, dir);
  t.is(report.code, 1);
  t.false(report.ok);
  t.deepEqual(
    keys(report.findings),
    [
      'migrations user migration 0003_pending',
      'migrations user migration 0000_gone',
      'drift racefree.current_value(text,text)',
      'drift racefree_internal._config_error(text,text,text)',
      'drift racefree.extra()',
      'invalid_index public.dup_v',
      `counter_behind public.assessment [${year}]`,
      'counter_behind public.ticket',
      'idempotency_incomplete racefree.idempotency_keys [orders]',
      'public_execute racefree.next_value(text,text)',
      'public_execute public.generate_assessment_number()',
      // Schema-level default privileges cannot revoke PUBLIC's global EXECUTE, so a function added by hand is open.
      'public_execute racefree.extra()',
      'generated_stale public.generate_ticket_number()',
    ].sort(),
  );
  const detail = (check: string, object: string) => report.findings.find((f) => f.check === check && f.object.startsWith(object))?.detail;
  t.regex(detail('migrations', 'user migration 0003')!, /pending/);
  t.regex(detail('migrations', 'user migration 0000')!, /applied, but no such migration/);
  t.regex(detail('drift', 'racefree.current_value')!, /differs/);
  t.regex(detail('drift', 'racefree_internal._config_error')!, /missing/);
  t.regex(detail('counter_behind', 'public.assessment')!, /counter at 1, but .* already holds sequence number 3/);
  t.regex(detail('counter_behind', 'public.ticket')!, /counter at 1, .* sequence number 2.*setval/);
  t.regex(detail('idempotency_incomplete', 'racefree.idempotency_keys')!, /^2 key\(s\) claimed but never completed, oldest created \d{4}-/);

  // The fix the finding suggests clears it.
  const fix = detail('counter_behind', 'public.assessment')!.split('fix: ')[1]!;
  await withClient(url, (c) => c.query(fix));
  t.false(keys((await doctorJson(url, dir)).findings).some((k) => k.startsWith('counter_behind public.assessment')));

  const human = await runCli(['doctor', '--dir', dir, '--database-url', url]);
  t.is(human.code, 1);
  for (const check of ['migrations', 'drift', 'invalid_index', 'counter_behind', 'idempotency_incomplete', 'public_execute', 'generated_stale']) {
    t.true(human.stdout.includes(check), check);
  }
  t.regex(human.stdout, /racefree doctor: 12 finding\(s\)/);
});

test('a kit lane that is behind or ahead is a migrations finding, and drift waits for it', async (t) => {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const dir = await userMigrations({});
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const kit = await withClient(db.connectionString, async (c) => {
    const { rows } = await c.query<{ name: string }>(`SELECT name FROM racefree.kit_migrations ORDER BY run_on DESC, id DESC LIMIT 1`);
    await c.query(`DELETE FROM racefree.kit_migrations WHERE name = $1`, [rows[0]!.name]);
    await c.query(`INSERT INTO racefree.kit_migrations (name, run_on) VALUES ('9999_from-the-future', now())`);
    await c.query(`CREATE FUNCTION racefree.from_the_future() RETURNS int LANGUAGE sql AS 'SELECT 1'`);
    await c.query(`REVOKE EXECUTE ON FUNCTION racefree.from_the_future() FROM PUBLIC`);
    return rows[0]!.name;
  });
  const report = await doctorJson(db.connectionString, dir);
  t.is(report.code, 1);
  t.deepEqual(report.findings, [
    { check: 'migrations', object: `kit migration ${kit}`, detail: 'pending: run racefree migrate up' },
    {
      check: 'migrations',
      object: 'kit migration 9999_from-the-future',
      detail: 'applied, but no such migration in the installed racefree package: the database is ahead of this code',
    },
  ]);
});

/** A migrations finding's repair statement: the SQL after the last ": " of its detail. */
const repair = (finding: DoctorFindingJson | undefined): string => finding!.detail.slice(finding!.detail.search(/(DELETE|UPDATE|CREATE TABLE|INSERT) /));

for (const [name, breakIt, object, pattern] of [
  [
    'a kit migration recorded twice',
    `INSERT INTO racefree.kit_migrations (name, run_on) SELECT name, run_on FROM racefree.kit_migrations WHERE name = '0001_schema'`,
    'kit migration 0001_schema',
    /^recorded 2 times in racefree\.kit_migrations .*: DELETE FROM racefree\.kit_migrations WHERE name = '0001_schema' AND id <> /,
  ],
  [
    'kit migrations recorded out of order',
    `UPDATE racefree.kit_migrations SET run_on = run_on + interval '1 day' WHERE name = '0001_schema'`,
    'kit migrations',
    /^recorded in the order 0002_numbering, .*, 0001_schema, not in the migrations' order; .*: UPDATE racefree\.kit_migrations /,
  ],
  [
    'a kit schema without its records',
    'DELETE FROM racefree.kit_migrations',
    'kit migrations',
    /^schema racefree exists but racefree\.kit_migrations is empty: .*record them: INSERT INTO racefree\.kit_migrations \(name, run_on\) VALUES \('0001_schema', now\(\)\), /,
  ],
  [
    'a kit schema without its records table',
    'DROP TABLE racefree.kit_migrations',
    'kit migrations',
    /^schema racefree exists but racefree\.kit_migrations is missing: .*record them: CREATE TABLE racefree\.kit_migrations .*; INSERT INTO /,
  ],
] as const) {
  test(`${name} is a migrations finding whose statement repairs it; migrate up works again`, async (t) => {
    const db = await createTestDatabase();
    t.teardown(() => db.drop());
    const dir = await userMigrations({});
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    await withClient(db.connectionString, (c) => c.query(breakIt));
    const report = await doctorJson(db.connectionString, dir);
    t.is(report.code, 1);
    t.deepEqual(keys(report.findings), [`migrations ${object}`]);
    const finding = report.findings[0];
    t.regex(finding!.detail, pattern);
    await withClient(db.connectionString, (c) => c.query(repair(finding)));
    const after = await doctorJson(db.connectionString, dir);
    t.deepEqual(after.findings, []);
    t.is(after.code, 0);
    const up = await runCli(['migrate', 'up', '--dir', dir, '--database-url', db.connectionString]);
    t.is(up.code, 0, up.stderr);
  });
}

test('usage: --help, unknown options and a missing --dir', async (t) => {
  const help = await runCli(['doctor', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /counter_behind/);
  t.is((await runCli(['doctor', '--bogus'])).code, 2);
  const missing = await runCli(['doctor', '--dir', path.join(tmpdir(), 'racefree-no-such-dir'), '--database-url', 'postgres://x@127.0.0.1:1/x']);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /does not exist/);
});
