import { pathToFileURL } from 'node:url';
import { runLoad } from '../src/tooling/load.js';
import { withScratchDatabase } from '../src/tooling/scratch-database.js';

/**
 * What every seed example reports, and what `npm run demo` prints: the same
 * load run through the naive pattern of the seed and through racefree.
 */

/** One pattern under one load. */
export interface Outcome {
  readonly pattern: string;
  readonly requests: number;
  /** Requests the user saw fail: a 500. */
  readonly failed: number;
  /** Every error raised, retried ones included, by SQLSTATE. */
  readonly errors: Readonly<Record<string, number>>;
  /** Rows that should not exist (a key or number stored twice, work done twice). */
  readonly duplicates: number;
  /** Missing numbers, where the pattern numbers rows; undefined elsewhere. */
  readonly gaps?: number;
  readonly seconds: number;
}

/** One seed: its naive pattern(s) first, then racefree's way. */
export interface SeedReport {
  readonly seed: string;
  readonly title: string;
  readonly naive: readonly Outcome[];
  readonly racefree: readonly Outcome[];
}

/** How an example is run: load size, and a callback per finished request (for a progress bar). */
export interface RunOptions {
  readonly concurrency?: number;
  readonly requests?: number;
  readonly onRequest?: () => void;
}

/** Tally an error by SQLSTATE ('client' when it has none). */
export function count(errors: Record<string, number>, error: unknown): void {
  const code = (error as { code?: unknown }).code;
  const key = typeof code === 'string' ? code : 'client';
  errors[key] = (errors[key] ?? 0) + 1;
}

/**
 * Run `requests` calls of `request` from `concurrency` callers, by the load
 * generator of `racefree race`. A call that throws is a failed request;
 * `request` may tally errors it recovered from.
 */
export async function hammer(
  options: RunOptions,
  request: (errors: Record<string, number>, i: number) => Promise<void>,
): Promise<{ requests: number; failed: number; errors: Record<string, number>; seconds: number }> {
  const requests = options.requests ?? 320;
  const errors: Record<string, number> = {};
  const { failed, elapsedMs } = await runLoad(
    {
      concurrency: options.concurrency ?? 32,
      count: requests,
      onError: (error) => {
        count(errors, error);
        return true;
      },
    },
    async (i) => {
      try {
        await request(errors, i);
      } finally {
        options.onRequest?.();
      }
    },
  );
  return { requests, failed, errors, seconds: elapsedMs / 1000 };
}

/**
 * Run an example as a script (`DATABASE_URL=... node dist/examples/<file>.js`)
 * in a scratch database on that server, then print what `story` makes of its
 * report and every outcome. Does nothing when the module is imported.
 */
export async function runStandalone<R extends SeedReport>(
  moduleUrl: string,
  run: (databaseUrl: string) => Promise<R>,
  story: (report: R) => string[] = () => [],
): Promise<void> {
  if (process.argv[1] === undefined || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  const serverUrl = process.env['DATABASE_URL'];
  if (!serverUrl) {
    console.error('Set DATABASE_URL to a PostgreSQL server; a scratch database is created there and dropped.');
    process.exit(2);
  }
  const report = await withScratchDatabase(serverUrl, 'racefree_example', run);
  for (const line of story(report)) console.log(line);
  for (const o of [...report.naive, ...report.racefree]) {
    console.log(`${o.pattern}: ${o.requests} requests, ${o.failed} failed, errors ${JSON.stringify(o.errors)}, duplicates ${o.duplicates}`);
  }
}
