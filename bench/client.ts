/**
 * The client's overhead: `db.call()` against raw pg `pool.query()` of the
 * very statement it sends, on one pool, in one process, 32+ concurrent
 * callers, alternating rounds. The baseline is pg with the same prepared
 * statement (what `db.call` sends), so the ratio isolates the client's own
 * cost; pg with an unnamed statement (parsed on every call) is shown too.
 *
 * Run alone: `DATABASE_URL=postgres://... node dist/bench/client.js`
 * (creates and drops one function in that database).
 */

import pg from 'pg';

import { buildCall } from '../src/call-statement.js';
import { createClient } from '../src/index.js';
import { median, runStandalone, timed, type Measured } from './load.js';
import type { BenchResult } from './types.js';

const FN = 'racefree_bench_echo';
const VARIANTS = ['prepared', 'unnamed', 'call'] as const;
type Variant = (typeof VARIANTS)[number];

const LABELS: Record<Variant, string> = {
  prepared: 'pg pool.query, same prepared statement (baseline)',
  unnamed: 'pg pool.query, same SQL text, unnamed statement',
  call: 'racefree db.call',
};

export async function run(databaseUrl: string, options: { clients?: number; ms?: number; rounds?: number } = {}): Promise<BenchResult> {
  const clients = options.clients ?? 32;
  const ms = options.ms ?? 1_000;
  const roundCount = options.rounds ?? 12;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: clients });
  pool.on('error', () => undefined); // idle clients may see a scratch database dropped
  const db = createClient({ pool });
  try {
    await pool.query(`
      CREATE OR REPLACE FUNCTION ${FN}(a int, b text) RETURNS TABLE (a int, b text)
        LANGUAGE sql STABLE AS 'SELECT a, b'`);
    const args = (i: number): { a: number; b: string } => ({ a: i, b: 'racefree' });
    // Exactly what db.call sends, so both sides run the same statement.
    const { name, text } = buildCall(FN, args(0));
    const ops: Record<Variant, (i: number) => Promise<unknown>> = {
      prepared: (i) => pool.query({ name, text, values: [i, 'racefree'] }),
      unnamed: (i) => pool.query(text, [i, 'racefree']),
      call: (i) => db.call(FN, args(i)),
    };
    // Warm up: open every connection and prepare the statement on each.
    for (const v of VARIANTS) await timed(clients, Math.min(ms, 500), ops[v]);

    const totals = Object.fromEntries(VARIANTS.map((v) => [v, { ops: 0, errors: 0, seconds: 0, cpuMicros: 0 }])) as Record<Variant, Measured>;
    const roundRatios: number[] = [];
    for (let r = 0; r < roundCount; r++) {
      // Rotate the order each round so no variant always runs first or last.
      const order = VARIANTS.map((_, k) => VARIANTS[(k + r) % VARIANTS.length]!);
      const round = {} as Record<Variant, Measured>;
      for (const v of order) {
        const m = await timed(clients, ms, ops[v]);
        round[v] = m;
        const t = totals[v];
        totals[v] = {
          ops: t.ops + m.ops,
          errors: t.errors + m.errors,
          seconds: t.seconds + m.seconds,
          cpuMicros: t.cpuMicros + m.cpuMicros,
        };
      }
      roundRatios.push(round.call.ops / round.call.seconds / (round.prepared.ops / round.prepared.seconds));
    }
    const rate = (v: Variant): number => totals[v].ops / totals[v].seconds;
    const cpuPerOp = (v: Variant): string => (totals[v].cpuMicros / Math.max(1, totals[v].ops)).toFixed(1);
    const baseline = rate('prepared');
    return {
      scenario: `db.call vs raw pg, ${clients} concurrent callers, ${roundCount} alternating rounds of ${ms} ms`,
      rows: VARIANTS.map((v) => ({
        name: LABELS[v],
        opsPerSec: rate(v),
        errors: totals[v].errors,
        ratio: rate(v) / baseline,
        kind: v === 'prepared' ? 'limit' : v === 'unnamed' ? 'naive' : 'racefree',
      })),
      notes: [
        `Statement: ${text}`,
        `db.call / prepared baseline, median of the ${roundCount} per-round ratios: ${median(roundRatios).toFixed(3)} ` +
          `(min ${Math.min(...roundRatios).toFixed(3)}, max ${Math.max(...roundRatios).toFixed(3)}); target >= 0.95.`,
        `Client CPU per op (this process, µs): ${VARIANTS.map((v) => `${v} ${cpuPerOp(v)}`).join(', ')}.`,
        'Each db.call checks a connection out of the pool and returns it, as pool.query does; the server shares the machine.',
      ],
    };
  } finally {
    await pool.query(`DROP FUNCTION IF EXISTS ${FN}(int, text)`).catch(() => undefined);
    await pool.end();
  }
}

await runStandalone(import.meta.url, run);
