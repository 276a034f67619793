import test from 'ava';
import pg from 'pg';
import { createClient, type Db } from '../src/index.js';
import { RacefreeConfigError, SerializationFailureError, UniqueViolationError, type RacefreeError } from '../src/errors/classes.js';
import { wrapError } from '../src/errors/from-pg.js';
import { addUniqueKey, addUpsert, dropUpsert, type AddUpsertOptions } from '../src/migrate/index.js';
import { quoteIdent } from '../src/quote.js';
import { blockedBy, pidOf, tracked } from './helpers/blocking.js';
import { connect, exclusively, useTestDatabase, withClient, withPool } from './helpers/db.js';
import { runMigration } from './helpers/migration.js';

const url = useTestDatabase(test);

async function sql<R extends pg.QueryResultRow = any>(text: string, values: unknown[] = []): Promise<R[]> {
  return withClient(url(), async (c) => (await c.query<R>(text, values)).rows);
}

const upsert = (options: AddUpsertOptions) => runMigration(url(), (pgm) => addUpsert(pgm, options));

/** A table like seed 000's, whose UPDATE trigger bumps updated_at and counts updates. */
async function assessments(table: string): Promise<void> {
  await sql(`
    CREATE TABLE ${table} (
      id bigserial PRIMARY KEY,
      assessment_id text,
      technology text NOT NULL,
      proficiency_level text NOT NULL,
      questions jsonb,
      total_questions int,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      updates int NOT NULL DEFAULT 0,
      CONSTRAINT ${table}_uq UNIQUE (technology, proficiency_level));
    CREATE TRIGGER ${table}_touch BEFORE UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION touch();`);
  await upsert({ table, key: ['technology', 'proficiency_level'] });
}

let db: Db;
test.before(async () => {
  db = createClient({ connectionString: url() });
  await sql(`CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN NEW.updated_at := clock_timestamp(); NEW.updates := OLD.updates + 1; RETURN NEW; END $$`);
});
test.after.always(() => db?.end());

// ---------------------------------------------------------------------------
// What the generated functions do

test('upsert: inserted, updated, unchanged; an unchanged call writes nothing, fires no trigger, and still returns the row', async (t) => {
  await assessments('a1');
  const hive = { technology: 'Hive', proficiency_level: 'beginner' };
  const first = await db.callOne<any>('upsert_a1', { ...hive, questions: JSON.stringify([{ q: 1 }]), total_questions: 1 });
  t.like(first, { id: '1', ...hive, questions: [{ q: 1 }], total_questions: 1, updates: 0, action: 'inserted' });
  const version = async () => (await sql(`SELECT xmin::text, ctid::text, updated_at FROM a1 WHERE id = 1`))[0];
  const before = await version();

  const same = await db.callOne<any>('upsert_a1', { ...hive, questions: JSON.stringify([{ q: 1 }]), total_questions: 1 });
  t.deepEqual(same, { ...first, action: 'unchanged' });
  t.deepEqual(await version(), before, 'no new row version, updated_at untouched');

  const changed = await db.callOne<any>('upsert_a1', { ...hive, questions: JSON.stringify([{ q: 2 }]) });
  t.like(changed, { id: '1', questions: [{ q: 2 }], total_questions: 1, updates: 1, action: 'updated' });
  t.true(changed.updated_at > first.updated_at);

  // Left out or NULL: not written.
  const partial = await db.callOne<any>('upsert_a1', { ...hive, questions: null, total_questions: 1 });
  t.like(partial, { questions: [{ q: 2 }], total_questions: 1, updates: 1, action: 'unchanged' });

  // The same from SQL, with named arguments.
  const [fromSql] = await sql(`SELECT * FROM upsert_a1(technology => 'Hive', proficiency_level => 'beginner', questions => '[{"q": 3}]')`);
  t.like(fromSql, { id: '1', questions: [{ q: 3 }], updates: 2, action: 'updated' });
  t.deepEqual(await sql(`SELECT count(*)::int AS n FROM a1`), [{ n: 1 }]);
});

