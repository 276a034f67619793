import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { withDatabase } from './database-url.js';
import { migrate } from '../migrate/lanes.js';
import { quoteIdent } from '../quote.js';

/**
 * Run `fn` on a fresh database `<prefix>_<hex>` on the server at `serverUrl`,
 * with the kit's migrations applied (and the user migrations of `options.dir`),
 * and drop it afterwards whatever happens. For the demo, the benchmarks, the
 * examples and the checks, which must leave nothing behind.
 * @internal
 */
export async function withScratchDatabase<T>(
  serverUrl: string,
  prefix: string,
  fn: (databaseUrl: string) => Promise<T>,
  options: { readonly dir?: string } = {},
): Promise<T> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
    try {
      const url = withDatabase(serverUrl, name);
      await migrate({ databaseUrl: url, dir: options.dir ?? false });
      return await fn(url);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}
