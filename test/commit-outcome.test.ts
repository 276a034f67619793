import test from 'ava';
import pg from 'pg';

import { CommitOutcomeUnknownError, ConnectionError, createClient, type Db } from '../src/index.js';
import { decideCommitOutcome, historyChange, resolveCommitOutcome, XID_SQL } from '../src/commit-outcome.js';
import { useTestDatabase } from './helpers/db.js';

const url = useTestDatabase(test);

let db: Db;

test.before(async () => {
  db = createClient({ connectionString: url() });
  // COMMIT runs the deferred trigger, which waits for an advisory lock the test
  // holds: COMMIT is then in flight for as long as the test wants.
  await db.query(`
    CREATE TABLE co_rows (id text PRIMARY KEY);
    CREATE FUNCTION co_gate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtext(NEW.id));
      RETURN NULL;
    END $$;
    CREATE CONSTRAINT TRIGGER co_slow_commit AFTER INSERT ON co_rows
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION co_gate();
    CREATE FUNCTION co_add(id text) RETURNS void LANGUAGE sql AS 'INSERT INTO co_rows VALUES (id)';
    CREATE FUNCTION co_read(id text) RETURNS TABLE (found boolean)
      LANGUAGE sql AS 'SELECT EXISTS (SELECT FROM co_rows r WHERE r.id = $1)';

    CREATE TABLE co_fast (id text PRIMARY KEY);
    CREATE FUNCTION co_add_fast(id text) RETURNS void LANGUAGE sql AS 'INSERT INTO co_fast VALUES (id)';
  `);
});

test.after.always(async () => {
  await db?.end();
});

// ---------------------------------------------------------------------------
// helpers

