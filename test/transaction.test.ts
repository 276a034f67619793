import test from 'ava';
import pg from 'pg';

import {
  AbortedError,
  ConnectionError,
  createClient,
  DeadlockDetectedError,
  LockTimeoutError,
  RacefreeConfigError,
  RacefreeError,
  SerializationFailureError,
  TransactionBusyError,
  TransactionClosedError,
  UniqueViolationError,
  type Db,
  type Tx,
} from '../src/index.js';
import { fullJitterDelay } from '../src/retry.js';
import { useTestDatabase } from './helpers/db.js';

const url = useTestDatabase(test);

let db: Db;

test.before(async () => {
  db = createClient({ connectionString: url() });
  await db.query(`
    CREATE TABLE tx_rows (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
    INSERT INTO tx_rows SELECT g, 0 FROM generate_series(1, 20) g;
    CREATE FUNCTION tx_bump(id int) RETURNS TABLE (n int)
      LANGUAGE sql AS 'UPDATE tx_rows SET n = n + 1 WHERE id = $1 RETURNING n';
    CREATE FUNCTION tx_pid() RETURNS TABLE (pid int) LANGUAGE sql AS 'SELECT pg_backend_pid()';

    CREATE TABLE tx_users (email text CONSTRAINT tx_users_email_key UNIQUE);
    CREATE FUNCTION tx_add_user(email text) RETURNS void LANGUAGE sql AS 'INSERT INTO tx_users VALUES (email)';

    CREATE TABLE tx_doctors (ward text, name text, on_call boolean NOT NULL, PRIMARY KEY (ward, name));
    CREATE FUNCTION tx_on_call(ward text) RETURNS TABLE (n int)
      LANGUAGE sql AS 'SELECT count(*)::int FROM tx_doctors d WHERE d.ward = $1 AND on_call';
    CREATE FUNCTION tx_off_call(ward text, name text) RETURNS void
      LANGUAGE sql AS 'UPDATE tx_doctors d SET on_call = false WHERE d.ward = $1 AND d.name = $2';
  `);
});

test.after.always(async () => {
  await db?.end();
});

// ---------------------------------------------------------------------------
// helpers

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** True once `pid` waits for a lock another backend holds. */
async function isBlocked(pid: number): Promise<boolean> {
  const result = await db.query<{ blocked: boolean }>('SELECT cardinality(pg_blocking_pids($1)) > 0 AS blocked', [pid]);
  return result.rows[0]!.blocked;
}

async function backendGone(pid: number): Promise<boolean> {
  const result = await db.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
  return result.rowCount === 0;
}

async function users(prefix: string): Promise<string[]> {
  const result = await db.query<{ email: string }>('SELECT email FROM tx_users WHERE starts_with(email, $1) ORDER BY email', [prefix]);
  return result.rows.map((r) => r.email);
}

async function counter(id: number): Promise<number> {
  return (await db.query<{ n: number }>('SELECT n FROM tx_rows WHERE id = $1', [id])).rows[0]!.n;
}

async function pidOf(tx: Tx): Promise<number> {
  return (await tx.callOne<{ pid: number }>('tx_pid')).pid;
}

