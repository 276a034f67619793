/**
 * Adopting racefree on a live table: the set-based retrofit scan, the
 * duplicate pre-flight of addNumbering, and addNumbering({ concurrently: true })
 * with writers running and with sessions holding the locks its steps need.
 */
import { rm } from 'node:fs/promises';
import test, { type ExecutionContext } from 'ava';
import pg from 'pg';
import { migrationDir, onlineMigration, retrofitUnderLoad, seedTable, TABLE } from '../bench/online-retrofit.js';
import { DuplicateRowsError, LockTimeoutError, RacefreeConfigError } from '../src/errors/classes.js';
import { addNumbering, migrate } from '../src/migrate/index.js';
import { blockedBy, blockedByHolder, tracked } from './helpers/blocking.js';
import { root, runCli, userMigrations } from './helpers/cli.js';
import { connect, exclusively, useTestDatabase, withClient } from './helpers/db.js';
import { runMigration } from './helpers/migration.js';

const url = useTestDatabase(test);

async function sql<R extends pg.QueryResultRow = any>(text: string, values: unknown[] = []): Promise<R[]> {
  return withClient(url(), async (c) => (await c.query<R>(text, values)).rows);
}

/** Everything a numbering named `name` could have left on `table`: all empty when nothing was written. */
async function traces(table: string, name: string) {
  const [r] = await sql(
    `SELECT (SELECT count(*)::int FROM racefree.numberings WHERE name = $2) AS numberings,
            (SELECT count(*)::int FROM racefree.registry WHERE name = $2) AS registry,
            (SELECT count(*)::int FROM racefree.counters WHERE counter = 'public.' || $2) AS counters,
            (SELECT count(*)::int FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal) AS triggers,
            (SELECT count(*)::int FROM pg_index WHERE indrelid = $1::regclass AND NOT indisprimary) AS indexes,
            (SELECT count(*)::int FROM pg_proc WHERE proname = 'generate_' || $2 || '_number') AS functions,
            (SELECT count(*)::int FROM pg_attrdef AS d JOIN pg_attribute AS a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
              WHERE d.adrelid = $1::regclass AND a.attname = 'n') AS defaults`,
    [table, name],
  );
  return r;
}
const NOTHING = { numberings: 0, registry: 0, counters: 0, triggers: 0, indexes: 0, functions: 0, defaults: 0 };

test('the set-based scan finds the same scopes and values as the per-row parse, for every kind of template', async (t) => {
  const templates = [
    'ASM-{YYYY}-{seq:3}',
    'INV{seq}',
    '{seq:4}-{YY}{MM}',
    'T{tenant}-{YYYY}-{seq:3}',
    '{seq}/{tenant}.x',
    'a.b*{YY}{MM}{DD}({seq})',
    '{{x}}{seq:2}{{',
  ];
  await sql(`CREATE TABLE scan_kinds (n text)`);
  // Numbers of every template, near misses, non-ASCII digits, NULLs.
  await sql(`INSERT INTO scan_kinds VALUES ('ASM-2025-007'), ('ASM-2025-1200'), ('ASM-2026-002'), ('ASM-202-001'), ('ASM-2025-٣'),
    ('INV9'), ('INV0012'), ('INV'), ('0042-2612'), ('12345-2601'), ('17-261'), ('T7-2025-010'), ('T7-2025-009'), ('T-1-2026-001'),
    ('T7-2025-x'), ('3/ab.x'), ('40/ab.x'), ('5/c/d.x'), ('a.b*261203(9)'), ('a.b*261203(10)'), ('aXb*261203(99)'), ('a.b*250103(3)'), ('{x}07{'), ('{x}7{'), (NULL), ('')`);
  for (const template of templates) {
    const [{ parts }] = await sql(`SELECT (racefree_internal._numbering_template($1)->'parts')::text AS parts`, [template]);
    const before = await sql(
      `SELECT p.scope, max(p.seq)::text AS seq FROM scan_kinds AS t, LATERAL racefree_internal._numbering_parse($1, t.n) AS p
        WHERE t.n !~ '[^\\x01-\\x7f]' GROUP BY 1 ORDER BY 1`,
      [parts],
    );
    const after = await sql(`SELECT scope, seq::text FROM racefree_internal._numbering_highest($1, 'scan_kinds', 'n') ORDER BY 1`, [parts]);
    t.deepEqual(after, before, template);
    t.true(after.length > 0, template);
  }
});

