/**
 * Adopting racefree on a live table: `addNumbering({ concurrently: true })`
 * on a table of existing numbers while 32 writers insert and update it, each
 * writer statement timed by a probe. `npm test` runs the same scenario at
 * 100,000 rows (test/numbering-online.test.ts); `npm run bench` at 1,000,000.
 *
 * Run alone: `DATABASE_URL=postgres://... node dist/bench/online-retrofit.js`
 * (creates and drops table `retrofit_live` in that database).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrate } from '../src/migrate/index.js';
import { runStandalone } from './load.js';
import type { BenchResult } from './types.js';

export const TABLE = 'retrofit_live';
export const TEMPLATE = 'ASM-{YYYY}-{seq:3}';

/** What one run measured and found. */
export interface LiveRetrofit {
  readonly rows: number;
  readonly writers: number;
  /** Every writer statement run while the migration ran (and a little after). */
  readonly statements: number;
  readonly writerErrors: readonly unknown[];
  readonly maxLatencyMs: number;
  /** The five slowest writer statements: latency, when they ended (ms from the migration's start), which. */
  readonly slowest: ReadonlyArray<{ readonly ms: number; readonly at: number; readonly statement: string }>;
  /** The migration's log lines, with when they were printed (ms from its start). */
  readonly log: ReadonlyArray<{ readonly at: number; readonly line: string }>;
  readonly migrationMs: number;
  /** `waiting:` lines the migration printed. */
  readonly waiting: readonly string[];
  /** Numbers held by more than one row afterwards. */
  readonly duplicateNumbers: number;
  /** Scopes whose counter is not past the highest number of the table. */
  readonly countersBehind: number;
  /** The number a fresh insert generated, and the highest one of its year before it. */
  readonly next: { readonly generated: bigint; readonly highestBefore: bigint };
  readonly constraint: boolean;
}

/** A migration directory inside the package, so `racefree/migrate` resolves to this package. */
export async function migrationDir(files: Record<string, string>): Promise<string> {
  const dir = fileURLToPath(new URL(`./.migrations/${randomBytes(6).toString('hex')}/`, import.meta.url));
  await mkdir(dir, { recursive: true });
  for (const [name, body] of Object.entries(files)) await writeFile(`${dir}${name}`, body);
  return dir;
}

export const onlineMigration = (extra = ''): string => `
import { addNumbering, dropNumbering } from 'racefree/migrate';
const n = { name: 'retrofit_live', table: '${TABLE}', column: 'n' };
export const up = (pgm) => addNumbering(pgm, { ...n, template: '${TEMPLATE}', concurrently: true${extra} });
export const down = (pgm) => dropNumbering(pgm, n);
`;

/**
 * A table of `rows` numbers in the template's format (four years, the
 * current one last), written with plain SQL as a service without racefree
 * would have written them.
 */
export async function seedTable(client: pg.ClientBase, rows: number): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await client.query(`CREATE TABLE ${TABLE} (id bigserial PRIMARY KEY, n text, note text, touched int NOT NULL DEFAULT 0)`);
  await client.query(
    `INSERT INTO ${TABLE} (n, note)
     SELECT format('ASM-%s-%s', y, lpad(s::text, greatest(3, length(s::text)), '0')), 'seeded'
       FROM generate_series(1, $1::int) AS g,
            LATERAL (SELECT extract(year FROM now() AT TIME ZONE 'UTC')::int - 3 + g % 4 AS y, g / 4 + 1 AS s) AS x`,
    [rows],
  );
  await client.query(`VACUUM ANALYZE ${TABLE}`);
}

/**
 * The migration, with `writers` connections inserting (generated and
 * explicit numbers) and updating (other columns and the number) from before
 * it starts until after it ends. Call on a table `seedTable` made and whose
 * duplicates, if any, are gone.
 */
