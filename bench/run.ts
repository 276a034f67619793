/**
 * `npm run bench`: every scenario in one process against one server
 * (DATABASE_URL, or an embedded PostgreSQL started durable), in a scratch database that is
 * dropped afterwards; printed as Markdown and written, with an SVG chart, to
 * bench/results/. Names of scenarios as arguments run only those (and
 * write nothing): `npm run bench -- upsert idempotency`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { withScratchDatabase } from '../src/tooling/scratch-database.js';
import { withClient } from '../src/tooling/with-client.js';
import { startEmbeddedPostgres } from '../src/tooling/testing/embedded.js';
import { chartSvg } from './chart.js';
import { markdown } from './load.js';
import { run as client } from './client.js';
import { run as commitCheck } from './commit-check.js';
import { run as idempotency } from './idempotency.js';
import { run as numbering } from './numbering.js';
import { run as onlineRetrofit } from './online-retrofit.js';
import { run as statements } from './statements.js';
import { run as upsert } from './upsert.js';
import type { BenchResult } from './types.js';

const SCENARIOS: Readonly<Record<string, (url: string) => Promise<BenchResult>>> = {
  client,
  statements,
  'commit-check': commitCheck,
  numbering,
  'online-retrofit': onlineRetrofit,
  upsert,
  idempotency,
};
// `npm run bench -- upsert idempotency` runs only those, and writes no files.
const chosen = process.argv.slice(2);
for (const name of chosen) {
  if (!Object.hasOwn(SCENARIOS, name)) {
    console.error(`unknown scenario ${JSON.stringify(name)}; scenarios: ${Object.keys(SCENARIOS).join(', ')}`);
    process.exit(2);
  }
}

const DURABLE = { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' } as const;

async function main(): Promise<void> {
  const given = process.env['DATABASE_URL'];
  // Durable, as a production server runs: with fsync and synchronous_commit
  // off (the test default) a commit waits for no flush, and every ratio would
  // weigh CPU alone.
  const server = given ? undefined : await startEmbeddedPostgres({ settings: DURABLE });
  const serverUrl = given ?? server!.connectionString;
  try {
    await withScratchDatabase(serverUrl, 'racefree_bench', async (url) => {
      const { rows } = await withClient(url, (admin) =>
        admin.query<{ v: string; fsync: string; sync: string }>(
          `SELECT version() AS v, current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sync`,
        ),
      );
      const serverLine = `${given ? 'DATABASE_URL' : 'embedded'}: ${rows[0]!.v.split(',')[0]}, fsync ${rows[0]!.fsync}, synchronous_commit ${rows[0]!.sync}`;
      console.log(`Server: ${serverLine}`);
      const results: BenchResult[] = [];
      const sections: string[] = [`# racefree benchmarks\n\nServer: ${serverLine}. Ratios are to each scenario's first row, measured in the same run.`];
      for (const [name, scenario] of Object.entries(SCENARIOS)) {
        if (chosen.length > 0 && !chosen.includes(name)) continue;
        const result = await scenario(url);
        results.push(result);
        const section = [markdown(result), '', ...(result.notes ?? []).map((n) => `- ${n}`)].join('\n');
        sections.push(section);
        console.log(`\n${section}\n`);
      }
      if (chosen.length > 0) return;
      const out = fileURLToPath(new URL('../../bench/results/', import.meta.url));
      await mkdir(out, { recursive: true });
      await writeFile(`${out}results.md`, `${sections.join('\n\n')}\n`);
      await writeFile(`${out}chart.svg`, await chartSvg(results));
      console.log('Wrote bench/results/results.md and bench/results/chart.svg');
    });
  } finally {
    await server?.stop();
  }
}

await main();
