/**
 * `npm run snapshots`: rewrite test/snapshots/*.sql, the generated code of
 * representative builder configurations. Commit the result after reviewing
 * its diff; test/snapshots.test.ts fails until the snapshots match.
 *
 * Uses DATABASE_URL's server when set (a scratch database it drops), else an
 * embedded PostgreSQL.
 */

import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { withScratchDatabase } from '../../src/tooling/scratch-database.js';
import { withClient } from '../../src/tooling/with-client.js';
import { startEmbeddedPostgres } from '../../src/tooling/testing/embedded.js';
import { renderSnapshots, SNAPSHOT_DIR } from '../helpers/snapshots.js';

async function main(): Promise<void> {
  const given = process.env['DATABASE_URL'] || undefined;
  const server = given ? undefined : await startEmbeddedPostgres();
  try {
    // A scratch database with the kit's migrations applied.
    await withScratchDatabase(given ?? server!.connectionString, 'racefree_snapshots', (url) =>
      withClient(url, async (client) => {
        const snapshots = await renderSnapshots(client);
        await mkdir(SNAPSHOT_DIR, { recursive: true });
        for (const file of await readdir(SNAPSHOT_DIR)) if (file.endsWith('.sql')) await rm(path.join(SNAPSHOT_DIR, file));
        for (const [name, text] of Object.entries(snapshots)) await writeFile(path.join(SNAPSHOT_DIR, `${name}.sql`), text);
        console.log(`wrote ${Object.keys(snapshots).length} snapshots to test/snapshots/`);
      }),
    );
  } finally {
    await server?.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
