/**
 * The engine of `racefree race`: one statement, run from many connections at
 * once, each execution timed and its failure tallied by SQLSTATE. A failing
 * statement is data, not a crash.
 * @internal
 */

import pg from 'pg';

import { RacefreeError } from '../../errors/classes.js';

export interface RaceOptions {
  readonly databaseUrl: string;
  readonly sql: string;
  /** Connections, each running the statement in a loop. */
  readonly concurrency: number;
  /** Stop after this long (measured from when every connection is open)… */
  readonly durationMs?: number | undefined;
  /** …or after this many executions in all. */
  readonly count?: number | undefined;
  /** Stops early; executions in flight finish. */
  readonly signal?: AbortSignal | undefined;
  /** Called about ten times a second while running. */
  readonly onTick?: ((tick: RaceTick) => void) | undefined;
}

export interface RaceTick {
  readonly executions: number;
  readonly failed: number;
  readonly elapsedMs: number;
}

/** Errors of one SQLSTATE (`none` for errors without one, such as a lost connection). */
export interface ErrorTally {
  count: number;
  /** The first message seen, as an example. */
  readonly message: string;
}

export interface RaceResult {
  readonly executions: number;
  readonly failed: number;
  readonly errors: ReadonlyMap<string, ErrorTally>;
  /** Latency of every execution, failed ones included, in milliseconds, ascending. */
  readonly latenciesMs: Float64Array;
  readonly elapsedMs: number;
  /** Connections that broke during the run (their worker stopped). */
  readonly lostConnections: number;
}

/** @throws {RacefreeError} when the connections cannot be opened. */
export async function runRace(options: RaceOptions): Promise<RaceResult> {
  const clients = await openClients(options.databaseUrl, options.concurrency);
  const errors = new Map<string, ErrorTally>();
  const latencies: number[] = [];
  let executions = 0;
  let failed = 0;
  let claimed = 0;
  let lost = 0;
  const started = performance.now();
  const deadline = options.durationMs === undefined ? Infinity : started + options.durationMs;
  const more = (): boolean => {
    if (options.signal?.aborted || performance.now() >= deadline) return false;
    if (options.count === undefined) return true;
    if (claimed >= options.count) return false;
    claimed++;
    return true;
  };
  const tick = () => options.onTick?.({ executions, failed, elapsedMs: performance.now() - started });
  const ticker = setInterval(tick, 100);

  const worker = async ({ client, broken }: Connection): Promise<void> => {
    while (more()) {
      const t0 = performance.now();
      try {
        await client.query(options.sql);
      } catch (error) {
        failed++;
        const code = sqlState(error) ?? 'none';
        const tally = errors.get(code);
        if (tally) tally.count++;
        else errors.set(code, { count: 1, message: error instanceof Error ? error.message : String(error) });
        if (code === 'none' || broken()) {
          lost++;
          latencies.push(performance.now() - t0);
          executions++;
          return;
        }
        // A failed statement inside an explicit BEGIN leaves the session in an
        // aborted transaction; outside one this is a no-op with a warning.
        await client.query('ROLLBACK').catch(() => undefined);
      }
      latencies.push(performance.now() - t0);
      executions++;
    }
  };
  try {
    await Promise.all(clients.map(worker));
  } finally {
    clearInterval(ticker);
    await Promise.all(clients.map((c) => c.client.end().catch(() => undefined)));
  }
  const elapsedMs = performance.now() - started;
  tick();
  return {
    executions,
    failed,
    errors,
    latenciesMs: Float64Array.from(latencies).sort(),
    elapsedMs,
    lostConnections: lost,
  };
}

/** The latency below which `p` (0..1) of the executions fall (nearest rank); 0 without executions. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

interface Connection {
  readonly client: pg.Client;
  /** True once the connection is gone: its worker stops. */
  readonly broken: () => boolean;
}

async function openClients(databaseUrl: string, n: number): Promise<Connection[]> {
  const connections = Array.from({ length: n }, () => {
    const client = new pg.Client({ connectionString: databaseUrl, application_name: 'racefree race' });
    let broken = false;
    // A connection the server ends (e.g. 57P01) emits 'error' outside any query.
    client.on('error', () => (broken = true));
    client.on('end', () => (broken = true));
    return { client, broken: () => broken };
  });
  const opened = await Promise.allSettled(connections.map((c) => c.client.connect()));
  const failure = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    await Promise.all(connections.map((c) => c.client.end().catch(() => undefined)));
    const reason: unknown = failure.reason;
    throw new RacefreeError(
      `could not open ${n} connections: ${reason instanceof Error ? reason.message : String(reason)}` +
        (sqlState(reason) === '53300' ? ' (lower --concurrency, or raise max_connections)' : ''),
      { code: sqlState(reason), cause: reason },
    );
  }
  return connections;
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