export async function retrofitUnderLoad(databaseUrl: string, dir: string, writers = 32, migrationsTable = 'pgmigrations'): Promise<LiveRetrofit> {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  const pool = new pg.Pool({ connectionString: databaseUrl, max: writers });
  pool.on('error', () => undefined);
  try {
    const { rows: stats } = await admin.query<{ rows: number; year: string; max_id: string }>(
      `SELECT count(*)::int AS rows, to_char(now() AT TIME ZONE 'UTC', 'YYYY') AS year, max(id)::text AS max_id FROM ${TABLE}`,
    );
    const { year } = stats[0]!;
    const maxId = Number(stats[0]!.max_id);
    let stop = false;
    let statements = 0;
    let maxLatencyMs = 0;
    const errors: unknown[] = [];
    let afterMigration = 0;
    let started = 0;
    const slowest: Array<{ ms: number; at: number; statement: string }> = [];
    // Every writer statement goes through the probe: its latency, its error.
    const probe = async (c: pg.PoolClient, text: string, values: unknown[]): Promise<void> => {
      const began = performance.now();
      try {
        await c.query(text, values);
      } catch (error) {
        errors.push(error);
      }
      const ended = performance.now();
      maxLatencyMs = Math.max(maxLatencyMs, ended - began);
      slowest.push({ ms: ended - began, at: ended - started, statement: text });
      slowest.sort((a, b) => b.ms - a.ms).splice(5);
      statements++;
    };
    const clients = await Promise.all(Array.from({ length: writers }, () => pool.connect()));
    const work = clients.map(async (c, w) => {
      // Explicit numbers of their own per writer, far above the seeded ones: in the current year
      // counting down from 9e9 (the first moves the counter there, and generated numbers go on
      // above it, so a writer never takes a generated number), in the oldest year counting up.
      let explicit = 0;
      for (let i = 0; !stop; i++) {
        const id = 1 + ((i * 7919 + w * 104729) % maxId);
        switch (i % 5) {
          case 0:
          case 1:
            await probe(c, `INSERT INTO ${TABLE} (note) VALUES ('writer')`, []);
            break;
          case 2:
            await probe(c, `INSERT INTO ${TABLE} (n, note) VALUES ($1, 'explicit')`, [`ASM-${year}-${9_000_000_000 - w * 1_000_000 - explicit++}`]);
            break;
          case 3:
            await probe(c, `UPDATE ${TABLE} SET touched = touched + 1 WHERE id = $1`, [id]);
            break;
          default:
            await probe(c, `UPDATE ${TABLE} SET n = $1 WHERE id = $2`, [`ASM-${Number(year) - 3}-${5_000_000 + w * 100_000 + explicit++}`, id]);
        }
      }
    });
    // The writers are running before the migration starts.
    while (statements < writers * 5) await new Promise((resolve) => setTimeout(resolve, 10));
    const waiting: string[] = [];
    const log: Array<{ at: number; line: string }> = [];
    started = performance.now();
    await migrate({
      databaseUrl,
      dir,
      migrationsTable,
      log: (line) => {
        log.push({ at: performance.now() - started, line });
        if (line.includes('waiting: ')) waiting.push(line);
      },
    });
    const migrationMs = performance.now() - started;
    // ... and keep going after it ended, now with generated numbers.
    afterMigration = statements;
    while (statements < afterMigration + writers * 5) await new Promise((resolve) => setTimeout(resolve, 10));
    stop = true;
    await Promise.all(work);
    for (const c of clients) c.release();

    const { rows: dup } = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT n FROM ${TABLE} WHERE n IS NOT NULL GROUP BY n HAVING count(*) > 1) AS d`,
    );
    const { rows: behind } = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n
         FROM racefree_internal._numbering_highest((SELECT parts FROM racefree.numberings WHERE counter = 'public.retrofit_live'), '${TABLE}', 'n') AS h
        WHERE h.seq > coalesce((SELECT c.value FROM racefree.counters AS c WHERE c.counter = 'public.retrofit_live' AND c.scope = h.scope), 0)`,
    );
    const { rows: highest } = await admin.query<{ s: string }>(
      `SELECT max(substr(n, 10)::bigint)::text AS s FROM ${TABLE} WHERE n ~ ('^ASM-' || $1::text || '-[0-9]+$')`,
      [year],
    );
    const { rows: inserted } = await admin.query<{ n: string }>(`INSERT INTO ${TABLE} (note) VALUES ('after') RETURNING n`);
    const { rows: constraint } = await admin.query<{ ok: boolean }>(
      `SELECT EXISTS (SELECT FROM pg_constraint WHERE conrelid = '${TABLE}'::regclass AND contype = 'u' AND conname = '${TABLE}_n_key') AS ok`,
    );
    return {
      rows: stats[0]!.rows,
      writers,
      statements,
      writerErrors: errors,
      maxLatencyMs,
      slowest,
      log,
      migrationMs,
      waiting,
      duplicateNumbers: dup[0]!.n,
      countersBehind: behind[0]!.n,
      next: { generated: BigInt(inserted[0]!.n.slice(`ASM-${year}-`.length)), highestBefore: BigInt(highest[0]!.s) },
      constraint: constraint[0]!.ok,
    };
  } finally {
    await pool.end();
    await admin.end();
  }
}

