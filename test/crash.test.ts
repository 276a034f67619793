/**
 * Ambiguous commits when the server itself goes down: a backend killed with
 * SIGKILL while its COMMIT is in flight (the postmaster reinitializes and runs
 * crash recovery) and an immediate restart. After either, the server may hand
 * a lost transaction's xid to a new one, so the client must never report
 * "committed" from `pg_xact_status()` alone. The server is this file's own
 * embedded PostgreSQL, run with synchronous_commit on (an acknowledged commit
 * survives a crash); the clients connect as an application role, not a superuser.
 */

import test from 'ava';
import pg from 'pg';

import { CommitOutcomeUnknownError, createClient, type Db } from '../src/index.js';
import { addNumbering, migrate } from '../src/migrate/index.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/tooling/testing/index.js';
import { runMigration } from './helpers/migration.js';
import { blockedBy, tracked } from './helpers/blocking.js';

let server: EmbeddedPostgres;
let adminUrl: string;
let appUrl: string;

test.before(async () => {
  server = await startEmbeddedPostgres({ settings: { synchronous_commit: 'on' } });
  adminUrl = server.connectionString;
  await migrate({ databaseUrl: adminUrl, dir: false });
  await withAdmin(async (client) => {
    await client.query(`
      CREATE ROLE app LOGIN PASSWORD 'app' IN ROLE racefree_user;
      CREATE TABLE gated (id text PRIMARY KEY);
      -- COMMIT runs this deferred trigger, which waits for the advisory lock the test holds.
      CREATE FUNCTION gate() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_advisory_xact_lock(hashtext(NEW.id)); RETURN NULL; END $$;
      CREATE CONSTRAINT TRIGGER gated_commit AFTER INSERT ON gated
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gate();
      CREATE FUNCTION add_gated(id text) RETURNS text LANGUAGE sql AS 'INSERT INTO gated VALUES (id) RETURNING id';
      CREATE TABLE noise (id bigserial PRIMARY KEY, at timestamptz DEFAULT now());
      CREATE TABLE storm (id bigserial PRIMARY KEY, number text, title text NOT NULL);
      -- Every storm COMMIT takes a moment, so a kill or restart finds commits in flight.
      CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(0.002); RETURN NULL; END $$;
      CREATE CONSTRAINT TRIGGER storm_commit AFTER INSERT ON storm
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();
      GRANT INSERT, SELECT ON gated, noise, storm TO app;
      GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO app;
    `);
  });
  await runMigration(adminUrl, (pgm) => addNumbering(pgm, { name: 'storm', table: 'storm', column: 'number', template: 'S-{seq:5}' }));
  await withAdmin(async (client) => {
    await client.query(`
      CREATE FUNCTION add_storm() RETURNS text LANGUAGE sql AS 'INSERT INTO storm (title) VALUES (''x'') RETURNING number';
      GRANT EXECUTE ON FUNCTION generate_storm_number() TO app;
    `);
  });
  const url = new URL(adminUrl);
  url.username = 'app';
  url.password = 'app';
  appUrl = url.toString();
});

test.after.always(async () => {
  await server?.stop();
});

// ---------------------------------------------------------------------------
// helpers

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const client = new pg.Client({ connectionString: adminUrl });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      // Still recovering (57P03) or restarting: wait for it.
      if (attempt > 200) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

async function rowExists(table: 'gated', id: string): Promise<boolean> {
  return withAdmin(async (c) => (await c.query(`SELECT 1 FROM ${table} WHERE id = $1`, [id])).rowCount === 1);
}

/** Hold the advisory lock a gated row's deferred trigger waits for, on a connection of its own. */
async function gate(id: string): Promise<{ observer: pg.Client; close: () => Promise<void> }> {
  const holder = new pg.Client({ connectionString: adminUrl });
  holder.on('error', () => undefined);
  await holder.connect();
  await holder.query('SELECT pg_advisory_lock(hashtext($1))', [id]);
  const observer = new pg.Client({ connectionString: adminUrl });
  observer.on('error', () => undefined);
  await observer.connect();
  return {
    observer,
    close: async () => {
      await holder.end().catch(() => undefined);
      await observer.end().catch(() => undefined);
    },
  };
}

/** Writers committing all along, reconnecting through crashes: the server hands out xids the whole time. */
function writers(n: number): { stop: () => Promise<number> } {
  let running = true;
  let commits = 0;
  const loops = Array.from({ length: n }, async () => {
    while (running) {
      const client = new pg.Client({ connectionString: appUrl });
      client.on('error', () => undefined);
      try {
        await client.connect();
        // Asynchronous commits flush no WAL: after a crash the server rewinds its xid counter
        // past the lost transaction, and these writers are handed its xid again.
        await client.query('SET synchronous_commit = off');
        while (running) {
          await client.query('INSERT INTO noise DEFAULT VALUES');
          commits++;
        }
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 20));
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return commits;
    },
  };
}