function socketOf(client: pg.PoolClient): { destroy(): void } {
  return (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream;
}

// ---------------------------------------------------------------------------
// commit, rollback, nesting

test('commits and returns the callback result', async (t) => {
  const value = await db.transaction(async (tx) => {
    await tx.call('tx_add_user', { email: 'commit-1@x' });
    await tx.call('tx_add_user', { email: 'commit-2@x' });
    return { done: true };
  });
  t.deepEqual(value, { done: true });
  t.deepEqual(await users('commit-'), ['commit-1@x', 'commit-2@x']);
});

test('rolls back and rethrows the callback error itself', async (t) => {
  const boom = new Error('boom');
  const err = await t.throwsAsync(
    db.transaction(async (tx) => {
      await tx.call('tx_add_user', { email: 'rolledback@x' });
      throw boom;
    }),
  );
  t.is(err, boom);
  t.deepEqual(await users('rolledback'), []);
});

test('a swallowed statement error: nothing commits, the original error is thrown, the connection is clean', async (t) => {
  const pool = new pg.Pool({ connectionString: url(), max: 1 });
  let connects = 0;
  pool.on('connect', () => connects++);
  const one = createClient({ pool });
  try {
    await one.call('tx_add_user', { email: 'swallow-dup@x' });
    const err = await t.throwsAsync(
      one.transaction(async (tx) => {
        await tx.call('tx_add_user', { email: 'swallow-before@x' });
        try {
          await tx.call('tx_add_user', { email: 'swallow-dup@x' });
        } catch {
          // the mistake: carrying on as if the transaction were still usable
        }
        return 'pretends all is well';
      }),
      { instanceOf: UniqueViolationError },
    );
    t.deepEqual(err?.values, ['swallow-dup@x']);
    t.deepEqual(await users('swallow-before'), []);
    // Same connection, idle and usable: no "current transaction is aborted" for the next caller.
    t.is((await one.call('tx_add_user', { email: 'swallow-after@x' })).length, 1);
    t.deepEqual(await users('swallow-after'), ['swallow-after@x']);
    t.is(connects, 1);
  } finally {
    await pool.end();
  }
});

test('nested transactions are savepoints: a failed one is undone, the outer goes on', async (t) => {
  const value = await db.transaction(async (tx) => {
    await tx.call('tx_add_user', { email: 'nest-outer@x' });
    const inner = await t.throwsAsync(
      tx.transaction(async (sp) => {
        await sp.call('tx_add_user', { email: 'nest-inner@x' });
        await sp.call('tx_add_user', { email: 'nest-outer@x' });
      }),
      { instanceOf: UniqueViolationError },
    );
    t.deepEqual(inner?.values, ['nest-outer@x']);
    await tx.call('tx_add_user', { email: 'nest-after@x' });
    return tx.transaction(async (sp) => {
      await sp.call('tx_add_user', { email: 'nest-kept@x' });
      return sp.transaction(async (sp2) => {
        await sp2.call('tx_add_user', { email: 'nest-deeper@x' });
        return 'kept';
      });
    });
  });
  t.is(value, 'kept');
  t.deepEqual(await users('nest-'), ['nest-after@x', 'nest-deeper@x', 'nest-kept@x', 'nest-outer@x']);
});

test('nested transactions never retry on their own; the outermost retries the whole callback', async (t) => {
  let inner = 0;
  let outer = 0;
  await db.transaction(async (tx) => {
    outer++;
    await t.throwsAsync(
      tx.transaction(async () => {
        inner++;
        throw new SerializationFailureError();
      }),
      { instanceOf: SerializationFailureError },
    );
  });
  t.is(inner, 1);
  t.is(outer, 1);

  let inner2 = 0;
  let outer2 = 0;
  const value = await db.transaction(async (tx) => {
    outer2++;
    return tx.transaction(async (sp) => {
      inner2++;
      await sp.call('tx_add_user', { email: `retry-nest-${outer2}@x` });
      if (outer2 === 1) throw new SerializationFailureError();
      return outer2;
    });
  });
  t.is(value, 2);
  t.is(outer2, 2);
  t.is(inner2, 2);
  t.deepEqual(await users('retry-nest-'), ['retry-nest-2@x']);
});

test('a tx used after its callback ended throws TransactionClosedError', async (t) => {
  let leaked: Tx | undefined;
  await db.transaction(async (tx) => {
    leaked = tx;
  });
  await t.throwsAsync(leaked!.call('tx_pid'), { instanceOf: TransactionClosedError });
  await t.throwsAsync(
    leaked!.transaction(async () => 1),
    { instanceOf: TransactionClosedError },
  );
});

test('using the outer tx inside a nested one, or leaving a call running, is TransactionBusyError', async (t) => {
  await t.throwsAsync(
    db.transaction(async (tx) => {
      await tx.transaction(async () => {
        await tx.call('tx_add_user', { email: 'busy-wrong-handle@x' });
      });
    }),
    { instanceOf: TransactionBusyError },
  );
  await t.throwsAsync(
    db.transaction(async (tx) => {
      void tx.call('tx_add_user', { email: 'busy-unawaited@x' });
      return 'returned too early';
    }),
    { instanceOf: TransactionBusyError },
  );
  t.deepEqual(await users('busy-'), []);
});

test('COMMIT sent through the query() escape hatch is refused at the end, not silently accepted', async (t) => {
  const err = await t.throwsAsync(
    db.transaction(async (tx) => {
      await tx.call('tx_add_user', { email: 'hatch-1@x' });
      await tx.query('COMMIT');
    }),
  );
  t.is(err?.constructor, RacefreeError);
  t.regex(err?.message ?? '', /ended inside its callback/);
});

test('isolation option sets the level; invalid options are rejected before anything runs', async (t) => {
  const level = async (isolation?: 'read committed' | 'repeatable read' | 'serializable'): Promise<string> =>
    db.transaction(
      async (tx) => (await tx.query<{ transaction_isolation: string }>('SHOW transaction_isolation')).rows[0]!.transaction_isolation,
      isolation === undefined ? {} : { isolation },
    );
  t.is(await level(), 'read committed');
  t.is(await level('repeatable read'), 'repeatable read');
  t.is(await level('serializable'), 'serializable');

  let called = false;
  const bad = await t.throwsAsync(
    db.transaction(
      async () => {
        called = true;
      },
      { isolation: 'chaos' as never },
    ),
    { instanceOf: RacefreeConfigError },
  );
  t.is(bad?.option, 'isolation');
  const attempts = await t.throwsAsync(
    db.transaction(async () => (called = true), { maxAttempts: 0 }),
    {
      instanceOf: RacefreeConfigError,
    },
  );
  t.is(attempts?.option, 'maxAttempts');
  t.false(called);
});

// ---------------------------------------------------------------------------
// what is retried, and what is not

test('a forced deadlock: one transaction is retried and both succeed', async (t) => {
  const before = [await counter(1), await counter(2)];
  const t1Locked = deferred();
  const t2Locked = deferred();
  let attempts1 = 0;
  let attempts2 = 0;
  let pid1 = 0;
  const retried: RacefreeError[] = [];
  const onRetry = (err: RacefreeError): void => {
    retried.push(err);
  };

  const p1 = db.transaction(
    async (tx) => {
      attempts1++;
      pid1 = await pidOf(tx);
      await tx.call('tx_bump', { id: 1 });
      if (attempts1 === 1) {
        t1Locked.resolve();
        await t2Locked.promise;
      }
      await tx.call('tx_bump', { id: 2 }); // first attempt: waits for T2
      return 't1';
    },
    { onRetry },
  );
  const p2 = db.transaction(
    async (tx) => {
      attempts2++;
      if (attempts2 === 1) await t1Locked.promise;
      await tx.call('tx_bump', { id: 2 });
      if (attempts2 === 1) {
        t2Locked.resolve();
        await waitFor(() => isBlocked(pid1)); // T1 now waits for row 2
      }
      await tx.call('tx_bump', { id: 1 }); // first attempt: closes the cycle
      return 't2';
    },
    { onRetry },
  );

  t.deepEqual(await Promise.all([p1, p2]), ['t1', 't2']);
  t.is(attempts1 + attempts2, 3, 'exactly one transaction ran twice');
  t.is(retried.length, 1);
  t.true(retried[0] instanceof DeadlockDetectedError);
  t.is(retried[0]?.code, '40P01');
  t.deepEqual([await counter(1), await counter(2)], [before[0]! + 2, before[1]! + 2]);
});

async function addWard(ward: string): Promise<void> {
  await db.query(`INSERT INTO tx_doctors VALUES ($1, 'alice', true), ($1, 'bob', true)`, [ward]);
}

/**
 * Write skew under SERIALIZABLE: both read that two doctors are on call, T1
 * takes alice off call and commits, then T2 takes bob off call.
 */
async function writeSkew(
  ward: string,
  maxAttempts: number,
): Promise<{
  results: PromiseSettledResult<string>[];
  attempts2: number;
  retried: RacefreeError[];
}> {
  const read1 = deferred();
  const read2 = deferred();
  let attempts2 = 0;
  const retried: RacefreeError[] = [];
  const p1 = db.transaction(
    async (tx) => {
      const { n } = await tx.callOne<{ n: number }>('tx_on_call', { ward });
      read1.resolve();
      await read2.promise;
      if (n < 2) return 'stayed';
      await tx.call('tx_off_call', { ward, name: 'alice' });
      return 'off';
    },
    { isolation: 'serializable' },
  );
  const p2 = db.transaction(
    async (tx) => {
      attempts2++;
      if (attempts2 === 1) await read1.promise;
      const { n } = await tx.callOne<{ n: number }>('tx_on_call', { ward });
      if (attempts2 === 1) {
        read2.resolve();
        await p1.catch(() => undefined); // T1 has committed
      }
      if (n < 2) return 'stayed';
      await tx.call('tx_off_call', { ward, name: 'bob' });
      return 'off';
    },
    { isolation: 'serializable', maxAttempts, onRetry: (err) => retried.push(err) },
  );
  return { results: await Promise.allSettled([p1, p2]), attempts2, retried };
}

test('a forced serialization failure under SERIALIZABLE is retried, and the invariant holds', async (t) => {
  await addWard('w-retry');
  const { results, attempts2, retried } = await writeSkew('w-retry', 10);
  t.deepEqual(
    results.map((r) => (r.status === 'fulfilled' ? r.value : r.reason)),
    ['off', 'stayed'],
  );
  t.is(attempts2, 2);
  t.is(retried.length, 1);
  t.true(retried[0] instanceof SerializationFailureError);
  t.is(retried[0]?.code, '40001');
  const { n } = await db.callOne<{ n: number }>('tx_on_call', { ward: 'w-retry' });
  t.is(n, 1, 'one doctor stays on call');
});

test('with maxAttempts 1 the serialization failure is thrown, typed', async (t) => {
  await addWard('w-once');
  const { results, attempts2 } = await writeSkew('w-once', 1);
  t.is(results[0]?.status, 'fulfilled');
  const second = results[1];
  t.is(second?.status, 'rejected');
  t.true((second as PromiseRejectedResult).reason instanceof SerializationFailureError);
  t.is(attempts2, 1);
});

test('lock_timeout gives LockTimeoutError and is not retried', async (t) => {
  const holder = new pg.Client({ connectionString: url() });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT * FROM tx_bump(5)');
    let attempts = 0;
    const err = await t.throwsAsync(
      db.transaction(async (tx) => {
        attempts++;
        await tx.query(`SET LOCAL lock_timeout = '50ms'`);
        await tx.call('tx_bump', { id: 5 });
      }),
      { instanceOf: LockTimeoutError },
    );
    t.is(err?.code, '55P03');
    t.is(attempts, 1);
  } finally {
    await holder.query('ROLLBACK');
    await holder.end();
  }
});

