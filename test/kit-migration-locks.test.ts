/**
 * Kit migration 0062 alters tables that every numbered insert and every
 * idempotency claim writes, which takes ACCESS EXCLUSIVE. On a live database
 * a long transaction must not make it queue those writers for long, and when
 * it gives up it must change nothing.
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

/** Wait until a backend asks for ACCESS EXCLUSIVE on racefree.counters and waits for it. */
async function lockRequested(observer: pg.Client, settled: () => boolean): Promise<void> {
  for (;;) {
    if (settled()) throw new Error('the migration finished instead of waiting for its lock');
    const { rowCount } = await observer.query(
      `SELECT 1 FROM pg_locks WHERE relation = 'racefree.counters'::regclass AND mode = 'AccessExclusiveLock' AND NOT granted`,
    );
    if (rowCount !== 0) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
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
      const latencies: number[] = [];
      while (!first.settled()) {
        const started = performance.now();
        await writer.query('INSERT INTO busy DEFAULT VALUES');
        latencies.push(performance.now() - started);
      }
      const error = await t.throwsAsync(first.promise);
      t.is((error as { code?: string }).code, '55P03');
      // The sessions holding the tables, by pid: the holder, and a writer caught with its lock granted.
      const message = error!.message;
      t.regex(
        message,
        /^racefree kit migration 0062: could not lock racefree\.counters, racefree\.idempotency_keys in ACCESS EXCLUSIVE mode in 10 attempts of 1000 ms: held by .*; this step changed nothing$/,
      );
      t.true(
        message.includes(`pid ${holderPid} (idle in transaction, RowExclusiveLock lock: INSERT INTO held DEFAULT VALUES)`),
        `the message names the transaction holding the lock: ${message}`,
      );
      const slowest = Math.max(...latencies);
      t.true(slowest < 2_000, `the slowest insert waited ${slowest.toFixed(0)} ms (one attempt is 1 s)`);
      t.true(latencies.length > 10, `${latencies.length} inserts went through while the migration tried`);
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