/** A client whose pool reports the backend pid of the connection a transaction holds. */
function appClient(): { db: Db; pool: pg.Pool; lastPid: () => number } {
  const pool = new pg.Pool({ connectionString: appUrl, max: 4 });
  pool.on('error', () => undefined);
  let pid = 0;
  pool.on('acquire', (client) => (pid = (client as unknown as { processID: number }).processID));
  return { db: createClient({ pool, commitOutcomeTimeoutMs: 30_000 }), pool, lastPid: () => pid };
}

type Outcome = { kind: 'returned'; value: unknown } | { kind: 'unknown'; error: CommitOutcomeUnknownError } | { kind: 'error'; error: unknown };

async function outcomeOf(promise: Promise<unknown>): Promise<Outcome> {
  try {
    return { kind: 'returned', value: await promise };
  } catch (error) {
    if (error instanceof CommitOutcomeUnknownError) return { kind: 'unknown', error };
    return { kind: 'error', error };
  }
}

/** Run one gated transaction, break the server while its COMMIT is in flight, and return what the caller saw. */
async function crashDuringCommit(
  id: string,
  crash: (pid: number) => Promise<void>,
  work: (db: Db) => Promise<unknown>,
): Promise<{ outcome: Outcome; present: boolean; xidStatus: string | null }> {
  const lock = await gate(id);
  const { db, pool, lastPid } = appClient();
  const noise = writers(4);
  try {
    const running = tracked(work(db));
    await blockedBy(lock.observer, await waitForPid(lastPid), running.settled);
    await crash(lastPid());
    const outcome = await outcomeOf(running.promise);
    await noise.stop();
    const present = await rowExists('gated', id);
    const xid = outcome.kind === 'unknown' ? outcome.error.xid : undefined;
    // After a rewind the lost xid may be handed out again ("committed" for another transaction) or not yet ("in the future").
    const xidStatus =
      xid === undefined
        ? null
        : await withAdmin(async (c) =>
            c.query<{ s: string | null }>('SELECT pg_xact_status($1::xid8) AS s', [xid]).then(
              (r) => r.rows[0]!.s,
              (error: { code?: string }) => {
                if (error.code === '22023') return 'in the future';
                throw error;
              },
            ),
          );
    return { outcome, present, xidStatus };
  } finally {
    await noise.stop();
    await lock.close();
    await pool.end();
  }
}

async function waitForPid(pid: () => number): Promise<number> {
  while (pid() === 0) await new Promise((resolve) => setTimeout(resolve, 2));
  return pid();
}

const killBackend = async (pid: number): Promise<void> => {
  process.kill(pid, 'SIGKILL');
};

/** What the caller saw matches the database: returned means present; an error means absent; or honest "unknown". */
function assertHonest(t: import('ava').ExecutionContext, outcome: Outcome, present: boolean): void {
  if (outcome.kind === 'returned') t.true(present, 'told "committed", so the row must exist');
  else if (outcome.kind === 'error') t.false(present, `told it failed (${String(outcome.error)}), so the row must be absent`);
  else t.pass();
}

// ---------------------------------------------------------------------------
// one transaction, COMMIT in flight

test.serial('backend killed (SIGKILL) during COMMIT with writers running: never "committed" with the row missing', async (t) => {
  const reused: string[] = [];
  for (let round = 0; round < 3; round++) {
    const id = `kill-${round}`;
    const { outcome, present, xidStatus } = await crashDuringCommit(id, killBackend, (db) => db.transaction((tx) => tx.callOne('add_gated', { id })));
    assertHonest(t, outcome, present);
    // Killed before its commit record was written: the row is gone, and the answer is "unknown".
    t.false(present);
    t.is(outcome.kind, 'unknown');
    if (outcome.kind === 'unknown') {
      t.is(outcome.error.reason, 'crash-recovery');
      t.regex(outcome.error.xid, /^\d+$/);
      if (xidStatus === 'committed') reused.push(outcome.error.xid);
    }
  }
  // Where the server handed the lost xid to a writer, pg_xact_status alone would have said "committed".
  t.log(`xids reused after recovery: ${reused.length} of 3`);
});

