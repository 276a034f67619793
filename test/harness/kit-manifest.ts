/**
 * `npm run manifest`: regenerate sql/manifest.json, the fingerprints of every
 * function the kit's migrations install, which `racefree doctor` compares
 * databases with. Run it after adding a kit migration; a test fails until you do.
 *
 * Uses DATABASE_URL's server when set (a scratch database it drops), else an
 * embedded PostgreSQL.
 */

import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';

import pg from 'pg';

import { withDatabase } from '../../src/database-url.js';
import { formatManifest, functionFingerprints, MANIFEST_PATH } from '../../src/doctor/manifest.js';
import { migrate } from '../../src/migrate/lanes.js';
import { quoteIdent } from '../../src/quote.js';
import { startEmbeddedPostgres } from '../../src/testing/embedded.js';

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  const given = process.env['DATABASE_URL'] || undefined;
  const server = given ? undefined : await startEmbeddedPostgres();
  const serverUrl = given ?? server!.connectionString;
  const name = `racefree_manifest_${randomBytes(6).toString('hex')}`;
  try {
    await withClient(serverUrl, (c) => c.query(`CREATE DATABASE ${quoteIdent(name)}`));
    try {
      const url = withDatabase(serverUrl, name);
      await migrate({ databaseUrl: url, dir: false });
      const fingerprints = await withClient(url, functionFingerprints);
      await writeFile(MANIFEST_PATH, formatManifest(fingerprints));
      console.log(`wrote sql/manifest.json: ${Object.keys(fingerprints).length} functions`);
    } finally {
      await withClient(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
    }
  } finally {
    await server?.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
