import test, { type ExecutionContext } from 'ava';

import { run as seed000 } from '../examples/seed-000-upsert.js';
import { run as seed001 } from '../examples/seed-001-checkpoint.js';
import { run as seed004 } from '../examples/seed-004-triage.js';
import type { Outcome } from '../examples/report.js';
import { exclusively, useTestDatabase } from './helpers/db.js';

const url = useTestDatabase(test);
const load = { concurrency: 16, requests: 160 };

/** The racefree side: every request answered, no error, nothing stored twice. */
function clean(t: ExecutionContext, outcome: Outcome | undefined): void {
  t.like(outcome, { requests: 160, failed: 0, duplicates: 0 });
  t.deepEqual(outcome?.errors, {});
}

test.serial('seed 000: look-then-write fails a double-click with 23505; the generated upsert answers both', async (t) => {
  const report = await exclusively(() => seed000(url(), load));
  t.deepEqual([...report.story.naive.outcomes].sort(), ['failed: SQLSTATE 23505', 'inserted']);
  t.is(report.story.naive.rows, 1);
  t.deepEqual([...report.story.racefree.outcomes].sort(), ['inserted', 'updated']);
  t.is(report.story.racefree.rows, 1);

  const [naive] = report.naive;
  t.true(naive!.failed > 0, JSON.stringify(naive));
  t.deepEqual(Object.keys(naive!.errors), ['23505']);
  clean(t, report.racefree[0]);
  // 20 keys, 8 requests each: every key inserted once.
  t.is(report.actions['inserted'], 20);
  t.is(
    Object.values(report.actions).reduce((a, b) => a + b, 0),
    160,
  );
});

test.serial("seed 001: a resumed task fails on a plain INSERT and still races with the seed's fix; the upsert writes once and skips equal saves", async (t) => {
  const report = await exclusively(() => seed001(url(), load));
  t.deepEqual(report.story.naive, { run: 'saved', resume: 'failed: SQLSTATE 23505' });
  const { run, resume, retry } = report.story.racefree;
  t.is(run.action, 'inserted');
  t.is(resume.action, 'unchanged');
  t.deepEqual(resume.updated_at, run.updated_at, 'an equal save writes nothing');
  t.like(retry, { action: 'updated', parsed_goal: 'Learn Advanced Python basics', content_format_weights: null });

  const [plain, fixed] = report.naive;
  t.is(plain!.failed, 120, 'three of every four saves of a task');
  t.deepEqual(Object.keys(plain!.errors), ['23505']);
  t.true(fixed!.failed > 0 && fixed!.failed < plain!.failed, JSON.stringify(fixed));
  clean(t, report.racefree[0]);
  t.deepEqual(report.actions, { inserted: 40, unchanged: 120 });
});

test.serial('seed 004: the key over existing duplicates is refused with the list, then added; composite and partial keys hold under load', async (t) => {
  const report = await exclusively(() => seed004(url(), load));
  t.deepEqual(report.migration.duplicates, {
    total: 2,
    groups: [
      { values: ['U02', 'ui'], count: 3 },
      { values: ['U01', 'backend'], count: 2 },
    ],
  });
  t.is(report.migration.merged, 3);
  t.deepEqual(report.migration.keys, [
    "CREATE UNIQUE INDEX one_active_sprint ON seed004.sprints USING btree (team) WHERE (status = 'active'::text)",
    'CREATE UNIQUE INDEX users_slack_id_discipline_key ON seed004.users USING btree (slack_id, discipline)',
  ]);

  const [users, sprints] = report.naive;
  t.true(users!.failed > 0 && Object.keys(users!.errors).join() === '23505', JSON.stringify(users));
  t.true(sprints!.duplicates > 0, 'a second active sprint for a team');
  for (const outcome of report.racefree) clean(t, outcome);
});