async function waitFor(condition: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function isBlocked(pid: number): Promise<boolean> {
  const result = await db.query<{ blocked: boolean }>('SELECT cardinality(pg_blocking_pids($1)) > 0 AS blocked', [pid]);
  return result.rows[0]!.blocked;
}

async function exists(table: 'co_rows' | 'co_fast', id: string): Promise<boolean> {
  return (await db.query(`SELECT 1 FROM ${table} WHERE id = $1`, [id])).rowCount === 1;
}

function socketOf(client: pg.PoolClient): { destroy(): void } {
  return (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream;
}

function pidOf(client: pg.PoolClient): number {
  return (client as unknown as { processID: number }).processID;
}

/** A pool of one connection, with a handle on that connection. */
function onePool(options: pg.PoolConfig = {}): {
  pool: pg.Pool;
  current: () => pg.PoolClient;
  commitBlocked: () => Promise<boolean>;
} {
  const pool = new pg.Pool({ connectionString: url(), max: 1, ...options });
  pool.on('error', () => undefined);
  let current: pg.PoolClient | undefined;
  pool.on('acquire', (client) => (current = client));
  return {
    pool,
    current: () => {
      if (current === undefined) throw new Error('no connection acquired yet');
      return current;
    },
    // The only lock the transaction can wait for is the deferred trigger's, at COMMIT.
    commitBlocked: async () => current !== undefined && (await isBlocked(pidOf(current))),
  };
}

/** Hold the advisory lock the row's deferred trigger waits for. */
async function gate(id: string): Promise<{ open: () => Promise<void> }> {
  const holder = new pg.Client({ connectionString: url() });
  await holder.connect();
  await holder.query('SELECT pg_advisory_lock(hashtext($1))', [id]);
  let opened = false;
  return {
    open: async () => {
      if (opened) return;
      opened = true;
      await holder.end(); // releases the lock
    },
  };
}

// ---------------------------------------------------------------------------
// the decision

test('decideCommitOutcome: known states decide, the rest waits while the window is open', (t) => {
  t.deepEqual(decideCommitOutcome('committed', true), { outcome: 'committed' });
  t.deepEqual(decideCommitOutcome('committed', false), { outcome: 'committed' });
  t.deepEqual(decideCommitOutcome('aborted', true), { outcome: 'aborted' });
  t.deepEqual(decideCommitOutcome('aborted', false), { outcome: 'aborted' });
  t.is(decideCommitOutcome('in progress', true), 'wait');
  t.deepEqual(decideCommitOutcome('in progress', false), { outcome: 'unknown', reason: 'in-progress' });
  t.is(decideCommitOutcome(undefined, true), 'wait', 'the check failed: try again');
  t.deepEqual(decideCommitOutcome(undefined, false), { outcome: 'unknown', reason: 'unreachable' });
  t.deepEqual(decideCommitOutcome(null, true), { outcome: 'unknown', reason: 'xid-too-old' }, 'too old for the server to know');
});

test('historyChange names what moved: timeline, postmaster start, checkpoint', (t) => {
  const base = '1 0/1511A88 1796159417.478047';
  t.is(historyChange(base, base), undefined);
  t.is(historyChange(base, '2 0/1511A88 1796159417.478047'), 'failover');
  t.is(historyChange(base, '1 0/1600000 1796159999.1'), 'server-restarted');
  t.is(historyChange(base, '1 0/1600000 1796159417.478047'), 'crash-recovery');
  t.is(historyChange(base, 'x'), 'different-server');
});

/** The xid and history a transaction reads before COMMIT, then COMMIT or ROLLBACK. */
async function finishedXact(client: pg.Client, end: 'COMMIT' | 'ROLLBACK'): Promise<{ xid: string; history: string }> {
  await client.query('BEGIN');
  await client.query('SELECT pg_current_xact_id()');
  const row = (await client.query<{ xid: string; history: string }>(XID_SQL)).rows[0]!;
  await client.query(end);
  return row;
}

test('resolveCommitOutcome reads committed and aborted transactions from the server', async (t) => {
  const client = new pg.Client({ connectionString: url() });
  await client.connect();
  const pool = new pg.Pool({ connectionString: url() });
  try {
    const committed = await finishedXact(client, 'COMMIT');
    const aborted = await finishedXact(client, 'ROLLBACK');
    t.deepEqual(await resolveCommitOutcome(pool, committed.xid, committed.history, 1_000), { outcome: 'committed' });
    t.deepEqual(await resolveCommitOutcome(pool, aborted.xid, aborted.history, 1_000), { outcome: 'aborted' });
  } finally {
    await client.end();
    await pool.end();
  }
});

// Serial: ava runs serial tests before the concurrent ones, whose commits a checkpoint would make unknown.
test.serial('resolveCommitOutcome: a checkpoint since the xid was read makes a committed xid unknown', async (t) => {
  const client = new pg.Client({ connectionString: url() });
  await client.connect();
  const pool = new pg.Pool({ connectionString: url() });
  try {
    const committed = await finishedXact(client, 'COMMIT');
    await client.query('CHECKPOINT');
    t.deepEqual(await resolveCommitOutcome(pool, committed.xid, committed.history, 1_000), {
      outcome: 'unknown',
      reason: 'crash-recovery',
    });
  } finally {
    await client.end();
    await pool.end();
  }
});

test('resolveCommitOutcome gives unknown when the server cannot be reached in time', async (t) => {
  const unreachable = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none' });
  const started = Date.now();
  t.deepEqual(await resolveCommitOutcome(unreachable, '1234', '1 0/0 1', 300), { outcome: 'unknown', reason: 'unreachable' });
  t.true(Date.now() - started < 5_000);
  await unreachable.end();
});

// ---------------------------------------------------------------------------
// real ambiguous commits

test('socket destroyed during COMMIT, commit went through: the transaction returns normally', async (t) => {
  const id = 'committed';
  const lock = await gate(id);
  const { pool, current, commitBlocked } = onePool();
  const own = createClient({ pool, commitOutcomeTimeoutMs: 15_000 });
  try {
    let calls = 0;
    const result = own.transaction(async (tx) => {
      calls++;
      await tx.call('co_add', { id });
      return 'committed work';
    });
    await waitFor(commitBlocked);
    socketOf(current()).destroy(); // COMMIT is in flight, blocked in the deferred trigger
    await lock.open(); // now the backend finishes the commit, unaware its client is gone
    t.is(await result, 'committed work');
    t.is(calls, 1);
    t.true(await exists('co_rows', id));
    t.is(pool.idleCount, pool.totalCount);
  } finally {
    await lock.open();
    await pool.end();
  }
});

test('query timeout during COMMIT, commit went through: the transaction returns normally', async (t) => {
  const id = 'timed-out';
  const lock = await gate(id);
  const { pool } = onePool({ query_timeout: 300 });
  let acquired = false;
  pool.on('acquire', () => (acquired = true));
  const own = createClient({ pool, commitOutcomeTimeoutMs: 15_000 });
  try {
    let calls = 0;
    const result = own.transaction(async (tx) => {
      calls++;
      await tx.call('co_add', { id });
      return 'committed work';
    });
    // The timed-out connection is dropped from the pool; then let the commit finish.
    await waitFor(() => acquired && pool.totalCount === 0);
    await lock.open();
    t.is(await result, 'committed work');
    t.is(calls, 1);
    t.true(await exists('co_rows', id));
  } finally {
    await lock.open();
    await pool.end();
  }
});

test('socket destroyed during COMMIT, transaction aborted: the original error is thrown', async (t) => {
  const id = 'aborted';
  const lock = await gate(id);
  const { pool, current, commitBlocked } = onePool();
  const own = createClient({ pool, commitOutcomeTimeoutMs: 15_000 });
  try {
    let calls = 0;
    const result = own.transaction(async (tx) => {
      calls++;
      await tx.call('co_add', { id });
      return 'never';
    });
    await waitFor(commitBlocked);
    const pid = pidOf(current());
    socketOf(current()).destroy();
    await db.query('SELECT pg_terminate_backend($1)', [pid]); // dies before committing
    const err = await t.throwsAsync(result, { instanceOf: ConnectionError });
    t.false(err instanceof CommitOutcomeUnknownError);
    t.is(calls, 1, 'never retried');
    t.false(await exists('co_rows', id));
  } finally {
    await lock.open();
    await pool.end();
  }
});

test('db.once, socket destroyed during its COMMIT (sent with the response), commit went through: it returns, and the key replays', async (t) => {
  const id = 'once-committed';
  const lock = await gate(id);
  const { pool, current, commitBlocked } = onePool();
  const own = createClient({ pool, commitOutcomeTimeoutMs: 15_000 });
  const once = { scope: 'commit-outcome', key: id, request: { id } };
  try {
    let calls = 0;
    const result = own.once(once, async (tx) => {
      calls++;
      await tx.call('co_add', { id });
      return { status: 201 };
    });
    // The xid was read with the claim: no statement runs between the work and COMMIT.
    await waitFor(commitBlocked);
    socketOf(current()).destroy();
    await lock.open();
    t.deepEqual(await result, { replayed: false, response: { status: 201 } });
    t.is(calls, 1);
    t.true(await exists('co_rows', id));
    t.deepEqual(await own.once(once, async () => t.fail('the work ran twice')), { replayed: true, response: { status: 201 } });
  } finally {
    await lock.open();
    await pool.end();
  }
});

test('db.once, socket destroyed during its COMMIT, transaction aborted: the error is thrown and the key is free', async (t) => {
  const id = 'once-aborted';
  const lock = await gate(id);
  const { pool, current, commitBlocked } = onePool();
  const own = createClient({ pool, commitOutcomeTimeoutMs: 15_000 });
  const once = { scope: 'commit-outcome', key: id, request: { id } };
  try {
    const result = own.once(once, async (tx) => {
      await tx.call('co_add', { id });
      return 'never';
    });
    await waitFor(commitBlocked);
    const pid = pidOf(current());
    socketOf(current()).destroy();
    await db.query('SELECT pg_terminate_backend($1)', [pid]);
    const err = await t.throwsAsync(result, { instanceOf: ConnectionError });
    t.false(err instanceof CommitOutcomeUnknownError);
    t.false(await exists('co_rows', id));
    await lock.open();
    t.deepEqual(await own.once(once, async () => 'ran again'), { replayed: false, response: 'ran again' });
  } finally {
    await lock.open();
    await pool.end();
  }
});

test('COMMIT still in flight when the window closes: CommitOutcomeUnknownError with the xid, not retried', async (t) => {
  const id = 'unknown';
  const lock = await gate(id);
  const { pool, current, commitBlocked } = onePool();
  const own = createClient({ pool, commitOutcomeTimeoutMs: 300 });
  try {
    let calls = 0;
    let xid: string | undefined;
    const result = own.transaction(async (tx) => {
      calls++;
      await tx.call('co_add', { id });
      xid = (await tx.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid')).rows[0]!.xid;
      return 'maybe';
    });
    await waitFor(commitBlocked);
    socketOf(current()).destroy();
    const err = await t.throwsAsync(result, { instanceOf: CommitOutcomeUnknownError });
    t.is(err?.xid, xid!);
    t.is(err?.code, '08007');
    t.is(err?.reason, 'in-progress');
    t.true(err?.cause instanceof ConnectionError);
    t.is(calls, 1, 'never retried');
    // It really was undecided: once the lock goes, the very same transaction commits.
    await lock.open();
    await waitFor(async () => {
      const status = await db.query<{ s: string }>('SELECT pg_xact_status($1::xid8) AS s', [err!.xid]);
      return status.rows[0]!.s === 'committed';
    });
    t.true(await exists('co_rows', id));
  } finally {
    await lock.open();
    await pool.end();
  }
});

/** Destroy the socket right after COMMIT is handed to pg: the server may or may not have read it. */
function breakCommits(pool: pg.Pool): void {
  const patched = new WeakSet<object>();
  pool.on('acquire', (client) => {
    if (patched.has(client)) return;
    patched.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const result = query(...args);
      if ((args[0] as { text?: unknown } | undefined)?.text === 'COMMIT') socketOf(client).destroy();
      return result;
    };
  });
}

test('connection lost during the COMMIT of a transaction that wrote nothing: ConnectionError, no resolution needed', async (t) => {
  const { pool } = onePool();
  breakCommits(pool);
  const own = createClient({ pool, commitOutcomeTimeoutMs: 60_000 });
  try {
    const started = Date.now();
    const err = await t.throwsAsync(
      own.transaction(async (tx) => tx.call('co_read', { id: 'x' })),
      { instanceOf: ConnectionError },
    );
    t.false(err instanceof CommitOutcomeUnknownError);
    t.true(Date.now() - started < 30_000, 'did not wait for the resolution window');
  } finally {
    await pool.end();
  }
});

test('connection lost right after COMMIT is sent: what the caller sees always matches the database', async (t) => {
  const { pool } = onePool();
  breakCommits(pool);
  const own = createClient({ pool, commitOutcomeTimeoutMs: 15_000 });
  try {
    for (let i = 0; i < 20; i++) {
      const id = `race-${i}`;
      let calls = 0;
      const outcome = await own
        .transaction(async (tx) => {
          calls++;
          await tx.call('co_add_fast', { id });
          return 'returned' as const;
        })
        .catch((err: unknown) => err);
      t.is(calls, 1);
      if (outcome === 'returned') {
        t.true(await exists('co_fast', id), `${id}: returned normally, so it committed`);
      } else if (outcome instanceof CommitOutcomeUnknownError) {
        // Honest, and only when a checkpoint of the server (shared with other tests) fell in the window.
        t.is(outcome.reason, 'crash-recovery');
      } else {
        t.true(outcome instanceof ConnectionError, String(outcome));
        t.false(await exists('co_fast', id), `${id}: threw the original error, so it did not commit`);
      }
    }
  } finally {
    await pool.end();
  }
});