test.serial('immediate restart during COMMIT with writers running: unknown, never "committed" with the row missing', async (t) => {
  const { outcome, present } = await crashDuringCommit(
    'restart',
    () => server.restart({ mode: 'immediate' }),
    (db) => db.transaction((tx) => tx.callOne('add_gated', { id: 'restart' })),
  );
  assertHonest(t, outcome, present);
  t.false(present);
  t.is(outcome.kind, 'unknown');
  if (outcome.kind === 'unknown') t.is(outcome.error.reason, 'server-restarted');
});

test.serial('db.once killed during COMMIT: never a response without its key row; calling again with the key settles it', async (t) => {
  const id = 'once-kill';
  const call = (db: Db) => db.once({ scope: 'crash', key: id, request: { id } }, (tx) => tx.callOne<{ add_gated: string }>('add_gated', { id }));
  const { outcome, present } = await crashDuringCommit(id, killBackend, call);
  const keyRow = async (): Promise<boolean> =>
    withAdmin(
      async (c) =>
        (await c.query("SELECT 1 FROM racefree.idempotency_keys WHERE scope = 'crash' AND key = $1 AND completed_at IS NOT NULL", [id])).rowCount === 1,
    );
  assertHonest(t, outcome, present);
  if (outcome.kind === 'returned') t.true(await keyRow(), 'a response means its key row exists');
  t.is(outcome.kind, 'unknown');
  t.false(present);
  t.false(await keyRow());

  // What the README tells db.once callers to do: call again with the same key.
  const { db, pool } = appClient();
  try {
    const again = await call(db);
    t.false(again.replayed, 'the first attempt did not commit, so the work runs now');
    t.deepEqual(again.response, { add_gated: id });
    const replay = await call(db);
    t.true(replay.replayed);
    t.true(await keyRow());
    t.true(await rowExists('gated', id));
  } finally {
    await pool.end();
  }
});

// ---------------------------------------------------------------------------
// a storm

test.serial('64-caller gapless numbering storm with one SIGKILL and one immediate restart: every acknowledged number exists exactly once', async (t) => {
  const pool = new pg.Pool({ connectionString: appUrl, max: 64 });
  pool.on('error', () => undefined);
  const db = createClient({ pool, commitOutcomeTimeoutMs: 30_000 });
  const acknowledged: string[] = [];
  const outcomes = { returned: 0, unknown: 0, failed: 0 };
  let running = true;
  const callers = Array.from({ length: 64 }, async () => {
    while (running) {
      const outcome = await outcomeOf(db.transaction((tx) => tx.callOne<{ add_storm: string }>('add_storm')));
      if (outcome.kind === 'returned') {
        acknowledged.push((outcome.value as { add_storm: string }).add_storm);
        outcomes.returned++;
      } else if (outcome.kind === 'unknown') {
        outcomes.unknown++;
      } else {
        outcomes.failed++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  });
  const committing = async (): Promise<number> =>
    withAdmin(async (c) => {
      for (;;) {
        const { rows } = await c.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE usename = 'app' AND state = 'active' AND query = 'COMMIT' LIMIT 1",
        );
        if (rows[0] !== undefined) return rows[0].pid;
      }
    });
  try {
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    process.kill(await committing(), 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    await committing();
    await server.restart({ mode: 'immediate' });
    await new Promise((resolve) => setTimeout(resolve, 2_500));
  } finally {
    running = false;
    await Promise.all(callers);
    await pool.end();
  }
  const stored = await withAdmin(async (c) => (await c.query<{ number: string }>('SELECT number FROM storm')).rows.map((r) => r.number));
  const inTable = new Map<string, number>();
  for (const n of stored) inTable.set(n, (inTable.get(n) ?? 0) + 1);
  const ackCount = new Map<string, number>();
  for (const n of acknowledged) ackCount.set(n, (ackCount.get(n) ?? 0) + 1);
  t.log(`acknowledged ${outcomes.returned}, unknown ${outcomes.unknown}, failed ${outcomes.failed}, rows ${stored.length}`);
  t.true(outcomes.returned > 100, 'the storm ran');
  t.true(outcomes.failed + outcomes.unknown > 0, 'the kill and the restart hit callers');
  t.deepEqual(
    [...ackCount].filter(([, n]) => n > 1),
    [],
    'no number acknowledged to two callers',
  );
  t.deepEqual(
    acknowledged.filter((n) => inTable.get(n) !== 1),
    [],
    'every acknowledged number is in the table exactly once',
  );
  t.true(stored.length >= acknowledged.length);
  t.true(stored.length <= acknowledged.length + outcomes.unknown, 'rows beyond the acknowledged ones are accounted for by "unknown"');
});
