import { randomBytes } from 'node:crypto';
import { withDatabase } from './database-url.js';
import { migrate } from '../migrate/lanes.js';
import { quoteIdent } from '../quote.js';
import { withClient } from './with-client.js';

/** Options of {@link withScratchDatabase}. @internal */
export interface ScratchDatabaseOptions {
  /** Your migrations, applied after the kit's; default none. */
  readonly dir?: string;
  /** `false`: leave it empty, no migrations at all (the caller migrates it its own way). */
  readonly migrate?: boolean;
}

/**
 * Run `fn` on a fresh database `<prefix>_<hex>` on the server at `serverUrl`,
 * with the kit's migrations applied (and the user migrations of `options.dir`),
 * and drop it afterwards whatever happens. For the demo, the benchmarks, the
 * examples, the checks and the tests, which must leave nothing behind.
 * @internal
 */
export async function withScratchDatabase<T>(
  serverUrl: string,
  prefix: string,
  fn: (databaseUrl: string) => Promise<T>,
  options: ScratchDatabaseOptions = {},
): Promise<T> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await withClient(serverUrl, (admin) => admin.query(`CREATE DATABASE ${quoteIdent(name)}`));
  try {
    const url = withDatabase(serverUrl, name);
    if (options.migrate !== false) await migrate({ databaseUrl: url, dir: options.dir ?? false });
    return await fn(url);
  } finally {
    await withClient(serverUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
  }
}