test('addNumbering over duplicate numbers: DuplicateRowsError (RF101) with the groups and the total, nothing created', async (t) => {
  await sql(`CREATE TABLE dup_tx (id bigserial PRIMARY KEY, n text)`);
  await sql(`INSERT INTO dup_tx (n) SELECT 'D-' || lpad((g % 12)::text, 3, '0') FROM generate_series(1, 30) AS g`);
  const error = await t.throwsAsync(
    runMigration(url(), (pgm) => addNumbering(pgm, { name: 'dup_tx', table: 'dup_tx', column: 'n', template: 'D-{seq:3}' })),
    { instanceOf: DuplicateRowsError },
  );
  t.is(error!.code, 'RF101');
  t.is(error!.table, 'public.dup_tx');
  t.deepEqual(error!.columns, ['n']);
  t.is(error!.total, 12);
  t.is(error!.groups!.length, 10);
  t.deepEqual(error!.groups![0], { values: ['D-001'], count: 3 });
  t.regex(error!.message, /\.\.\. and 2 more groups/);
  t.deepEqual(await traces('dup_tx', 'dup_tx'), NOTHING);
});

test('racefree migrate up prints the groups of an addNumbering pre-flight as it does for addUniqueKey', async (t) => {
  await sql(`CREATE TABLE dup_cli (id bigserial PRIMARY KEY, n text);
    INSERT INTO dup_cli (n) VALUES ('C-001'), ('C-001'), ('C-001'), ('C-002'), ('C-002'), ('C-003')`);
  const dir = await userMigrations({
    '0001_numbers.js': `
import { addNumbering, dropNumbering } from 'racefree/migrate';
const n = { name: 'dup_cli', table: 'dup_cli', column: 'n' };
export const up = (pgm) => addNumbering(pgm, { ...n, template: 'C-{seq:3}', concurrently: true });
export const down = (pgm) => dropNumbering(pgm, n);
`,
  });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const r = await runCli(['migrate', 'up', '--dir', dir, '--database-url', url(), '--migrations-table', 'pgm_dup_cli'], { cwd: root });
  t.is(r.code, 1);
  t.is(
    r.stderr.slice(r.stderr.lastIndexOf('\nracefree: ') + 1).trim(),
    [
      'racefree: DuplicateRowsError [RF101]: public.dup_cli holds 2 groups of rows with the same (n); nothing was changed.',
      '  (C-001) x3',
      '  (C-002) x2',
      'Remove or merge the duplicate rows (one row per key value), then run the migration again.',
    ].join('\n'),
  );
  t.deepEqual(await traces('dup_cli', 'dup_cli'), NOTHING);
});

test('online retrofit option checks: bad lock options are RacefreeConfigError before any SQL', (t) => {
  const base = { name: 'x', table: 'x', column: 'n', template: 'X{seq}' };
  const pgm = {} as never;
  t.throws(() => addNumbering(pgm, { ...base, concurrently: 'yes' as never }), { instanceOf: RacefreeConfigError, message: /"concurrently"/ });
  t.throws(() => addNumbering(pgm, { ...base, lockRetries: 3 }), { instanceOf: RacefreeConfigError, message: /only with concurrently/ });
  t.throws(() => addNumbering(pgm, { ...base, concurrently: true, lockTimeoutMs: 0 }), { instanceOf: RacefreeConfigError, message: /"lockTimeoutMs"/ });
});

