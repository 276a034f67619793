/**
 * `npm run manifest`: regenerate sql/manifest.json, the fingerprints of every
 * function the kit's migrations install, which `racefree doctor` compares
 * databases with. Run it after adding a kit migration; a test fails until you do.
 *
 * Uses DATABASE_URL's server when set (a scratch database it drops), else an
 * embedded PostgreSQL.
 */

import { writeFile } from 'node:fs/promises';

import { formatManifest, functionFingerprints, MANIFEST_PATH } from '../src/tooling/doctor/manifest.js';
import { withScratchDatabase } from '../src/tooling/scratch-database.js';
import { withClient } from '../src/tooling/with-client.js';
import { startEmbeddedPostgres } from '../src/tooling/testing/embedded.js';

async function main(): Promise<void> {
  const given = process.env['DATABASE_URL'] || undefined;
  const server = given ? undefined : await startEmbeddedPostgres();
  try {
    const fingerprints = await withScratchDatabase(given ?? server!.connectionString, 'racefree_manifest', (url) => withClient(url, functionFingerprints));
    await writeFile(MANIFEST_PATH, formatManifest(fingerprints));
    console.log(`wrote sql/manifest.json: ${Object.keys(fingerprints).length} functions`);
  } finally {
    await server?.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
