import path from 'node:path';
import test from 'ava';

import { createClient } from '../src/index.js';
import { fingerprintOf } from '../src/fingerprint.js';
import { root, runCli } from './helpers/cli.js';
import { exclusively, useTestDatabase, withClient } from './helpers/db.js';
import { runPython } from './helpers/python.js';

const url = useTestDatabase(test);
const MIGRATIONS = path.join(root, 'examples/python/migrations');
const THREADS = 32;
const REQUESTS = 320;

interface Load {
  requests: number;
  failed: number;
  errors: Record<string, number>;
  duplicates: number;
}
interface Report {
  threads: number;
  seed000: { double_click: string[]; rows: number; load: Load; actions: Record<string, number> };
  seed001: { story: Record<string, unknown>; load: Load; actions: Record<string, number> };
  seed002: {
    story: { responses: Array<{ status: number; headers: Record<string, string>; body: unknown }>; ingests: number; same_body: boolean };
    story_errors: Record<string, number>;
    load: Load;
    replayed: number;
    ingests: number;
    answered: number;
  };
  cross_language: { scope: string; key: string; request: string; status: number; response: unknown };
}

/** Every request answered, no error (retried ones included), nothing stored twice. */
const CLEAN: Load = { requests: REQUESTS, failed: 0, errors: {}, duplicates: 0 };

test.serial.before("the example's migrations", async (t) => {
  const up = await runCli(['migrate', 'up', '--dir', MIGRATIONS, '--database-url', url()]);
  t.is(up.code, 0, up.stderr);
  t.regex(up.stdout, /applied 0 kit and 2 user/);
});

test.serial('examples/python: seeds 000, 001 and 002 from 32 psycopg threads: 0 errors, every key written once, every session ingested once', async (t) => {
  const report = JSON.parse(
    await exclusively(() => runPython('run_seeds.py', ['--threads', String(THREADS), '--requests', String(REQUESTS)], { ...process.env, DATABASE_URL: url() })),
  ) as Report;
  t.is(report.threads, THREADS);

  // Seed 000: a double-click inserts once and updates once; 8 requests per key: 40 keys, each inserted once.
  t.deepEqual(report.seed000.double_click, ['inserted', 'updated']);
  t.is(report.seed000.rows, 1);
  t.deepEqual(report.seed000.load, CLEAN);
  t.is(report.seed000.actions['inserted'], REQUESTS / 8);
  t.is(
    Object.values(report.seed000.actions).reduce((a, b) => a + b, 0),
    REQUESTS,
  );

  // Seed 001: a resume writes nothing, a retry without a field writes NULL; 4 saves per task: 80 tasks.
  t.deepEqual(report.seed001.story, { run: 'inserted', resume: 'unchanged', resume_wrote_nothing: true, retry: 'updated', retry_weights: null });
  t.deepEqual(report.seed001.load, CLEAN);
  t.deepEqual(report.seed001.actions, { inserted: REQUESTS / 4, unchanged: (REQUESTS * 3) / 4 });

  // Seed 002: two POSTs at once, a re-send, the uuid with other attempts.
  const { story } = report.seed002;
  t.deepEqual(
    story.responses.map((r) => r.status),
    [200, 200, 200, 422],
  );
  t.is(story.responses.slice(0, 2).filter((r) => r.headers['Idempotent-Replayed'] === 'true').length, 1, 'one of the two replays the other');
  t.is(story.responses[2]!.headers['Idempotent-Replayed'], 'true');
  t.is(story.ingests, 1);
  t.true(story.same_body);
  t.deepEqual(report.seed002.story_errors, { RF001: 1 });
  // 160 sessions, each POSTed twice at once: one ingest and one replay each; progress advanced once per session.
  t.deepEqual(report.seed002.load, CLEAN);
  t.is(report.seed002.ingests, REQUESTS / 2);
  t.is(report.seed002.replayed, REQUESTS / 2);
  t.is(report.seed002.answered, 3 * (REQUESTS / 2 + 1), "the story's session counts too");
  const rows = await withClient(
    url(),
    async (c) => (await c.query('SELECT count(*)::int AS n FROM racefree.idempotency_keys WHERE completed_at IS NULL')).rows[0].n,
  );
  t.is(rows, 0, 'no key left claimed but not completed');
});

test.serial('a key a Python service completed replays in db.once for the same request: both fingerprint it alike (1.0 is 1)', async (t) => {
  const { cross_language: py } = JSON.parse(
    await runPython('run_seeds.py', ['--threads', '2', '--requests', '8'], { ...process.env, DATABASE_URL: url() }),
  ) as Report;
  t.is(py.status, 200);
  t.regex(py.request, /"score": 1\.0/);
  const request = JSON.parse(py.request) as unknown;
  const stored = await withClient(
    url(),
    async (c) => (await c.query('SELECT fingerprint FROM racefree.idempotency_keys WHERE scope = $1 AND key = $2', [py.scope, py.key])).rows[0].fingerprint,
  );
  t.is(fingerprintOf(request), stored);
  const db = createClient({ connectionString: url() });
  try {
    const result = await db.once({ scope: py.scope, key: py.key, request }, async () => t.fail('the work ran again'));
    t.deepEqual(result, { replayed: true, response: py.response });
  } finally {
    await db.end();
  }
  const down = await runCli(['migrate', 'down', '2', '--dir', MIGRATIONS, '--database-url', url()]);
  t.is(down.code, 0, down.stderr);
  t.is(await withClient(url(), async (c) => (await c.query(`SELECT to_regnamespace('pyseeds')::text AS s`)).rows[0].s), null);
});
