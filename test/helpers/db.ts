/**
 * Test helpers: one fresh database per test file, and short-lived connections.
 */

import type { TestFn } from 'ava';
import pg from 'pg';

import { withScratchDatabase } from '../../src/tooling/scratch-database.js';
import { withClient } from '../../src/tooling/with-client.js';
import { createTestDatabase, type TestDatabase } from '../../src/tooling/testing/index.js';

/**
 * Give the test file its own database, cloned from the migrated template
 * (`DATABASE_URL` + `RACEFREE_TEST_TEMPLATE`, both set by `npm test`), and
 * drop it after the last test. Returns a getter for its connection string.
 *
 * Call it before declaring other hooks: its `before` hook is serial, so the
 * file's own (concurrent) `before` hooks start once the database exists.
 *
 * @example
 * ```ts
 * const url = useTestDatabase(test);
 * test('…', async (t) => withClient(url(), async (client) => { … }));
 * ```
 */
export function useTestDatabase(test: TestFn<any>): () => string {
  let db: TestDatabase | undefined;
  test.serial.before(async () => {
    db = await createTestDatabase();
  });
  test.after.always(async () => {
    if (db === undefined) return;
    // The file's own after.always hooks run alongside this one and may still
    // be closing their pools: give them a moment before FORCE ends sessions.
    await sessionsGone(db.name, 2_000);
    await db.drop();
  });
  return () => {
    if (db === undefined) throw new Error('useTestDatabase: the database exists from test.before on');
    return db.connectionString;
  };
}

/** Wait until nobody is connected to `database` (checked from DATABASE_URL), at most `ms`. */
async function sessionsGone(database: string, ms: number): Promise<void> {
  const serverUrl = process.env['DATABASE_URL'];
  if (serverUrl === undefined || serverUrl === '') return;
  const deadline = Date.now() + ms;
  await withClient(serverUrl, async (client) => {
    for (;;) {
      const { rowCount } = await client.query('select 1 from pg_stat_activity where datname = $1', [database]);
      if (rowCount === 0 || Date.now() > deadline) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
}

/** A connected client; the caller ends it. */
export async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

export { withClient };

/** Run `fn` with a pool of up to `max` connections (default 10) that is ended afterwards. */
export async function withPool<T>(url: string, fn: (pool: pg.Pool) => Promise<T>, options: { max?: number } = {}): Promise<T> {
  const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10 });
  // pool.end() resolves before its clients' sockets close: a backend ended
  // meanwhile (a test dropping its role or database) must not crash the run.
  pool.on('error', () => undefined);
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

/**
 * Run `fn` while holding a server-wide advisory lock, so tests that open
 * dozens of connections never overlap across test files (max_connections).
 */
export async function exclusively<T>(fn: () => Promise<T>): Promise<T> {
  const server = process.env['DATABASE_URL'];
  if (!server) return fn();
  // Advisory locks are per database: take it in the server's own database, shared by every test file.
  const client = await connect(server);
  try {
    await client.query('SELECT pg_advisory_lock(7240001)');
    return await fn();
  } finally {
    await client.end(); // releases the lock
  }
}

/** An empty database on the DATABASE_URL server (not cloned from the template), dropped after `fn`. */
export async function withEmptyDatabase<T>(fn: (dbUrl: string) => Promise<T>): Promise<T> {
  return withScratchDatabase(process.env['DATABASE_URL']!, 'racefree_test_empty', fn, { migrate: false });
}
