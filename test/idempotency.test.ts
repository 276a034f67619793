import test from 'ava';
import pg from 'pg';

import {
  ConnectionError,
  createClient,
  IdempotencyKeyInFlightError,
  IdempotencyKeyMismatchError,
  InvalidIdempotencyKeyError,
  RacefreeConfigError,
  RacefreeError,
  SerializationFailureError,
  wrapError,
  type Db,
  type Tx,
} from '../src/index.js';
import { canonicalJson, fingerprintOf } from '../src/fingerprint.js';
import { connect, exclusively, useTestDatabase, withClient } from './helpers/db.js';

const url = useTestDatabase(test);

let db: Db;

test.before(async () => {
  db = createClient({ connectionString: url() });
  await db.query(`
    CREATE TABLE once_work (id bigserial PRIMARY KEY, scope text NOT NULL, key text NOT NULL, caller int NOT NULL);
    CREATE FUNCTION once_do_work(scope text, key text, caller int) RETURNS TABLE (id bigint)
      LANGUAGE sql AS 'INSERT INTO once_work (scope, key, caller) VALUES ($1, $2, $3) RETURNING id';
    CREATE FUNCTION once_do_slow_work(scope text, key text, caller int) RETURNS TABLE (id bigint)
      LANGUAGE sql AS 'SELECT pg_sleep(0.003); INSERT INTO once_work (scope, key, caller) VALUES ($1, $2, $3) RETURNING id';
  `);
});

test.after.always(async () => {
  await db?.end();
});

// ---------------------------------------------------------------------------
// helpers

async function sql<R extends pg.QueryResultRow = any>(text: string, values: unknown[] = []): Promise<R[]> {
  return (await db.query<R>(text, values)).rows;
}

/** How many times the work ran, and committed, for a key. */
async function executions(scope: string, key?: string): Promise<number> {
  const rows = await sql<{ n: number }>('SELECT count(*)::int AS n FROM once_work WHERE scope = $1 AND ($2::text IS NULL OR key = $2)', [scope, key ?? null]);
  return rows[0]!.n;
}

/** The work every test uses: one row in once_work, written through a function. */
function work(scope: string, key: string, caller: number) {
  return async (tx: Tx) => {
    const { id } = await tx.callOne<{ id: string }>('once_do_work', { scope, key, caller });
    return { id, caller };
  };
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Backends waiting for a lock that `pid` holds. */
async function blockedBehind(pid: number): Promise<number> {
  const rows = await sql<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))', [pid]);
  return rows[0]!.n;
}

/**
 * A winner that claims `key`, reports its backend pid, then waits for an
 * advisory lock the test holds (so it is in flight for as long as the test
 * wants) and then does `then`.
 */
