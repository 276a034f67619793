/**
 * Idempotency keys: the storm (every key sent 8 times at once) through
 * `db.once` against the same work without keys through `db.transaction`, 64
 * callers, one pool, alternating rounds. Throughput counts requests answered,
 * a replay included; every key is also sent once to show the key's own cost.
 * Two works: one INSERT (the keys' cost at its most visible) and the shape of
 * seed 002's ingest.
 *
 * Run alone: `DATABASE_URL=postgres://... node dist/bench/idempotency.js`
 * (the kit must be migrated; creates and drops its own tables).
 */

import { randomBytes } from 'node:crypto';

import pg from 'pg';

import { createClient, type Tx } from '../src/index.js';
import { median, runStandalone, timed, type Load } from './load.js';
import type { BenchResult } from './types.js';

const WORKS = ['insert', 'ingest'] as const;
type Work = (typeof WORKS)[number];
const MODES = ['plain', 'storm', 'unique'] as const;
type Mode = (typeof MODES)[number];
type Variant = `${Work}:${Mode}`;
const VARIANTS = WORKS.flatMap((w) => MODES.map((m): Variant => `${w}:${m}`));

const DUPLICATES = 8;

const WORK_LABELS: Record<Work, string> = {
  insert: 'one INSERT',
  ingest: "seed 002's ingest (5 rows)",
};
const MODE_LABELS: Record<Mode, string> = {
  plain: 'no keys, every request does the work (baseline)',
  storm: `db.once, storm: each key ${DUPLICATES}x at once (1 run + ${DUPLICATES - 1} replays)`,
  unique: 'db.once, every key once (BEGIN + claim, work, complete + COMMIT)',
};