test.serial(
  '32 writers throughout addNumbering({ concurrently: true }) on 100,000 rows: no wait over 1 s, no error, every number unique, counters past the table',
  async (t) => {
    await exclusively(async () => {
      const dir = await migrationDir({ '0001_retrofit_live.js': onlineMigration() });
      t.teardown(() => rm(dir, { recursive: true, force: true }));
      await withClient(url(), async (c) => {
        await seedTable(c, 100_000);
        // Duplicates first: the pre-flight fails and changes nothing ...
        await c.query(`INSERT INTO ${TABLE} (n, note) SELECT n, 'copy' FROM ${TABLE} WHERE id IN (5, 6, 7, 7000)`);
        await c.query(`INSERT INTO ${TABLE} (n, note) SELECT n, 'copy' FROM ${TABLE} WHERE id = 5`);
      });
      const error = await t.throwsAsync(migrate({ databaseUrl: url(), dir, migrationsTable: 'pgm_live' }), { instanceOf: DuplicateRowsError });
      t.is(error!.total, 4);
      t.deepEqual(error!.groups![0]!.count, 3);
      t.deepEqual(await traces(TABLE, 'retrofit_live'), NOTHING);
      // ... then cleaned, and the migration runs under load.
      await sql(`DELETE FROM ${TABLE} WHERE note = 'copy'`);
      const live = await retrofitUnderLoad(url(), dir, 32, 'pgm_live');
      t.log(
        `migration ${live.migrationMs.toFixed(0)} ms, ${live.statements} writer statements, max latency ${live.maxLatencyMs.toFixed(0)} ms, ${live.waiting.length} lock waits`,
      );
      t.is(live.rows, 100_000);
      t.deepEqual(live.writerErrors, []);
      t.true(live.maxLatencyMs < 1000, `max writer latency ${live.maxLatencyMs} ms`);
      t.is(live.duplicateNumbers, 0);
      t.is(live.countersBehind, 0);
      t.true(live.constraint);
      t.true(live.next.generated > live.next.highestBefore, `${live.next.generated} after ${live.next.highestBefore}`);
      t.true(live.statements > 32 * 10);
    });
  },
);

/** The backend of `racefree migrate`'s migrating connection in this test's database. */
async function migratorPid(observer: pg.Client, settled: () => boolean): Promise<number> {
  for (;;) {
    if (settled()) throw new Error('the migration finished before its connection was seen');
    const { rows } = await observer.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'racefree migrate'`,
    );
    if (rows.length === 1) return rows[0]!.pid;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A table of 100 numbers for the lock-step tests, and the migration of its online numbering (tracked in pgm_<table>). */
async function lockStepTable(t: ExecutionContext, table: string, extra = ''): Promise<{ dir: string; migrationsTable: string }> {
  await sql(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, n text);
    INSERT INTO ${table} (n) SELECT 'L-' || lpad(g::text, 3, '0') FROM generate_series(1, 100) AS g`);
  const dir = await userMigrations({
    [`0001_${table}.js`]: `
import { addNumbering, dropNumbering } from 'racefree/migrate';
const n = { name: '${table}', table: '${table}', column: 'n' };
export const up = (pgm) => addNumbering(pgm, { ...n, template: 'L-{seq:3}', concurrently: true${extra} });
export const down = (pgm) => dropNumbering(pgm, n);
`,
  });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return { dir, migrationsTable: `pgm_${table}` };
}