test('23505 gives UniqueViolationError with columns and values and is not retried', async (t) => {
  await db.call('tx_add_user', { email: 'dupe, (x)@example.com' });
  let attempts = 0;
  const err = await t.throwsAsync(
    db.transaction(
      async (tx) => {
        attempts++;
        await tx.call('tx_add_user', { email: 'dupe, (x)@example.com' });
      },
      { isolation: 'serializable' },
    ),
    { instanceOf: UniqueViolationError },
  );
  t.is(attempts, 1);
  t.is(err?.code, '23505');
  t.is(err?.constraint, 'tx_users_email_key');
  t.is(err?.table, 'tx_users');
  t.deepEqual(err?.columns, ['email']);
  t.deepEqual(err?.values, ['dupe, (x)@example.com']);
});

test('attempts are bounded by maxAttempts, with full-jitter delays', async (t) => {
  let calls = 0;
  const retries: Array<[number, number]> = [];
  const last = new SerializationFailureError();
  const err = await t.throwsAsync(
    db.transaction(
      async () => {
        calls++;
        throw calls === 4 ? last : new SerializationFailureError();
      },
      { maxAttempts: 4, onRetry: (_err, attempt, delay) => retries.push([attempt, delay]) },
    ),
  );
  t.is(err, last, 'the last attempt error is thrown as is');
  t.is(calls, 4);
  t.deepEqual(
    retries.map(([attempt]) => attempt),
    [1, 2, 3],
  );
  for (const [attempt, delay] of retries) {
    t.true(delay >= 0 && delay < 20 * 2 ** (attempt - 1), `delay ${delay} for attempt ${attempt}`);
  }
});