/** The scan alone, at `rows` rows: the per-row PL/pgSQL parse (before) against the set-based query (after). */
export async function scanFigures(client: pg.ClientBase, rounds: number): Promise<{ beforeMs: number; afterMs: number; same: boolean }> {
  const parts = `(SELECT parts FROM racefree.numberings WHERE counter = 'public.retrofit_live')`;
  const before = `SELECT p.scope, max(p.seq) AS seq FROM ${TABLE} AS t, LATERAL racefree_internal._numbering_parse(${parts}, t.n) AS p GROUP BY p.scope ORDER BY 1`;
  const after = `SELECT scope, seq FROM racefree_internal._numbering_highest(${parts}, '${TABLE}', 'n') ORDER BY 1`;
  let beforeMs = 0;
  let afterMs = 0;
  let same = true;
  for (let r = 0; r < rounds; r++) {
    // Alternating, so both see the same cache and machine load.
    let t0 = performance.now();
    const a = await client.query(after);
    afterMs += performance.now() - t0;
    t0 = performance.now();
    const b = await client.query(before);
    beforeMs += performance.now() - t0;
    same &&= JSON.stringify(a.rows) === JSON.stringify(b.rows);
  }
  return { beforeMs: beforeMs / rounds, afterMs: afterMs / rounds, same };
}

export async function run(databaseUrl: string, options: { rows?: number; writers?: number; scanRounds?: number } = {}): Promise<BenchResult> {
  const rows = options.rows ?? 1_000_000;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  const dir = await migrationDir({ '0001_retrofit_live.js': onlineMigration() });
  try {
    await seedTable(admin, rows);
    const live = await retrofitUnderLoad(databaseUrl, dir, options.writers ?? 32);
    const scan = await scanFigures(admin, options.scanRounds ?? 2);
    const scanRate = (ms: number) => rows / (ms / 1000);
    return {
      scenario: `Retrofit of ${rows.toLocaleString('en')} existing numbers (${TEMPLATE}, gapless): scan rows/s, ratio to the per-row parse`,
      rows: [
        { name: 'before: racefree_internal._numbering_parse per row (baseline)', opsPerSec: scanRate(scan.beforeMs), errors: 0, ratio: 1, kind: 'naive' },
        {
          name: 'after: racefree_internal._numbering_highest, one set-based query',
          opsPerSec: scanRate(scan.afterMs),
          errors: 0,
          ratio: scan.beforeMs / scan.afterMs,
          kind: 'racefree',
        },
      ],
      notes: [
        `scan of ${rows.toLocaleString('en')} rows: before ${(scan.beforeMs / 1000).toFixed(2)} s, after ${(scan.afterMs / 1000).toFixed(2)} s (target <= 2 s); same scopes and values: ${scan.same}`,
        `addNumbering({ concurrently: true }) with ${live.writers} writers: migration ${(live.migrationMs / 1000).toFixed(2)} s, ` +
          `${live.statements} writer statements, max writer latency ${live.maxLatencyMs.toFixed(0)} ms (target < 1000), ` +
          `${live.writerErrors.length} writer errors, ${live.duplicateNumbers} duplicate numbers, ${live.countersBehind} counters behind, ` +
          `next number ${live.next.generated} after highest ${live.next.highestBefore}, lock waits printed: ${live.waiting.length}`,
      ],
    };
  } finally {
    await admin.query(`DROP TABLE IF EXISTS ${TABLE}`).catch(() => undefined);
    await admin.query(`DELETE FROM pgmigrations WHERE name = '0001_retrofit_live'`).catch(() => undefined);
    await admin.query(`DELETE FROM racefree.counters WHERE counter = 'public.retrofit_live'`).catch(() => undefined);
    await admin.query(`DELETE FROM racefree.numberings WHERE counter = 'public.retrofit_live'`).catch(() => undefined);
    await admin.query(`DELETE FROM racefree.registry WHERE builder = 'addNumbering' AND name = 'retrofit_live'`).catch(() => undefined);
    await admin.query(`DROP FUNCTION IF EXISTS generate_retrofit_live_number()`).catch(() => undefined);
    await admin.end();
    await rm(dir, { recursive: true, force: true });
  }
}

await runStandalone(import.meta.url, run);