test.serial('a writer mid-transaction holds the install step off: it prints what it waits for, retries, and succeeds once the writer commits', async (t) => {
  const lane = await lockStepTable(t, 'lock_wait');
  const writer = await connect(url());
  const observer = await connect(url());
  t.teardown(() => Promise.all([writer.end(), observer.end()]).then(() => undefined));
  await writer.query(`BEGIN; INSERT INTO lock_wait (n) VALUES ('L-500')`);
  const writerPid = (await writer.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const lines: string[] = [];
  let printed: () => void = () => undefined;
  const waitingPrinted = new Promise<void>((resolve) => (printed = resolve));
  const run = tracked(
    migrate({
      databaseUrl: url(),
      ...lane,
      log: (line) => {
        lines.push(line);
        if (line.includes('waiting: ')) printed();
      },
    }),
  );
  const pid = await migratorPid(observer, run.settled);
  t.deepEqual(await blockedBy(observer, pid, run.settled), [writerPid]);
  await waitingPrinted;
  t.false(run.settled());
  t.regex(
    lines.find((l) => l.includes('waiting: '))!,
    new RegExp(
      `waiting: addNumbering \\(install\\) needs a SHARE ROW EXCLUSIVE lock on lock_wait, held by pid ${writerPid} \\(idle in transaction, RowExclusiveLock lock: .*\\) \\(attempt 1 of 21`,
    ),
  );
  await writer.query('COMMIT');
  await run.promise;
  // The writer's explicit number, committed while the migration waited, is behind the counter.
  const [row] = await sql(`INSERT INTO lock_wait DEFAULT VALUES RETURNING n`);
  t.is(row.n, 'L-501');
  t.deepEqual(await sql(`SELECT conname FROM pg_constraint WHERE conrelid = 'lock_wait'::regclass AND contype = 'u'`), [{ conname: 'lock_wait_n_key' }]);
});

test.serial(
  'a lock held throughout: the install step gives up after its retries with LockTimeoutError naming the holder, nothing written; the next run finishes',
  async (t) => {
    const lane = await lockStepTable(t, 'lock_out', ', lockRetries: 2, lockTimeoutMs: 50');
    const holder = await connect(url());
    const observer = await connect(url());
    t.teardown(() => Promise.all([holder.end(), observer.end()]).then(() => undefined));
    await holder.query(`BEGIN; LOCK TABLE lock_out IN ROW EXCLUSIVE MODE`);
    const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const lines: string[] = [];
    const run = tracked(migrate({ databaseUrl: url(), ...lane, log: (line) => void lines.push(line) }));
    const pid = await migratorPid(observer, run.settled);
    t.deepEqual(await blockedBy(observer, pid, run.settled), [holderPid]);
    const error = await t.throwsAsync(run.promise, { instanceOf: LockTimeoutError });
    t.is(error!.code, '55P03');
    t.regex(
      error!.message,
      new RegExp(
        `addNumbering \\(install\\): could not lock lock_out in SHARE ROW EXCLUSIVE mode in 3 attempts of 50 ms: held by pid ${holderPid} .*; this step changed nothing`,
      ),
    );
    t.is(lines.filter((l) => l.includes('waiting: ')).length, 2);
    t.deepEqual(await traces('lock_out', 'lock_out'), NOTHING);
    t.deepEqual(await sql(`SELECT name FROM pgm_lock_out`), []);
    await holder.query('COMMIT');
    await migrate({ databaseUrl: url(), ...lane });
    t.is((await sql(`INSERT INTO lock_out DEFAULT VALUES RETURNING n`))[0].n, 'L-101');
  },
);

test.serial(
  'a reader holding the table off the activate step: the run stops there with LockTimeoutError, no number generated yet; the next run goes on from there',
  async (t) => {
    const lane = await lockStepTable(t, 'lock_late', ', lockRetries: 1, lockTimeoutMs: 50');
    const reader = await connect(url());
    const observer = await connect(url());
    t.teardown(() => Promise.all([reader.end(), observer.end()]).then(() => undefined));
    // ACCESS SHARE lets the install step (SHARE ROW EXCLUSIVE) through, not the unique key's attach (ACCESS EXCLUSIVE).
    await reader.query(`BEGIN; LOCK TABLE lock_late IN ACCESS SHARE MODE`);
    const readerPid = (await reader.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const run = tracked(migrate({ databaseUrl: url(), ...lane }));
    const pid = await migratorPid(observer, run.settled);
    // The index build before it waits, briefly, for older snapshots (this observer's queries among them).
    await blockedByHolder(observer, pid, readerPid, run.settled);
    const error = await t.throwsAsync(run.promise, { instanceOf: LockTimeoutError });
    t.regex(error!.message, /addNumbering \(activate\): could not lock lock_late in ACCESS EXCLUSIVE mode in 2 attempts/);
    // Installed, scanned and indexed, not active: numbers written now still move the counter, none is generated.
    t.like(await traces('lock_late', 'lock_late'), { numberings: 1, counters: 1, defaults: 0, indexes: 1 });
    t.deepEqual(await sql(`SELECT conname FROM pg_constraint WHERE conrelid = 'lock_late'::regclass AND contype = 'u'`), []);
    await reader.query('COMMIT');
    await sql(`INSERT INTO lock_late (n) VALUES ('L-200')`);
    t.deepEqual(await sql(`INSERT INTO lock_late DEFAULT VALUES RETURNING n`), [{ n: null }]);
    await migrate({ databaseUrl: url(), ...lane });
    t.is((await sql(`INSERT INTO lock_late DEFAULT VALUES RETURNING n`))[0].n, 'L-201');
    // Gapless: the generator trigger, never a column DEFAULT (callable without inserting).
    t.like(await traces('lock_late', 'lock_late'), { numberings: 1, registry: 1, defaults: 0, indexes: 1, triggers: 2 });
    t.deepEqual(await sql(`SELECT tgname FROM pg_trigger WHERE tgrelid = 'lock_late'::regclass ORDER BY 1`), [
      { tgname: 'racefree_lock_late_number' },
      { tgname: 'racefree_lock_late_update' },
    ]);
    t.deepEqual(await sql(`SELECT conname FROM pg_constraint WHERE conrelid = 'lock_late'::regclass AND contype = 'u'`), [{ conname: 'lock_late_n_key' }]);
  },
);

test('concurrently, fast mode and a row-scoped template: counters continue past the existing numbers; dropNumbering removes it all', async (t) => {
  await sql(`CREATE TABLE online_fast (id bigserial PRIMARY KEY, n text);
    INSERT INTO online_fast (n) VALUES ('F-0007'), ('F-0041'), ('junk'), (NULL);
    CREATE TABLE online_scoped (id bigserial PRIMARY KEY, tenant int NOT NULL, n text);
    INSERT INTO online_scoped (tenant, n) VALUES (1, 'T1-005'), (1, 'T1-003'), (2, 'T2-010')`);
  const dir = await userMigrations({
    '0001_online_fast.js': `
import { addNumbering, dropNumbering } from 'racefree/migrate';
const f = { name: 'online_fast', table: 'online_fast', column: 'n' };
export const up = (pgm) => addNumbering(pgm, { ...f, template: 'F-{seq:4}', mode: 'fast', concurrently: true });
export const down = (pgm) => dropNumbering(pgm, f);
`,
    '0002_online_scoped.js': `
import { addNumbering, dropNumbering } from 'racefree/migrate';
const s = { name: 'online_scoped', table: 'online_scoped', column: 'n' };
export const up = (pgm) => addNumbering(pgm, { ...s, template: 'T{tenant}-{seq:3}', concurrently: true });
export const down = (pgm) => dropNumbering(pgm, s);
`,
  });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const lane = { dir, migrationsTable: 'pgm_online_kinds' };
  await migrate({ databaseUrl: url(), ...lane });
  t.deepEqual(await sql(`INSERT INTO online_fast DEFAULT VALUES RETURNING n`), [{ n: 'F-0042' }]);
  t.deepEqual(await sql(`INSERT INTO online_scoped (tenant) VALUES (1), (2), (3) RETURNING n`), [{ n: 'T1-006' }, { n: 'T2-011' }, { n: 'T3-001' }]);
  for (const table of ['online_fast', 'online_scoped']) {
    t.deepEqual(await sql(`SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'u'`, [table]), [{ conname: `${table}_n_key` }]);
  }
  await migrate({ databaseUrl: url(), ...lane, direction: 'down', count: 2 });
  t.like(await traces('online_fast', 'online_fast'), NOTHING);
  t.like(await traces('online_scoped', 'online_scoped'), NOTHING);
});
