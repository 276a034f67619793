/**
 * Seed 000: custom tech-stack assessments, unique (technology,
 * proficiency_level). A double-click on "Assess" runs two generations at once.
 *
 * - naive: the seed's create_assessment "upsert": look the row up, then UPDATE
 *   it or INSERT it. Both requests look before either inserts, both insert,
 *   and the second fails with 23505 (uq_tech_proficiency), a 500.
 * - racefree: `addUpsert` generates upsert_tech_stack_assessments(), one
 *   INSERT ... ON CONFLICT statement: one request inserts, the other updates
 *   (or finds the same questions and writes nothing).
 *
 * `run(databaseUrl, options)` needs the kit's migrations applied and works in
 * a schema `seed000` that it creates and drops. Standalone:
 * `DATABASE_URL=postgres://... node dist/examples/seed-000-upsert.js` uses a
 * scratch database that it creates, migrates and drops.
 */

import pg from 'pg';

import { createClient, type Db } from '../src/index.js';
import { applyMigration } from '../src/migrate/apply.js';
import { addUpsert } from '../src/migrate/upsert.js';
import { hammer, runStandalone, type RunOptions, type SeedReport } from './report.js';

/** The demo's report, plus the double-click told in detail. */
export interface Seed000Report extends SeedReport {
  readonly story: {
    /** The two requests of one double-click: what each got, and rows stored for the key. */
    readonly naive: { readonly outcomes: string[]; readonly rows: number };
    readonly racefree: { readonly outcomes: string[]; readonly rows: number };
  };
  /** How the racefree side's upserts went under load. */
  readonly actions: Readonly<Record<string, number>>;
}

const SCHEMA = `
  DROP SCHEMA IF EXISTS seed000 CASCADE;
  CREATE SCHEMA seed000;
  CREATE TABLE seed000.tech_stack_assessments (
    id bigserial PRIMARY KEY,
    assessment_id text NOT NULL,
    technology text NOT NULL,
    proficiency_level text NOT NULL,
    questions jsonb NOT NULL,
    total_questions int NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_tech_proficiency UNIQUE (technology, proficiency_level)
  );
  CREATE FUNCTION seed000.touch() RETURNS trigger LANGUAGE plpgsql AS
    'BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END';
  CREATE TRIGGER touch BEFORE UPDATE ON seed000.tech_stack_assessments FOR EACH ROW EXECUTE FUNCTION seed000.touch();`;

/** What the assessment generator produced for one request. */
interface Generated {
  assessment_id: string;
  technology: string;
  proficiency_level: string;
  questions: string;
  total_questions: number;
}

function generated(technology: string, level: string, request: number): Generated {
  const questions = [{ q: `What is ${technology}?` }, { q: `${technology} at ${level} level` }];
  return { assessment_id: `asm-${request}`, technology, proficiency_level: level, questions: JSON.stringify(questions), total_questions: questions.length };
}

/** The seed's repository method: look, then update or insert. `looked` lets the story line both requests up after their look. */
async function naiveCreate(pool: pg.Pool, a: Generated, looked?: () => Promise<void>): Promise<string> {
  const { rows } = await pool.query<{ id: string }>('SELECT id FROM seed000.tech_stack_assessments WHERE technology = $1 AND proficiency_level = $2', [
    a.technology,
    a.proficiency_level,
  ]);
  await looked?.();
  if (rows[0] !== undefined) {
    await pool.query('UPDATE seed000.tech_stack_assessments SET questions = $2, total_questions = $3, assessment_id = $4 WHERE id = $1', [
      rows[0].id,
      a.questions,
      a.total_questions,
      a.assessment_id,
    ]);
    return 'updated';
  }
  await pool.query(
    'INSERT INTO seed000.tech_stack_assessments (assessment_id, technology, proficiency_level, questions, total_questions) VALUES ($1, $2, $3, $4, $5)',
    [a.assessment_id, a.technology, a.proficiency_level, a.questions, a.total_questions],
  );
  return 'inserted';
}

