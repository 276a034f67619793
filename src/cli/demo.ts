import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { addNumbering } from '../migrate/numbering.js';
import { applyMigration } from '../migrate/apply.js';
import { migrate } from '../migrate/lanes.js';
import { quoteIdent } from '../quote.js';
import { startEmbeddedPostgres } from '../testing/embedded.js';
import { withDatabase } from '../database-url.js';
import { parse, wholeNumber } from './usage.js';

const HELP = `Usage: racefree demo [--database-url URL] [--concurrency N] [--requests N]

Replays seed 003 under real concurrency: assessment numbers from count(*)+1
with the seed's retry-and-backoff "fix", then racefree's generate_assessment_number()
column default. Prints errors by SQLSTATE, duplicates and gaps side by side.

Uses DATABASE_URL (or --database-url) when set, otherwise an embedded
PostgreSQL; works in a scratch database it drops afterwards.
Exit codes: 0 the racefree side had no errors, no duplicates and no gaps; 1 otherwise; 2 usage error.`;

/** One side of a scenario, as printed. */
interface Outcome {
  readonly pattern: string;
  readonly requests: number;
  readonly failed: number;
  readonly errors: Map<string, number>;
  readonly duplicates: number;
  readonly gaps: number;
  readonly seconds: number;
}

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parse({
    args: argv,
    options: {
      'database-url': { type: 'string' },
      concurrency: { type: 'string' },
      requests: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const concurrency = wholeNumber('--concurrency', values.concurrency, 32);
  const requests = wholeNumber('--requests', values.requests, 320);
  const given = values['database-url'] ?? process.env.DATABASE_URL;
  const server = given ? undefined : await startEmbeddedPostgres();
  const serverUrl = given ?? server!.connectionString;
  console.log(given ? 'Using DATABASE_URL.' : `Started an embedded PostgreSQL on port ${server!.port}.`);
  const dbName = `racefree_demo_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(dbName)}`);
    const url = withDatabase(serverUrl, dbName);
    try {
      await migrate({ databaseUrl: url, dir: false });
      const outcomes = await seed003(url, concurrency, requests);
      printTable(outcomes);
      const ours = outcomes[1]!;
      return ours.failed === 0 && ours.errors.size === 0 && ours.duplicates === 0 && ours.gaps === 0 ? 0 : 1;
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(dbName)} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
    await server?.stop();
  }
}

/** Run `requests` calls of `request` from `concurrency` workers; tally SQLSTATEs of failures. */
async function hammer(
  concurrency: number,
  requests: number,
  request: (errors: Map<string, number>) => Promise<void>,
): Promise<{ failed: number; errors: Map<string, number>; seconds: number }> {
  const errors = new Map<string, number>();
  let next = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        next++;
        try {
          await request(errors);
        } catch (error) {
          failed++;
          const code = (error as { code?: string }).code ?? 'client';
          errors.set(code, (errors.get(code) ?? 0) + 1);
        }
      }
    }),
  );
  return { failed, errors, seconds: (performance.now() - started) / 1000 };
}

async function seed003(url: string, concurrency: number, requests: number): Promise<Outcome[]> {
  const pool = new pg.Pool({ connectionString: url, max: concurrency });
  pool.on('error', () => undefined); // idle clients see the scratch database being dropped
  try {
    await pool.query(`
      CREATE TABLE naive_assessments (id bigserial PRIMARY KEY, title text, assessment_number text NOT NULL UNIQUE);
      CREATE TABLE assessments (id bigserial PRIMARY KEY, title text, assessment_number text NOT NULL);`);
    const client = await pool.connect();
    try {
      await applyMigration(client, (pgm) =>
        addNumbering(pgm, {
          name: 'assessment',
          table: 'assessments',
          column: 'assessment_number',
          template: 'ASM-{YYYY}-{seq:3}',
          timeZone: 'UTC',
        }),
      );
    } finally {
      client.release();
    }
    const year = new Date().getUTCFullYear();

    console.log(`seed 003, naive: count(*)+1 with 3 attempts and 100/200/400 ms backoff, ${concurrency} callers...`);
    const naive = await hammer(concurrency, requests, async (errors) => {
      for (let attempt = 0; ; attempt++) {
        const { rows } = await pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM naive_assessments WHERE assessment_number LIKE $1',
          [`ASM-${year}-%`],
        );
        const number = `ASM-${year}-${String(rows[0]!.n + 1).padStart(3, '0')}`;
        try {
          await pool.query('INSERT INTO naive_assessments (title, assessment_number) VALUES ($1, $2)', ['x', number]);
          return;
        } catch (error) {
          const code = (error as { code?: string }).code ?? 'client';
          if (code !== '23505' || attempt === 2) throw error;
          errors.set(code, (errors.get(code) ?? 0) + 1); // retried, but it happened
          await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
        }
      }
    });

    console.log(`seed 003, racefree: generate_assessment_number() as the column default, ${concurrency} callers...`);
    const ours = await hammer(concurrency, requests, async () => {
      await pool.query('INSERT INTO assessments (title) VALUES ($1)', ['x']);
    });

    return [
      { pattern: 'count(*)+1, retry x3', requests, ...naive, ...(await audit(pool, 'naive_assessments')) },
      { pattern: 'generate_assessment_number()', requests, ...ours, ...(await audit(pool, 'assessments')) },
    ];
  } finally {
    await pool.end();
  }
}

/** Duplicated numbers and missing numbers (1..max) in a table's assessment_number. */
async function audit(pool: pg.Pool, table: string): Promise<{ duplicates: number; gaps: number }> {
  const { rows } = await pool.query<{ duplicates: number; gaps: number }>(`
    WITH n AS (SELECT substring(assessment_number FROM '(\\d+)$')::int AS n FROM ${quoteIdent(table)})
    SELECT (SELECT count(*) - count(DISTINCT n) FROM n)::int AS duplicates,
           (SELECT coalesce(max(n), 0) - count(DISTINCT n) FROM n)::int AS gaps`);
  return rows[0]!;
}

function printTable(outcomes: readonly Outcome[]): void {
  const header = ['pattern', 'requests', 'failed (500s)', 'errors by SQLSTATE', 'duplicates', 'gaps', 'req/s'];
  const body = outcomes.map((o) => [
    o.pattern,
    String(o.requests),
    String(o.failed),
    o.errors.size === 0 ? 'none' : [...o.errors].map(([code, n]) => `${code} x${n}`).join(', '),
    String(o.duplicates),
    String(o.gaps),
    (o.requests / o.seconds).toFixed(0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log();
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of body) console.log(line(row));
  console.log();
}
