/**
 * `npm run bench`: every scenario in one process against one server
 * (DATABASE_URL, or an embedded PostgreSQL), in a scratch database that is
 * dropped afterwards; printed as Markdown.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { withDatabase } from '../src/database-url.js';
import { migrate } from '../src/migrate/lanes.js';
import { quoteIdent } from '../src/quote.js';
import { startEmbeddedPostgres } from '../src/testing/embedded.js';
import { markdown } from './load.js';
import { run as client } from './client.js';
import { run as numbering } from './numbering.js';
import type { BenchResult } from './types.js';

const SCENARIOS: ReadonlyArray<(url: string) => Promise<BenchResult>> = [client, numbering];

async function main(): Promise<void> {
  const given = process.env['DATABASE_URL'];
  const server = given ? undefined : await startEmbeddedPostgres();
  const serverUrl = given ?? server!.connectionString;
  const name = `racefree_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
    const url = withDatabase(serverUrl, name);
    await migrate({ databaseUrl: url, dir: false });
    const { rows } = await admin.query<{ v: string; fsync: string }>(`SELECT version() AS v, current_setting('fsync') AS fsync`);
    console.log(`Server: ${given ? 'DATABASE_URL' : 'embedded'}: ${rows[0]!.v.split(',')[0]}, fsync ${rows[0]!.fsync}`);
    for (const scenario of SCENARIOS) {
      const result = await scenario(url);
      console.log(`\n${markdown(result)}\n`);
      for (const note of result.notes ?? []) console.log(`- ${note}`);
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    await server?.stop();
  }
}

await main();
