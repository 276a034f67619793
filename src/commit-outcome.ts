/**
 * Settles an ambiguous COMMIT. When the connection breaks while COMMIT is in
 * flight, the transaction may or may not have committed. The transaction id,
 * read before COMMIT was sent, lets a fresh connection ask the server with
 * `pg_xact_status()`: committed, aborted, or still in progress (the old
 * backend may still be finishing the commit, so that is polled for a while).
 *
 * An xid only names one transaction while the server's history runs on: after
 * crash recovery, a restart or a failover, the server may hand the same xid to
 * someone else's transaction, whose status it then reports. So the xid is read
 * together with what identifies that history (timeline, latest checkpoint,
 * postmaster start), and if any of it moved by the time the
 * outcome is asked for, the outcome is unknown. A backend crash keeps the
 * postmaster, system and timeline, but crash recovery ends with a checkpoint;
 * an ordinary checkpoint in between also reads as "unknown" (conservative).
 * @internal
 */

import pg from 'pg';
import type { Pool } from 'pg';

/** What `pg_xact_status()` answers; null when the xid is too old for the server to know. */
export type XactStatus = 'committed' | 'aborted' | 'in progress' | null;

/** Why the outcome of a COMMIT stays unknown. */
export type CommitOutcomeUnknownReason =
  /** The transaction was still committing when the resolution window closed. */
  | 'in-progress'
  /** The server could not be asked before the window closed. */
  | 'unreachable'
  /** The xid is older than the server's commit log keeps. */
  | 'xid-too-old'
  /** The history read back is not one this client could have written (not the same kind of server). */
  | 'different-server'
  /** The timeline changed: failover to a promoted replica, or a point-in-time restore. */
  | 'failover'
  /** The postmaster restarted. */
  | 'server-restarted'
  /** Crash recovery ran (or a checkpoint completed) since the xid was read. */
  | 'crash-recovery';

/** @internal */
export type CommitOutcome =
  { readonly outcome: 'committed' } | { readonly outcome: 'aborted' } | { readonly outcome: 'unknown'; readonly reason: CommitOutcomeUnknownReason };

/**
 * What identifies the server's WAL history, as one text: timeline, latest
 * checkpoint, postmaster start (epoch seconds, so the session's TimeZone
 * cannot change its spelling). One read of pg_control: another cluster
 * (pg_control_system()'s system identifier) has another postmaster start too.
 */
const HISTORY_EXPR =
  "(SELECT concat_ws(' ', c.timeline_id, c.checkpoint_lsn, extract(epoch FROM pg_postmaster_start_time())) " + 'FROM pg_control_checkpoint() c)';

/**
 * Read just before COMMIT, in one round trip: the xid (null when the
 * transaction wrote nothing, so a lost COMMIT cannot have changed anything;
 * unlike pg_current_xact_id() it does not force an xid onto read-only
 * transactions) and, only then, the server's history.
 * @internal
 */
export const XID_SQL = `SELECT ${xidColumns()} FROM (SELECT pg_current_xact_id_if_assigned() AS xid) x`;

/** The xid and history columns of XID_SQL, from a FROM item `x` whose column `xid` is pg_current_xact_id_if_assigned(). */
function xidColumns(): string {
  return `x.xid::text AS xid, CASE WHEN x.xid IS NOT NULL THEN ${HISTORY_EXPR} END AS history`;
}

/**
 * One statement that writes and reports, with its own columns, the xid and
 * history as XID_SQL reads them: `source` (a FROM item aliased `c`, e.g. a
 * function call) runs first, and the xid is read from its row, so after
 * whatever it wrote (OFFSET 0 keeps the subquery, and that order, from being
 * flattened away). When `source` always gives the transaction its xid (a
 * top-level xid never changes afterwards), this spares the separate read
 * before COMMIT. The history is then read earlier than COMMIT, which can only
 * turn more outcomes into "unknown" (a checkpoint in between), never a wrong
 * answer.
 * @internal
 */
export function selectWithXid(columns: readonly string[], source: string): string {
  return (
    `SELECT ${columns.map((c) => `x.${c}`).join(', ')}, ${xidColumns()} ` +
    `FROM (SELECT ${columns.map((c) => `c.${c}`).join(', ')}, pg_current_xact_id_if_assigned() AS xid FROM ${source} OFFSET 0) x`
  );
}

/**
 * The SQL run on the fresh connection: the history now, and the xid's status
 * only while the history is the one the xid was read in (after a rewind the
 * xid may even be "in the future", which is an error).
 * @internal
 */
export const XACT_STATUS_SQL = `SELECT h.history, CASE WHEN h.history = $2 THEN pg_xact_status($1::xid8) END AS status FROM (SELECT ${HISTORY_EXPR} AS history) h`;

/**
 * Which part of the history moved, or undefined when none did.
 * @internal
 */
export function historyChange(before: string, now: string): CommitOutcomeUnknownReason | undefined {
  if (before === now) return undefined;
  const was = before.split(' ');
  const is = now.split(' ');
  // Not three parts: not a history this client could have read.
  if (was.length !== 3 || is.length !== 3) return 'different-server';
  if (was[0] !== is[0]) return 'failover';
  if (was[2] !== is[2]) return 'server-restarted';
  return 'crash-recovery';
}

/**
 * The decision, given the last status read (`undefined` when reading it
 * failed) and whether the resolution window is still open.
 * @internal
 */
export function decideCommitOutcome(status: XactStatus | undefined, windowOpen: boolean): CommitOutcome | 'wait' {
  if (status === 'committed') return { outcome: 'committed' };
  if (status === 'aborted') return { outcome: 'aborted' };
  // Too old to be in the commit log: nothing more will ever be learned.
  if (status === null) return { outcome: 'unknown', reason: 'xid-too-old' };
  // In progress, or unreadable for now: the old backend may still be committing.
  if (windowOpen) return 'wait';
  return { outcome: 'unknown', reason: status === undefined ? 'unreachable' : 'in-progress' };
}

/**
 * Poll the xid's status on a connection of its own (the pool may be exhausted
 * or hold only broken connections) until the outcome is known, the server's
 * history is seen to have moved, or `timeoutMs` has passed.
 * @internal
 */
export async function resolveCommitOutcome(pool: Pool, xid: string, history: string, timeoutMs: number): Promise<CommitOutcome> {
  const deadline = Date.now() + timeoutMs;
  let client: pg.Client | undefined;
  let pause = 20;
  try {
    for (;;) {
      let status: XactStatus | undefined;
      try {
        client ??= await connect(pool, deadline - Date.now());
        const result = await client.query<{ history: string; status: XactStatus }>(XACT_STATUS_SQL, [xid, history]);
        const row = result.rows[0];
        const moved = row === undefined ? undefined : historyChange(history, row.history);
        if (moved !== undefined) return { outcome: 'unknown', reason: moved };
        status = row?.status;
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
