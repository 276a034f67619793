/**
 * What the ambiguous-commit check costs: the statement a transaction sends
 * just before COMMIT, reading the xid alone (what the client sent before)
 * against the xid with the server's WAL history (timeline, latest
 * checkpoint, postmaster start). Same round trips, same
 * pool, alternating rounds; each transaction inserts one row. Commits are
 * asynchronous (synchronous_commit off in these sessions) so the WAL flush
 * does not hide the statement's own cost.
 *
 * Run alone: `DATABASE_URL=postgres://... node dist/bench/commit-check.js`.
 */

import pg from 'pg';

import { XID_SQL } from '../src/commit-outcome.js';
import { load, rounds, runStandalone } from './load.js';
import type { BenchResult } from './types.js';

const VARIANTS = ['xid', 'history', 'xid-alone', 'history-alone'] as const;
type Variant = (typeof VARIANTS)[number];

const XID_ONLY = { name: 'bench_xid_only', text: 'SELECT pg_current_xact_id_if_assigned()::text AS xid' };
const XID_HISTORY = { name: 'bench_xid_history', text: XID_SQL };
const CHECKS: Record<Variant, { name: string; text: string }> = {
  xid: XID_ONLY,
  history: XID_HISTORY,
  'xid-alone': XID_ONLY,
  'history-alone': XID_HISTORY,
};

const LABELS: Record<Variant, string> = {
  xid: 'transaction: INSERT, xid only, COMMIT (the former check, baseline)',
  history: 'transaction: INSERT, xid + WAL history, COMMIT (racefree)',
  'xid-alone': 'the check statement alone, xid only (baseline of the next row)',
  'history-alone': 'the check statement alone, xid + WAL history',
};

export async function run(databaseUrl: string, options: { clients?: number; ms?: number; rounds?: number } = {}): Promise<BenchResult> {
  const clients = options.clients ?? 16;
  const ms = options.ms ?? 1_000;
  const count = options.rounds ?? 8;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: clients, options: '-c synchronous_commit=off' });
  pool.on('error', () => undefined);
  try {
    await pool.query('CREATE TABLE IF NOT EXISTS racefree_bench_commit (id bigserial PRIMARY KEY, v int)');
    const insert = { name: 'bench_commit_insert', text: 'INSERT INTO racefree_bench_commit (v) VALUES ($1)' };
    const transaction = (variant: Variant) => async (client: pg.PoolClient, i: number) => {
      await client.query('BEGIN');
      await client.query({ ...insert, values: [i] });
      await client.query(CHECKS[variant]);
      await client.query('COMMIT');
    };
    // The statement alone, over and over in one transaction that holds an xid: its own server cost.
    const alone = (variant: Variant) => async (client: pg.PoolClient, i: number) => {
      if (i < clients) {
        await client.query('BEGIN');
        await client.query({ ...insert, values: [i] });
      }
      await client.query(CHECKS[variant]);
    };
    const measure = async (v: Variant, time: number) => {
      if (!v.endsWith('-alone')) return load(pool, clients, time, transaction(v));
      const result = await load(pool, clients, time, alone(v));
      // Every worker's connection is back in the pool, inside its transaction: end them all.
      const held = await Promise.all(Array.from({ length: clients }, () => pool.connect()));
      await Promise.all(held.map((c) => c.query('ROLLBACK')));
      held.forEach((c) => c.release());
      return result;
    };
    for (const v of VARIANTS) await measure(v, 300);
    const totals = await rounds(VARIANTS, count, (v) => measure(v, ms));
    const rate = (v: Variant): number => totals[v].ops / totals[v].seconds;
    return {
      scenario: `Ambiguous-commit check: transactions/s, ${clients} clients, ${count} alternating rounds of ${ms} ms`,
      rows: VARIANTS.map((v) => ({
        name: LABELS[v],
        opsPerSec: rate(v),
        errors: totals[v].errors,
        ratio: rate(v) / rate(v.endsWith('-alone') ? 'xid-alone' : 'xid'),
        kind: v.startsWith('xid') ? 'limit' : 'racefree',
      })),
      notes: [
        'No extra round trip: the history is read in the statement that reads the xid, and only when the transaction wrote (has an xid).',
        `Statement: ${XID_SQL}`,
      ],
    };
  } finally {
    await pool.query('DROP TABLE IF EXISTS racefree_bench_commit').catch(() => undefined);
    await pool.end();
  }
}

await runStandalone(import.meta.url, run);
