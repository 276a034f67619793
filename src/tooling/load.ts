/**
 * The one load generator of `racefree race` and the seed examples (`npm run
 * demo`): `concurrency` workers calling `op` back to back until `count` calls
 * in all have started, or `durationMs` has passed, or `signal` aborts; every
 * call timed, every failure tallied by SQLSTATE. A failing call is data, not
 * a crash.
 * @internal
 */

import { sqlStateOf } from '../errors/from-pg.js';

export interface LoadOptions {
  readonly concurrency: number;
  /** Stop after this long (measured from the start of the run)… */
  readonly durationMs?: number | undefined;
  /** …or after this many calls in all. */
  readonly count?: number | undefined;
  /** Stops early; calls in flight finish. */
  readonly signal?: AbortSignal | undefined;
  /** Called about ten times a second while running, and once at the end. */
  readonly onTick?: ((tick: LoadTick) => void) | undefined;
  /**
   * After a call failed, before it counts as done (its time includes this):
   * tally or clean up; `false` stops this worker. Default: go on.
   */
  readonly onError?: ((error: unknown, worker: number) => Promise<boolean> | boolean) | undefined;
  /** The tally's key for an error: its SQLSTATE, else `none`. */
  readonly errorKey?: ((error: unknown) => string) | undefined;
}

export interface LoadTick {
  readonly calls: number;
  readonly failed: number;
  readonly elapsedMs: number;
}

/** Errors of one key (SQLSTATE). */
export interface ErrorTally {
  count: number;
  /** The first message seen, as an example. */
  readonly message: string;
}

export interface LoadResult {
  readonly calls: number;
  readonly failed: number;
  readonly errors: ReadonlyMap<string, ErrorTally>;
  /** Latency of every call, failed ones included, in milliseconds, ascending. */
  readonly latenciesMs: Float64Array;
  readonly elapsedMs: number;
}

/** Run the load: `op(i, worker)`, where `i` numbers the calls 0, 1, 2… in the order they start. */
export async function runLoad(options: LoadOptions, op: (i: number, worker: number) => Promise<unknown>): Promise<LoadResult> {
  const errorKey = options.errorKey ?? ((error: unknown) => sqlStateOf(error) ?? 'none');
  const errors = new Map<string, ErrorTally>();
  const latencies: number[] = [];
  let calls = 0;
  let failed = 0;
  let claimed = 0;
  const started = performance.now();
  const deadline = options.durationMs === undefined ? Infinity : started + options.durationMs;
  const next = (): number | undefined => {
    if (options.signal?.aborted || performance.now() >= deadline) return undefined;
    if (options.count !== undefined && claimed >= options.count) return undefined;
    return claimed++;
  };
  const tick = () => options.onTick?.({ calls, failed, elapsedMs: performance.now() - started });
  const ticker = setInterval(tick, 100);

  const worker = async (_: unknown, w: number): Promise<void> => {
    for (let i = next(); i !== undefined; i = next()) {
      const t0 = performance.now();
      let goOn = true;
      try {
        await op(i, w);
      } catch (error) {
        failed++;
        const key = errorKey(error);
        const tally = errors.get(key);
        if (tally) tally.count++;
        else errors.set(key, { count: 1, message: error instanceof Error ? error.message : String(error) });
        goOn = (await options.onError?.(error, w)) ?? true;
      }
      latencies.push(performance.now() - t0);
      calls++;
      if (!goOn) return;
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    clearInterval(ticker);
  }
  const elapsedMs = performance.now() - started;
  tick();
  return { calls, failed, errors, latenciesMs: Float64Array.from(latencies).sort(), elapsedMs };
}

/** The latency below which `p` (0..1) of the calls fall (nearest rank); 0 without calls. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
