/**
 * Seed 001: a workflow saves its intent analysis, one row per task (unique
 * task_id). Resumed from a checkpoint or retried, the node runs again and
 * saves again; rarely, two workers run the same task at once.
 *
 * - naive, before the seed's fix: a plain INSERT; every resume fails with
 *   23505 and the task fails.
 * - naive, the seed's fix: look the row up, then UPDATE it or INSERT it;
 *   resumes work, two workers at once still collide (23505).
 * - racefree: upsert_intent_analysis_metadata(), one INSERT ... ON CONFLICT
 *   statement. A resume that saves the same analysis writes nothing
 *   ('unchanged', updated_at untouched); a retry with a new analysis updates.
 *
 * Named arguments cannot tell NULL from "left out", so upsert_<table>() never
 * writes NULL; a retry whose analysis lost a field writes it as JSON null
 * through upsert_<table>_many(), as the story shows.
 *
 * `run(databaseUrl, options)` needs the kit's migrations applied and works in
 * a schema `seed001` that it creates and drops. Standalone:
 * `DATABASE_URL=postgres://... node dist/examples/seed-001-checkpoint.js`.
 */

import pg from 'pg';

import { createClient, type Db } from '../src/index.js';
import { applyMigration } from '../src/migrate/apply.js';
import { addUpsert } from '../src/migrate/upsert.js';
import { hammer, runStandalone, type RunOptions, type SeedReport } from './report.js';

/** A saved row as the story reports it. */
interface Saved {
  readonly action: string;
  readonly parsed_goal: string;
  readonly content_format_weights: unknown;
  readonly updated_at: Date;
}

/** The demo's report, plus one task's first run, resume and retry in detail. */
export interface Seed001Report extends SeedReport {
  readonly story: {
    /** The plain INSERT: the first run, then the resume. */
    readonly naive: { readonly run: string; readonly resume: string };
    /** First run, resume (same analysis), retry (new query, a field gone). */
    readonly racefree: { readonly run: Saved; readonly resume: Saved; readonly retry: Saved };
  };
  /** How the racefree side's saves went under load. */
  readonly actions: Readonly<Record<string, number>>;
}

const SCHEMA = `
  DROP SCHEMA IF EXISTS seed001 CASCADE;
  CREATE SCHEMA seed001;
  CREATE TABLE seed001.intent_analysis_metadata (
    id bigserial PRIMARY KEY,
    task_id text NOT NULL,
    roadmap_id text,
    parsed_goal text NOT NULL,
    key_technologies jsonb NOT NULL DEFAULT '[]',
    content_format_weights jsonb,
    full_analysis_data jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ix_intent_analysis_metadata_task_id UNIQUE (task_id)
  );
  CREATE FUNCTION seed001.touch() RETURNS trigger LANGUAGE plpgsql AS
    'BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END';
  CREATE TRIGGER touch BEFORE UPDATE ON seed001.intent_analysis_metadata FOR EACH ROW EXECUTE FUNCTION seed001.touch();`;

/** What the intent-analysis node produced for a task. */
interface Analysis {
  task_id: string;
  roadmap_id: string;
  parsed_goal: string;
  key_technologies: string;
  content_format_weights: string | null;
  full_analysis_data: string;
}

function analyse(taskId: string, query: string, weights: boolean): Analysis {
  const goal = `${query} basics`;
  return {
    task_id: taskId,
    roadmap_id: `roadmap-${taskId}`,
    parsed_goal: goal,
    key_technologies: JSON.stringify(query.split(' ').slice(-1)),
    content_format_weights: weights ? JSON.stringify({ video: 0.5, text: 0.5 }) : null,
    full_analysis_data: JSON.stringify({ goal, query }),
  };
}

const COLUMNS = ['task_id', 'roadmap_id', 'parsed_goal', 'key_technologies', 'content_format_weights', 'full_analysis_data'] as const;
const values = (a: Analysis) => COLUMNS.map((c) => a[c]);

async function plainInsert(pool: pg.Pool, a: Analysis): Promise<void> {
  await pool.query(`INSERT INTO seed001.intent_analysis_metadata (${COLUMNS.join(', ')}) VALUES ($1, $2, $3, $4, $5, $6)`, values(a));
}

