import test from 'ava';
import pg from 'pg';
import { createClient, type Db } from '../src/index.js';
import { runDoctor } from '../src/tooling/doctor/index.js';
import { addNumbering, addUpsert, dropNumbering } from '../src/migrate/index.js';
import { blockedBy, pidOf, tracked } from './helpers/blocking.js';
import { connect, exclusively, useTestDatabase, withClient, withPool } from './helpers/db.js';
import { runMigration } from './helpers/migration.js';

// Generated upserts on a table with a gapless numbering take a number only
// when they insert a row: the numbering's BEFORE INSERT trigger fires before
// ON CONFLICT finds the key, so an update must not go through an INSERT.

const url = useTestDatabase(test);

async function sql<R extends pg.QueryResultRow = any>(text: string, values: unknown[] = []): Promise<R[]> {
  return withClient(url(), async (c) => (await c.query<R>(text, values)).rows);
}

/** A table with unique key ref, gapless G-{seq} on number, and addUpsert on ref, added in `order`. */
async function invoices(table: string, order: 'numbering first' | 'upsert first' = 'numbering first'): Promise<void> {
  await sql(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, ref text NOT NULL UNIQUE, number text, amount numeric(10,2), note text)`);
  const numbering = () => runMigration(url(), (pgm) => addNumbering(pgm, { table, column: 'number', template: 'G-{seq}', name: `${table}_no` }));
  const upsert = () => runMigration(url(), (pgm) => addUpsert(pgm, { table, key: 'ref' }));
  if (order === 'numbering first') {
    await numbering();
    await upsert();
  } else {
    await upsert();
    await numbering();
  }
}

const numbers = async (table: string) => (await sql<{ number: string }>(`SELECT number FROM ${table} ORDER BY id`)).map((r) => r.number);
const gapless = (n: number) => Array.from({ length: n }, (_, i) => `G-${i + 1}`);

let db: Db;
test.before(() => {
  db = createClient({ connectionString: url() });
});
test.after.always(() => db?.end());

test('upsert of an existing key (updated or unchanged) takes no number: the next insert gets G-2', async (t) => {
  await invoices('inv1');
  t.like(await db.callOne('upsert_inv1', { ref: 'a', amount: 1 }), { number: 'G-1', action: 'inserted' });
  t.like(await db.callOne('upsert_inv1', { ref: 'a', amount: 2 }), { number: 'G-1', amount: '2.00', action: 'updated' });
  // Compared as the column stores it: 2.001 is 2.00 in numeric(10,2).
  t.like(await db.callOne('upsert_inv1', { ref: 'a', amount: 2.001 }), { number: 'G-1', amount: '2.00', action: 'unchanged' });
  t.like(await db.callOne('upsert_inv1', { ref: 'a' }), { number: 'G-1', action: 'unchanged' });
  await sql(`INSERT INTO inv1 (ref) VALUES ('plain')`);
  t.deepEqual(await numbers('inv1'), ['G-1', 'G-2']);
  t.like(await db.callOne('upsert_inv1', { ref: 'b' }), { number: 'G-3', action: 'inserted' });
});

test('get_or_create of an existing key takes no number', async (t) => {
  await invoices('inv2');
  t.like(await db.callOne('get_or_create_inv2', { ref: 'a', note: 'first' }), { number: 'G-1', note: 'first', action: 'inserted' });
  t.like(await db.callOne('get_or_create_inv2', { ref: 'a', note: 'second' }), { number: 'G-1', note: 'first', action: 'existing' });
  t.like(await db.callOne('get_or_create_inv2', { ref: 'b' }), { number: 'G-2', action: 'inserted' });
  t.deepEqual(await numbers('inv2'), gapless(2));
});

test('upsert_many mixing existing and new keys: numbers only for the new rows, in key order; last row of a key wins', async (t) => {
  await invoices('inv3');
  await db.callOne('upsert_inv3', { ref: 'b', amount: 1 });
  await db.callOne('upsert_inv3', { ref: 'd', amount: 1 });
  const rows = await sql(`SELECT ref, number, amount::text, action FROM upsert_inv3_many($1)`, [
    JSON.stringify([{ ref: 'c' }, { ref: 'b', amount: 5 }, { ref: 'a', note: 'x' }, { ref: 'd', amount: 1 }, { ref: 'b', amount: 6 }]),
  ]);
  t.deepEqual(rows, [
    { ref: 'a', number: 'G-3', amount: null, action: 'inserted' },
    { ref: 'b', number: 'G-1', amount: '6.00', action: 'updated' },
    { ref: 'c', number: 'G-4', amount: null, action: 'inserted' },
    { ref: 'd', number: 'G-2', amount: '1.00', action: 'unchanged' },
  ]);
  // A JSON null writes NULL.
  t.like((await sql(`SELECT * FROM upsert_inv3_many('[{"ref": "b", "amount": null}]')`))[0], { amount: null, action: 'updated' });
  await sql(`INSERT INTO inv3 (ref) VALUES ('plain')`);
  t.deepEqual((await numbers('inv3')).sort(), gapless(5));
});

test('a partial unique key: a row outside it never conflicts, so it is inserted even when the key is taken inside it', async (t) => {
  await sql(`CREATE TABLE orders (id bigserial PRIMARY KEY, ref text NOT NULL, status text NOT NULL DEFAULT 'open', number text, note text)`);
  await sql(`CREATE UNIQUE INDEX orders_one_open ON orders (ref) WHERE status = 'open'`);
  await runMigration(url(), (pgm) => {
    addNumbering(pgm, { table: 'orders', column: 'number', template: 'G-{seq}', name: 'order_no' });
    addUpsert(pgm, { table: 'orders', key: 'ref', where: "status = 'open'" });
  });
  t.like(await db.callOne('upsert_orders', { ref: 'a' }), { number: 'G-1', status: 'open', action: 'inserted' });
  t.like(await db.callOne('upsert_orders', { ref: 'a', note: 'n' }), { number: 'G-1', note: 'n', action: 'updated' });
  t.like(await db.callOne('upsert_orders', { ref: 'a', status: 'closed' }), { number: 'G-2', status: 'closed', action: 'inserted' });
  t.like(await db.callOne('get_or_create_orders', { ref: 'a', status: 'closed' }), { number: 'G-3', action: 'inserted' });
  t.like(await db.callOne('get_or_create_orders', { ref: 'a' }), { number: 'G-1', action: 'existing' });
  t.deepEqual(await numbers('orders'), gapless(3));
});

// ---------------------------------------------------------------------------
// Races, deterministic

for (const end of ['COMMIT', 'ROLLBACK'] as const) {
  test(`upsert waiting for an uncommitted upsert of its new key, which then ends in ${end}: numbers stay 1..n`, async (t) => {
    const table = `inv_${end.toLowerCase()}`;
    await invoices(table);
    await db.callOne(`upsert_${table}`, { ref: 'before' });
    const [a, b, observer] = [await connect(url()), await connect(url()), await connect(url())];
    try {
      const [aPid, bPid] = [await pidOf(a), await pidOf(b)];
      await a.query('BEGIN');
      const mine = (await a.query(`SELECT * FROM upsert_${table}(ref => 'k', amount => 1)`)).rows[0];
      t.like(mine, { number: 'G-2', action: 'inserted' });
      await b.query('BEGIN');
      const waiting = tracked(b.query(`SELECT * FROM upsert_${table}(ref => 'k', amount => 2)`));
      t.deepEqual(await blockedBy(observer, bPid, waiting.settled), [aPid]);
      await a.query(end);
      const theirs = (await waiting.promise).rows[0];
      if (end === 'COMMIT') t.like(theirs, { id: mine.id, number: 'G-2', amount: '2.00', action: 'updated' });
      // A's number came back with its rollback; B's insert takes it.
      else t.like(theirs, { number: 'G-2', amount: '2.00', action: 'inserted' });
      await b.query('COMMIT');
      await sql(`INSERT INTO ${table} (ref) VALUES ('after')`);
      t.deepEqual(await numbers(table), gapless(3));
    } finally {
      await Promise.all([a.end(), b.end(), observer.end()]);
    }
  });
}

test('upsert waiting for an uncommitted upsert of its new key with equal values ends unchanged', async (t) => {
  await invoices('inv_same');
  const [a, b, observer] = [await connect(url()), await connect(url()), await connect(url())];
  try {
    const [aPid, bPid] = [await pidOf(a), await pidOf(b)];
    await a.query('BEGIN');
    await a.query(`SELECT * FROM upsert_inv_same(ref => 'k', amount => 1)`);
    const waiting = tracked(b.query(`SELECT * FROM upsert_inv_same(ref => 'k', amount => 1)`));
    t.deepEqual(await blockedBy(observer, bPid, waiting.settled), [aPid]);
    await a.query('COMMIT');
    t.like((await waiting.promise).rows[0], { number: 'G-1', action: 'unchanged' });
    await sql(`INSERT INTO inv_same (ref) VALUES ('after')`);
    t.deepEqual(await numbers('inv_same'), gapless(2));
  } finally {
    await Promise.all([a.end(), b.end(), observer.end()]);
  }
});

test('get_or_create and upsert_many waiting for an uncommitted insert of their key: existing, updated, no number taken', async (t) => {
  await invoices('inv_wait');
  const [a, b, observer] = [await connect(url()), await connect(url()), await connect(url())];
  try {
    const [aPid, bPid] = [await pidOf(a), await pidOf(b)];
    await a.query('BEGIN');
    await a.query(`SELECT * FROM upsert_inv_wait_many('[{"ref": "k"}, {"ref": "m"}]')`);
    const goc = tracked(b.query(`SELECT * FROM get_or_create_inv_wait(ref => 'k')`));
    t.deepEqual(await blockedBy(observer, bPid, goc.settled), [aPid]);
    await a.query('COMMIT');
    t.like((await goc.promise).rows[0], { number: 'G-1', action: 'existing' });

    await a.query('BEGIN');
    await a.query(`SELECT * FROM upsert_inv_wait(ref => 'n')`);
    const many = tracked(b.query(`SELECT ref, number, action FROM upsert_inv_wait_many('[{"ref": "n", "note": "b"}, {"ref": "o"}]')`));
    t.deepEqual(await blockedBy(observer, bPid, many.settled), [aPid]);
    await a.query('COMMIT');
    t.deepEqual((await many.promise).rows, [
      { ref: 'n', number: 'G-3', action: 'updated' },
      { ref: 'o', number: 'G-4', action: 'inserted' },
    ]);
    t.deepEqual(await numbers('inv_wait'), gapless(4));
  } finally {
    await Promise.all([a.end(), b.end(), observer.end()]);
  }
});

test('upsert_many takes the counter before any row lock: a batch waiting for the counter holds none of its existing rows', async (t) => {
  await invoices('inv_order');
  await db.callOne('upsert_inv_order', { ref: 'k1' });
  const [holder, a, other, observer] = [await connect(url()), await connect(url()), await connect(url()), await connect(url())];
  try {
    const [holderPid, aPid] = [await pidOf(holder), await pidOf(a)];
    // An uncommitted insert holds the numbering's counter (G-2).
    await holder.query('BEGIN');
    await holder.query(`INSERT INTO inv_order (ref) VALUES ('plain')`);
    // The existing key sorts before the new one, yet the batch inserts first.
    const waiting = tracked(
      a.query(`SELECT ref, number, amount::text, action FROM upsert_inv_order_many($1)`, [JSON.stringify([{ ref: 'k2' }, { ref: 'k1', amount: 5 }])]),
    );
    t.deepEqual(await blockedBy(observer, aPid, waiting.settled), [holderPid]);
    await other.query('BEGIN');
    t.is((await other.query(`SELECT FROM inv_order WHERE ref = 'k1' FOR UPDATE NOWAIT`)).rowCount, 1);
    await other.query('ROLLBACK');
    await holder.query('COMMIT');
    t.deepEqual((await waiting.promise).rows, [
      { ref: 'k1', number: 'G-1', amount: '5.00', action: 'updated' },
      { ref: 'k2', number: 'G-3', amount: null, action: 'inserted' },
    ]);
    t.deepEqual(await numbers('inv_order'), gapless(3));
  } finally {
    await Promise.all([holder.end(), a.end(), other.end(), observer.end()]);
  }
});

// ---------------------------------------------------------------------------
// Races, many real connections

test.serial('32 connections mixing upserts, get_or_create and batches of 50 hot keys with plain inserts: one row per key, numbers 1..n', async (t) => {
  await invoices('hot');
  await exclusively(() =>
    withPool(
      url(),
      async (pool) => {
        const errors: unknown[] = [];
        const actions: Record<string, number> = {};
        const count = (a: string) => void (actions[a] = (actions[a] ?? 0) + 1);
        let plain = 0;
        let call = 0;
        const keys = new Set<string>();
        await Promise.all(
          Array.from({ length: 32 }, async (_, worker) => {
            for (let i = 0; i < 12; i++) {
              const n = call++;
              const key = `k${(n * 7 + worker) % 50}`;
              // Only the keyed calls write their key: a plain insert writes plain-n.
              if (n % 4 !== 3) keys.add(key);
              const run = async () => {
                switch (n % 4) {
                  case 0:
                    count((await pool.query(`SELECT action FROM upsert_hot(ref => $1, amount => $2)`, [key, n % 3])).rows[0].action);
                    break;
                  case 1:
                    count((await pool.query(`SELECT action FROM get_or_create_hot(ref => $1)`, [key])).rows[0].action);
                    break;
                  case 2:
                    keys.add(`k${(n + 1) % 50}`);
                    for (const r of (
                      await pool.query(`SELECT action FROM upsert_hot_many($1)`, [JSON.stringify([{ ref: key }, { ref: `k${(n + 1) % 50}`, note: 'b' }])])
                    ).rows)
                      count(r.action);
                    break;
                  default:
                    await pool.query(`INSERT INTO hot (ref) VALUES ($1)`, [`plain-${n}`]);
                    plain++;
                }
              };
              await run().catch((e: unknown) => errors.push(e));
            }
          }),
        );
        t.is(pool.totalCount, 32);
        t.deepEqual(errors, []);
        const [r] = await sql(`SELECT count(*)::int AS rows, count(DISTINCT ref)::int AS refs, count(*) FILTER (WHERE ref LIKE 'k%')::int AS keyed FROM hot`);
        t.deepEqual(r, { rows: keys.size + plain, refs: keys.size + plain, keyed: keys.size });
        t.is(actions['inserted'], keys.size);
        const committed = (await numbers('hot')).map((x) => Number(x.slice(2))).sort((x, y) => x - y);
        t.deepEqual(
          committed,
          Array.from({ length: keys.size + plain }, (_, i) => i + 1),
        );
        t.log(`${call} calls, ${plain} plain inserts: ${JSON.stringify(actions)}`);
      },
      { max: 32 },
    ),
  );
});

test.serial('16 connections running upsert_many of a changed existing key with a new key before or after it: no deadlock, numbers 1..n', async (t) => {
  // Each call locks an existing row and inserts a new key. Were the rows handled
  // in key order only, a call with the new key after the existing one would lock
  // the row and then wait for the numbering's counter, held by a call with the
  // new key first that waits for the row: 40P01.
  await invoices('mix');
  const existing = ['m0', 'm1', 'm2'];
  await sql(`SELECT FROM upsert_mix_many($1)`, [JSON.stringify(existing.map((ref) => ({ ref, amount: 0 })))]);
  await exclusively(() =>
    withPool(
      url(),
      async (pool) => {
        const errors: unknown[] = [];
        const actions: Record<string, number> = {};
        let call = 0;
        await Promise.all(
          Array.from({ length: 16 }, async () => {
            for (let i = 0; i < 10; i++) {
              const n = ++call;
              const fresh = `${n % 2 === 0 ? 'a' : 'z'}${n}`;
              const rows = [
                { ref: existing[n % existing.length], amount: n },
                { ref: fresh, note: 'new' },
              ];
              try {
                const result = await pool.query(`SELECT ref, action FROM upsert_mix_many($1)`, [JSON.stringify(rows)]);
                t.deepEqual(
                  result.rows.map((r) => r.ref),
                  rows.map((r) => r.ref).sort(),
                );
                for (const r of result.rows) actions[r.action] = (actions[r.action] ?? 0) + 1;
              } catch (e) {
                errors.push(e);
              }
            }
          }),
        );
        t.log(`${call} calls, ${errors.length} errors`);
        t.deepEqual(
          errors.map((e) => (e as { code?: string }).code),
          [],
        );
        t.is(pool.totalCount, 16);
        t.deepEqual(actions, { updated: call, inserted: call });
        const [r] = await sql(`SELECT count(*)::int AS rows, count(DISTINCT ref)::int AS refs FROM mix`);
        t.deepEqual(r, { rows: call + existing.length, refs: call + existing.length });
        const committed = (await numbers('mix')).map((x) => Number(x.slice(2))).sort((x, y) => x - y);
        t.deepEqual(
          committed,
          Array.from({ length: call + existing.length }, (_, i) => i + 1),
        );
      },
      { max: 16 },
    ),
  );
});

// ---------------------------------------------------------------------------
// The generated code follows the table's numberings

const sources = async (table: string) =>
  (
    await sql<{ def: string }>(
      `SELECT replace(pg_get_functiondef(p.oid), $1, 'T') AS def FROM pg_proc AS p
        WHERE p.pronamespace = 'public'::regnamespace AND p.proname IN ($2, $3, $4) ORDER BY p.proname`,
      [table, `upsert_${table}`, `get_or_create_${table}`, `upsert_${table}_many`],
    )
  ).map((r) => r.def);
const stale = async () => (await runDoctor({ databaseUrl: url(), dir: false })).findings.filter((f) => f.check === 'generated_stale');

test('the comments of the generated functions say how they write on a gapless-numbered table; dropNumbering brings the plain ones back', async (t) => {
  await invoices('doc_g');
  const comments = async () =>
    (
      await sql<{ c: string }>(
        `SELECT obj_description(p.oid, 'pg_proc') AS c FROM pg_proc AS p
          WHERE p.pronamespace = 'public'::regnamespace AND p.proname IN ('upsert_doc_g', 'get_or_create_doc_g', 'upsert_doc_g_many') ORDER BY p.proname`,
      )
    ).map((r) => r.c);
  const [goc = '', upsert = '', many = ''] = await comments();
  t.regex(goc, /SELECT, then INSERT \.\.\. ON CONFLICT DO NOTHING in a subtransaction/);
  t.regex(upsert, /^Upsert into public\.doc_g on key \(ref\): finds the row by its key and locks it \(SELECT \.\.\. FOR UPDATE\), or inserts a new key/);
  t.notRegex(upsert, /one INSERT/);
  t.regex(many, /First the keys not found are inserted.* before any row lock/);
  await runMigration(url(), (pgm) => dropNumbering(pgm, { table: 'doc_g', column: 'number', name: 'doc_g_no' }));
  const [, plainUpsert = '', plainMany = ''] = await comments();
  t.regex(plainUpsert, /^Upsert into public\.doc_g on key \(ref\): one INSERT \.\.\. ON CONFLICT DO UPDATE statement\. /);
  t.regex(plainMany, /Rows are written in key order, so concurrent batches lock keys in the same order and never deadlock\./);
});

test.serial('addNumbering before or after addUpsert: the same generated code, doctor clean; dropNumbering brings the plain code back', async (t) => {
  await invoices('ord_a', 'numbering first');
  await invoices('ord_b', 'upsert first');
  t.deepEqual(await stale(), []);
  const [a, b] = [await sources('ord_a'), await sources('ord_b')];
  t.is(a.length, 3);
  t.deepEqual(b, a);
  t.true(a.every((def) => def.includes(`RAISE SQLSTATE 'RF190'`)));
  t.like(await db.callOne('upsert_ord_b', { ref: 'x' }), { number: 'G-1', action: 'inserted' });
  t.like(await db.callOne('upsert_ord_b', { ref: 'x', amount: 3 }), { action: 'updated' });
  t.like(await db.callOne('upsert_ord_b', { ref: 'y' }), { number: 'G-2', action: 'inserted' });

  // Without the numbering, the code is what a table without one gets.
  await sql(`CREATE TABLE ord_c (id bigserial PRIMARY KEY, ref text NOT NULL UNIQUE, number text, amount numeric(10,2), note text)`);
  await runMigration(url(), (pgm) => addUpsert(pgm, { table: 'ord_c', key: 'ref' }));
  await runMigration(url(), (pgm) => dropNumbering(pgm, { table: 'ord_b', column: 'number', name: 'ord_b_no' }));
  t.deepEqual(
    await sources('ord_b'),
    (await sources('ord_c')).map((def) => def.replaceAll('ord_c', 'ord_b')),
  );
  t.deepEqual(await stale(), []);
  t.like(await db.callOne('upsert_ord_b', { ref: 'x', amount: 4 }), { action: 'updated' });

  // An upgraded database: a description from before the key, rendered afresh by _regenerate_all.
  await sql(`UPDATE racefree.registry SET description = description - 'gapless' WHERE builder = 'addUpsert' AND table_name = 'ord_a'`);
  await sql(`SELECT racefree_internal._upsert_install(description, true) FROM racefree.registry WHERE builder = 'addUpsert' AND table_name = 'ord_a'`);
  t.false((await sources('ord_a')).some((def) => def.includes('RF190')));
  await sql(`SELECT racefree_internal._regenerate_all()`);
  t.deepEqual(await sources('ord_a'), a);
  t.deepEqual(await stale(), []);
});
