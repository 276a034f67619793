/**
 * `npm run demo`: replays each seed's race, naive vs racefree. A script of
 * this repository (it runs the seeds in examples/), not part of the package.
 */
import type { Outcome, RunOptions, SeedReport } from './report.js';
import { run as seed000 } from './seed-000-upsert.js';
import { run as seed001 } from './seed-001-checkpoint.js';
import { run as seed002 } from './seed-002-ingest.js';
import { run as seed003 } from './seed-003-numbering.js';
import { run as seed004 } from './seed-004-triage.js';
import { runMain } from '../src/tooling/cli/exit.js';
import { startProgress } from '../src/tooling/cli/progress.js';
import { renderTable } from '../src/tooling/cli/table.js';
import { DATABASE_URL_OPTION, HELP_OPTION, parseCommand, wholeNumber, type CommandSpec, type OptionSpecs } from '../src/tooling/cli/usage.js';
import { withScratchDatabase } from '../src/tooling/scratch-database.js';
import { startEmbeddedPostgres } from '../src/tooling/testing/embedded.js';

const COMMAND = {
  usage: 'npm run demo -- [--database-url URL] [--concurrency N] [--requests N] [--json]',
  about: `Replays each seed's bug under real concurrency, the naive pattern first, then
the racefree way, and prints them side by side: requests, failed requests
(what the user sees as a 500), errors by SQLSTATE, duplicates, gaps, req/s.

  000  check-then-insert "upsert" vs the generated upsert_<table>()
  001  a workflow resumed from a checkpoint re-inserting vs upsert 'unchanged'
  002  two POSTs with the same client UUID vs db.once (idempotency keys)
  003  assessment numbers: count(*)+1 with retries, and a sequence with
       LPAD(n, 3) past 999, vs generate_assessment_number()
  004  composite and partial unique keys under concurrent writers vs the
       ON CONFLICT builders`,
  options: {
    'database-url': { ...DATABASE_URL_OPTION, help: 'default DATABASE_URL; with neither, an embedded PostgreSQL' },
    concurrency: { type: 'string', value: 'N', help: 'concurrent requests; default 32' },
    requests: { type: 'string', value: 'N', help: 'requests per pattern; default 320' },
    json: { type: 'boolean', help: 'print the reports as JSON instead of the table' },
    help: HELP_OPTION,
  },
  notes: `Works in a scratch database it drops afterwards.
Exit codes: 0 every racefree pattern had no failures, errors or duplicates and
every naive one failed; 1 otherwise; 2 usage error.`,
} as const satisfies CommandSpec<OptionSpecs>;

/** A seed's example: runs its naive and racefree patterns on a migrated database. */
type Seed = (databaseUrl: string, options: RunOptions) => Promise<SeedReport>;

const SEEDS: readonly Seed[] = [seed000, seed001, seed002, seed003, seed004];

async function demo(argv: string[]): Promise<number> {
  const parsed = parseCommand(COMMAND, argv);
  if (parsed === undefined) return 0;
  const { values } = parsed;
  const concurrency = wholeNumber('--concurrency', values.concurrency, 32);
  const requests = wholeNumber('--requests', values.requests, 320);
  const given = values['database-url'] ?? process.env['DATABASE_URL'];
  const server = given ? undefined : await startEmbeddedPostgres();
  const serverUrl = given ?? server!.connectionString;
  const say = values.json ? () => undefined : (line: string) => console.log(line);
  say(given ? 'Using DATABASE_URL.' : `Started an embedded PostgreSQL on port ${server!.port}.`);
  try {
    const reports = await withScratchDatabase(serverUrl, 'racefree_demo', (url) => runSeeds(url, { concurrency, requests }));
    if (values.json) console.log(JSON.stringify(reports, null, 2));
    else print(reports);
    return verdict(reports) ? 0 : 1;
  } finally {
    await server?.stop();
  }
}

async function runSeeds(url: string, options: { concurrency: number; requests: number }): Promise<SeedReport[]> {
  let requests = 0;
  const progress = startProgress(SEEDS.length, 'racefree demo [{bar}] {value}/{total} seeds | {requests} requests', { requests: 0 });
  const reports: SeedReport[] = [];
  try {
    for (const seed of SEEDS) {
      reports.push(await seed(url, { ...options, onRequest: () => progress.update(reports.length, { requests: ++requests }) }));
      progress.update(reports.length, { requests });
    }
  } finally {
    progress.stop();
  }
  return reports;
}

/** Naive patterns must show the bug; racefree ones must be clean. */
function verdict(reports: readonly SeedReport[]): boolean {
  const clean = (o: Outcome) => o.failed === 0 && Object.keys(o.errors).length === 0 && o.duplicates === 0 && !o.gaps;
  return reports.every((r) => r.racefree.every(clean) && r.naive.every((o) => !clean(o)));
}

function print(reports: readonly SeedReport[]): void {
  const rows = reports.flatMap((report) =>
    [...report.naive.map((o) => ['naive', o] as const), ...report.racefree.map((o) => ['racefree', o] as const)].map(([side, o]) => [
      `${report.seed} ${side}`,
      o.pattern,
      o.requests,
      o.failed,
      Object.entries(o.errors)
        .map(([code, n]) => `${code} x${n}`)
        .join(', ') || 'none',
      o.duplicates,
      o.gaps ?? '',
      Math.round(o.requests / o.seconds),
    ]),
  );
  console.log(renderTable(['seed', 'pattern', 'requests', 'failed (500s)', 'errors by SQLSTATE', 'duplicates', 'gaps', 'req/s'], rows));
}

runMain(() => demo(process.argv.slice(2)), 'racefree demo', 'Run npm run demo -- --help for usage.');
