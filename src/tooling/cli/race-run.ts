/**
 * The engine of `racefree race`: one statement, run from many connections at
 * once by the load generator (../load.ts), each on a connection of its own;
 * a connection that breaks stops its worker.
 * @internal
 */

import pg from 'pg';

import { RacefreeError } from '../../errors/classes.js';
import { sqlStateOf } from '../../errors/from-pg.js';
import { runLoad, type ErrorTally } from '../load.js';

export { percentile } from '../load.js';

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
  const connections = await openClients(options.databaseUrl, options.concurrency);
  let lost = 0;
  try {
    const result = await runLoad(
      {
        concurrency: options.concurrency,
        durationMs: options.durationMs,
        count: options.count,
        signal: options.signal,
        onTick: options.onTick && ((t) => options.onTick?.({ executions: t.calls, failed: t.failed, elapsedMs: t.elapsedMs })),
        onError: async (error, w) => {
          const { client, broken } = connections[w]!;
          if (sqlStateOf(error) === undefined || broken()) {
            lost++;
            return false;
          }
          // A failed statement inside an explicit BEGIN leaves the session in an
          // aborted transaction; outside one this is a no-op with a warning.
          await client.query('ROLLBACK').catch(() => undefined);
          return true;
        },
      },
      (_, w) => connections[w]!.client.query(options.sql),
    );
    const { calls, ...rest } = result;
    return { ...rest, executions: calls, lostConnections: lost };
  } finally {
    await Promise.all(connections.map((c) => c.client.end().catch(() => undefined)));
  }
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
        (sqlStateOf(reason) === '53300' ? ' (lower --concurrency, or raise max_connections)' : ''),
      { code: sqlStateOf(reason), cause: reason },
    );
  }
  return connections;
}