async function stalledWinner<T>(
  scope: string,
  key: string,
  lockId: number,
  then: (tx: Tx) => Promise<T>,
): Promise<{ pid: number; done: Promise<T>; release: () => Promise<void> }> {
  const holder = await connect(url());
  const holderPid = (await holder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
  await holder.query('SELECT pg_advisory_lock($1)', [lockId]);
  let reportPid!: (pid: number) => void;
  const pid = new Promise<number>((resolve) => (reportPid = resolve));
  const done = db
    .once({ scope, key, request: { key } }, async (tx) => {
      reportPid((await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
      await tx.query('SELECT pg_advisory_xact_lock($1)', [lockId]);
      return then(tx);
    })
    .then((r) => r.response);
  done.catch(() => undefined); // awaited by the test; never an unhandled rejection meanwhile
  const winnerPid = await pid;
  await waitFor(async () => (await blockedBehind(holderPid)) > 0);
  let released = false;
  return {
    pid: winnerPid,
    done,
    release: async () => {
      if (released) return;
      released = true;
      await holder.end(); // ends the session, and its advisory lock
    },
  };
}

// ---------------------------------------------------------------------------
// SQL functions, called as psql would

test('SQL: claim, complete, replay; another fingerprint is RF001 naming scope and key, never the response', async (t) => {
  await withClient(url(), async (c) => {
    await c.query('BEGIN');
    const first = await c.query(`SELECT * FROM racefree.idempotency_claim('sql:1', 'k1', 'fp-a')`);
    t.deepEqual(first.rows, [{ status: 'claimed', response: null }]);
    await c.query(`SELECT racefree.idempotency_complete('sql:1', 'k1', '{"secret": 42}')`);
    await c.query('COMMIT');

    const again = await c.query(`SELECT * FROM racefree.idempotency_claim('sql:1', 'k1', 'fp-a')`);
    t.deepEqual(again.rows, [{ status: 'replayed', response: { secret: 42 } }]);

    const other = await c.query(`SELECT * FROM racefree.idempotency_claim('sql:2', 'k1', 'fp-b')`);
    t.deepEqual(other.rows, [{ status: 'claimed', response: null }], 'scopes never share keys');

    const raw = await t.throwsAsync(c.query(`SELECT * FROM racefree.idempotency_claim('sql:1', 'k1', 'fp-b')`));
    const mismatch = wrapError(raw);
    t.true(mismatch instanceof IdempotencyKeyMismatchError);
    t.is(mismatch.code, 'RF001');
    t.like(mismatch, { scope: 'sql:1', key: 'k1' });
    t.regex(raw!.message, /key 'k1' in scope 'sql:1'/);
    t.notRegex(`${raw!.message} ${(raw as pg.DatabaseError).detail} ${mismatch.message}`, /secret|42/);
  });
});

test('SQL: NULL, empty and over-long scopes and keys are RF002; complete needs a claim; prune checks its arguments', async (t) => {
  await withClient(url(), async (c) => {
    const fails = async (text: string, code: string, argument?: string) => {
      const raw = await t.throwsAsync(c.query(text));
      t.is((raw as pg.DatabaseError).code, code, text);
      if (argument !== undefined) {
        const e = wrapError(raw);
        t.true(e instanceof InvalidIdempotencyKeyError, text);
        t.is((e as InvalidIdempotencyKeyError).argument, argument, text);
      }
      return raw!.message;
    };
    await fails(`SELECT * FROM racefree.idempotency_claim('s', NULL, 'f')`, 'RF002', 'key');
    await fails(`SELECT * FROM racefree.idempotency_claim('s', '', 'f')`, 'RF002', 'key');
    t.regex(await fails(`SELECT * FROM racefree.idempotency_claim('s', repeat('k', 256), 'f')`, 'RF002', 'key'), /got 256 characters/);
    await fails(`SELECT * FROM racefree.idempotency_claim(NULL, 'k', 'f')`, 'RF002', 'scope');
    await fails(`SELECT * FROM racefree.idempotency_claim('', 'k', 'f')`, 'RF002', 'scope');
    await fails(`SELECT * FROM racefree.idempotency_claim('s', 'k', NULL)`, 'RF002', 'fingerprint');
    await fails(`SELECT racefree.idempotency_complete('s', NULL, '1')`, 'RF002', 'key');
    // 255 characters of a 4-byte character are fine: the limit counts characters.
    const ok = await c.query(`SELECT * FROM racefree.idempotency_claim('s', repeat(U&'\\+01F600', 255), 'f')`);
    t.is(ok.rows[0].status, 'claimed');

    t.regex(await fails(`SELECT racefree.idempotency_complete('s', 'never-claimed', '1')`, '55000'), /no claim of this transaction awaiting a response/);
    await c.query('BEGIN');
    await c.query(`SELECT racefree.idempotency_claim('s', 'twice', 'f')`);
    await c.query(`SELECT racefree.idempotency_complete('s', 'twice', '1')`);
    await fails(`SELECT racefree.idempotency_complete('s', 'twice', '2')`, '55000');
    await c.query('ROLLBACK');

    await fails(`SELECT racefree.idempotency_prune(NULL)`, '22023');
    await fails(`SELECT racefree.idempotency_prune('-1 second')`, '22023');
    await fails(`SELECT racefree.idempotency_prune('1 day', 0)`, '22023');
  });
});

test('SQL: keys are compared byte for byte: NFC and NFD spellings are different keys', async (t) => {
  await withClient(url(), async (c) => {
    const nfc = 'caf\u00e9';
    const nfd = 'cafe\u0301';
    t.is((await c.query(`SELECT * FROM racefree.idempotency_claim('nf', $1, 'f')`, [nfc])).rows[0].status, 'claimed');
    t.is((await c.query(`SELECT * FROM racefree.idempotency_claim('nf', $1, 'f')`, [nfd])).rows[0].status, 'claimed');
  });
});

test('SQL: a duplicate waits for the uncommitted claim, replays when it commits, claims when it rolls back', async (t) => {
  await withClient(url(), async (winner) => {
    await withClient(url(), async (duplicate) => {
      const duplicatePid = (await duplicate.query('SELECT pg_backend_pid() AS p')).rows[0].p as number;
      for (const outcome of ['COMMIT', 'ROLLBACK'] as const) {
        const key = `wait-${outcome}`;
        await winner.query('BEGIN');
        await winner.query(`SELECT * FROM racefree.idempotency_claim('sqlwait', $1, 'f')`, [key]);
        await winner.query(`SELECT racefree.idempotency_complete('sqlwait', $1, '"first"')`, [key]);
        const waiting = duplicate.query(`SELECT * FROM racefree.idempotency_claim('sqlwait', $1, 'f')`, [key]);
        await waitFor(
          async () => (await sql('SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND cardinality(pg_blocking_pids(pid)) > 0', [duplicatePid])).length > 0,
        );
        await winner.query(outcome);
        const { rows } = await waiting;
        t.deepEqual(rows, outcome === 'COMMIT' ? [{ status: 'replayed', response: 'first' }] : [{ status: 'claimed', response: null }], outcome);
      }
    });
  });
});

test('SQL: under REPEATABLE READ a waiting duplicate gets 40001 (hence db.once runs at READ COMMITTED)', async (t) => {
  await withClient(url(), async (winner) => {
    await withClient(url(), async (duplicate) => {
      const duplicatePid = (await duplicate.query('SELECT pg_backend_pid() AS p')).rows[0].p as number;
      await winner.query('BEGIN');
      await winner.query(`SELECT * FROM racefree.idempotency_claim('rr', 'k', 'f')`);
      await duplicate.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await duplicate.query('SELECT 1'); // takes the snapshot
      const waiting = duplicate.query(`SELECT * FROM racefree.idempotency_claim('rr', 'k', 'f')`);
      waiting.catch(() => undefined);
      await waitFor(
        async () => (await sql('SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND cardinality(pg_blocking_pids(pid)) > 0', [duplicatePid])).length > 0,
      );
      await winner.query('COMMIT');
      const error = await t.throwsAsync(waiting);
      t.is((error as pg.DatabaseError).code, '40001');
      await duplicate.query('ROLLBACK');
    });
  });
});

test('SQL: claim and complete are for racefree_user, prune for racefree_admin; the table is for neither', async (t) => {
  await withClient(url(), async (c) => {
    await c.query('BEGIN');
    await c.query('SET LOCAL ROLE racefree_user');
    t.is((await c.query(`SELECT status FROM racefree.idempotency_claim('role', 'k', 'f')`)).rows[0].status, 'claimed');
    await c.query(`SELECT racefree.idempotency_complete('role', 'k', 'null')`);
    await c.query('SAVEPOINT s');
    const pruneDenied = await t.throwsAsync(c.query(`SELECT racefree.idempotency_prune('1 day')`));
    t.is((pruneDenied as pg.DatabaseError).code, '42501');
    await c.query('ROLLBACK TO SAVEPOINT s');
    const denied = await t.throwsAsync(c.query('SELECT * FROM racefree.idempotency_keys'));
    t.is((denied as pg.DatabaseError).code, '42501');
    await c.query('ROLLBACK');
    await c.query('BEGIN');
    await c.query('SET LOCAL ROLE racefree_admin');
    t.is((await c.query(`SELECT racefree.idempotency_prune('1 day')`)).rows[0].idempotency_prune, '0');
    const adminDenied = await t.throwsAsync(c.query('SELECT * FROM racefree.idempotency_keys'));
    t.is((adminDenied as pg.DatabaseError).code, '42501');
    await c.query('ROLLBACK');
  });
});

// ---------------------------------------------------------------------------
// db.once

test('once: runs the work, then replays its response; the replay is its JSON', async (t) => {
  const at = new Date('2026-01-02T03:04:05.000Z');
  const first = await db.once({ scope: 'basic', key: 'k1', request: { a: 1 } }, async (tx) => {
    const { id } = await tx.callOne<{ id: string }>('once_do_work', { scope: 'basic', key: 'k1', caller: 1 });
    return { id, at, list: [1, 'two', null], nothing: undefined };
  });
  t.false(first.replayed);
  t.is(first.response.at, at, 'the winner gets its own value');
  const second = await db.once({ scope: 'basic', key: 'k1', request: { a: 1 } }, async () => {
    throw new Error('never runs');
  });
  t.true(second.replayed);
  t.deepEqual(second.response as unknown, { id: first.response.id, at: at.toISOString(), list: [1, 'two', null] });
  t.is(await executions('basic', 'k1'), 1);

  const nothing = await db.once({ scope: 'basic', key: 'undefined', request: null }, async () => undefined);
  t.deepEqual(nothing, { replayed: false, response: undefined });
  const replayedNothing = await db.once({ scope: 'basic', key: 'undefined', request: null }, async () => 'x');
  t.deepEqual(replayedNothing, { replayed: true, response: null });
});

test('once: the request fingerprint ignores key order; another request is a mismatch; another scope is another key', async (t) => {
  const call = (scope: string, request: unknown, caller: number) => db.once({ scope, key: 'order', request }, work(scope, 'order', caller));
  const first = await call('fp', { b: [1, { y: 2, x: 1 }], a: 'x' }, 1);
  const same = await call('fp', { a: 'x', b: [1, { x: 1, y: 2 }] }, 2);
  t.true(same.replayed);
  t.deepEqual(same.response, first.response);

  const error = await t.throwsAsync(call('fp', { a: 'x', b: [{ x: 1, y: 2 }, 1] }, 3), { instanceOf: IdempotencyKeyMismatchError });
  t.like(error, { code: 'RF001', scope: 'fp', key: 'order' });
  t.is(error!.message, 'Idempotency key "order" in scope "fp" was already used with a different request.');
  t.notRegex(JSON.stringify(error), new RegExp(`"id":"${first.response.id}"`));

  const otherTenant = await call('fp-other', { a: 'x' }, 4);
  t.false(otherTenant.replayed, 'a key from one scope never replays another scope');
  t.is(await executions('fp'), 1);

  const custom = { scope: 'fp', key: 'custom', fingerprint: 'v1:abc' };
  t.false((await db.once(custom, work('fp', 'custom', 5))).replayed);
  t.true((await db.once({ ...custom, request: 'ignored when fingerprint is given' }, work('fp', 'custom', 6))).replayed);
  await t.throwsAsync(db.once({ ...custom, fingerprint: 'v2:abc' }, work('fp', 'custom', 7)), { instanceOf: IdempotencyKeyMismatchError });
});

test('canonical JSON: sorted keys at every level, JSON.stringify semantics otherwise', (t) => {
  t.is(
    canonicalJson({ b: 1, a: { d: [3, undefined, () => 1], c: new Date(0) }, u: undefined }),
    '{"a":{"c":"1970-01-01T00:00:00.000Z","d":[3,null,null]},"b":1}',
  );
  t.is(canonicalJson({ é: 1, z: 2, Z: 3, '10': 4, '9': 5 }), '{"10":4,"9":5,"Z":3,"z":2,"é":1}');
  t.is(canonicalJson([NaN, -0, 1e21, 'a"b']), '[null,0,1e+21,"a\\"b"]');
  t.is(canonicalJson(undefined), 'null');
  t.is(fingerprintOf({ a: 1, b: 2 }), fingerprintOf({ b: 2, a: 1 }));
  t.regex(fingerprintOf(null), /^[0-9a-f]{64}$/);
  t.throws(() => canonicalJson({ n: 1n }), { instanceOf: RacefreeConfigError });
  const cycle: Record<string, unknown> = {};
  cycle['self'] = cycle;
  t.throws(() => canonicalJson(cycle), { instanceOf: RacefreeConfigError });
  const shared = { x: 1 };
  t.is(canonicalJson([shared, shared]), '[{"x":1},{"x":1}]', 'a repeated object is not a cycle');
});

test('once: invalid scopes and keys are InvalidIdempotencyKeyError before any SQL runs', async (t) => {
  // A client that cannot connect: any SQL would be a ConnectionError.
  const offline = createClient({ connectionString: 'postgres://nobody@127.0.0.1:1/none' });
  try {
    const fn = async () => 'never';
    const cases: Array<[string, unknown, unknown]> = [
      ['key', 's', ''],
      ['key', 's', 'k'.repeat(256)],
      ['key', 's', '\u{1F600}'.repeat(256)],
      ['key', 's', undefined],
      ['key', 's', null],
      ['key', 's', 42],
      ['key', 's', 'a\0b'],
      ['scope', '', 'k'],
      ['scope', undefined, 'k'],
      ['scope', 's'.repeat(256), 'k'],
      // Lone surrogates: pg would send both as 'x\ufffd', one key for two requests.
      ['key', 's', 'x\ud800'],
      ['key', 's', 'x\udbff'],
      ['key', 's', '\udc00x'],
      ['scope', 'tenant\ud800', 'k'],
    ];
    for (const [argument, scope, key] of cases) {
      const error = await t.throwsAsync(offline.once({ scope, key, request: 1 } as never, fn), { instanceOf: InvalidIdempotencyKeyError });
      t.like(error, { code: 'RF002', argument }, `${String(scope).slice(0, 10)} / ${String(key).slice(0, 10)}`);
    }
    await t.throwsAsync(offline.once({ scope: 's', key: 'k' }, fn), { instanceOf: RacefreeConfigError, message: /"request"/ });
    await t.throwsAsync(offline.once({ scope: 's', key: 'k', request: 1, waitMs: 0 }, fn), { instanceOf: RacefreeConfigError, message: /waitMs/ });
    await t.throwsAsync(offline.once({ scope: 's', key: 'k', fingerprint: '' }, fn), { instanceOf: RacefreeConfigError, message: /fingerprint/ });
    await t.throwsAsync(offline.once({ scope: 's', key: 'k', request: { n: 1n } }, fn), { instanceOf: RacefreeConfigError });
    // 255 four-byte characters (510 UTF-16 units) are a valid key: it gets as far as connecting.
    await t.throwsAsync(offline.once({ scope: 's', key: '\u{1F600}'.repeat(255), request: 1 }, fn), { instanceOf: ConnectionError });
  } finally {
    await offline.end();
  }
});

test('once: a callback that throws stores nothing; the key is free and the next call runs the work', async (t) => {
  const boom = new Error('boom');
  const error = await t.throwsAsync(
    db.once({ scope: 'throws', key: 'k', request: 1 }, async (tx) => {
      await work('throws', 'k', 1)(tx);
      throw boom;
    }),
  );
  t.is(error, boom);
  t.deepEqual(await sql(`SELECT key FROM racefree.idempotency_keys WHERE scope = 'throws'`), []);
  const next = await db.once({ scope: 'throws', key: 'k', request: 1 }, work('throws', 'k', 2));
  t.false(next.replayed);
  t.is(next.response.caller, 2);
  t.is(await executions('throws'), 1);

  const unstorable = await t.throwsAsync(
    db.once({ scope: 'throws', key: 'bigint', request: 1 }, async () => ({ n: 1n })),
    {
      instanceOf: RacefreeError,
    },
  );
  t.regex(unstorable!.message, /cannot be stored as JSON/);
  t.deepEqual(await sql(`SELECT key FROM racefree.idempotency_keys WHERE scope = 'throws' AND key = 'bigint'`), []);
});

test('once: a statement error the callback swallowed is what it throws; nothing is stored', async (t) => {
  const error = await t.throwsAsync(
    db.once({ scope: 'swallowed', key: 'k', request: 1 }, async (tx) => {
      await work('swallowed', 'k', 1)(tx);
      await tx.query('SELECT 1/0').catch(() => undefined);
      return 'done anyway';
    }),
    { instanceOf: RacefreeError },
  );
  t.is(error!.code, '22012');
  t.deepEqual(await sql(`SELECT key FROM racefree.idempotency_keys WHERE scope = 'swallowed'`), []);
  t.is(await executions('swallowed'), 0);
});

test('once: a retried attempt (40001) claims again; the work commits once', async (t) => {
  let attempts = 0;
  const result = await db.once({ scope: 'retry', key: 'k', request: 1 }, async (tx) => {
    attempts++;
    const r = await work('retry', 'k', attempts)(tx);
    if (attempts === 1) throw new SerializationFailureError();
    return r;
  });
  t.is(attempts, 2);
  t.deepEqual([result.replayed, result.response.caller], [false, 2]);
  t.is(await executions('retry'), 1);
});

test("once: a duplicate past waitMs gets IdempotencyKeyInFlightError; lock_timeout is the session's again inside the work", async (t) => {
  const [{ v: sessionLockTimeout }] = (await sql(`SELECT current_setting('lock_timeout') AS v`)) as [{ v: string }];
  const winner = await stalledWinner('inflight', 'k', 9_100_001, async (tx) => {
    const { rows } = await tx.query<{ v: string }>(`SELECT current_setting('lock_timeout') AS v`);
    return { lockTimeout: rows[0]!.v };
  });
  try {
    const started = performance.now();
    const error = await t.throwsAsync(db.once({ scope: 'inflight', key: 'k', request: { key: 'k' }, waitMs: 300 }, work('inflight', 'k', 2)), {
      instanceOf: IdempotencyKeyInFlightError,
    });
    const waited = performance.now() - started;
    t.true(waited >= 290, `waited ${waited} ms`);
    t.like(error, { code: '55P03', scope: 'inflight', key: 'k', waitMs: 300, retryAfter: 1 });
    t.regex(error!.message, /still being processed/);
  } finally {
    await winner.release();
  }
  t.deepEqual(await winner.done, { lockTimeout: sessionLockTimeout });
  const after = await db.once({ scope: 'inflight', key: 'k', request: { key: 'k' } }, work('inflight', 'k', 3));
  t.deepEqual(after, { replayed: true, response: { lockTimeout: sessionLockTimeout } });

  // A session-level lock_timeout is what the work sees, not waitMs.
  const pool = new pg.Pool({ connectionString: url(), max: 1, options: '-c lock_timeout=7s' });
  const custom = createClient({ pool });
  try {
    const seen = await custom.once({ scope: 'inflight', key: 'session', request: 1, waitMs: 50 }, async (tx) => {
      return (await tx.query<{ v: string }>(`SELECT current_setting('lock_timeout') AS v`)).rows[0]!.v;
    });
    t.is(seen.response, '7s');
  } finally {
    await pool.end();
  }
});

test('once: a waiting duplicate replays under a SERIALIZABLE server default, and a waiting mismatch gets RF001', async (t) => {
  const winner = await stalledWinner('waiting', 'k', 9_100_006, async () => ({ done: true }));
  const pool = new pg.Pool({ connectionString: url(), max: 2, options: '-c default_transaction_isolation=serializable' });
  const serializable = createClient({ pool });
  try {
    const duplicate = serializable.once({ scope: 'waiting', key: 'k', request: { key: 'k' } }, work('waiting', 'k', 2));
    const mismatch = serializable.once({ scope: 'waiting', key: 'k', request: { key: 'other' } }, work('waiting', 'k', 3));
    mismatch.catch(() => undefined);
    try {
      await waitFor(async () => (await blockedBehind(winner.pid)) === 2);
    } finally {
      await winner.release();
    }
    t.deepEqual(await duplicate, { replayed: true, response: { done: true } });
    await t.throwsAsync(mismatch, { instanceOf: IdempotencyKeyMismatchError });
    t.is(await executions('waiting'), 0, 'only the winner ran, and its work wrote nothing');
  } finally {
    await pool.end();
  }
});

test('once: a winner that throws hands the key to exactly one waiting duplicate; the others replay it', async (t) => {
  const duplicates = 5;
  const winner = await stalledWinner('takeover', 'k', 9_100_002, async () => {
    throw new Error('winner failed');
  });
  const calls = Array.from({ length: duplicates }, (_, i) =>
    db.once({ scope: 'takeover', key: 'k', request: { key: 'k' }, waitMs: 30_000 }, work('takeover', 'k', 100 + i)),
  );
  try {
    // Deterministic: every duplicate is waiting on the winner's claim before it fails.
    await waitFor(async () => (await blockedBehind(winner.pid)) === duplicates);
  } finally {
    await winner.release();
  }
  await t.throwsAsync(winner.done, { message: 'winner failed' });
  const results = await Promise.all(calls);
  const ran = results.filter((r) => !r.replayed);
  t.is(ran.length, 1, 'exactly one duplicate ran the work');
  for (const r of results) t.deepEqual(r.response, ran[0]!.response);
  t.is(await executions('takeover'), 1);
});

test("once: the winner's backend terminated mid-work: the key is free, and the next call (or a waiting duplicate) runs the work", async (t) => {
  const never = async () => ({ never: true });
  // Nobody waiting: the key is simply free afterwards.
  const alone = await stalledWinner('terminated', 'alone', 9_100_003, never);
  try {
    await sql('SELECT pg_terminate_backend($1)', [alone.pid]);
    await t.throwsAsync(alone.done, { instanceOf: ConnectionError });
  } finally {
    await alone.release();
  }
  t.deepEqual(await sql(`SELECT key FROM racefree.idempotency_keys WHERE scope = 'terminated'`), []);
  const next = await db.once({ scope: 'terminated', key: 'alone', request: { key: 'alone' } }, work('terminated', 'alone', 2));
  t.false(next.replayed);

  // A duplicate waiting on it takes over.
  const watched = await stalledWinner('terminated', 'watched', 9_100_004, never);
  const duplicate = db.once({ scope: 'terminated', key: 'watched', request: { key: 'watched' } }, work('terminated', 'watched', 3));
  try {
    await waitFor(async () => (await blockedBehind(watched.pid)) === 1);
    await sql('SELECT pg_terminate_backend($1)', [watched.pid]);
    await t.throwsAsync(watched.done, { instanceOf: ConnectionError });
  } finally {
    await watched.release();
  }
  const taken = await duplicate;
  t.false(taken.replayed);
  t.is(taken.response.caller, 3);
  t.is(await executions('terminated'), 2);
});

// ---------------------------------------------------------------------------
// Under load

/** `items` in order, but each window of `window` items shuffled: duplicates stay close, so they overlap. */
function shuffledWindows<T>(items: T[], window: number): T[] {
  const out = [...items];
  for (let start = 0; start < out.length; start += window) {
    for (let i = Math.min(start + window, out.length) - 1; i > start; i--) {
      const j = start + Math.floor(Math.random() * (i - start + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
  }
  return out;
}

test.serial('storm: 200 keys x 8 duplicates from 64 concurrent callers: 200 executions, 1,400 replays, 0 errors', async (t) => {
  await exclusively(async () => {
    const pool = new pg.Pool({ connectionString: url(), max: 64 });
    const storm = createClient({ pool });
    try {
      const keys = Array.from({ length: 200 }, (_, i) => `key-${i}`);
      const queue = shuffledWindows(
        keys.flatMap((k) => Array.from({ length: 8 }, () => k)),
        64,
      );
      const results: Array<{ key: string; replayed: boolean; response: unknown; started: number; ended: number }> = [];
      const errors: unknown[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: 64 }, async (_, caller) => {
          while (next < queue.length) {
            const key = queue[next++]!;
            const started = performance.now();
            try {
              const r = await storm.once({ scope: 'storm', key, request: { key }, waitMs: 30_000 }, async (tx) => {
                const { id } = await tx.callOne<{ id: string }>('once_do_slow_work', { scope: 'storm', key, caller });
                return { id, caller };
              });
              results.push({ key, ...r, started, ended: performance.now() });
            } catch (error) {
              errors.push(error);
            }
          }
        }),
      );
      t.deepEqual(errors, []);
      t.is(pool.totalCount, 64);
      t.is(await executions('storm'), 200, 'the work ran exactly once per key');
      t.is((await sql(`SELECT count(DISTINCT key)::int AS n FROM once_work WHERE scope = 'storm'`))[0].n, 200);
      t.is(results.filter((r) => r.replayed).length, 1_400);
      t.is(results.filter((r) => !r.replayed).length, 200);
      const winners = new Map(results.filter((r) => !r.replayed).map((r) => [r.key, r]));
      let overlapped = 0;
      for (const r of results) {
        const w = winners.get(r.key)!;
        t.deepEqual(r.response, w.response);
        if (r.replayed && r.started < w.ended) overlapped++;
      }
      t.log(`${overlapped} of 1400 duplicates started while their winner was still in flight`);
      t.true(overlapped > 0, 'duplicates really raced their winners');
    } finally {
      await pool.end();
    }
  });
});

test.serial('prune under load: removes only old completed keys, keeps recent, in-flight and never-completed ones, and never blocks claims', async (t) => {
  await exclusively(async () => {
    const pool = new pg.Pool({ connectionString: url(), max: 20 });
    const loadDb = createClient({ pool });
    try {
      const claim = (key: string) => loadDb.once({ scope: 'prune', key, request: 1, waitMs: 2_000 }, work('prune', key, 0));
      const oldKeys = Array.from({ length: 300 }, (_, i) => `old-${i}`);
      const recentKeys = Array.from({ length: 100 }, (_, i) => `recent-${i}`);
      for (const k of [...oldKeys, ...recentKeys]) await claim(k);
      await sql(`UPDATE racefree.idempotency_keys SET created_at = created_at - interval '2 days',
                   completed_at = completed_at - interval '2 days' WHERE scope = 'prune' AND key LIKE 'old-%'`);
      await sql(`INSERT INTO racefree.idempotency_keys (scope, key, fingerprint, created_at)
                 VALUES ('prune', 'never-completed', 'f', now() - interval '2 days')`);
      const inFlight = await stalledWinner('prune', 'in-flight', 9_100_005, async () => 'done');

      // A prune holding 50 rows locked does not stop a second prune (SKIP LOCKED), claims or replays.
      await withClient(url(), async (holder) => {
        await holder.query('BEGIN');
        t.is((await holder.query(`SELECT racefree.idempotency_prune('1 day', 50) AS n`)).rows[0].n, '50');
        const during = await Promise.all([
          sql<{ n: string }>(`SELECT racefree.idempotency_prune('1 day', 100) AS n`),
          claim('new-during-prune'),
          claim('recent-0'),
        ]);
        t.is(during[0][0]!.n, '100');
        t.false(during[1].replayed);
        t.true(during[2].replayed);
        await holder.query('COMMIT');
      });

      // The rest under load: claims and replays from 16 callers while prune runs in batches of 20.
      const errors: unknown[] = [];
      let stop = false;
      let calls = 0;
      const callers = Array.from({ length: 16 }, async (_, c) => {
        for (let i = 0; !stop; i++) {
          const key = i % 2 === 0 ? `load-${c}-${i}` : recentKeys[(c * 7 + i) % recentKeys.length]!;
          await claim(key).catch((e: unknown) => errors.push(e));
          calls++;
        }
      });
      await waitFor(async () => calls >= 100);
      let pruned = 0;
      for (;;) {
        const [{ n }] = (await sql<{ n: string }>(`SELECT racefree.idempotency_prune('1 day', 20) AS n`)) as [{ n: string }];
        if (n === '0') break;
        pruned += Number(n);
      }
      stop = true;
      await Promise.all(callers);
      t.log(`${calls} claims and replays ran alongside the pruning`);
      await inFlight.release();
      t.is(await inFlight.done, 'done');

      t.deepEqual(errors, []);
      t.is(pruned, 150, 'the 300 old completed keys, less the 150 pruned earlier');
      const left = await sql<{ kind: string; n: number }>(`
        SELECT split_part(key, '-', 1) AS kind, count(*)::int AS n FROM racefree.idempotency_keys
         WHERE scope = 'prune' GROUP BY 1 ORDER BY 1`);
      const byKind = Object.fromEntries(left.map((r) => [r.kind, r.n]));
      t.is(byKind['old'], undefined, 'every old completed key is gone');
      t.is(byKind['recent'], 100);
      t.is(byKind['never'], 1, 'a never-completed key is kept (racefree doctor reports it)');
      t.is(byKind['in'], 1, 'the in-flight claim committed');
      t.is(byKind['new'], 1);
    } finally {
      await pool.end();
    }
  });
});

test("once: on a pool in pg's own pipeline mode (pipeline: true) it runs, replays, refuses a mismatch and frees a failed key", async (t) => {
  const pool = new pg.Pool({ connectionString: url(), max: 2, pipeline: true } as pg.PoolConfig);
  pool.on('error', () => undefined);
  const own = createClient({ pool });
  try {
    const once = (request: unknown, fn: (tx: Tx) => Promise<unknown>) => own.once({ scope: 'pipeline-mode', key: 'k', request }, fn);
    await t.throwsAsync(
      once({ a: 1 }, async () => {
        throw new Error('fails first');
      }),
      { message: 'fails first' },
    );
    const first = await once({ a: 1 }, work('pipeline-mode', 'k', 1));
    t.like(first, { replayed: false, response: { caller: 1 } });
    t.like(await once({ a: 1 }, async () => t.fail('ran twice')), { replayed: true, response: { caller: 1 } });
    await t.throwsAsync(
      once({ a: 2 }, async () => t.fail('ran for a mismatch')),
      { instanceOf: IdempotencyKeyMismatchError },
    );
    t.is(await executions('pipeline-mode', 'k'), 1);
  } finally {
    await own.end();
    await pool.end();
  }
});
