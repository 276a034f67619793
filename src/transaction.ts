/**
 * The transaction runner. The outermost `db.transaction()` owns a connection,
 * retries the whole callback on serialization failures and deadlocks only,
 * and settles ambiguous commits; nested `tx.transaction()` calls are
 * savepoints that never retry on their own. Whatever happens, the connection
 * goes back to the pool idle, or is destroyed.
 * @internal
 */

import type { Pool, QueryConfig, QueryResult, QueryResultRow } from 'pg';
import { resolveCommitOutcome, XID_SQL } from './commit-outcome.js';
import { CommitOutcomeUnknownError, RacefreeConfigError, RacefreeError, TransactionBusyError, TransactionClosedError } from './errors/classes.js';
import { isTransient, wrapError } from './errors/from-pg.js';
import { Lease } from './lease.js';
import { makeQueryable } from './queryable.js';
import type { DatabaseTypes, QueryableOf } from './typed-calls.js';
import { quoteIdent } from './quote.js';
import { withRetry } from './retry.js';

export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

export interface TransactionOptions {
  /** Defaults to the server's `default_transaction_isolation` (normally read committed). */
  isolation?: IsolationLevel;
  /** Attempts in all, the first included. Default 10; 1 disables retries. */
  maxAttempts?: number;
  /** No new attempt starts after this many ms from the first. Default 30 000. A running attempt is not interrupted. */
  deadlineMs?: number;
  /** Aborting stops the runner before the next attempt, or during the backoff. A running attempt is not interrupted. */
  signal?: AbortSignal;
  /** Called before each retry, e.g. for logging or metrics. */
  onRetry?: (error: RacefreeError, attempt: number, delayMs: number) => void;
}

/**
 * The handle a transaction callback receives; with a `Database` type from
 * `racefree types`, its calls are checked against it.
 */
export type Tx<D extends DatabaseTypes | undefined = undefined> = TxMethods<D> & QueryableOf<D>;

/** What a {@link Tx} has besides its calls. */
export interface TxMethods<D extends DatabaseTypes | undefined = undefined> {
  /**
   * Run `fn` inside a savepoint. If it throws, only its work is rolled back
   * and the error is rethrown; the enclosing transaction can go on. Nested
   * transactions never retry on their own: a serialization failure or
   * deadlock thrown out of the outermost callback retries the whole of it.
   * @throws whatever `fn` throws.
   * @throws {TransactionBusyError} when another nested transaction of this tx is still running.
   * @throws {TransactionClosedError} after the enclosing callback has ended.
   */
  transaction<T>(fn: (tx: Tx<D>) => Promise<T>): Promise<T>;
}

/** @internal */
export interface TransactionContext {
  readonly pool: Pool;
  readonly commitOutcomeTimeoutMs: number;
  /** False: unnamed statements only, nothing left in the server session. */
  readonly preparedStatements: boolean;
}

const BEGIN: Record<IsolationLevel, string> = {
  'read committed': 'BEGIN ISOLATION LEVEL READ COMMITTED',
  'repeatable read': 'BEGIN ISOLATION LEVEL REPEATABLE READ',
  serializable: 'BEGIN ISOLATION LEVEL SERIALIZABLE',
};

const XID_STATEMENT = { name: 'racefree_xid_history', text: XID_SQL };

const DEFAULT_MAX_ATTEMPTS = 10;
const DEFAULT_DEADLINE_MS = 30_000;
const BASE_DELAY_MS = 20;
const MAX_DELAY_MS = 2_000;

/**
 * @throws {RacefreeConfigError} for invalid options, before anything runs.
 * @internal
 */
export async function runTransaction<T>(context: TransactionContext, fn: (tx: Tx) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  return retrying(options, (begin) => runAttempt(context, plain(context, fn), begin));
}

/**
 * What `db.once` (src/idempotency.ts) wraps around its work: a statement sent
 * with BEGIN in one round trip, and one sent with COMMIT in one round trip.
 * The opening statement must give the transaction its xid and report it, with
 * the server's history, in the columns `xid` and `history` of its row
 * (`selectWithXid`), so that no separate read is needed before COMMIT for the
 * ambiguous-commit check.
 * @internal
 */
export interface Bracket<O extends QueryResultRow, T> {
  readonly opening: QueryConfig;
  /** How an error the server raised for the opening statement reaches the caller. */
  openingError(err: unknown): unknown;
  /** The work, given the opening's row. */
  run(tx: Tx, opened: O): Promise<T>;
  /** Sent with COMMIT, once `run` has returned `value`. */
  closing(value: T): QueryConfig;
}

