/**
 * Upserts, 32+ clients, one server, alternating rounds: the generated
 * `upsert_<table>()` against the raw `INSERT ... ON CONFLICT DO UPDATE` it
 * replaces, both as the same kind of prepared statement (one Bind/Execute
 * round trip per call); a hand-written PL/pgSQL function with the generated
 * one's guarantees (the row and its action, an unchanged call writes
 * nothing), the floor of any function; and seed 000's check-then-insert
 * (SELECT, then UPDATE or INSERT) with its errors.
 *
 * Every round writes a fresh set of 200 keys, so each round has the first
 * inserts where the naive pattern races, then updates; every call carries new
 * values, so the generated function updates as often as the raw statement.
 *
 * Run alone: `DATABASE_URL=postgres://... node dist/bench/upsert.js`
 * (the kit must be migrated; creates and drops its own tables).
 */

import pg from 'pg';

import { buildCall } from '../src/call-statement.js';
import { applyMigration } from '../src/migrate/apply.js';
import { addUpsert, dropUpsert } from '../src/migrate/upsert.js';
import { load, median, runStandalone, type Load } from './load.js';
import { benchSql } from './sql-file.js';
import type { BenchResult } from './types.js';

const VARIANTS = ['raw', 'generated', 'hand', 'naive'] as const;
type Variant = (typeof VARIANTS)[number];

const LABELS: Record<Variant, string> = {
  raw: 'raw INSERT ... ON CONFLICT DO UPDATE, prepared (baseline)',
  generated: 'generated upsert_<table>(), prepared',
  hand: 'hand-written PL/pgSQL function with the same guarantees, prepared',
  naive: 'seed 000: SELECT, then UPDATE or INSERT',
};

const FN = 'upsert_bench_upsert_gen';
const TABLES = 'bench_upsert_raw, bench_upsert_gen, bench_upsert_naive';
const KEYS = 200;
const LEVELS = ['beginner', 'intermediate', 'expert', 'master'];
const COLUMNS = `id bigserial PRIMARY KEY, technology text NOT NULL, proficiency_level text NOT NULL,
  questions jsonb NOT NULL, total_questions int NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (technology, proficiency_level)`;

/** The hand-written function with the same guarantees, and what removes it, shared with bench/pgbench/upsert.sh. */
const HAND = benchSql('upsert-hand.sql');
const HAND_DROP = benchSql('upsert-hand-drop.sql');

