import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { runCli, userMigrations } from './helpers/cli.js';
import { exclusively, useTestDatabase } from './helpers/db.js';

const url = useTestDatabase(test);

let work: string;
test.before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'racefree-race-'));
});
test.after.always(async () => {
  await rm(work, { recursive: true, force: true });
});

async function sqlFile(name: string, sql: string): Promise<string> {
  const file = path.join(work, name);
  await writeFile(file, sql);
  return file;
}

test.serial('seed 003 (count(*)+1 into a unique column) is racy: 23505 errors and exit 1', async (t) => {
  const setup = await sqlFile('racy.sql', 'CREATE TABLE racy (id bigserial PRIMARY KEY, n int NOT NULL UNIQUE);');
  const r = await exclusively(() =>
    runCli([
      'race',
      '--database-url',
      url(),
      '--setup',
      setup,
      '--sql',
      'INSERT INTO racy (n) SELECT count(*) + 1 FROM racy',
      '--concurrency',
      '16',
      '--count',
      '800',
      '--check',
      'SELECT count(*) = count(DISTINCT n) FROM racy',
    ]),
  );
  t.is(r.code, 1, r.stderr);
  t.regex(r.stdout, /executions {2}800 \(\d+ ok, [1-9]\d* failed\)/);
  t.regex(r.stdout, /errors {6}23505 x[1-9]\d*/);
  t.regex(r.stdout, /duplicate key value violates unique constraint "racy_n_key"/);
  t.regex(r.stdout, /ops\/s {7}\d+\.\d/);
  t.regex(r.stdout, /latency {5}p50 \d+\.\d\d ms, p99 \d+\.\d\d ms/);
  // The unique constraint held: the race shows up as errors, not as duplicates.
  t.regex(r.stdout, /check {7}true/);
  t.is(r.stderr, '', 'no progress bar when stdout and stderr are pipes');
});

test.serial('a generate_<name>_number() default is race-free: no errors, check true, exit 0', async (t) => {
  const dir = await userMigrations({
    '0001_assessments.js': `
import { addNumbering, dropNumbering } from 'racefree/migrate';
const numbering = { name: 'assessment', table: 'assessments', column: 'assessment_number' };
export const up = (pgm) => {
  pgm.createTable('assessments', { id: 'bigserial', title: 'text', assessment_number: 'text' });
  addNumbering(pgm, { ...numbering, template: 'ASM-{seq:3}' });
};
export const down = (pgm) => { dropNumbering(pgm, numbering); pgm.dropTable('assessments'); };
`,
  });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const up = await runCli(['migrate', 'up', '--dir', dir, '--database-url', url()]);
  t.is(up.code, 0, up.stderr);
  const r = await exclusively(() =>
    runCli([
      'race',
      '--database-url',
      url(),
      '--sql',
      `INSERT INTO assessments (title) VALUES ('x')`,
      '--concurrency',
      '16',
      '--count',
      '400',
      // 400 rows numbered ASM-001..ASM-400: no duplicate, no gap
      '--check',
      `SELECT count(*) = 400 AND count(DISTINCT assessment_number) = 400 AND max(assessment_number) = 'ASM-400' FROM assessments`,
    ]),
  );
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /executions {2}400 \(400 ok, 0 failed\)/);
  t.regex(r.stdout, /errors {6}none/);
  t.regex(r.stdout, /check {7}true/);
});

test('a --duration run stops by itself; each execution is its own transaction', async (t) => {
  const setup = await sqlFile('upsert.sql', 'CREATE TABLE hits (k int PRIMARY KEY, n bigint NOT NULL DEFAULT 1);');
  const started = Date.now();
  const r = await runCli([
    'race',
    '--database-url',
    url(),
    '--setup',
    setup,
    '--concurrency',
    '4',
    '--duration',
    '400ms',
    '--sql',
    'INSERT INTO hits (k) VALUES (1) ON CONFLICT (k) DO UPDATE SET n = hits.n + 1',
    '--check',
    'SELECT n > 1 FROM hits WHERE k = 1',
  ]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.true(Date.now() - started < 15_000);
  t.regex(r.stdout, /racefree race: 4 connection\(s\), 0\.\d\d s/);
  t.regex(r.stdout, /errors {6}none/);
});

test('a failing check or a failing statement exits 1; a broken transaction does not poison the connection', async (t) => {
  const falseCheck = await runCli(['race', '--database-url', url(), '--sql', 'SELECT 1', '--count', '5', '--check', 'SELECT 1 = 2']);
  t.is(falseCheck.code, 1);
  t.regex(falseCheck.stdout, /check {7}FAILED: returned false/);
  const notBoolean = await runCli(['race', '--database-url', url(), '--sql', 'SELECT 1', '--count', '5', '--check', 'SELECT 1, 2']);
  t.is(notBoolean.code, 1);
  t.regex(notBoolean.stdout, /FAILED: returned 1 row\(s\) of 2 column\(s\)/);
  // A failure inside an explicit BEGIN leaves an aborted transaction; the next execution must still run (22012, not 25P02).
  const aborted = await runCli(['race', '--database-url', url(), '--concurrency', '2', '--count', '10', '--sql', 'BEGIN; SELECT 1/0; COMMIT;']);
  t.is(aborted.code, 1);
  t.regex(aborted.stdout, /errors {6}22012 x10\n/);
  const badSetup = await runCli(['race', '--database-url', url(), '--setup', await sqlFile('bad.sql', 'SELEC 1'), '--sql', 'SELECT 1', '--count', '1']);
  t.is(badSetup.code, 1);
  t.regex(badSetup.stderr, /--setup .*bad\.sql failed: 42601/);
});

test('usage errors exit 2', async (t) => {
  const help = await runCli(['race', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /--concurrency N/);
  for (const args of [
    ['race'],
    ['race', '--sql', 'SELECT 1', '--count', '5', '--duration', '1s'],
    ['race', '--sql', 'SELECT 1', '--duration', '10'],
    ['race', '--sql', 'SELECT 1', '--count', '0'],
    ['race', '--sql', 'SELECT 1', '--concurrency', 'many'],
    ['race', '--sql', 'SELECT 1', '--setup', path.join(work, 'missing.sql')],
  ]) {
    const r = await runCli([...args, '--database-url', url()]);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
  }
});
