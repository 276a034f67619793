import path from 'node:path';
import test from 'ava';
import type { SeedReport } from '../examples/report.js';
import { root, runCli, runNode } from './helpers/cli.js';
import { exclusively } from './helpers/db.js';

/** `npm run demo -- args` without the build: the script the repository runs, not the shipped CLI. */
const run = (args: string[]) => runNode([path.join(root, 'dist/examples/demo.js'), ...args]);

test.serial('demo: every naive pattern shows errors, every racefree one none, and it leaves no database behind', async (t) => {
  await exclusively(async () => {
    const before = await databases();
    const result = await run(['--json', '--requests', '160']);
    t.is(result.code, 0, result.stderr);
    const reports = JSON.parse(result.stdout) as SeedReport[];
    t.deepEqual(
      reports.map((r) => r.seed),
      ['000', '001', '002', '003', '004'],
    );
    for (const report of reports) {
      t.true(report.naive.length >= 1, report.seed);
      for (const naive of report.naive) {
        const errors = Object.values(naive.errors).reduce((a, b) => a + b, 0);
        t.true(errors > 0 || naive.duplicates > 0, `${report.seed} ${naive.pattern}: the bug shows`);
      }
      for (const ours of report.racefree) {
        t.deepEqual(ours.errors, {}, `${report.seed} ${ours.pattern}`);
        t.is(ours.failed, 0);
        t.is(ours.duplicates, 0);
        t.falsy(ours.gaps);
      }
    }
    t.deepEqual(await databases(), before);
  });
});

test('demo --help documents the seeds and exit codes', async (t) => {
  const help = await run(['--help']);
  t.is(help.code, 0);
  for (const seed of ['000', '001', '002', '003', '004']) t.regex(help.stdout, new RegExp(`\\b${seed}\\b`));
  t.regex(help.stdout, /Exit codes/);
  t.is((await run(['--requests', 'x'])).code, 2);
});

test('the shipped CLI has no demo command and its help points at npm run demo for the five seeds', async (t) => {
  const help = await runCli(['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /npm run demo replays the races of the five seeds\s+\(000 to 004\)/);
  t.notRegex(help.stdout, /seed-003/);
  const demo = await runCli(['demo']);
  t.is(demo.code, 2);
  t.regex(demo.stderr, /unknown command "demo"/);
});

async function databases(): Promise<string[]> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: process.env['DATABASE_URL'] });
  await client.connect();
  try {
    return (await client.query(`SELECT datname FROM pg_database WHERE datname LIKE 'racefree_demo_%' ORDER BY 1`)).rows.map((r) => r.datname);
  } finally {
    await client.end();
  }
}