export async function run(databaseUrl: string, options: { clients?: number; ms?: number; rounds?: number } = {}): Promise<BenchResult> {
  const clients = options.clients ?? 32;
  const ms = options.ms ?? 2_000;
  const roundCount = options.rounds ?? 5;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: clients });
  pool.on('error', () => undefined); // idle clients see the scratch database dropped
  try {
    await pool.query(`
      DROP TABLE IF EXISTS ${TABLES};
      ${HAND_DROP}
      CREATE TABLE bench_upsert_raw (${COLUMNS});
      CREATE TABLE bench_upsert_gen (${COLUMNS});
      CREATE TABLE bench_upsert_naive (${COLUMNS});
      ${HAND}`);
    const setup = await pool.connect();
    try {
      await applyMigration(setup, (pgm) => addUpsert(pgm, { table: 'bench_upsert_gen', key: ['technology', 'proficiency_level'] }));
    } finally {
      setup.release();
    }

    // Every measured load writes its own fresh keys.
    let namespace = 0;
    const args = (ns: number, i: number) => {
      const k = Math.floor(Math.random() * KEYS);
      return {
        technology: `tech-${ns}-${k >> 2}`,
        proficiency_level: LEVELS[k & 3]!,
        questions: JSON.stringify([{ q: i }]),
        total_questions: i,
      };
    };
    const raw = {
      name: 'bench_upsert_raw',
      text: `INSERT INTO bench_upsert_raw AS t (technology, proficiency_level, questions, total_questions) VALUES ($1, $2, $3, $4)
             ON CONFLICT (technology, proficiency_level) DO UPDATE SET questions = excluded.questions, total_questions = excluded.total_questions
             RETURNING *`,
    };
    const naiveErrors = new Map<string, number>();
    const actions = { inserted: 0, updated: 0, unchanged: 0 } as Record<string, number>;
    const ops: Record<Variant, (ns: number) => (c: pg.PoolClient, i: number) => Promise<void>> = {
      raw: (ns) => async (c, i) => {
        const a = args(ns, i);
        await c.query({ ...raw, values: [a.technology, a.proficiency_level, a.questions, a.total_questions] });
      },
      generated: (ns) => async (c, i) => {
        // Exactly what db.call sends: one named (prepared) statement with named arguments.
        const { name, text, values } = buildCall(FN, args(ns, i));
        const { rows } = await c.query<{ action: string }>({ name, text, values });
        actions[rows[0]!.action]!++;
      },
      hand: (ns) => async (c, i) => {
        const a = args(ns, i);
        await c.query({
          name: 'bench_upsert_hand',
          text: 'SELECT * FROM bench_upsert_hand_fn($1, $2, $3, $4)',
          values: [a.technology, a.proficiency_level, a.questions, a.total_questions],
        });
      },
      naive: (ns) => async (c, i) => {
        const a = args(ns, i);
        try {
          const { rows } = await c.query<{ id: string }>({
            name: 'bench_naive_select',
            text: 'SELECT id FROM bench_upsert_naive WHERE technology = $1 AND proficiency_level = $2',
            values: [a.technology, a.proficiency_level],
          });
          if (rows[0] !== undefined) {
            await c.query({
              name: 'bench_naive_update',
              text: 'UPDATE bench_upsert_naive SET questions = $2, total_questions = $3 WHERE id = $1',
              values: [rows[0].id, a.questions, a.total_questions],
            });
          } else {
            await c.query({
              name: 'bench_naive_insert',
              text: 'INSERT INTO bench_upsert_naive (technology, proficiency_level, questions, total_questions) VALUES ($1, $2, $3, $4)',
              values: [a.technology, a.proficiency_level, a.questions, a.total_questions],
            });
          }
        } catch (error) {
          const code = (error as { code?: string }).code ?? 'none';
          naiveErrors.set(code, (naiveErrors.get(code) ?? 0) + 1);
          throw error;
        }
      },
    };
    // Warm up: open every connection and prepare every statement on each.
    for (const v of VARIANTS) await load(pool, clients, Math.min(ms, 500), ops[v](namespace++));
    naiveErrors.clear();
    for (const k of Object.keys(actions)) actions[k] = 0;

    const totals = Object.fromEntries(VARIANTS.map((v) => [v, { ops: 0, errors: 0, seconds: 0 }])) as Record<Variant, Load>;
    const ratios: number[] = [];
    const toHand: number[] = [];
    for (let r = 0; r < roundCount; r++) {
      // Rotate the order each round so no variant always runs first or last.
      const order = VARIANTS.map((_, k) => VARIANTS[(k + r) % VARIANTS.length]!);
      const round = {} as Record<Variant, Load>;
      for (const v of order) {
        const l = await load(pool, clients, ms, ops[v](namespace++));
        round[v] = l;
        const t = totals[v];
        totals[v] = { ops: t.ops + l.ops, errors: t.errors + l.errors, seconds: t.seconds + l.seconds };
      }
      const rateOf = (v: Variant) => round[v].ops / round[v].seconds;
      ratios.push(rateOf('generated') / rateOf('raw'));
      toHand.push(rateOf('generated') / rateOf('hand'));
    }
    const rate = (v: Variant) => totals[v].ops / totals[v].seconds;
    const naiveRequests = totals.naive.ops + totals.naive.errors;
    return {
      scenario: `Upserts: calls/s, ${clients} clients, ${roundCount} alternating rounds of ${ms} ms (ratio to the raw statement)`,
      rows: VARIANTS.map((v) => ({
        name: LABELS[v],
        opsPerSec: rate(v),
        errors: totals[v].errors,
        requests: totals[v].ops + totals[v].errors,
        ratio: rate(v) / rate('raw'),
      })),
      notes: [
        `generated / raw, median of the ${roundCount} per-round ratios: ${median(ratios).toFixed(3)} ` +
          `(min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)}); target >= 0.95. ` +
          'Both are one prepared statement per call: one Bind/Execute round trip.',
        `generated / the hand-written function with the same guarantees: median ${median(toHand).toFixed(3)} ` +
          `(min ${Math.min(...toHand).toFixed(3)}, max ${Math.max(...toHand).toFixed(3)}).`,
        `generated actions: ${Object.entries(actions)
          .map(([a, n]) => `${a} ${n}`)
          .join(', ')} (new values on every call, so no unchanged).`,
        `seed 000 failed ${totals.naive.errors} of ${naiveRequests} requests (${((100 * totals.naive.errors) / Math.max(1, naiveRequests)).toFixed(1)}%), ` +
          `by SQLSTATE: ${[...naiveErrors].map(([code, n]) => `${code} x${n}`).join(', ') || 'none'}; the generated upsert and the raw statement: ` +
          `${totals.generated.errors + totals.raw.errors}. It also needs 2 round trips per call.`,
      ],
    };
  } finally {
    // dropUpsert, so the registry entry and the row type go too and the scenario can run again in the same database.
    await pool
      .connect()
      .then(async (c) => {
        try {
          await applyMigration(c, (pgm) => dropUpsert(pgm, { table: 'bench_upsert_gen' }));
        } finally {
          c.release();
        }
      })
      .catch(() => undefined);
    await pool.query(`DROP TABLE IF EXISTS ${TABLES}; ${HAND_DROP}`).catch(() => undefined);
    await pool.end();
  }
}

await runStandalone(import.meta.url, run);