test('omitted arguments take the column default on insert and keep the stored value on update; update limits what may change', async (t) => {
  await sql(`CREATE TABLE tasks (
    id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, task_id text NOT NULL UNIQUE,
    status text NOT NULL DEFAULT 'draft', score int, note text DEFAULT 'none', doubled int GENERATED ALWAYS AS (score * 2) STORED)`);
  await upsert({ table: 'tasks', key: 'task_id', update: ['score'] });
  const a = await db.callOne<any>('upsert_tasks', { task_id: 't1', score: 1 });
  t.deepEqual(a, { id: 1, task_id: 't1', status: 'draft', score: 1, note: 'none', doubled: 2, action: 'inserted' });
  // status is not updatable: used on insert only.
  const b = await db.callOne<any>('upsert_tasks', { task_id: 't1', score: 2, status: 'done', note: 'x' });
  t.deepEqual(b, { ...a, score: 2, doubled: 4, action: 'updated' });
  const c = await db.callOne<any>('upsert_tasks', { task_id: 't1', status: 'done' });
  t.deepEqual(c, { ...b, action: 'unchanged' });
  const d = await db.callOne<any>('upsert_tasks', { task_id: 't2', status: 'done', note: 'given' });
  // (Each conflicting insert drew an identity value first, as any INSERT ... ON CONFLICT does.)
  t.like(d, { status: 'done', note: 'given', score: null, doubled: null, action: 'inserted' });

  await sql(`CREATE TABLE frozen (k text PRIMARY KEY, v text)`);
  await upsert({ table: 'frozen', key: ['k'], update: [] });
  t.like(await db.callOne('upsert_frozen', { k: 'x', v: '1' }), { v: '1', action: 'inserted' });
  t.like(await db.callOne('upsert_frozen', { k: 'x', v: '2' }), { v: '1', action: 'unchanged' });
});

test('get_or_create: inserted, then existing; an existing row is never changed', async (t) => {
  await assessments('g1');
  const hive = { technology: 'Hive', proficiency_level: 'expert' };
  const created = await db.callOne<any>('get_or_create_g1', { ...hive, questions: JSON.stringify(['a']) });
  t.like(created, { id: '1', ...hive, questions: ['a'], action: 'inserted' });
  const existing = await db.callOne<any>('get_or_create_g1', { ...hive, questions: JSON.stringify(['b']) });
  t.deepEqual(existing, { ...created, action: 'existing' });
  t.deepEqual(await sql(`SELECT questions, updates FROM g1`), [{ questions: ['a'], updates: 0 }]);
});

test('types without equality (json, point) and composites are compared as text; identity and generated columns are returned', async (t) => {
  await sql(`CREATE TYPE money_pair AS (amount numeric, currency text)`);
  await sql(`CREATE DOMAIN short_code AS varchar(8) CHECK (VALUE ~ '^[a-z]+$')`);
  await sql(`CREATE TABLE odd (
    id bigint GENERATED BY DEFAULT AS IDENTITY, code short_code PRIMARY KEY, doc json, at point, price money_pair,
    tags text[], docs json[])`);
  await upsert({ table: 'odd', key: 'code' });
  const args = { code: 'abc', doc: '{"a": 1}', at: '(1,2)', price: '(1.50,EUR)', tags: ['x', 'y'], docs: ['{"b": 2}'] };
  t.like(await db.callOne('upsert_odd', args), { id: '1', code: 'abc', doc: { a: 1 }, tags: ['x', 'y'], action: 'inserted' });
  t.like(await db.callOne('upsert_odd', args), { action: 'unchanged' });
  t.like(await db.callOne('upsert_odd', { ...args, price: '(2,EUR)' }), { price: '(2,EUR)', action: 'updated' });
  t.like(await db.callOne('upsert_odd', { ...args, price: '(2,EUR)', docs: ['{"b": 3}'] }), { action: 'updated' });
  // A composite with every field NULL is still a given value.
  t.like(await db.callOne('upsert_odd', { code: 'abc', price: '(,)' }), { price: '(,)', action: 'updated' });
  const bad = wrapError(await t.throwsAsync(db.callOne('upsert_odd', { code: 'ABC' })));
  t.is(bad.code, '23514', 'the domain check still applies');
});

// ---------------------------------------------------------------------------
// Races, deterministic

test('get_or_create: a caller that waits for an uncommitted insert of its key returns that row once it commits', async (t) => {
  await assessments('g2');
  const [a, b, observer] = [await connect(url()), await connect(url()), await connect(url())];
  try {
    const [aPid, bPid] = [await pidOf(a), await pidOf(b)];
    await a.query('BEGIN');
    const mine = (await a.query(`SELECT * FROM get_or_create_g2(technology => 'Go', proficiency_level => 'x', assessment_id => 'A')`)).rows[0];
    t.is(mine.action, 'inserted');
    const waiting = tracked(b.query(`SELECT * FROM get_or_create_g2(technology => 'Go', proficiency_level => 'x', assessment_id => 'B')`));
    t.deepEqual(await blockedBy(observer, bPid, waiting.settled), [aPid]);
    await a.query('COMMIT');
    const theirs = (await waiting.promise).rows[0];
    t.like(theirs, { id: mine.id, assessment_id: 'A', action: 'existing' });

    // If the first one rolls back instead, the waiter inserts.
    await a.query('BEGIN');
    await a.query(`SELECT * FROM get_or_create_g2(technology => 'Go', proficiency_level => 'y', assessment_id => 'A')`);
    const second = tracked(b.query(`SELECT * FROM get_or_create_g2(technology => 'Go', proficiency_level => 'y', assessment_id => 'B')`));
    await blockedBy(observer, bPid, second.settled);
    await a.query('ROLLBACK');
    t.like((await second.promise).rows[0], { assessment_id: 'B', action: 'inserted' });
  } finally {
    await Promise.all([a.end(), b.end(), observer.end()]);
  }
});