export async function run(databaseUrl: string, options: { clients?: number; ms?: number; rounds?: number } = {}): Promise<BenchResult> {
  const clients = options.clients ?? 64;
  const ms = options.ms ?? 2_000;
  const roundCount = options.rounds ?? 5;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: clients });
  pool.on('error', () => undefined); // idle clients may see the scratch database dropped
  const db = createClient({ pool });
  // Keys never repeat across rounds or runs.
  const run = randomBytes(4).toString('hex');
  let round = 0;
  try {
    await pool.query(`
      DROP TABLE IF EXISTS bench_once_work, bench_once_attempts, bench_once_progress;
      CREATE TABLE bench_once_work (id bigserial PRIMARY KEY, variant text NOT NULL, request text NOT NULL, payload jsonb NOT NULL);
      CREATE TABLE bench_once_attempts (id bigserial PRIMARY KEY, work_id bigint NOT NULL, question int NOT NULL, outcome text NOT NULL);
      CREATE TABLE bench_once_progress (request text PRIMARY KEY, answered int NOT NULL);
      CREATE OR REPLACE FUNCTION bench_once_insert(variant text, request text, payload jsonb) RETURNS TABLE (id bigint)
        LANGUAGE sql AS 'INSERT INTO bench_once_work (variant, request, payload) VALUES ($1, $2, $3) RETURNING id';
      -- Seed 002's shape: a session row, its attempts, and a progress row.
      CREATE OR REPLACE FUNCTION bench_once_ingest(variant text, request text, payload jsonb) RETURNS TABLE (id bigint)
        LANGUAGE sql AS $$
          WITH s AS (INSERT INTO bench_once_work (variant, request, payload) VALUES ($1, $2, $3) RETURNING bench_once_work.id),
               a AS (INSERT INTO bench_once_attempts (work_id, question, outcome)
                     SELECT s.id, (x->>'question')::int, x->>'outcome' FROM s, jsonb_array_elements($3->'attempts') AS x),
               p AS (INSERT INTO bench_once_progress VALUES ($2, jsonb_array_length($3->'attempts'))
                     ON CONFLICT (request) DO UPDATE SET answered = bench_once_progress.answered + excluded.answered)
          SELECT s.id FROM s
        $$;`);
    const payload = {
      attempts: [
        { question: 1, outcome: 'correct' },
        { question: 2, outcome: 'wrong' },
        { question: 3, outcome: 'unsure' },
      ],
    };
    const payloadJson = JSON.stringify(payload);
    const work = (w: Work, variant: Variant, request: string) => async (tx: Tx) =>
      (await tx.callOne<{ id: string }>(`bench_once_${w}`, { variant, request, payload: payloadJson })).id;
    const request = (v: Variant) => {
      const [w, mode] = v.split(':') as [Work, Mode];
      return (n: number): Promise<unknown> => {
        // Storm: consecutive request numbers share a key, so its duplicates are in flight together.
        const key = `${run}-${round}-${mode === 'storm' ? Math.floor(n / DUPLICATES) : n}`;
        if (mode === 'plain') return db.transaction(work(w, v, key), { isolation: 'read committed' });
        return db.once({ scope: `bench:${v}`, key, request: payload }, work(w, v, key));
      };
    };
    // Warm up: open every connection and prepare the statements on each.
    for (const v of VARIANTS) await timed(clients, 300, request(v));
    const totals = Object.fromEntries(VARIANTS.map((v) => [v, { ops: 0, errors: 0, seconds: 0 }])) as Record<Variant, Load>;
    const perRound = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
    for (let r = 0; r < roundCount; r++) {
      // Rotate the order each round so no variant always runs first or last.
      const rates = {} as Record<Variant, number>;
      for (const v of VARIANTS.map((_, k) => VARIANTS[(k + r) % VARIANTS.length]!)) {
        round++;
        const l = await timed(clients, ms, request(v));
        const t = totals[v];
        totals[v] = { ops: t.ops + l.ops, errors: t.errors + l.errors, seconds: t.seconds + l.seconds };
        rates[v] = l.ops / l.seconds;
      }
      for (const v of VARIANTS) perRound[v].push(rates[v] / rates[`${v.split(':')[0] as Work}:plain`]);
    }
    const spread = (v: Variant): string =>
      `${median(perRound[v]).toFixed(2)}x (${Math.min(...perRound[v]).toFixed(2)} to ${Math.max(...perRound[v]).toFixed(2)})`;
    const { rows } = await pool.query<{ variant: Variant; works: number; keys: number }>(
      `SELECT variant, count(*)::int AS works, count(DISTINCT request)::int AS keys FROM bench_once_work GROUP BY variant`,
    );
    const rate = (v: Variant) => totals[v].ops / totals[v].seconds;
    const ratio = (v: Variant) => rate(v) / rate(`${v.split(':')[0] as Work}:plain`);
    const onceEach = VARIANTS.filter((v) => !v.endsWith(':plain')).every((v) => {
      const r = rows.find((x) => x.variant === v);
      return r !== undefined && r.works === r.keys;
    });
    return {
      scenario: `Idempotency keys: requests/s, ${clients} concurrent callers, ${roundCount} alternating rounds of ${ms} ms (ratio to the same work without keys)`,
      rows: VARIANTS.map((v) => {
        const [w, mode] = v.split(':') as [Work, Mode];
        return {
          name: `${WORK_LABELS[w]}: ${MODE_LABELS[mode]}`,
          opsPerSec: rate(v),
          errors: totals[v].errors,
          ratio: ratio(v),
          kind: mode === 'plain' ? 'limit' : 'racefree',
        };
      }),
      notes: [
        `Median of the ${roundCount} per-round ratios (min to max): every key once ${WORKS.map((w) => `${WORK_LABELS[w]} ${spread(`${w}:unique`)}`).join(', ')} (target >= 0.65x); ` +
          `storm ${WORKS.map((w) => `${WORK_LABELS[w]} ${spread(`${w}:storm`)}`).join(', ')} (target >= 0.9x).`,
        'Round trips per request: without keys 3 + the work (BEGIN, the work, the xid read for the commit check, COMMIT); with a key 2 + the work ' +
          '(BEGIN with the claim, which reports the xid; the work; the response with COMMIT); a replay 2 (BEGIN with the claim, ROLLBACK).',
        `With keys the work ran exactly once per key: ${onceEach ? 'yes' : 'NO'}. Without keys the storm would run it ${DUPLICATES} times per key; with db.once each duplicate waits for the first request to commit and replays its response.`,
        'Every duplicate waits on a lock and is woken by the commit; with the smallest work that wake-up is most of what a request costs.',
      ],
    };
  } finally {
    await pool
      .query(
        `DROP FUNCTION IF EXISTS bench_once_insert(text, text, jsonb), bench_once_ingest(text, text, jsonb);
              DROP TABLE IF EXISTS bench_once_work, bench_once_attempts, bench_once_progress;
              DELETE FROM racefree.idempotency_keys WHERE starts_with(scope, 'bench:');`,
      )
      .catch(() => undefined);
    await pool.end();
  }
}

await runStandalone(import.meta.url, run);