/** racefree's: one statement. */
async function racefreeCreate(db: Db, a: Generated): Promise<string> {
  const row = await db.callOne<{ action: string }>(['seed000', 'upsert_tech_stack_assessments'], { ...a });
  return row.action;
}

const LEVELS = ['beginner', 'intermediate', 'expert'];

/**
 * Both sides of seed 000 against `databaseUrl` (kit migrations applied): one
 * double-click, then `options.requests` requests from `options.concurrency`
 * callers per side, each key requested 8 times at once.
 */
export async function run(databaseUrl: string, options: RunOptions = {}): Promise<Seed000Report> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: Math.max(4, options.concurrency ?? 32) });
  pool.on('error', () => undefined); // idle clients may outlive a dropped scratch database
  const db = createClient({ pool });
  try {
    await pool.query(SCHEMA);
    const setup = await pool.connect();
    try {
      await applyMigration(setup, (pgm) =>
        addUpsert(pgm, { table: { schema: 'seed000', name: 'tech_stack_assessments' }, key: ['technology', 'proficiency_level'] }),
      );
    } finally {
      setup.release();
    }
    const story = await doubleClick(pool, db);

    const key = (prefix: string, i: number): [string, string] => [`${prefix}-${Math.floor(i / 24)}`, LEVELS[Math.floor(i / 8) % 3]!];
    const naiveLoad = await hammer(options, async (_errors, i) => {
      const [technology, level] = key('naive', i);
      await naiveCreate(pool, generated(technology, level, i));
    });
    const actions: Record<string, number> = {};
    const racefreeLoad = await hammer(options, async (_errors, i) => {
      const [technology, level] = key('racefree', i);
      const action = await racefreeCreate(db, generated(technology, level, i));
      actions[action] = (actions[action] ?? 0) + 1;
    });
    return {
      seed: '000',
      title: 'tech-stack assessments, unique (technology, proficiency_level)',
      naive: [{ pattern: 'look, then UPDATE or INSERT', ...naiveLoad, duplicates: await twice(pool, 'naive') }],
      racefree: [{ pattern: 'upsert_tech_stack_assessments()', ...racefreeLoad, duplicates: await twice(pool, 'racefree') }],
      story,
      actions,
    };
  } finally {
    await pool.query('DROP SCHEMA IF EXISTS seed000 CASCADE').catch(() => undefined);
    await pool.end();
  }
}

/** Keys stored more than once: none, the unique constraint sees to that; the seed's bug is the 500. */
async function twice(pool: pg.Pool, prefix: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT (count(*) - count(DISTINCT (technology, proficiency_level)))::int AS n
       FROM seed000.tech_stack_assessments WHERE starts_with(technology, $1)`,
    [`${prefix}-`],
  );
  return rows[0]!.n;
}

/** One double-click per side; the naive side lined up so that both requests look before either writes. */
async function doubleClick(pool: pg.Pool, db: Db): Promise<Seed000Report['story']> {
  const rows = async (technology: string) =>
    (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM seed000.tech_stack_assessments WHERE technology = $1', [technology])).rows[0]!.n;
  const outcome = (p: Promise<string>) =>
    p.then(
      (a) => a,
      (e: { code?: string }) => `failed: SQLSTATE ${e.code}`,
    );

  let looks = 0;
  let release!: () => void;
  const bothLooked = new Promise<void>((resolve) => (release = resolve));
  const looked = () => (++looks === 2 && release(), bothLooked);
  const naive = await Promise.all([1, 2].map((r) => outcome(naiveCreate(pool, generated('Hive', 'beginner', r), looked))));
  const racefree = await Promise.all([1, 2].map((r) => outcome(racefreeCreate(db, generated('Hive+', 'beginner', r)))));
  return { naive: { outcomes: naive, rows: await rows('Hive') }, racefree: { outcomes: racefree, rows: await rows('Hive+') } };
}

await runStandalone(import.meta.url, run, (report) => [
  ...Object.entries(report.story).map(([side, s]) => `${side}, double-click: ${s.outcomes.join(' / ')}; rows: ${s.rows}`),
  `upsert actions: ${JSON.stringify(report.actions)}`,
]);