test('upsert: a caller that waits for an uncommitted insert of its key updates that row once it commits', async (t) => {
  await assessments('u2');
  const [a, b, observer] = [await connect(url()), await connect(url()), await connect(url())];
  try {
    const [aPid, bPid] = [await pidOf(a), await pidOf(b)];
    await a.query('BEGIN');
    await a.query(`INSERT INTO u2 (technology, proficiency_level, total_questions) VALUES ('Go', 'x', 1)`);
    const waiting = tracked(b.query(`SELECT * FROM upsert_u2(technology => 'Go', proficiency_level => 'x', total_questions => 2)`));
    t.deepEqual(await blockedBy(observer, bPid, waiting.settled), [aPid]);
    await a.query('COMMIT');
    t.like((await waiting.promise).rows[0], { id: '1', total_questions: 2, updates: 1, action: 'updated' });
  } finally {
    await Promise.all([a.end(), b.end(), observer.end()]);
  }
});

test('get_or_create at REPEATABLE READ: a key committed after the snapshot is a serialization failure, never zero rows', async (t) => {
  await assessments('g3');
  const [a, b] = [await connect(url()), await connect(url())];
  try {
    await b.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await b.query('SELECT 1'); // takes the snapshot
    await a.query(`SELECT * FROM get_or_create_g3(technology => 'Go', proficiency_level => 'x')`);
    const error = wrapError(await t.throwsAsync(b.query(`SELECT * FROM get_or_create_g3(technology => 'Go', proficiency_level => 'x')`)));
    t.true(error instanceof SerializationFailureError, error.message);
    await b.query('ROLLBACK');
  } finally {
    await Promise.all([a.end(), b.end()]);
  }
});

// ---------------------------------------------------------------------------
// Races, many real connections

test.serial('64 callers upserting 50 hot keys for 3 seconds: 50 rows, no error, and the actions add up', async (t) => {
  await sql(`CREATE TABLE hot (id bigserial PRIMARY KEY, k text NOT NULL UNIQUE, v int, updates int NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now())`);
  await sql(`CREATE TRIGGER hot_touch BEFORE UPDATE ON hot FOR EACH ROW EXECUTE FUNCTION touch()`);
  await upsert({ table: 'hot', key: 'k' });
  await exclusively(() =>
    withPool(
      url(),
      async (pool) => {
        const client = createClient({ pool });
        const actions: Record<string, number> = { inserted: 0, updated: 0, unchanged: 0 };
        const errors: unknown[] = [];
        let calls = 0;
        const until = Date.now() + 3_000;
        await Promise.all(
          Array.from({ length: 64 }, async () => {
            while (Date.now() < until) {
              calls++;
              const key = `k${Math.floor(Math.random() * 50)}`;
              // Few distinct values, so many calls find the value already stored.
              await client.callOne<{ action: string }>('upsert_hot', { k: key, v: Math.floor(Math.random() * 3) }).then(
                (r) => void (actions[r.action] = (actions[r.action] ?? 0) + 1),
                (e: unknown) => errors.push(e),
              );
            }
          }),
        );
        t.is(pool.totalCount, 64);
        t.deepEqual(errors, []);
        t.is(actions['inserted'], 50);
        t.is(actions['inserted']! + actions['updated']! + actions['unchanged']!, calls);
        t.true(actions['unchanged']! > 0 && actions['updated']! > 0);
        const [r] = await sql(`SELECT count(*)::int AS rows, count(DISTINCT k)::int AS keys, sum(updates)::int AS updates FROM hot`);
        // The trigger ran exactly once per 'updated', never for 'unchanged'.
        t.deepEqual(r, { rows: 50, keys: 50, updates: actions['updated'] });
        t.log(`${calls} calls: ${JSON.stringify(actions)}`);
      },
      { max: 64 },
    ),
  );
});

