/**
 * Seed 003: assessment numbers ASM-2025-006 from count(*)+1, "fixed" with
 * retries and backoff, or with a sequence and LPAD(n, 3, '0'); racefree's
 * generate_assessment_number() BEFORE INSERT trigger instead.
 *
 * Run alone: DATABASE_URL=<server> node dist/examples/seed-003-numbering.js
 * (in a scratch database it drops afterwards).
 */
import pg from 'pg';
import { applyMigration } from '../src/migrate/apply.js';
import { addNumbering } from '../src/migrate/numbering.js';
import { hammer, runStandalone, type Outcome, type RunOptions, type SeedReport } from './report.js';

const TABLES = ['seed003_naive', 'seed003_lpad', 'seed003_assessments'];

export async function run(databaseUrl: string, options: RunOptions = {}): Promise<SeedReport> {
  const concurrency = options.concurrency ?? 32;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: concurrency });
  pool.on('error', () => undefined); // idle clients may outlive a dropped scratch database
  try {
    await pool.query(`DROP TABLE IF EXISTS ${TABLES.join(', ')}`);
    await pool.query(`
      CREATE TABLE seed003_naive (id bigserial PRIMARY KEY, title text, assessment_number text NOT NULL UNIQUE);
      -- The seed's "best long-term solution": a sequence and LPAD(n, 3, '0'), which truncates 1000 to '100'.
      CREATE SEQUENCE seed003_lpad_seq;
      CREATE TABLE seed003_lpad (id bigserial PRIMARY KEY, title text,
        assessment_number text NOT NULL UNIQUE
          DEFAULT 'ASM-' || to_char(now(), 'YYYY') || '-' || lpad(nextval('seed003_lpad_seq')::text, 3, '0'));
      CREATE TABLE seed003_assessments (id bigserial PRIMARY KEY, title text, assessment_number text NOT NULL);`);
    const client = await pool.connect();
    try {
      await applyMigration(client, (pgm) =>
        addNumbering(pgm, {
          name: 'seed003_assessment',
          table: 'seed003_assessments',
          column: 'assessment_number',
          template: 'ASM-{YYYY}-{seq:3}',
          timeZone: 'UTC',
        }),
      );
    } finally {
      client.release();
    }
    const year = new Date().getUTCFullYear();

    const naive = await hammer(options, async (errors) => {
      for (let attempt = 0; ; attempt++) {
        const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM seed003_naive WHERE assessment_number LIKE $1', [`ASM-${year}-%`]);
        const number = `ASM-${year}-${String(rows[0]!.n + 1).padStart(3, '0')}`;
        try {
          await pool.query('INSERT INTO seed003_naive (title, assessment_number) VALUES ($1, $2)', ['x', number]);
          return;
        } catch (error) {
          if ((error as { code?: string }).code !== '23505' || attempt === 2) throw error;
          errors['23505'] = (errors['23505'] ?? 0) + 1; // retried, but it happened
          await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
        }
      }
    });
    // The sequence never collides until the 1000th number: start the load just before it.
    await pool.query(`SELECT setval('seed003_lpad_seq', 990)`);
    const lpad = await hammer(options, async () => {
      await pool.query('INSERT INTO seed003_lpad (title) VALUES ($1)', ['x']);
    });
    const ours = await hammer(options, async () => {
      await pool.query('INSERT INTO seed003_assessments (title) VALUES ($1)', ['x']);
    });

    return {
      seed: '003',
      title: 'assessment numbers (count(*)+1)',
      naive: [
        { pattern: 'count(*)+1, 3 attempts with backoff', ...naive, ...(await audit(pool, 'seed003_naive')) },
        { pattern: "sequence + LPAD(n, 3, '0') from #991", ...lpad, ...(await audit(pool, 'seed003_lpad', 991)) },
      ],
      racefree: [{ pattern: 'generate_assessment_number() trigger', ...ours, ...(await audit(pool, 'seed003_assessments')) }],
    };
  } finally {
    await pool.query(`DROP TABLE IF EXISTS ${TABLES.join(', ')}; DROP SEQUENCE IF EXISTS seed003_lpad_seq`).catch(() => undefined);
    await pool.end();
  }
}

/** Numbers stored twice, and numbers missing between `from` and the highest one. */
async function audit(pool: pg.Pool, table: string, from = 1): Promise<Pick<Outcome, 'duplicates' | 'gaps'>> {
  // Table names come from this file's constants, never from input.
  const { rows } = await pool.query<{ duplicates: number; gaps: number }>(
    `WITH n AS (SELECT substring(assessment_number FROM '(\\d+)$')::int AS n FROM ${table})
     SELECT (SELECT count(*) - count(DISTINCT n) FROM n)::int AS duplicates,
            (SELECT greatest(coalesce(max(n), $1 - 1) - $1 + 1 - count(DISTINCT n), 0) FROM n WHERE n >= $1)::int AS gaps`,
    [from],
  );
  return rows[0]!;
}

await runStandalone(import.meta.url, run);
