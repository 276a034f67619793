import { pathToFileURL } from 'node:url';
import type pg from 'pg';
import { runLoad, type LoadResult } from '../src/tooling/load.js';
import type { BenchResult } from './types.js';

/** The median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** What one timed load produced. */
export interface Load {
  readonly ops: number;
  readonly errors: number;
  readonly seconds: number;
}

/**
 * Run `op` from `clients` concurrent callers on `pool` for `ms` milliseconds,
 * each on a connection of its own checked out before the clock starts. An op
 * that throws counts as an error, not as an op.
 */
export async function load(pool: pg.Pool, clients: number, ms: number, op: (client: pg.PoolClient, i: number) => Promise<void>): Promise<Load> {
  const connections = await Promise.all(Array.from({ length: clients }, () => pool.connect()));
  try {
    return counted(await runLoad({ concurrency: clients, durationMs: ms }, (i, worker) => op(connections[worker]!, i)));
  } finally {
    for (const client of connections) client.release();
  }
}

export interface Measured extends Load {
  /** CPU time of this process, in microseconds: the client-side cost, less noisy than throughput. */
  readonly cpuMicros: number;
}

/** `clients` callers each calling `op` back to back for `ms` milliseconds. */
export async function timed(clients: number, ms: number, op: (i: number) => Promise<unknown>): Promise<Measured> {
  const cpu = process.cpuUsage();
  const result = await runLoad({ concurrency: clients, durationMs: ms }, (i) => op(i));
  const used = process.cpuUsage(cpu);
  return { ...counted(result), cpuMicros: used.user + used.system };
}

/** The bench's view of a run of the one load generator (src/tooling/load.ts). */
function counted(result: LoadResult): Load {
  return { ops: result.calls - result.failed, errors: result.failed, seconds: result.elapsedMs / 1000 };
}

/**
 * Measure several variants in alternating rounds (A B C, A B C, ...) so drift
 * in the machine's speed hits every variant alike; returns summed totals.
 */
export async function rounds<K extends string>(names: readonly K[], count: number, measure: (name: K) => Promise<Load>): Promise<Record<K, Load>> {
  const totals = Object.fromEntries(names.map((n) => [n, { ops: 0, errors: 0, seconds: 0 }])) as Record<K, Load>;
  for (let r = 0; r < count; r++) {
    for (const name of names) {
      const l = await measure(name);
      const t = totals[name];
      totals[name] = { ops: t.ops + l.ops, errors: t.errors + l.errors, seconds: t.seconds + l.seconds };
    }
  }
  return totals;
}

/** A Markdown table of a scenario's rows. */
export function markdown(result: { scenario: string; rows: ReadonlyArray<{ name: string; opsPerSec: number; errors: number; ratio?: number }> }): string {
  const lines = [`### ${result.scenario}`, '', '| variant | ops/s | errors | ratio |', '|---|---:|---:|---:|'];
  for (const r of result.rows) {
    lines.push(`| ${r.name} | ${r.opsPerSec.toFixed(0)} | ${r.errors} | ${r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`} |`);
  }
  return lines.join('\n');
}

/**
 * Run one scenario as a script (`DATABASE_URL=... node dist/bench/<file>.js`,
 * a database where the kit is migrated) and print its table and notes. Does
 * nothing when the module is imported by bench/run.ts.
 */
export async function runStandalone(moduleUrl: string, run: (databaseUrl: string) => Promise<BenchResult>): Promise<void> {
  if (process.argv[1] === undefined || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  const url = process.env['DATABASE_URL'];
  if (!url) {
    console.error('Set DATABASE_URL to a database where the racefree kit is migrated.');
    process.exit(2);
  }
  const result = await run(url);
  console.log(markdown(result));
  console.log('');
  for (const note of result.notes ?? []) console.log(`- ${note}`);
}