test('attempts are bounded by the deadline', async (t) => {
  let calls = 0;
  await t.throwsAsync(
    db.transaction(
      async () => {
        calls++;
        throw new DeadlockDetectedError();
      },
      { deadlineMs: 0 },
    ),
    { instanceOf: DeadlockDetectedError },
  );
  t.is(calls, 1);
});

test('full-jitter delays grow exponentially up to the cap', (t) => {
  t.is(
    fullJitterDelay(0, 20, 2_000, () => 0),
    0,
  );
  t.is(
    fullJitterDelay(0, 20, 2_000, () => 0.5),
    10,
  );
  t.is(
    fullJitterDelay(3, 20, 2_000, () => 0.5),
    80,
  );
  t.is(
    fullJitterDelay(20, 20, 2_000, () => 0.999),
    1_998,
  );
});

test('an aborted signal stops before the first attempt and during a backoff', async (t) => {
  const before = new AbortController();
  before.abort('shutting down');
  let called = false;
  const early = await t.throwsAsync(
    db.transaction(async () => (called = true), { signal: before.signal }),
    { instanceOf: AbortedError },
  );
  t.false(called);
  t.is(early?.cause, 'shutting down');
  t.is(early?.lastError, undefined);

  const during = new AbortController();
  let calls = 0;
  const failure = new SerializationFailureError();
  const late = await t.throwsAsync(
    db.transaction(
      async () => {
        calls++;
        throw failure;
      },
      { signal: during.signal, onRetry: () => during.abort('deadline of the request') },
    ),
    { instanceOf: AbortedError },
  );
  t.is(calls, 1);
  t.is(late?.cause, 'deadline of the request');
  t.is(late?.lastError, failure);
});

