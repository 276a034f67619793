/**
 * A database migrated with an older kit, then upgraded: the kit's migrations
 * up to `oldKit`, `prepare` (tables and builders run against that kit), then
 * `racefree migrate up`, which applies the newer kit migrations and
 * regenerates. Dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import { withDatabase } from '../src/tooling/database-url.js';
import { KIT_DIR, KIT_SCHEMA, KIT_TABLE, migrate } from '../src/migrate/lanes.js';
import { quoteIdent } from '../src/quote.js';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

export async function withUpgradedDatabase<T>(
  serverUrl: string,
  oldKit: string,
  prepare: (databaseUrl: string) => Promise<void>,
  fn: (databaseUrl: string) => Promise<T>,
): Promise<T> {
  const name = `racefree_bench_upgraded_${randomBytes(6).toString('hex')}`;
  const dir = await mkdtemp(path.join(tmpdir(), 'racefree-kit-'));
  const admin = new pg.Client({ connectionString: serverUrl });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    for (const file of (await readdir(KIT_DIR)).filter((f) => f.endsWith('.sql') && f <= `${oldKit}~`)) {
      await copyFile(path.join(KIT_DIR, file), path.join(dir, file));
    }
    await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
    try {
      const url = withDatabase(serverUrl, name);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        // What racefree migrate up marks its session with, which the kit migrations' guard requires.
        await client.query(`SET racefree.migrate_session = 'bench upgrade'`);
        await runner({
          dbClient: client,
          dir,
          migrationsSchema: KIT_SCHEMA,
          migrationsTable: KIT_TABLE,
          createMigrationsSchema: true,
          direction: 'up',
          noLock: true,
          logger: quiet,
        });
      } finally {
        await client.end();
      }
      await prepare(url);
      await migrate({ databaseUrl: url, dir: false });
      return await fn(url);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
    await rm(dir, { recursive: true, force: true });
  }
}
