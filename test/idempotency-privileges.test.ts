/**
 * Idempotency keys as an application role (LOGIN, NOSUPERUSER, granted
 * racefree_user): what it may do still works, and what it must not do fails
 * with the documented error and changes nothing. Serial: concurrent GRANTs
 * on one database row fail with "tuple concurrently updated".
 */
import test from 'ava';
import pg from 'pg';

import { createClient } from '../src/index.js';
import { useTestDatabase, withClient } from './helpers/db.js';
import { withAppRole } from './helpers/roles.js';

const url = useTestDatabase(test);

interface KeyRow {
  scope: string;
  key: string;
  response: unknown;
  completed_at: Date | null;
}

const keyRows = (scope: string): Promise<KeyRow[]> =>
  withClient(
    url(),
    async (c) =>
      (await c.query<KeyRow>('SELECT scope, key, response, completed_at FROM racefree.idempotency_keys WHERE scope = $1 ORDER BY key', [scope])).rows,
  );

test.serial('idempotency_complete fills in only the claim of its own transaction: one another transaction committed is 55000, untouched', async (t) => {
  await withAppRole(url(), ['racefree_user'], async (app) => {
    // A service that claimed and committed without completing (plain SQL, a crash between two statements of its own).
    await withClient(app.url, (c) => c.query(`SELECT racefree.idempotency_claim('tenant:1', 'abandoned', 'f1')`));
    const before = await keyRows('tenant:1');
    await withClient(app.url, async (c) => {
      await c.query('BEGIN');
      const err = await t.throwsAsync(c.query(`SELECT racefree.idempotency_complete('tenant:1', 'abandoned', '{"planted": true}')`));
      t.is((err as pg.DatabaseError).code, '55000');
      t.regex(err!.message, /has no claim of this transaction awaiting a response/);
      await c.query('ROLLBACK');
    });
    t.deepEqual(await keyRows('tenant:1'), before);
    t.is(before[0]?.completed_at, null);
  });
});

test.serial('a claim made in a savepoint is completed by its top-level transaction', async (t) => {
  await withAppRole(url(), ['racefree_user'], async (app) => {
    await withClient(app.url, async (c) => {
      await c.query('BEGIN');
      await c.query('SAVEPOINT claim');
      await c.query(`SELECT racefree.idempotency_claim('tenant:2', 'nested', 'f')`);
      await c.query('RELEASE SAVEPOINT claim');
      await c.query(`SELECT racefree.idempotency_complete('tenant:2', 'nested', '"done"')`);
      await c.query('COMMIT');
    });
    t.like((await keyRows('tenant:2'))[0], { key: 'nested', response: 'done' });
  });
});

test.serial('an application role cannot prune; racefree_admin can', async (t) => {
  await withClient(url(), (c) =>
    c.query(`
      INSERT INTO racefree.idempotency_keys (scope, key, fingerprint, response, created_at, completed_at)
      SELECT 'tenant:' || i, 'old', 'f', '1', now() - interval '30 days', now() - interval '30 days' FROM generate_series(3, 5) AS i`),
  );
  await withAppRole(url(), ['racefree_user'], async (app) => {
    const err = await t.throwsAsync(withClient(app.url, (c) => c.query(`SELECT racefree.idempotency_prune('0 seconds', 100000)`)));
    t.is((err as pg.DatabaseError).code, '42501');
  });
  for (const scope of ['tenant:3', 'tenant:4', 'tenant:5']) t.is((await keyRows(scope)).length, 1, scope);
  await withAppRole(url(), ['racefree_admin'], async (ops) => {
    const { rows } = await withClient(ops.url, (c) => c.query(`SELECT racefree.idempotency_prune('1 day', 100000) AS n`));
    t.true(Number(rows[0].n) >= 3);
  });
  for (const scope of ['tenant:3', 'tenant:4', 'tenant:5']) t.is((await keyRows(scope)).length, 0, scope);
});

test.serial('db.once as an application role: a 16-caller storm runs each key once, and lone surrogates never reach the server', async (t) => {
  await withClient(url(), async (c) => {
    await c.query(`CREATE TABLE priv_work (scope text, key text)`);
    await c.query(`CREATE FUNCTION priv_do(scope text, key text) RETURNS void LANGUAGE sql AS 'INSERT INTO priv_work VALUES ($1, $2)'`);
  });
  await withAppRole(url(), ['racefree_user'], async (app) => {
    await withClient(url(), (c) => c.query(`GRANT INSERT ON priv_work TO ${app.name}`));
    // 16 connections, so all 16 callers of a round run at once (a connection string alone gives pg's 10).
    const pool = new pg.Pool({ connectionString: app.url, max: 16 });
    pool.on('error', () => undefined);
    const db = createClient({ pool });
    try {
      const calls = Array.from({ length: 16 * 10 }, (_, i) =>
        db.once({ scope: 'tenant:storm', key: `k${i % 10}`, request: { i: i % 10 } }, async (tx) => {
          await tx.call('priv_do', { scope: 'tenant:storm', key: `k${i % 10}` });
          return i % 10;
        }),
      );
      const results = await Promise.all(calls);
      t.is(results.filter((r) => !r.replayed).length, 10);
      t.true(results.every((r, i) => r.response === i % 10));
      const { rows } = await withClient(url(), (c) => c.query(`SELECT key, count(*)::int AS n FROM priv_work GROUP BY key ORDER BY key`));
      t.deepEqual(
        rows.map((r) => r.n),
        Array(10).fill(1),
      );

      // 'x\ud800' and 'x\udbff' would both arrive as 'x\ufffd'.
      await db.once({ scope: 'tenant:s', key: 'x\ufffd', request: 'A' }, async () => 'A');
      for (const key of ['x\ud800', 'x\udbff']) {
        const err = await t.throwsAsync(db.once({ scope: 'tenant:s', key, request: 'B' }, async () => 'B'));
        t.like(err, { name: 'InvalidIdempotencyKeyError', code: 'RF002', argument: 'key' });
      }
      t.is((await keyRows('tenant:s')).length, 1);
    } finally {
      await pool.end();
    }
  });
});