/** `runTransaction` with a bracket: one round trip fewer at each end of every attempt. @internal */
export async function runBracketed<O extends QueryResultRow, T>(
  context: TransactionContext,
  bracket: Bracket<O, T>,
  options: TransactionOptions = {},
): Promise<T> {
  return retrying(options, (begin) => runAttempt(context, bracketed(context, bracket), begin));
}

async function retrying<T>(options: TransactionOptions, attempt: (begin: string) => Promise<T>): Promise<T> {
  const begin = beginStatement(options.isolation);
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new RacefreeConfigError('transaction: option "maxAttempts" must be an integer >= 1', {
      option: 'maxAttempts',
      value: maxAttempts,
    });
  }
  const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  if (typeof deadlineMs !== 'number' || !(deadlineMs >= 0)) {
    throw new RacefreeConfigError('transaction: option "deadlineMs" must be a number >= 0', {
      option: 'deadlineMs',
      value: deadlineMs,
    });
  }
  const onRetry = options.onRetry;
  return withRetry(() => attempt(begin), {
    maxAttempts,
    deadlineMs,
    baseDelayMs: BASE_DELAY_MS,
    maxDelayMs: MAX_DELAY_MS,
    signal: options.signal,
    shouldRetry: isTransient,
    onRetry: onRetry === undefined ? undefined : (err, attempt, delay) => onRetry(wrapError(err), attempt, delay),
  });
}

/** The xid and history the ambiguous-commit check needs, read before COMMIT was sent. */
interface Before {
  readonly xid: string | null;
  readonly history: string | null;
}

/** How one attempt talks to the server at its two ends; the callback runs in between. */
interface Ends<T> {
  /** BEGIN and whatever goes with it; returns the work to run. */
  open(lease: Lease, begin: string): Promise<(tx: Tx) => Promise<T>>;
  /** Once the work returned: what the commit check needs, read before COMMIT. */
  before(lease: Lease, value: T): Promise<Before | undefined>;
  /** COMMIT and whatever goes with it; resolves to COMMIT's own result. */
  commit(lease: Lease, value: T): Promise<QueryResult>;
}

/** db.transaction: BEGIN; the callback; the xid read; COMMIT. */
function plain<T>(context: TransactionContext, fn: (tx: Tx) => Promise<T>): Ends<T> {
  return {
    open: async (lease, begin) => {
      await lease.query({ text: begin });
      return fn;
    },
    before: async (lease) =>
      (await lease.query<{ xid: string | null; history: string | null }>(context.preparedStatements ? XID_STATEMENT : { text: XID_SQL })).rows[0],
    commit: (lease) => lease.query({ text: 'COMMIT' }),
  };
}

/** db.once: BEGIN and the opening statement; the callback; the closing statement and COMMIT. */
function bracketed<O extends QueryResultRow, T>(context: TransactionContext, bracket: Bracket<O, T>): Ends<T> {
  const statement = (config: QueryConfig): QueryConfig => (context.preparedStatements ? config : { text: config.text, values: config.values });
  let before: Before | undefined;
  return {
    open: async (lease, begin) => {
      let opened: O;
      try {
        const [, result] = await lease.pipeline([{ text: begin }, statement(bracket.opening)]);
        opened = result!.rows[0] as O;
      } catch (err) {
        throw lease.healthy ? bracket.openingError(err) : err;
      }
      before = opened as unknown as Before;
      return (tx) => bracket.run(tx, opened);
    },
    before: () => Promise.resolve(before),
    commit: async (lease, value) => (await lease.pipeline([statement(bracket.closing(value)), { text: 'COMMIT' }]))[1]!,
  };
}

function beginStatement(isolation: IsolationLevel | undefined): string {
  if (isolation === undefined) return 'BEGIN';
  if (!Object.hasOwn(BEGIN, isolation)) {
    throw new RacefreeConfigError('transaction: option "isolation" must be "read committed", "repeatable read" or "serializable"', {
      option: 'isolation',
      value: isolation,
    });
  }
  return BEGIN[isolation];
}

