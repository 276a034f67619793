/**
 * Kit migration 0062 alters tables that every numbered insert and every
 * idempotency claim writes, which takes ACCESS EXCLUSIVE; kit migration 0070
 * replaces triggers on the users' tables of fast numberings, which takes
 * SHARE ROW EXCLUSIVE. On a live database a long transaction must not make
 * either queue writers for long, and when one gives up it must change nothing.
 */

import { rm } from 'node:fs/promises';
import test from 'ava';
import type pg from 'pg';
import { pidOf, tracked } from './helpers/blocking.js';
import { connect, withClient, withEmptyDatabase } from './helpers/db.js';
import { KIT, kitDir, lane } from './helpers/kit.js';

const CHECKS = `SELECT count(*)::int AS n FROM pg_constraint
                 WHERE conrelid IN ('racefree.counters'::regclass, 'racefree.idempotency_keys'::regclass) AND contype = 'c'`;
const APPLIED = `SELECT count(*)::int AS n FROM racefree.kit_migrations WHERE name = '0062_schema'`;

/** Wait until a backend asks for a lock (ACCESS EXCLUSIVE on racefree.counters unless told) and waits for it. */
async function lockRequested(observer: pg.Client, settled: () => boolean, relation = 'racefree.counters', mode = 'AccessExclusiveLock'): Promise<void> {
  for (;;) {
    if (settled()) throw new Error('the migration finished instead of waiting for its lock');
    const { rowCount } = await observer.query(`SELECT 1 FROM pg_locks WHERE relation = $1::regclass AND mode = $2 AND NOT granted`, [relation, mode]);
    if (rowCount !== 0) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Runs inserts one after another until the migration settles, which must be
 * a 55P03; asserts that none waited longer than one 1 s lock attempt.
 */
async function insertsWhileItTries(
  t: import('ava').ExecutionContext,
  writer: pg.Client,
  insert: string,
  migration: { promise: Promise<unknown>; settled: () => boolean },
): Promise<{ message: string; latencies: number[] }> {
  const latencies: number[] = [];
  while (!migration.settled()) {
    const started = performance.now();
    await writer.query(insert);
    latencies.push(performance.now() - started);
  }
  const error = await t.throwsAsync(migration.promise);
  t.is((error as { code?: string }).code, '55P03');
  // A loop, not Math.max(...latencies): a fast server runs more inserts than a call can take arguments.
  const slowest = latencies.reduce((a, b) => Math.max(a, b), 0);
  t.true(slowest < 2_000, `the slowest insert waited ${slowest.toFixed(0)} ms (one attempt is 1 s)`);
  t.true(latencies.length > 10, `${latencies.length} inserts went through while the migration tried`);
  return { message: error!.message, latencies };
}

test('kit migration 0062 behind a long transaction: writers wait at most one 1 s lock attempt, it gives up with 55P03 changing nothing, and applies once the transaction ends', async (t) => {
  const oldKit = await kitDir('0061', [], { asReleased: true });
  const newKit = await kitDir(KIT.at(-1)!.slice(0, 4), [], { asReleased: true });
  t.teardown(() => Promise.all([oldKit, newKit].map((dir) => rm(dir, { recursive: true }))).then(() => undefined));
  await withEmptyDatabase(async (dbUrl) => {
    await lane(dbUrl, oldKit, true);
    await withClient(dbUrl, (c) =>
      c.query(`CREATE TABLE held (id bigserial PRIMARY KEY, n text);
               CREATE TABLE busy (id bigserial PRIMARY KEY, n text);
               SELECT racefree.add_numbering('held', 'n', 'H-{seq}', name => 'held');
               SELECT racefree.add_numbering('busy', 'n', 'B-{seq}', name => 'busy');`),
    );
    const [holder, writer, observer] = await Promise.all([connect(dbUrl), connect(dbUrl), connect(dbUrl)]);
    try {
      // A transaction holding a number keeps racefree.counters locked (ROW EXCLUSIVE) until it ends.
      const holderPid = await pidOf(holder);
      await holder.query('BEGIN');
      await holder.query('INSERT INTO held DEFAULT VALUES');
      const first = tracked(lane(dbUrl, newKit, true));
      await lockRequested(observer, first.settled);
      // Meanwhile another table's numbered inserts go on, one after another.
      const { message, latencies } = await insertsWhileItTries(t, writer, 'INSERT INTO busy DEFAULT VALUES', first);
      // The sessions holding the tables, by pid: the holder, and a writer caught with its lock granted.
      t.regex(
        message,
        /^racefree kit migration 0062: could not lock racefree\.counters, racefree\.idempotency_keys in ACCESS EXCLUSIVE mode in 10 attempts of 1000 ms: held by .*; this step changed nothing$/,
      );
      t.true(
        message.includes(`pid ${holderPid} (idle in transaction, RowExclusiveLock lock: INSERT INTO held DEFAULT VALUES)`),
        `the message names the transaction holding the lock: ${message}`,
      );
      t.deepEqual(
        await withClient(dbUrl, async (c) => ({ checks: (await c.query(CHECKS)).rows[0].n, applied: (await c.query(APPLIED)).rows[0].n })),
        { checks: 4, applied: 0 },
        'the failed attempt changed nothing',
      );

      await holder.query('COMMIT');
      await lane(dbUrl, newKit, true);
      const after = await withClient(dbUrl, async (c) => ({
        checks: (await c.query(CHECKS)).rows[0].n,
        applied: (await c.query(APPLIED)).rows[0].n,
        numbers: (await c.query(`SELECT array_agg(n ORDER BY id) AS n FROM busy`)).rows[0].n as string[],
        empty: await c.query(`SELECT racefree.next_value('')`).then(
          () => 'no error',
          (e: { code?: string; message: string }) => `${e.code}: ${e.message}`,
        ),
      }));
      t.deepEqual(
        after,
        {
          checks: 0,
          applied: 1,
          numbers: latencies.map((_, i) => `B-${i + 1}`),
          empty: '23514: racefree.next_value: counter must not be empty',
        },
        'applied: no CHECK left, the inserts meanwhile numbered without a gap, and next_value still refuses an empty counter',
      );
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await Promise.all([holder.end(), writer.end(), observer.end()]);
    }
  });
});

test('kit migration 0070 behind a long transaction: inserts into the fast tables it converts wait at most one 1 s attempt, it gives up with 55P03 changing nothing, then converts them all', async (t) => {
  const oldKit = await kitDir('0062', [], { asReleased: true });
  const newKit = await kitDir(KIT.at(-1)!.slice(0, 4), [], { asReleased: true });
  t.teardown(() => Promise.all([oldKit, newKit].map((dir) => rm(dir, { recursive: true }))).then(() => undefined));
  const TRIGGERS = `SELECT array_agg(pg_get_triggerdef(oid) ORDER BY tgname) AS d FROM pg_trigger
                     WHERE tgrelid IN ('heldf'::regclass, 'busyf'::regclass) AND tgname LIKE '%_explicit'`;
  const GENERATOR = `SELECT array_agg(DISTINCT generator_version) AS v FROM racefree.registry`;
  await withEmptyDatabase(async (dbUrl) => {
    await lane(dbUrl, oldKit, true);
    await withClient(dbUrl, (c) =>
      c.query(`CREATE TABLE heldf (id bigserial PRIMARY KEY, n text);
               CREATE TABLE busyf (id bigserial PRIMARY KEY, n text);
               SELECT racefree.add_numbering('heldf', 'n', 'H-{seq}', mode => 'fast', name => 'heldf');
               SELECT racefree.add_numbering('busyf', 'n', 'F-{seq}', mode => 'fast', name => 'busyf');`),
    );
    const before = await withClient(dbUrl, async (c) => (await c.query(TRIGGERS)).rows[0].d as string[]);
    t.true(before.every((d) => d.includes(' WHEN ') && d.includes('racefree_internal._numbering_explicit(')));
    const [holder, writer, observer] = await Promise.all([connect(dbUrl), connect(dbUrl), connect(dbUrl)]);
    try {
      const holderPid = await pidOf(holder);
      await holder.query('BEGIN');
      await holder.query('INSERT INTO heldf DEFAULT VALUES');
      const first = tracked(lane(dbUrl, newKit, true));
      await lockRequested(observer, first.settled, 'heldf', 'ShareRowExclusiveLock');
      const { message, latencies } = await insertsWhileItTries(t, writer, 'INSERT INTO busyf DEFAULT VALUES', first);
      t.regex(
        message,
        /^racefree_internal\._regenerate_all \(explicit-number triggers\): could not lock (public\.)?heldf, (public\.)?busyf in SHARE ROW EXCLUSIVE mode in 10 attempts of 1000 ms: held by .*; this step changed nothing$/,
      );
      t.true(
        message.includes(`pid ${holderPid} (idle in transaction, RowExclusiveLock lock: INSERT INTO heldf DEFAULT VALUES)`),
        `the message names the transaction holding the lock: ${message}`,
      );
      t.deepEqual(
        await withClient(dbUrl, async (c) => ({ triggers: (await c.query(TRIGGERS)).rows[0].d, generator: (await c.query(GENERATOR)).rows[0].v })),
        { triggers: before, generator: [5] },
        'the failed attempt changed nothing',
      );

      await holder.query('COMMIT');
      await lane(dbUrl, newKit, true);
      const after = await withClient(dbUrl, async (c) => ({
        triggers: (await c.query(TRIGGERS)).rows[0].d,
        generator: (await c.query(GENERATOR)).rows[0].v,
        numbers: (await c.query(`SELECT array_agg(n ORDER BY id) AS n FROM busyf`)).rows[0].n as string[],
        explicit: (await c.query(`INSERT INTO heldf (n) VALUES ('H-40')`)) && (await c.query(`INSERT INTO heldf DEFAULT VALUES RETURNING n`)).rows[0].n,
      }));
      t.deepEqual(after, {
        triggers: [
          'CREATE TRIGGER racefree_busyf_explicit BEFORE INSERT ON public.busyf FOR EACH ROW EXECUTE FUNCTION racefree_busyf_explicit()',
          'CREATE TRIGGER racefree_heldf_explicit BEFORE INSERT ON public.heldf FOR EACH ROW EXECUTE FUNCTION racefree_heldf_explicit()',
        ],
        generator: [(await withClient(dbUrl, (c) => c.query('SELECT racefree_internal._generator_version() AS v'))).rows[0].v],
        numbers: latencies.map((_, i) => `F-${i + 1}`),
        explicit: 'H-41',
      });
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await Promise.all([holder.end(), writer.end(), observer.end()]);
    }
  });
});
