/**
 * Numbering throughput, 32+ clients, one server, alternating rounds:
 * plain INSERT into a bigserial table (the limit), fast mode, gapless mode on
 * one scope and on 50 scopes, and seed 003's count(*)+1 with retries.
 */
import pg from 'pg';
import { addNumbering } from '../src/migrate/numbering.js';
import { applyMigration } from '../src/migrate/apply.js';
import { load, rounds } from './load.js';
import type { BenchResult } from './types.js';

const VARIANTS = ['plain', 'fast', 'gapless50', 'gapless1', 'seed003'] as const;
type Variant = (typeof VARIANTS)[number];

const LABELS: Record<Variant, string> = {
  plain: 'plain INSERT, bigserial (limit)',
  fast: "addNumbering mode 'fast'",
  gapless50: "addNumbering mode 'gapless', 50 scopes",
  gapless1: "addNumbering mode 'gapless', one scope",
  seed003: 'seed 003: count(*)+1, 3 attempts with backoff',
};

export async function run(databaseUrl: string, options: { clients?: number; ms?: number; rounds?: number } = {}): Promise<BenchResult> {
  const clients = options.clients ?? 32;
  const ms = options.ms ?? 2000;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: clients });
  pool.on('error', () => undefined); // idle clients see the scratch database dropped
  try {
    await pool.query(`
      DROP TABLE IF EXISTS bench_plain, bench_fast, bench_g50, bench_g1, bench_seed003;
      CREATE TABLE bench_plain (id bigserial PRIMARY KEY, title text);
      CREATE TABLE bench_fast (id bigserial PRIMARY KEY, title text, n text);
      CREATE TABLE bench_g50 (id bigserial PRIMARY KEY, title text, tenant int NOT NULL, n text);
      CREATE TABLE bench_g1 (id bigserial PRIMARY KEY, title text, n text);
      CREATE TABLE bench_seed003 (id bigserial PRIMARY KEY, title text, n text NOT NULL UNIQUE);`);
    const client = await pool.connect();
    try {
      await applyMigration(client, (pgm) => {
        addNumbering(pgm, { name: 'bench_fast', table: 'bench_fast', column: 'n', template: 'F-{seq:6}', mode: 'fast' });
        addNumbering(pgm, { name: 'bench_g50', table: 'bench_g50', column: 'n', template: 'T{tenant}-{YYYY}-{seq:3}' });
        addNumbering(pgm, { name: 'bench_g1', table: 'bench_g1', column: 'n', template: 'ASM-{YYYY}-{seq:3}' });
      });
    } finally {
      client.release();
    }
    const year = new Date().getUTCFullYear();
    const ops: Record<Variant, (c: pg.PoolClient, i: number) => Promise<void>> = {
      plain: async (c) => void (await c.query('INSERT INTO bench_plain (title) VALUES ($1)', ['x'])),
      fast: async (c) => void (await c.query('INSERT INTO bench_fast (title) VALUES ($1)', ['x'])),
      gapless50: async (c, i) => void (await c.query('INSERT INTO bench_g50 (title, tenant) VALUES ($1, $2)', ['x', i % 50])),
      gapless1: async (c) => void (await c.query('INSERT INTO bench_g1 (title) VALUES ($1)', ['x'])),
      seed003: async (c) => {
        for (let attempt = 0; ; attempt++) {
          const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM bench_seed003 WHERE n LIKE $1', [`ASM-${year}-%`]);
          try {
            await c.query('INSERT INTO bench_seed003 (title, n) VALUES ($1, $2)', ['x', `ASM-${year}-${String(rows[0]!.n + 1).padStart(3, '0')}`]);
            return;
          } catch (error) {
            if ((error as { code?: string }).code !== '23505' || attempt === 2) throw error;
            await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
          }
        }
      },
    };
    const totals = await rounds(VARIANTS, options.rounds ?? 3, (v) => load(pool, clients, ms, ops[v]));
    const rate = (v: Variant) => totals[v].ops / totals[v].seconds;
    const kind = (v: Variant): 'limit' | 'naive' | 'racefree' => (v === 'plain' ? 'limit' : v === 'seed003' ? 'naive' : 'racefree');
    const rows = VARIANTS.map((v) => ({ name: LABELS[v], opsPerSec: rate(v), errors: totals[v].errors, ratio: rate(v) / rate('plain'), kind: kind(v) }));
    return {
      scenario: `Numbering: inserts/s, ${clients} clients (ratio to plain INSERT)`,
      rows,
      notes: [
        `gapless one scope vs seed 003: ${(rate('gapless1') / rate('seed003')).toFixed(1)}x, with ${totals.gapless1.errors} errors vs ${totals.seed003.errors} failed requests`,
      ],
    };
  } finally {
    await pool.query('DROP TABLE IF EXISTS bench_plain, bench_fast, bench_g50, bench_g1, bench_seed003').catch(() => undefined);
    await pool.end();
  }
}