/** One attempt: BEGIN, the callback, COMMIT; ROLLBACK in `finally` unless it committed. */
async function runAttempt<T>(context: TransactionContext, ends: Ends<T>, begin: string): Promise<T> {
  const lease = await Lease.acquire(context.pool);
  try {
    const fn = await ends.open(lease, begin);
    const value = await new Level(lease, 0, context.preparedStatements).runCallback(fn);
    if (lease.client.getTransactionStatus() === 'I') {
      // COMMIT or ROLLBACK went through the query() escape hatch: what ran after
      // it was autocommitted, so neither committing nor retrying is honest.
      throw new RacefreeError('The transaction was ended inside its callback by a statement sent through query().');
    }
    const before = await ends.before(lease, value);
    const xid = before?.xid ?? null;
    let commit: QueryResult;
    try {
      commit = await ends.commit(lease, value);
    } catch (err) {
      // The server answered with an ordinary error: COMMIT (or what went with it)
      // failed and rolled back (a serialization failure, a deferred constraint).
      // That outcome is known.
      if (lease.healthy) throw err;
      // Otherwise the session died with COMMIT in flight (socket, timeout, FATAL).
      lease.release();
      if (xid === null) throw err;
      const settled = await resolveCommitOutcome(context.pool, xid, before?.history ?? '', context.commitOutcomeTimeoutMs);
      if (settled.outcome === 'committed') return value;
      if (settled.outcome === 'aborted') throw err;
      throw new CommitOutcomeUnknownError({ xid, reason: settled.reason, cause: err });
    }
    // COMMIT of a transaction that had failed answers ROLLBACK, not an error.
    if (commit.command !== 'COMMIT') {
      throw new RacefreeError('COMMIT rolled the transaction back because it had already failed.', {
        code: '25P02',
      });
    }
    return value;
  } finally {
    await rollbackAndRelease(lease);
  }
}

async function rollbackAndRelease(lease: Lease): Promise<void> {
  const status = lease.client.getTransactionStatus();
  if (lease.healthy && (status === 'T' || status === 'E')) {
    try {
      await lease.query({ text: 'ROLLBACK' });
    } catch {
      // A connection that cannot roll back must never be handed out again.
      lease.discard();
    }
  }
  // Destroys the connection unless it is healthy and idle; a no-op if already released.
  lease.release();
}

/** One level of a transaction: the outermost, or a savepoint. */
class Level {
  readonly #lease: Lease;
  readonly #depth: number;
  readonly #inflight = new Set<Promise<unknown>>();
  #closed = false;
  #childOpen = false;
  /** The first error a statement at this level raised; the server has aborted the level since. */
  #failure: RacefreeError | undefined;
  readonly handle: Tx;

  readonly #prepared: boolean;

  constructor(lease: Lease, depth: number, prepared: boolean) {
    this.#lease = lease;
    this.#depth = depth;
    this.#prepared = prepared;
    this.handle = {
      ...makeQueryable((config) => this.#run(config), prepared),
      transaction: (fn) => this.#track(this.#nested(fn)),
    };
  }

  /**
   * Run the callback; afterwards the handle is closed. Throws what the
   * callback threw, or the first statement error it swallowed (the level is
   * aborted and cannot commit).
   */
  async runCallback<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    let result: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      result = { ok: true, value: await fn(this.handle) };
    } catch (error) {
      result = { ok: false, error };
    }
    this.#closed = true;
    // Work left running would interleave with COMMIT, RELEASE or ROLLBACK on the
    // one connection, so it is waited for either way.
    const busy = this.#inflight.size > 0;
    await this.#settle();
    if (!result.ok) throw result.error;
    if (busy) throw new TransactionBusyError();
    if (this.#failure !== undefined) throw this.#failure;
    return result.value;
  }

  #run(config: QueryConfig): Promise<QueryResult> {
    if (this.#closed) return Promise.reject(new TransactionClosedError());
    if (this.#childOpen) return Promise.reject(new TransactionBusyError());
    return this.#track(
      this.#lease.query(config).catch((err: unknown) => {
        this.#failure ??= err as RacefreeError;
        throw err;
      }),
    );
  }

  async #nested<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    if (this.#closed) throw new TransactionClosedError();
    if (this.#childOpen) throw new TransactionBusyError();
    const savepoint = quoteIdent(`racefree_savepoint_${this.#depth + 1}`);
    await this.#run({ text: `SAVEPOINT ${savepoint}` });
    this.#childOpen = true;
    const child = new Level(this.#lease, this.#depth + 1, this.#prepared);
    try {
      const value = await child.runCallback(fn);
      await this.#lease.query({ text: `RELEASE SAVEPOINT ${savepoint}` });
      return value;
    } catch (err) {
      await this.#rollbackTo(savepoint, err);
      throw err;
    } finally {
      this.#childOpen = false;
    }
  }

  /** Undo the child's work so this level can go on; if that fails, this level has failed too. */
  async #rollbackTo(savepoint: string, cause: unknown): Promise<void> {
    if (!this.#lease.healthy) {
      this.#failure ??= wrapError(cause);
      return;
    }
    try {
      await this.#lease.query({ text: `ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}` });
    } catch (err) {
      this.#failure ??= wrapError(err);
    }
  }

  #track<P extends Promise<unknown>>(promise: P): P {
    this.#inflight.add(promise);
    const forget = (): void => {
      this.#inflight.delete(promise);
    };
    promise.then(forget, forget);
    return promise;
  }

  async #settle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }
}
