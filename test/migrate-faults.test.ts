/**
 * `racefree migrate up` meeting faults as a user would: its connection
 * terminated mid-migration, and the migrator killed (SIGKILL) at each step of
 * `addUniqueKey({ concurrently: true })`. Spawned CLI, real server; the
 * steps are caught deterministically by holding the lock each one waits for.
 */

import test from 'ava';
import pg from 'pg';

import { spawnCli, runCli, userMigrations } from './helpers/cli.js';
import { blockedBy } from './helpers/blocking.js';
import { connect, useTestDatabase, withClient } from './helpers/db.js';

const url = useTestDatabase(test);

/** The pid of the active backend whose query contains `fragment`, once there is one. */
async function backendRunning(observer: pg.ClientBase, fragment: string, exited: () => boolean): Promise<number> {
  for (;;) {
    if (exited()) throw new Error(`the migrator exited before running ${fragment}`);
    const { rows } = await observer.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'
          AND pid <> pg_backend_pid() AND strpos(query, $1) > 0`,
      [fragment],
    );
    if (rows[0] !== undefined) return rows[0].pid;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function started(args: string[]): { exited: () => boolean; done: Promise<{ code: number | null; signal: string | null; stderr: string }>; kill: () => void } {
  const child = spawnCli(args);
  let stderr = '';
  let over = false;
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.resume();
  const done = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => {
      over = true;
      resolve({ code, signal, stderr });
    }),
  );
  return { exited: () => over, done, kill: () => child.kill('SIGKILL') };
}

test.serial('migrate up whose connection is terminated: one typed line, exit 1, no unhandled event; re-running recovers', async (t) => {
  await withClient(url(), (c) => c.query('CREATE TABLE hold (on_ boolean); INSERT INTO hold VALUES (true)'));
  const dir = await userMigrations({
    '0001_slow.js': `
export const up = (pgm) => {
  pgm.sql('SELECT pg_sleep(60) FROM hold WHERE on_');
  pgm.createTable('after_slow', { id: 'bigserial' });
};
export const down = (pgm) => { pgm.dropTable('after_slow'); };
`,
  });
  const observer = await connect(url());
  try {
    const run = started(['migrate', 'up', '--dir', dir, '--database-url', url(), '--migrations-table', 'mig_slow']);
    const pid = await backendRunning(observer, 'pg_sleep(60)', run.exited);
    await observer.query('SELECT pg_terminate_backend($1)', [pid]);
    const { code, stderr } = await run.done;
    t.is(code, 1);
    const lines = stderr.trim().split('\n');
    t.notRegex(stderr, /Unhandled|at .*\.js:\d+/);
    t.regex(lines.at(-1)!, /^racefree: ConnectionError \[57P01\]: /);
    t.is((await observer.query("SELECT to_regclass('after_slow') AS t")).rows[0].t, null, 'rolled back');

    await observer.query('UPDATE hold SET on_ = false');
    const again = await runCli(['migrate', 'up', '--dir', dir, '--database-url', url(), '--migrations-table', 'mig_slow']);
    t.is(again.code, 0, again.stderr);
    t.is((await observer.query("SELECT to_regclass('after_slow')::text AS t")).rows[0].t, 'after_slow');
  } finally {
    await observer.end();
  }
});

interface KeyState {
  indexes: Array<{ name: string; valid: boolean }>;
  constraint: string | null;
  recorded: boolean;
}

async function keyState(observer: pg.ClientBase, table: string, migration: string): Promise<KeyState> {
  const indexes = (
    await observer.query<{ name: string; valid: boolean }>(
      `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = $1::regclass ORDER BY 1`,
      [table],
    )
  ).rows;
  const constraint =
    (await observer.query<{ c: string }>(`SELECT contype::text AS c FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'u'`, [table])).rows[0]?.c ??
    null;
  const recorded = (await observer.query(`SELECT 1 FROM mig_${table} WHERE name = $1`, [migration])).rowCount === 1;
  return { indexes, constraint, recorded };
}

/**
 * One interruption: a fresh table and migration, the migrator killed while
 * the step matching `fragment` waits on a lock the test holds (`hold`), its
 * backend terminated too when `terminate`, then a second `migrate up`.
 */
async function interrupted(
  t: import('ava').ExecutionContext,
  table: string,
  hold: string,
  fragment: string,
  terminate: boolean,
  expected: Partial<KeyState>,
): Promise<void> {
  await withClient(url(), (c) => c.query(`CREATE TABLE ${table} (k int, v text); INSERT INTO ${table} SELECT g, 'x' FROM generate_series(1, 100) g`));
  const migration = `0001_${table}`;
  const dir = await userMigrations({
    [`${migration}.js`]: `
import { addUniqueKey, dropUniqueKey } from 'racefree/migrate';
const key = { table: '${table}', columns: ['k'], concurrently: true };
export const up = (pgm) => addUniqueKey(pgm, key);
export const down = (pgm) => dropUniqueKey(pgm, key);
`,
  });
  // Each case has a migrations table of its own, made before the holder may lock it.
  const args = ['migrate', 'up', '--dir', dir, '--database-url', url(), '--migrations-table', `mig_${table}`];
  await runCli([...args, '--count', '0']);
  const holder = await connect(url());
  const observer = await connect(url());
  try {
    await holder.query('BEGIN');
    await holder.query(hold);
    const run = started(args);
    const pid = await backendRunning(observer, fragment, run.exited).catch(async (error: Error) => {
      throw new Error(`${error.message}: ${(await run.done).stderr}`);
    });
    await blockedBy(observer, pid, run.exited);
    run.kill();
    const killed = await run.done;
    t.is(killed.signal, 'SIGKILL');
    if (terminate) await observer.query('SELECT pg_terminate_backend($1)', [pid]);
    await holder.query('COMMIT');
    // The orphaned backend, if left running, finishes its step and is gone once it notices.
    for (;;) {
      const { rowCount } = await observer.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
      if (rowCount === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    t.like(await keyState(observer, table, migration), expected, 'what the interruption left');

    const again = await runCli(args);
    t.is(again.code, 0, again.stderr);
    t.deepEqual(await keyState(observer, table, migration), {
      indexes: [{ name: `${table}_k_key`, valid: true }],
      constraint: 'u',
      recorded: true,
    });
  } finally {
    await holder.end().catch(() => undefined);
    await observer.end();
  }
}

test.serial('migrator killed while CREATE INDEX CONCURRENTLY waits, the build then fails: the INVALID index is dropped and the key built', async (t) => {
  await interrupted(t, 'uk_invalid', "INSERT INTO uk_invalid VALUES (1000, 'y')", 'CREATE UNIQUE INDEX CONCURRENTLY', true, {
    indexes: [{ name: 'uk_invalid_k_key', valid: false }],
    constraint: null,
    recorded: false,
  });
});

test.serial('migrator killed while CREATE INDEX CONCURRENTLY waits, the build then completes: the VALID index is adopted', async (t) => {
  await interrupted(t, 'uk_valid', "INSERT INTO uk_valid VALUES (1000, 'y')", 'CREATE UNIQUE INDEX CONCURRENTLY', false, {
    indexes: [{ name: 'uk_valid_k_key', valid: true }],
    constraint: null,
    recorded: false,
  });
});

test.serial('migrator killed while the constraint is being attached: the index is adopted and attached', async (t) => {
  await interrupted(t, 'uk_attach', 'LOCK TABLE uk_attach IN ACCESS SHARE MODE', '_attach_unique_key', true, {
    indexes: [{ name: 'uk_attach_k_key', valid: true }],
    constraint: null,
    recorded: false,
  });
});

test.serial('migrator killed before the migration is recorded: the constraint is adopted and the migration recorded', async (t) => {
  await interrupted(t, 'uk_record', 'LOCK TABLE mig_uk_record IN SHARE MODE', 'INSERT INTO "public"."mig_uk_record"', true, {
    indexes: [{ name: 'uk_record_k_key', valid: true }],
    constraint: 'u',
    recorded: false,
  });
});
