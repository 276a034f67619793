/**
 * What `preparedStatements: false` (for transaction-mode poolers) costs:
 * the client with named statements, prepared once per connection (the
 * default), against unnamed ones, parsed on every call. Direct connections,
 * same process, alternating rounds: `db.call` of a generated upsert, and
 * `db.transaction` of three such calls.
 *
 * Run alone: `DATABASE_URL=postgres://... node dist/bench/statements.js`
 * (a database where the kit is migrated).
 */

import pg from 'pg';

import { addUpsert } from '../src/migrate/index.js';
import { applyMigration } from '../src/migrate/apply.js';
import { createClient, type Db } from '../src/index.js';
import { rounds, runStandalone, timed } from './load.js';
import type { BenchResult } from './types.js';

const VARIANTS = ['call-named', 'call-unnamed', 'tx-named', 'tx-unnamed'] as const;
type Variant = (typeof VARIANTS)[number];

const LABELS: Record<Variant, string> = {
  'call-named': 'db.call, named statements (default, baseline)',
  'call-unnamed': 'db.call, preparedStatements: false',
  'tx-named': 'db.transaction of 3 calls, named statements',
  'tx-unnamed': 'db.transaction of 3 calls, preparedStatements: false',
};

export async function run(databaseUrl: string, options: { clients?: number; ms?: number; rounds?: number } = {}): Promise<BenchResult> {
  const clients = options.clients ?? 16;
  const ms = options.ms ?? 1_000;
  const count = options.rounds ?? 6;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  const pools: pg.Pool[] = [];
  const client = (preparedStatements: boolean): Db => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: clients });
    pool.on('error', () => undefined);
    pools.push(pool);
    return createClient({ pool, preparedStatements });
  };
  try {
    await admin.query('CREATE TABLE racefree_bench_stmt (k int PRIMARY KEY, v text NOT NULL, n int NOT NULL DEFAULT 0)');
    await applyMigration(admin, (pgm) => addUpsert(pgm, { table: 'racefree_bench_stmt', key: ['k'] }));
    const named = client(true);
    const unnamed = client(false);
    const call = (db: Db) => (i: number) => db.call('upsert_racefree_bench_stmt', { k: i % 1000, v: 'x', n: i });
    const tx = (db: Db) => (i: number) =>
      db.transaction(async (t) => {
        await t.call('upsert_racefree_bench_stmt', { k: i % 1000, v: 'a', n: i });
        await t.call('upsert_racefree_bench_stmt', { k: 1000 + (i % 1000), v: 'b', n: i });
        await t.call('upsert_racefree_bench_stmt', { k: 2000 + (i % 1000), v: 'c', n: i });
      });
    const ops: Record<Variant, (i: number) => Promise<unknown>> = {
      'call-named': call(named),
      'call-unnamed': call(unnamed),
      'tx-named': tx(named),
      'tx-unnamed': tx(unnamed),
    };
    for (const v of VARIANTS) await timed(clients, 300, ops[v]);
    const totals = await rounds(VARIANTS, count, (v) => timed(clients, ms, ops[v]));
    const rate = (v: Variant): number => totals[v].ops / totals[v].seconds;
    return {
      scenario: `Named vs unnamed statements: ops/s, ${clients} clients, direct connections, ${count} alternating rounds of ${ms} ms`,
      rows: VARIANTS.map((v) => ({
        name: LABELS[v],
        opsPerSec: rate(v),
        errors: totals[v].errors,
        ratio: rate(v) / rate(v.startsWith('call') ? 'call-named' : 'tx-named'),
        kind: v.endsWith('-named') ? 'limit' : 'racefree',
      })),
      notes: [
        'Ratios: each unnamed row to the named row of the same operation.',
        'Through a transaction-mode pooler the named variants do not work at all (42P05 / 26000); the unnamed ones do.',
      ],
    };
  } finally {
    await Promise.all(pools.map((p) => p.end()));
    await admin.query('DROP TABLE IF EXISTS racefree_bench_stmt CASCADE').catch(() => undefined);
    await admin.end();
  }
}

await runStandalone(import.meta.url, run);
