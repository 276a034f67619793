/**
 * Through a real PgBouncer in transaction mode (`RACEFREE_TEST_PGBOUNCER_URL`,
 * set by .ci/run, or one this file starts in front of the test server): the
 * client with `preparedStatements: false`, and `racefree migrate`, which must
 * refuse such a connection. A missing pgbouncer fails these tests.
 */

import { spawn } from 'node:child_process';
import path from 'node:path';

import test from 'ava';
import pg from 'pg';

import { withDatabase } from '../src/tooling/database-url.js';
import { POOLER_MESSAGE } from '../src/migrate/lanes.js';
import { addUpsert } from '../src/migrate/index.js';
import { quoteIdent } from '../src/quote.js';
import { root, runCli } from './helpers/cli.js';
import { useTestDatabase, withClient } from './helpers/db.js';
import { runMigration } from './helpers/migration.js';
import { pgBouncerFor, startPgBouncer, throughPooler, type PgBouncer } from './helpers/pgbouncer.js';

const url = useTestDatabase(test);
let pooler: PgBouncer;

test.before(async () => {
  pooler = await pgBouncerFor(process.env['DATABASE_URL']!);
  await withClient(url(), (client) =>
    client.query(`
      CREATE TABLE pooled (k int PRIMARY KEY, v text NOT NULL);
      CREATE FUNCTION pooled_keys(lo int, hi int) RETURNS SETOF pooled LANGUAGE sql AS
        'SELECT * FROM pooled WHERE k IN (lo, lo + 100, hi)';
      CREATE TABLE once_work (id bigserial PRIMARY KEY, key text NOT NULL);
      CREATE FUNCTION record_once(key text) RETURNS void LANGUAGE sql AS 'INSERT INTO once_work (key) VALUES (key)';
    `),
  );
  await runMigration(url(), (pgm) => addUpsert(pgm, { table: 'pooled', key: ['k'] }));
});

test.after.always(async () => {
  await pooler?.stop();
});

interface AppResult {
  errors: Record<string, number>;
  messages: string[];
  executed: number;
  replayed: number;
}

function app(run: string, prepared: boolean): Promise<AppResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'dist/test/fixtures/pooler-app.js')], {
      env: { ...process.env, POOLER_APP_URL: throughPooler(url(), pooler), POOLER_APP_RUN: run, POOLER_APP_PREPARED: String(prepared) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        if (code !== 0) throw new Error(`pooler app exited with ${code}: ${out}`);
        resolve(JSON.parse(out.trim().split('\n').pop()!) as AppResult);
      } catch (error) {
        reject(error);
      }
    });
  });
}

test.serial(
  'preparedStatements: false through PgBouncer (transaction mode): two app processes one after the other, 0 errors, one execution per key',
  async (t) => {
    for (const run of ['first', 'second']) {
      const result = await app(run, false);
      t.deepEqual(result.errors, {}, `${run}: ${result.messages.join('; ')}`);
      t.is(result.executed, 50, `${run}: each of the 50 keys ran once`);
      t.is(result.replayed, 50 * 7, `${run}: the 7 duplicates of each key replayed`);
    }
    const perKey = await withClient(
      url(),
      async (c) => (await c.query<{ key: string; n: number }>('SELECT key, count(*)::int AS n FROM once_work GROUP BY key')).rows,
    );
    t.is(perKey.length, 100);
    t.deepEqual(
      perKey.filter((r) => r.n !== 1),
      [],
    );
    const rows = await withClient(url(), async (c) => (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pooled')).rows[0]!.n);
    t.is(rows, 16 + 3 * 16);
  },
);

test.serial('named statements (the default) through the same pooler fail: the reason the option exists', async (t) => {
  const result = await app('named', true);
  const codes = Object.keys(result.errors);
  t.true(
    codes.some((c) => c === '42P05' || c === '26000'),
    JSON.stringify(result.errors),
  );
});

/** A fresh, empty database (no kit) on the test server, dropped afterwards. */
async function freshDatabase(t: import('ava').ExecutionContext): Promise<string> {
  const name = `racefree_pooler_${Math.random().toString(16).slice(2, 10)}`;
  const server = process.env['DATABASE_URL']!;
  await withClient(server, (c) => c.query(`CREATE DATABASE ${quoteIdent(name)}`));
  t.teardown(() => withClient(server, (c) => c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`)));
  return withDatabase(server, name);
}

async function advisoryLocks(database: string): Promise<number> {
  return withClient(
    process.env['DATABASE_URL']!,
    async (c) =>
      (
        await c.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = $1",
          [database],
        )
      ).rows[0]!.n,
  );
}

test.serial(
  '10 concurrent migrate up through the transaction pooler: each refuses before any change, no lock is left, a direct run then succeeds',
  async (t) => {
    const direct = await freshDatabase(t);
    const viaPooler = throughPooler(direct, pooler);
    const runs = await Promise.all(Array.from({ length: 10 }, () => runCli(['migrate', 'up', '--database-url', viaPooler])));
    for (const run of runs) {
      t.is(run.code, 1, run.stderr);
      t.is(run.stderr.trim().split('\n').pop(), `racefree: RacefreeConfigError [RF100]: ${POOLER_MESSAGE}`);
    }
    const database = new URL(direct).pathname.slice(1);
    const changed = await withClient(
      direct,
      async (c) =>
        (
          await c.query<{ schema: string | null; table: string | null }>(
            "SELECT to_regnamespace('racefree')::text AS schema, to_regclass('public.pgmigrations')::text AS table",
          )
        ).rows[0]!,
    );
    t.deepEqual(changed, { schema: null, table: null }, 'nothing was created');
    t.is(await advisoryLocks(database), 0, 'no advisory lock left on any backend');
    const ok = await runCli(['migrate', 'up', '--database-url', direct]);
    t.is(ok.code, 0, ok.stderr);
    const kit = await withClient(direct, async (c) =>
      (await c.query<{ name: string }>('SELECT name FROM racefree.kit_migrations ORDER BY id')).rows.map((r) => r.name),
    );
    t.is(new Set(kit).size, kit.length, 'each kit migration recorded once');
    t.true(kit.length >= 4);
  },
);

test.serial('migrate up through a session-mode pooler works', async (t) => {
  const direct = await freshDatabase(t);
  const session = await startPgBouncer({ upstream: process.env['DATABASE_URL']!, poolMode: 'session' });
  try {
    const runs = await Promise.all(Array.from({ length: 5 }, () => runCli(['migrate', 'up', '--database-url', throughPooler(direct, session)])));
    for (const run of runs) t.is(run.code, 0, run.stderr);
    const kit = await withClient(direct, async (c) => (await c.query<{ name: string }>('SELECT name FROM racefree.kit_migrations')).rows.map((r) => r.name));
    t.is(new Set(kit).size, kit.length);
    t.true(kit.length >= 4);
  } finally {
    await session.stop();
  }
  t.is(await advisoryLocks(new URL(direct).pathname.slice(1)), 0);
});

test('the pooler really pools: two client connections, one after the other, get the same server backend', async (t) => {
  // Guards the tests above against a pooler that silently runs in session mode.
  const a = new pg.Client({ connectionString: throughPooler(url(), pooler) });
  const b = new pg.Client({ connectionString: throughPooler(url(), pooler) });
  await a.connect();
  await b.connect();
  try {
    const first = (await a.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
    const second = (await b.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
    t.is(second, first);
  } finally {
    await a.end();
    await b.end();
  }
});