// ---------------------------------------------------------------------------
// faults

test('backend terminated mid-transaction: typed error, not retried, the pool stays healthy', async (t) => {
  const pool = new pg.Pool({ connectionString: url(), max: 2 });
  pool.on('error', () => undefined);
  const own = createClient({ pool });
  try {
    let attempts = 0;
    const err = await t.throwsAsync(
      own.transaction(async (tx) => {
        attempts++;
        await tx.call('tx_add_user', { email: 'terminated-1@x' });
        const pid = await pidOf(tx);
        await db.query('SELECT pg_terminate_backend($1)', [pid]);
        await waitFor(() => backendGone(pid));
        await tx.call('tx_add_user', { email: 'terminated-2@x' });
      }),
      { instanceOf: ConnectionError },
    );
    t.is(err?.code, '57P01');
    t.is(attempts, 1);
    t.deepEqual(await users('terminated-'), []);
    for (let i = 0; i < 100; i++) {
      t.is((await own.call<{ pid: number }>('tx_pid')).length, 1);
    }
    t.true(pool.totalCount <= 2);
    t.is(pool.idleCount, pool.totalCount);
  } finally {
    await pool.end();
  }
});

test('a connection whose ROLLBACK cannot run is destroyed, never reused', async (t) => {
  const pool = new pg.Pool({ connectionString: url(), max: 1 });
  pool.on('error', () => undefined);
  let current: pg.PoolClient | undefined;
  pool.on('acquire', (client) => (current = client));
  const own = createClient({ pool });
  try {
    const boom = new Error('callback failed after the socket died');
    let pid = 0;
    const err = await t.throwsAsync(
      own.transaction(async (tx) => {
        pid = await pidOf(tx);
        await tx.call('tx_add_user', { email: 'rollback-fails@x' });
        socketOf(current!).destroy();
        throw boom;
      }),
    );
    t.is(err, boom);
    t.is(pool.totalCount, 0, 'the connection left the pool');
    const next = await own.callOne<{ pid: number }>('tx_pid');
    t.not(next.pid, pid);
    await waitFor(() => backendGone(pid));
    t.deepEqual(await users('rollback-fails'), []);
  } finally {
    await pool.end();
  }
});

test('a pool of 2 survives 1,000 failing transactions without leaking a client', async (t) => {
  const marked = new URL(url());
  marked.searchParams.set('application_name', 'tx_leak');
  const pool = new pg.Pool({ connectionString: marked.toString(), max: 2 });
  let connects = 0;
  pool.on('connect', () => connects++);
  const own = createClient({ pool });
  try {
    await own.call('tx_add_user', { email: 'leak-dupe@x' });
    const kinds: Array<(tx: Tx) => Promise<unknown>> = [
      // The callback throws after a statement.
      async (tx: Tx) => {
        await tx.call('tx_bump', { id: 10 });
        throw new Error('callback error');
      },
      // A constraint violation escapes.
      async (tx: Tx) => {
        await tx.call('tx_add_user', { email: 'leak-dupe@x' });
      },
      // A constraint violation is swallowed.
      async (tx: Tx) => {
        await tx.call('tx_add_user', { email: 'leak-dupe@x' }).catch(() => undefined);
      },
      // A nested failure escapes.
      async (tx: Tx) => {
        await tx.transaction(async (sp) => sp.query('SELECT * FROM no_such_table'));
      },
      // Misuse.
      async (tx: Tx) => {
        void tx.call('tx_bump', { id: 11 });
      },
    ];
    const results = await Promise.allSettled(Array.from({ length: 1_000 }, (_, i) => own.transaction(kinds[i % kinds.length]!)));
    t.is(results.filter((r) => r.status === 'rejected').length, 1_000);
    t.true(results.every((r) => r.status === 'rejected' && r.reason instanceof Error));
    t.is(pool.waitingCount, 0);
    t.true(pool.totalCount <= 2);
    t.is(pool.idleCount, pool.totalCount, 'every client is back in the pool');
    t.is(connects, 2, 'no connection was destroyed and replaced');
    const stuck = await db.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'tx_leak' AND state <> 'idle'`);
    t.is(stuck.rowCount, 0);
    t.is(await counter(10), 0);
    t.is(await counter(11), 0);
    for (let i = 0; i < 10; i++) t.is((await own.call('tx_pid')).length, 1);
  } finally {
    await pool.end();
  }
});