test.serial('get_or_create: 32 callers released at once on one key get one inserted row, the same for all', async (t) => {
  await sql(`CREATE TABLE once (id bigserial PRIMARY KEY, k text NOT NULL UNIQUE, caller int)`);
  await upsert({ table: 'once', key: 'k' });
  await exclusively(() =>
    withPool(
      url(),
      async (pool) => {
        const [gate, observer] = [await connect(url()), await connect(url())];
        try {
          for (let round = 0; round < 5; round++) {
            // Every caller queues behind one table lock, then all go at once.
            await gate.query('BEGIN');
            await gate.query('LOCK TABLE once IN SHARE ROW EXCLUSIVE MODE');
            const calls = Array.from({ length: 32 }, (_, caller) =>
              tracked(pool.query(`SELECT * FROM get_or_create_once(k => $1, caller => $2)`, [`key-${round}`, caller]).then((r) => r.rows[0])),
            );
            const gatePid = await pidOf(gate);
            for (;;) {
              if (calls.some((c) => c.settled())) throw new Error('a caller finished before the gate opened');
              // From another connection: inside the gate's transaction pg_stat_activity would not change.
              const { rows } = await observer.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))`, [gatePid]);
              if (rows[0].n === 32) break;
            }
            await gate.query('COMMIT');
            const results = await Promise.all(calls.map((c) => c.promise));
            t.is(results.filter((r) => r.action === 'inserted').length, 1, `round ${round}`);
            t.is(results.filter((r) => r.action === 'existing').length, 31);
            t.is(new Set(results.map((r) => r.id)).size, 1);
            t.is(new Set(results.map((r) => r.caller)).size, 1);
          }
        } finally {
          await Promise.all([gate.end(), observer.end()]);
        }
      },
      { max: 32 },
    ),
  );
  t.deepEqual(await sql(`SELECT count(*)::int AS n FROM once`), [{ n: 5 }]);
});

test.serial('get_or_create keeps returning rows while other connections delete the key', async (t) => {
  await sql(`CREATE TABLE churn (id bigserial PRIMARY KEY, k text NOT NULL UNIQUE)`);
  await upsert({ table: 'churn', key: 'k' });
  await exclusively(() =>
    withPool(
      url(),
      async (pool) => {
        const errors: unknown[] = [];
        const seen: Record<string, number> = {};
        const until = Date.now() + 2_000;
        const getters = Array.from({ length: 12 }, async () => {
          while (Date.now() < until) {
            await pool.query(`SELECT * FROM get_or_create_churn(k => 'x')`).then(
              (r) => {
                if (r.rows.length !== 1 || r.rows[0].k !== 'x') errors.push(r.rows);
                seen[r.rows[0]?.action] = (seen[r.rows[0]?.action] ?? 0) + 1;
              },
              (e: unknown) => errors.push(e),
            );
          }
        });
        const deleters = Array.from({ length: 4 }, async () => {
          while (Date.now() < until) await pool.query(`DELETE FROM churn WHERE k = 'x'`).catch((e: unknown) => errors.push(e));
        });
        await Promise.all([...getters, ...deleters]);
        t.deepEqual(errors, []);
        t.true((seen['inserted'] ?? 0) > 0 && (seen['existing'] ?? 0) > 0, JSON.stringify(seen));
      },
      { max: 16 },
    ),
  );
});

// ---------------------------------------------------------------------------
// Batches

test('upsert_many: duplicate keys in the batch, last one wins; left-out keys are not written, JSON null writes NULL', async (t) => {
  await assessments('b1');
  await db.callOne('upsert_b1', { technology: 'Go', proficiency_level: 'x', assessment_id: 'old', total_questions: 9 });
  const rows = await db.call<any>('upsert_b1_many', {
    rows: JSON.stringify([
      { technology: 'Rust', proficiency_level: 'x', total_questions: 1 },
      { technology: 'Go', proficiency_level: 'x', assessment_id: null },
      { technology: 'Rust', proficiency_level: 'x', total_questions: 2 },
      { technology: 'Ada', proficiency_level: 'x' },
    ]),
  });
  // One row per key, in key order.
  t.deepEqual(
    rows.map((r) => [r.technology, r.assessment_id, r.total_questions, r.action]),
    [
      ['Ada', null, null, 'inserted'],
      ['Go', null, 9, 'updated'],
      ['Rust', null, 2, 'inserted'],
    ],
  );
  const again = await db.call<any>('upsert_b1_many', { rows: JSON.stringify([{ technology: 'Go', proficiency_level: 'x', total_questions: 9 }]) });
  t.like(again[0], { action: 'unchanged', assessment_id: null });
  const typo = wrapError(await t.throwsAsync(db.call('upsert_b1_many', { rows: JSON.stringify([{ technology: 'Go', proficiency_level: 'x', totl: 1 }]) })));
  t.is(typo.code, '42703');
  t.regex((typo.cause as Error).message, /rows hold key 'totl', which is not a writable column of public\.b1/);
  t.deepEqual(await db.call('upsert_b1_many', { rows: '[]' }), []);
});

test('upsert_many: rows that cannot conflict (a NULL in the key, or outside a partial key) are all inserted', async (t) => {
  await sql(`CREATE TABLE nk (a text, b text, n int, UNIQUE (a, b))`);
  await upsert({ table: 'nk', key: ['a', 'b'] });
  const rows = await db.call<any>('upsert_nk_many', {
    rows: JSON.stringify([
      { a: 'p', b: null, n: 1 },
      { a: 'p', b: null, n: 2 },
      { a: 'p', b: 'q', n: 3 },
      { a: 'p', b: 'q', n: 4 },
    ]),
  });
  t.deepEqual(
    rows.map((r) => [r.b, r.n, r.action]),
    [
      ['q', 4, 'inserted'],
      [null, 1, 'inserted'],
      [null, 2, 'inserted'],
    ],
  );

  await sql(`CREATE TABLE nnd (a text, n int, UNIQUE NULLS NOT DISTINCT (a))`);
  await upsert({ table: 'nnd', key: 'a' });
  const nulls = await db.call<any>('upsert_nnd_many', {
    rows: JSON.stringify([
      { a: null, n: 1 },
      { a: null, n: 2 },
    ]),
  });
  t.deepEqual(
    nulls.map((r) => [r.n, r.action]),
    [[2, 'inserted']],
  );
  t.like(await db.callOne('upsert_nnd', { n: 3 }), { a: null, n: 3, action: 'updated' });
});

test('upsert_many takes row locks in key order: a batch waiting for its first key holds none of the others', async (t) => {
  await sql(`CREATE TABLE locks (k int PRIMARY KEY, v int)`);
  await sql(`INSERT INTO locks SELECT g, 0 FROM generate_series(1, 3) AS g`);
  await upsert({ table: 'locks', key: 'k' });
  const [a, b, observer] = [await connect(url()), await connect(url()), await connect(url())];
  const batch = (keys: number[], v: number) => JSON.stringify(keys.map((k) => ({ k, v })));
  try {
    const [aPid, bPid] = [await pidOf(a), await pidOf(b)];
    await a.query('BEGIN');
    await a.query('SELECT * FROM upsert_locks_many($1)', [batch([1], 1)]);
    await b.query('BEGIN');
    const waiting = tracked(b.query('SELECT * FROM upsert_locks_many($1)', [batch([3, 2, 1], 2)]));
    t.deepEqual(await blockedBy(observer, bPid, waiting.settled), [aPid]);
    // b waits on key 1 and has locked neither 2 nor 3, so a takes them in the opposite order without a deadlock.
    await a.query('SELECT * FROM upsert_locks_many($1)', [batch([3, 2], 1)]);
    await a.query('COMMIT');
    t.deepEqual(
      (await waiting.promise).rows.map((r) => [r.k, r.action]),
      [
        [1, 'updated'],
        [2, 'updated'],
        [3, 'updated'],
      ],
    );
    await b.query('COMMIT');

    // The same with a raw multi-row INSERT ... ON CONFLICT, in the order given: a deadlock.
    await a.query('BEGIN');
    await a.query('INSERT INTO locks VALUES (1, 5) ON CONFLICT (k) DO UPDATE SET v = excluded.v');
    await b.query('BEGIN');
    const raw = tracked(b.query('INSERT INTO locks VALUES (3, 6), (2, 6), (1, 6) ON CONFLICT (k) DO UPDATE SET v = excluded.v'));
    await blockedBy(observer, bPid, raw.settled);
    const outcomes = await Promise.allSettled([a.query('INSERT INTO locks VALUES (3, 5), (2, 5) ON CONFLICT (k) DO UPDATE SET v = excluded.v'), raw.promise]);
    const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    t.is(failed.length, 1);
    t.is((failed[0]!.reason as { code?: string }).code, '40P01');
    await Promise.all([a.query('ROLLBACK'), b.query('ROLLBACK')]);
  } finally {
    await Promise.all([a.end(), b.end(), observer.end()]);
  }
});

test.serial('upsert_many: 8 connections writing overlapping batches in opposite orders for 2 seconds: no deadlock, no error', async (t) => {
  await sql(`CREATE TABLE batches (k int PRIMARY KEY, v int, w int)`);
  await upsert({ table: 'batches', key: 'k' });
  await exclusively(() =>
    withPool(
      url(),
      async (pool) => {
        const errors: unknown[] = [];
        let batches = 0;
        const until = Date.now() + 2_000;
        await Promise.all(
          Array.from({ length: 8 }, async (_, w) => {
            const c = await pool.connect();
            try {
              while (Date.now() < until) {
                const keys = Array.from({ length: 20 }, (_, i) => i);
                if (w % 2 === 1) keys.reverse();
                // Duplicates inside the batch too: never "cannot affect row a second time".
                const rows = [...keys, ...keys.slice(0, 5)].map((k) => ({ k, v: batches, w }));
                try {
                  await c.query('BEGIN');
                  await c.query('SELECT * FROM upsert_batches_many($1)', [JSON.stringify(rows)]);
                  await c.query('COMMIT');
                  batches++;
                } catch (e) {
                  errors.push(e);
                  await c.query('ROLLBACK');
                }
              }
            } finally {
              c.release();
            }
          }),
        );
        t.deepEqual(errors, []);
        t.true(batches > 8);
        t.deepEqual(await sql(`SELECT count(*)::int AS n FROM batches`), [{ n: 20 }]);
      },
      { max: 8 },
    ),
  );
});

// ---------------------------------------------------------------------------
// Partial keys

test('partial key: one active sprint per team, by upsert and get_or_create; closed sprints are always inserted', async (t) => {
  await sql(`CREATE TABLE sprints (id serial PRIMARY KEY, team_id int NOT NULL, status text NOT NULL DEFAULT 'active', goal text)`);
  await runMigration(url(), (pgm) => {
    addUniqueKey(pgm, { table: 'sprints', columns: 'team_id', where: "status = 'active'", name: 'one_active_sprint' });
    addUpsert(pgm, { table: 'sprints', key: 'team_id', where: "status = 'active'" });
  });
  await sql(`INSERT INTO sprints (team_id, status) VALUES (1, 'closed'), (1, 'closed')`);
  const active = await db.callOne<any>('get_or_create_sprints', { team_id: 1, goal: 'ship' });
  t.like(active, { id: 3, status: 'active', goal: 'ship', action: 'inserted' });
  t.like(await db.callOne('get_or_create_sprints', { team_id: 1, goal: 'other' }), { id: 3, goal: 'ship', action: 'existing' });
  t.like(await db.callOne('upsert_sprints', { team_id: 1, goal: 'ship it' }), { id: 3, goal: 'ship it', action: 'updated' });
  t.like(await db.callOne('upsert_sprints', { team_id: 1, status: 'closed', goal: 'old' }), { id: 6, status: 'closed', action: 'inserted' });
  const many = await db.call<any>('upsert_sprints_many', {
    rows: JSON.stringify([{ team_id: 1, status: 'closed' }, { team_id: 1, status: 'closed' }, { team_id: 1, goal: 'last' }, { team_id: 2 }]),
  });
  t.deepEqual(
    many.map((r) => [r.team_id, r.status, r.goal, r.action]),
    [
      [1, 'closed', null, 'inserted'],
      [1, 'closed', null, 'inserted'],
      [1, 'active', 'last', 'updated'],
      [2, 'active', null, 'inserted'],
    ],
  );
  const second = wrapError(await t.throwsAsync(sql(`INSERT INTO sprints (team_id) VALUES (1)`)));
  t.true(second instanceof UniqueViolationError);
  t.deepEqual(await sql(`SELECT status, count(*)::int AS n FROM sprints WHERE team_id = 1 GROUP BY 1 ORDER BY 1`), [
    { status: 'active', n: 1 },
    { status: 'closed', n: 5 },
  ]);
});

// ---------------------------------------------------------------------------
// Checked when the migration runs

test('a key or where that matches no unique index fails the migration, naming the table and columns, and creates nothing', async (t) => {
  await sql(`CREATE TABLE keyed (id serial PRIMARY KEY, a int, b int, status text, d int, UNIQUE (a, b))`);
  await sql(`CREATE UNIQUE INDEX keyed_active ON keyed (b) WHERE status = 'active'`);
  await sql(`ALTER TABLE keyed ADD CONSTRAINT keyed_d UNIQUE (d) DEFERRABLE`);
  const cases: Array<[Partial<AddUpsertOptions>, string, RegExp]> = [
    [
      { key: ['a'] },
      'key',
      /no unique index or constraint of table keyed matches ON CONFLICT \(a\); the table's unique keys: keyed_a_b_key \(a, b\); keyed_active \(b\) WHERE status = 'active'::text; keyed_d \(d\); keyed_pkey \(id\)$/,
    ],
    [{ key: ['b'] }, 'where', /matches ON CONFLICT \(b\);.* \(a partial unique key needs option "where" with its condition\)/],
    [{ key: ['b'], where: "status = 'closed'" }, 'where', /ON CONFLICT \(b\) WHERE \(status = 'closed'\)/],
    [{ key: ['b'], where: 'nope' }, 'where', /column "nope" does not exist/],
    [{ key: ['d'] }, 'key', /the unique key keyed_d of table keyed is DEFERRABLE/],
    [{ key: ['a', 'missing'] }, 'key', /column missing does not exist in table keyed/],
    [{ table: 'nope' }, 'table', /table "nope" does not exist/],
    [{ key: [] }, 'key', /at least one column/],
    [{ key: ['a', 'a'] }, 'key', /names column a twice/],
    [{ where: '' }, 'where', /non-empty/],
    [{ update: [''] }, 'update', /not NULL or empty/],
    [{ name: '' }, 'name', /non-empty/],
    [{ name: 'é'.repeat(25) }, 'name', /must fit in 63 bytes/],
  ];
  for (const [override, option, message] of cases) {
    const error = await t.throwsAsync(upsert({ table: 'keyed', key: 'a', ...override }), { instanceOf: RacefreeConfigError, message });
    t.is(error?.option, option, JSON.stringify(override));
    t.is(error?.code, 'RF100');
  }
  t.deepEqual(await sql(`SELECT proname FROM pg_proc WHERE proname LIKE '%keyed%'`), []);
  // Key order does not matter; a partial key with its condition is fine.
  await upsert({ table: 'keyed', key: ['b', 'a'] });
  await upsert({ table: 'keyed', key: 'b', where: "status = 'active'", name: 'keyed_active' });
  t.is((await sql(`SELECT count(*)::int AS n FROM pg_proc WHERE proname LIKE '%keyed%'`))[0].n, 6);
});

test('other bad options found in the database: RacefreeConfigError before any DDL', async (t) => {
  await sql(`CREATE TABLE audit (id serial PRIMARY KEY, k text UNIQUE, action text)`);
  await sql(`CREATE TABLE gen (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, k text UNIQUE, g text GENERATED ALWAYS AS (k || '!') STORED)`);
  await sql(`CREATE UNIQUE INDEX gen_g ON gen (g)`);
  await upsert({ table: 'gen', key: 'k' });
  await sql(`CREATE TABLE ${'x'.repeat(50)} (k text UNIQUE)`);
  const cases: Array<[AddUpsertOptions, string, RegExp]> = [
    [{ table: 'audit', key: 'k' }, 'table', /has a column named action/],
    [{ table: 'gen', key: 'k' }, 'name', /public\.get_or_create_gen, public\.upsert_gen, public\.upsert_gen_many, public\.upsert_gen_result already exist/],
    [{ table: 'gen', key: 'g', name: 'gen_g' }, 'key', /key column g of gen is generated/],
    [{ table: 'gen', key: 'id', name: 'gen_id' }, 'key', /key column id of gen is generated/],
    [{ table: 'gen', key: 'k', update: ['k'], name: 'gen2' }, 'update', /names k, which an update cannot change/],
    [{ table: 'gen', key: 'k', update: ['g'], name: 'gen2' }, 'update', /names g/],
    [{ table: 'gen', key: 'k', update: ['nope'], name: 'gen2' }, 'update', /column nope does not exist/],
    [{ table: 'x'.repeat(50), key: 'k' }, 'name', /get_or_create_x{50} and upsert_x{50}_many must fit in 63 bytes/],
  ];
  for (const [options, option, message] of cases) {
    const error = await t.throwsAsync(upsert(options), { instanceOf: RacefreeConfigError, message });
    t.is(error?.option, option, JSON.stringify(options));
  }
});

test('options of the wrong type are rejected before any SQL is queued', (t) => {
  const cases: Array<[Partial<AddUpsertOptions>, string, RegExp]> = [
    [{ key: {} as never }, 'key', /column name or an array/],
    [{ name: 1 as never }, 'name', /must be a string/],
    [{ update: 'a' as never }, 'update', /array/],
    [{ update: [null] as never }, 'update', /must be a string/],
  ];
  for (const [override, option, message] of cases) {
    let queued = 0;
    const pgm = { sql: () => queued++ } as never;
    const error = t.throws(() => addUpsert(pgm, { table: 't', key: 'a', ...override }), { instanceOf: RacefreeConfigError, message });
    t.is(error?.option, option, JSON.stringify(override));
    t.is(queued, 0);
  }
});

// ---------------------------------------------------------------------------
// Catalog

test('generated functions are documented, closed to PUBLIC, granted to racefree_user, and read as SQL', async (t) => {
  await assessments('doc');
  const rows = await sql(`
    SELECT p.proname, obj_description(p.oid, 'pg_proc') AS comment, pg_get_functiondef(p.oid) AS def,
           has_function_privilege('public', p.oid, 'EXECUTE') AS public_exec,
           has_function_privilege('racefree_user', p.oid, 'EXECUTE') AS user_exec, p.prosecdef AS definer
      FROM pg_proc AS p WHERE p.proname IN ('upsert_doc', 'get_or_create_doc', 'upsert_doc_many') ORDER BY 1`);
  t.deepEqual(
    rows.map((r) => r.proname),
    ['get_or_create_doc', 'upsert_doc', 'upsert_doc_many'],
  );
  for (const r of rows) {
    t.like(r, { public_exec: false, user_exec: true, definer: false });
    t.regex(r.comment, /public\.doc on key \(technology, proficiency_level\)/);
    t.regex(r.def, /INSERT INTO public\.doc AS cur/);
    t.regex(r.def, /ON CONFLICT \(technology, proficiency_level\)/);
  }
  const by = (name: string) => rows.find((r) => r.proname === name)!;
  t.regex(by('upsert_doc').comment, /inserted, updated or unchanged; always exactly one row/);
  t.regex(by('upsert_doc').comment, /may change assessment_id, questions, total_questions, created_at, updated_at, updates/);
  t.regex(by('get_or_create_doc').comment, /never returns zero rows/);
  t.regex(by('upsert_doc_many').comment, /the last one wins/);
  t.regex(by('upsert_doc').def, /upsert_doc\(id bigint DEFAULT NULL::bigint, assessment_id text DEFAULT NULL::text,[^)]*\)\n RETURNS upsert_doc_result\n/);
  t.regex(by('upsert_doc_many').def, /RETURNS SETOF upsert_doc_result\n/);
  const [type] = await sql(`SELECT obj_description('upsert_doc_result'::regtype, 'pg_type') AS comment,
    (SELECT array_agg(attname ORDER BY attnum)::text[] FROM pg_attribute WHERE attrelid = 'upsert_doc_result'::regclass) AS columns`);
  t.regex(type.comment, /^Generated by racefree addUpsert\(\): what upsert_doc, get_or_create_doc and upsert_doc_many return/);
  t.deepEqual(type.columns, [
    'id',
    'assessment_id',
    'technology',
    'proficiency_level',
    'questions',
    'total_questions',
    'created_at',
    'updated_at',
    'updates',
    'action',
  ]);
});

test('dropUpsert undoes addUpsert; dropping what is not there fails', async (t) => {
  await sql(`CREATE TABLE dropme (k text PRIMARY KEY, v text)`);
  const functions = () =>
    sql(`SELECT proname AS name FROM pg_proc WHERE proname LIKE '%dropme%' UNION ALL SELECT typname FROM pg_type WHERE typname LIKE '%dropme%' ORDER BY 1`);
  const before = await functions();
  const options = { table: 'dropme', key: 'k' };
  await upsert(options);
  await upsert({ ...options, name: 'dropme_too' });
  t.is((await functions()).length - before.length, 2 * (3 + 2), 'each: three functions, a row type and its array type');
  await runMigration(url(), (pgm) => {
    dropUpsert(pgm, options);
    dropUpsert(pgm, { table: { schema: 'public', name: 'dropme' }, name: 'dropme_too' });
  });
  t.deepEqual(await functions(), before);
  await t.throwsAsync(
    runMigration(url(), (pgm) => dropUpsert(pgm, options)),
    {
      instanceOf: RacefreeConfigError,
      message: /dropUpsert: no upsert 'dropme' of table dropme in racefree\.registry/,
    },
  );
});

test('hostile identifiers are names, never SQL', async (t) => {
  const table = 'x"; DROP TABLE canary; --';
  await sql('CREATE TABLE canary (x int)');
  await sql(`CREATE SCHEMA ${quoteIdent('Sch "1"')}`);
  await sql(`CREATE TABLE ${quoteIdent('Sch "1"')}.${quoteIdent(table)} (
    ${quoteIdent('Key; "k"')} text PRIMARY KEY, ${quoteIdent('v$1')} text, ${quoteIdent('key')} int, ${quoteIdent('cur')} text)`);
  await upsert({ table: { schema: 'Sch "1"', name: table }, key: 'Key; "k"', name: 'we"ird' });
  const fn: [string, string] = ['Sch "1"', 'upsert_we"ird'];
  t.like(await db.callOne(fn, { 'Key; "k"': 'a', v$1: 'b', key: 1, cur: 'c' }), { 'Key; "k"': 'a', v$1: 'b', key: 1, cur: 'c', action: 'inserted' });
  t.like(await db.callOne(fn, { 'Key; "k"': 'a', v$1: 'B' }), { v$1: 'B', key: 1, action: 'updated' });
  t.like(await db.callOne(['Sch "1"', 'get_or_create_we"ird'], { 'Key; "k"': 'a' }), { v$1: 'B', action: 'existing' });
  const many = await db.call<any>(['Sch "1"', 'upsert_we"ird_many'], { rows: JSON.stringify([{ 'Key; "k"': 'a', cur: 'd' }]) });
  t.like(many[0], { cur: 'd', action: 'updated' });
  t.is((await sql(`SELECT to_regclass('canary') IS NOT NULL AS ok`))[0].ok, true);
});

test('the error a caller sees for a violation of another unique key is the usual typed one', async (t) => {
  await sql(`CREATE TABLE two (k text PRIMARY KEY, email text UNIQUE)`);
  await upsert({ table: 'two', key: 'k' });
  await db.callOne('upsert_two', { k: 'a', email: 'x@example.com' });
  const error = await t.throwsAsync<RacefreeError>(db.callOne('upsert_two', { k: 'b', email: 'x@example.com' }));
  t.true(error instanceof UniqueViolationError);
  t.is((error as UniqueViolationError).constraint, 'two_email_key');
});
