/**
 * Settles an ambiguous COMMIT. When the connection breaks while COMMIT is in
 * flight, the transaction may or may not have committed. The transaction id,
 * read before COMMIT was sent, lets a fresh connection ask the server with
 * `pg_xact_status()`: committed, aborted, or still in progress (the old
 * backend may still be finishing the commit, so that is polled for a while).
 * @internal
 */

import pg from 'pg';
import type { Pool } from 'pg';

/** What `pg_xact_status()` answers; null when the xid is too old for the server to know. */
export type XactStatus = 'committed' | 'aborted' | 'in progress' | null;

/** @internal */
export type CommitOutcome = 'committed' | 'aborted' | 'unknown';

/**
 * The decision, given the last status read (`undefined` when reading it
 * failed) and whether the resolution window is still open.
 * @internal
 */
export function decideCommitOutcome(status: XactStatus | undefined, windowOpen: boolean): CommitOutcome | 'wait' {
  if (status === 'committed') return 'committed';
  if (status === 'aborted') return 'aborted';
  // Too old to be in the commit log: nothing more will ever be learned.
  if (status === null) return 'unknown';
  // In progress, or unreadable for now: the old backend may still be committing.
  return windowOpen ? 'wait' : 'unknown';
}

/** The SQL run on the fresh connection. @internal */
export const XACT_STATUS_SQL = 'SELECT pg_xact_status($1::xid8) AS status';

/**
 * Poll `pg_xact_status(xid)` on a connection of its own (the pool may be
 * exhausted or hold only broken connections) until the outcome is known or
 * `timeoutMs` has passed.
 * @internal
 */
export async function resolveCommitOutcome(pool: Pool, xid: string, timeoutMs: number): Promise<CommitOutcome> {
  const deadline = Date.now() + timeoutMs;
  let client: pg.Client | undefined;
  let pause = 20;
  try {
    for (;;) {
      let status: XactStatus | undefined;
      try {
        client ??= await connect(pool, deadline - Date.now());
        const result = await client.query<{ status: XactStatus }>(XACT_STATUS_SQL, [xid]);
        status = result.rows[0]?.status;
      } catch {
        status = undefined;
        client?.end().catch(() => undefined);
        client = undefined;
      }
      const decision = decideCommitOutcome(status, Date.now() < deadline);
      if (decision !== 'wait') return decision;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(pause, deadline - Date.now()))));
      pause = Math.min(pause * 2, 250);
    }
  } finally {
    client?.end().catch(() => undefined);
  }
}

async function connect(pool: Pool, remainingMs: number): Promise<pg.Client> {
  const budget = Math.max(100, Math.ceil(remainingMs));
  const client = new pg.Client({ ...pool.options, connectionTimeoutMillis: budget, query_timeout: budget });
  // A connection error after the check must not crash the process.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}
