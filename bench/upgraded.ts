/**
 * A database migrated with an older kit, then upgraded: the kit's migrations
 * up to `oldKit`, `prepare` (tables and builders run against that kit), then
 * `racefree migrate up`, which applies the newer kit migrations and
 * regenerates. Dropped afterwards.
 */
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runner } from 'node-pg-migrate';
import { withScratchDatabase } from '../src/tooling/scratch-database.js';
import { withClient } from '../src/tooling/with-client.js';
import { KIT_DIR, KIT_SCHEMA, KIT_TABLE, migrate } from '../src/migrate/lanes.js';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

export async function withUpgradedDatabase<T>(
  serverUrl: string,
  oldKit: string,
  prepare: (databaseUrl: string) => Promise<void>,
  fn: (databaseUrl: string) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'racefree-kit-'));
  try {
    for (const file of (await readdir(KIT_DIR)).filter((f) => f.endsWith('.sql') && f <= `${oldKit}~`)) {
      await copyFile(path.join(KIT_DIR, file), path.join(dir, file));
    }
    return await withScratchDatabase(
      serverUrl,
      'racefree_bench_upgraded',
      async (url) => {
        await withClient(url, async (client) => {
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
        });
        await prepare(url);
        await migrate({ databaseUrl: url, dir: false });
        return fn(url);
      },
      { migrate: false },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