async function lookThenWrite(pool: pg.Pool, a: Analysis): Promise<void> {
  const { rows } = await pool.query('SELECT id FROM seed001.intent_analysis_metadata WHERE task_id = $1', [a.task_id]);
  if (rows.length > 0) {
    await pool.query(
      `UPDATE seed001.intent_analysis_metadata SET roadmap_id = $2, parsed_goal = $3, key_technologies = $4,
         content_format_weights = $5, full_analysis_data = $6 WHERE task_id = $1`,
      values(a),
    );
  } else {
    await plainInsert(pool, a);
  }
}

const FN: [string, string] = ['seed001', 'upsert_intent_analysis_metadata'];

async function save(db: Db, a: Analysis): Promise<Saved> {
  return db.callOne<Saved>(FN, { ...a });
}

/**
 * Both sides of seed 001 against `databaseUrl` (kit migrations applied): one
 * task's run, resume and retry, then `options.requests` saves from
 * `options.concurrency` callers per side, each task saved 4 times at once
 * (a run racing its own resumes).
 */
export async function run(databaseUrl: string, options: RunOptions = {}): Promise<Seed001Report> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: Math.max(4, options.concurrency ?? 32) });
  pool.on('error', () => undefined); // idle clients may outlive a dropped scratch database
  const db = createClient({ pool });
  try {
    await pool.query(SCHEMA);
    const setup = await pool.connect();
    try {
      await applyMigration(setup, (pgm) => addUpsert(pgm, { table: { schema: 'seed001', name: 'intent_analysis_metadata' }, key: 'task_id' }));
    } finally {
      setup.release();
    }
    const story = await oneTask(pool, db);

    const task = (prefix: string, i: number) => analyse(`${prefix}-${Math.floor(i / 4)}`, 'Learn Redis', true);
    const plain = await hammer(options, async (_e, i) => plainInsert(pool, task('plain', i)));
    const fixed = await hammer(options, async (_e, i) => lookThenWrite(pool, task('fixed', i)));
    const actions: Record<string, number> = {};
    const ours = await hammer(options, async (_e, i) => {
      const { action } = await save(db, task('racefree', i));
      actions[action] = (actions[action] ?? 0) + 1;
    });
    return {
      seed: '001',
      title: 'intent analysis saved once per task, resumed from checkpoints',
      naive: [
        { pattern: 'plain INSERT (before the fix)', ...plain, duplicates: await twice(pool, 'plain') },
        { pattern: 'look, then UPDATE or INSERT (the fix)', ...fixed, duplicates: await twice(pool, 'fixed') },
      ],
      racefree: [{ pattern: 'upsert_intent_analysis_metadata()', ...ours, duplicates: await twice(pool, 'racefree') }],
      story,
      actions,
    };
  } finally {
    await pool.query('DROP SCHEMA IF EXISTS seed001 CASCADE').catch(() => undefined);
    await pool.end();
  }
}

/** Tasks stored more than once: none, the unique constraint sees to that; the seed's bug is the failed task. */
async function twice(pool: pg.Pool, prefix: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT (count(*) - count(DISTINCT task_id))::int AS n FROM seed001.intent_analysis_metadata WHERE starts_with(task_id, $1)`,
    [`${prefix}-`],
  );
  return rows[0]!.n;
}

async function oneTask(pool: pg.Pool, db: Db): Promise<Seed001Report['story']> {
  const attempt = (p: Promise<void>) =>
    p.then(
      () => 'saved',
      (e: { code?: string }) => `failed: SQLSTATE ${e.code}`,
    );
  const first = analyse('task-a', 'Learn Python', true);
  const naive = { run: await attempt(plainInsert(pool, first)), resume: await attempt(plainInsert(pool, first)) };

  const mine = analyse('task-b', 'Learn Python', true);
  const runSaved = await save(db, mine);
  const resume = await save(db, mine);
  // The user changed the query; the new analysis has no content_format_weights: JSON null writes NULL.
  const [retry] = await db.call<Saved>(['seed001', 'upsert_intent_analysis_metadata_many'], {
    rows: JSON.stringify([analyse('task-b', 'Learn Advanced Python', false)]),
  });
  return { naive, racefree: { run: runSaved, resume, retry: retry! } };
}

await runStandalone(import.meta.url, run, (report) => [
  `plain INSERT: run ${report.story.naive.run}, resume ${report.story.naive.resume}`,
  ...Object.entries(report.story.racefree).map(
    ([step, s]) => `upsert, ${step}: ${s.action}, goal ${JSON.stringify(s.parsed_goal)}, weights ${JSON.stringify(s.content_format_weights)}`,
  ),
  `upsert actions: ${JSON.stringify(report.actions)}`,
]);
