import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { withDatabase } from './database-url.js';
import { migrate } from './migrate/lanes.js';
import { quoteIdent } from './quote.js';

/**
 * Run `fn` on a fresh database `<prefix>_<hex>` on the server at `serverUrl`,
 * with the kit's migrations applied, and drop it afterwards whatever happens.
 * For the demo, the benchmarks and the examples, which must leave nothing behind.
 * @internal
 */
export async function withScratchDatabase<T>(serverUrl: string, prefix: string, fn: (databaseUrl: string) => Promise<T>): Promise<T> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
    try {
      const url = withDatabase(serverUrl, name);
      await migrate({ databaseUrl: url, dir: false });
      return await fn(url);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}
