/**
 * `createClient()`: the thin client services use. It only calls database
 * functions (`call`, `callOne`), runs transactions around such calls, and
 * offers `query` as a clearly marked escape hatch.
 */

import pg from 'pg';
import type { Pool, QueryConfig, QueryResult } from 'pg';
import { RacefreeConfigError } from './errors/classes.js';
import { runOnce, type OnceOptions, type OnceResult } from './idempotency.js';
import { Lease } from './lease.js';
import { makeQueryable } from './queryable.js';
import { runBracketed, runTransaction, type TransactionOptions, type Tx } from './transaction.js';
import type { DatabaseTypes, QueryableOf } from './typed-calls.js';

interface CommonOptions {
  /**
   * How long to keep asking the server whether a transaction committed after
   * the connection broke during COMMIT, before throwing
   * `CommitOutcomeUnknownError`. Default 5 000 ms.
   */
  commitOutcomeTimeoutMs?: number;
  /**
   * `false` sends every statement unnamed (parsed on each call) and keeps no
   * session state between transactions, so the client works through a
   * transaction-mode pooler (PgBouncer `pool_mode = transaction`, Supabase,
   * RDS Proxy). Default `true`: each call's statement is prepared once per
   * connection.
   */
  preparedStatements?: boolean;
}

/** Either a connection string (the client owns its pool) or a pool you own. */
export type ClientOptions = (CommonOptions & { connectionString: string; pool?: undefined }) | (CommonOptions & { pool: Pool; connectionString?: undefined });

/**
 * The client. `Db<Database>`, with a `Database` type written by `racefree
 * types`, checks every `call`/`callOne` (and those of its transactions)
 * against it; plain `Db` takes any name and arguments.
 */
export type Db<D extends DatabaseTypes | undefined = undefined> = DbMethods<D> & QueryableOf<D>;

/** What a {@link Db} has besides its calls. */
export interface DbMethods<D extends DatabaseTypes | undefined = undefined> {
  /**
   * Run `fn` in a transaction and commit. The whole callback is run again on
   * serialization failure (40001) or deadlock (40P01), with full-jitter
   * backoff, up to `maxAttempts` and `deadlineMs`; nothing else is retried.
   * If the connection breaks during COMMIT, the server is asked whether the
   * transaction committed: if it did, the callback's result is returned.
   * When the server crashed, restarted or failed over since, it cannot be
   * asked reliably (the xid may name another transaction by then).
   * @throws whatever `fn` throws, after rolling back.
   * @throws {SerializationFailureError|DeadlockDetectedError} when the attempts or the deadline run out.
   * @throws {CommitOutcomeUnknownError} when the commit's outcome cannot be learned for certain (`reason` says why); never retried.
   * @throws {AbortedError} when `signal` aborts before an attempt or during a backoff.
   * @throws {RacefreeConfigError} for invalid options.
   */
  transaction<T>(fn: (tx: Tx<D>) => Promise<T>, options?: TransactionOptions): Promise<T>;

  /**
   * Run `fn` exactly once per `(scope, key)`: claim the key, run `fn`, store
   * its result as JSON, all in one READ COMMITTED transaction. A later call
   * with the same key replays the stored response (`replayed: true`); one
   * arriving while the first is in flight waits for it, up to `waitMs`. If
   * `fn` throws, nothing is stored and the key is free again.
   * @throws {InvalidIdempotencyKeyError} for a missing, empty or over-long scope or key, before any SQL runs.
   * @throws {IdempotencyKeyMismatchError} when the key was used with a different request.
   * @throws {IdempotencyKeyInFlightError} when the request holding the key is still running after `waitMs`.
   * @throws whatever `fn` throws, and what `transaction` throws.
   */
  once<T>(options: OnceOptions, fn: (tx: Tx<D>) => Promise<T>): Promise<OnceResult<T>>;

  /** Close the pool if the client created it; a pool you passed in is left open. Idempotent. */
  end(): Promise<void>;
}

const DEFAULT_COMMIT_OUTCOME_TIMEOUT_MS = 5_000;

/**
 * Create a client from a connection string (it creates and owns a `pg.Pool`,
 * closed by `db.end()`) or from a pool you own (never closed by the client;
 * give it an `'error'` listener, as pg requires of every pool).
 * @throws {RacefreeConfigError} unless exactly one of `connectionString` and `pool` is given.
 */
export function createClient<D extends DatabaseTypes | undefined = undefined>(options: ClientOptions): Db<D> {
  const commitOutcomeTimeoutMs = options.commitOutcomeTimeoutMs ?? DEFAULT_COMMIT_OUTCOME_TIMEOUT_MS;
  if (typeof commitOutcomeTimeoutMs !== 'number' || !(commitOutcomeTimeoutMs >= 0)) {
    throw new RacefreeConfigError('createClient: option "commitOutcomeTimeoutMs" must be a number >= 0', {
      option: 'commitOutcomeTimeoutMs',
      value: commitOutcomeTimeoutMs,
    });
  }
  const preparedStatements = options.preparedStatements ?? true;
  if (typeof preparedStatements !== 'boolean') {
    throw new RacefreeConfigError('createClient: option "preparedStatements" must be true or false', {
      option: 'preparedStatements',
      value: preparedStatements,
    });
  }
  const { pool, owned } = poolFrom(options);
  const context = { pool, commitOutcomeTimeoutMs, preparedStatements };

  const run = (config: QueryConfig): Promise<QueryResult> => Lease.query(pool, config);

  let ending: Promise<void> | undefined;
  const db: Db = {
    ...makeQueryable(run, preparedStatements),
    transaction: (fn, transactionOptions) => runTransaction(context, fn, transactionOptions),
    once: (onceOptions, fn) => runOnce((bracket, o) => runBracketed(context, bracket, o), onceOptions, fn),
    end() {
      if (!owned) return Promise.resolve();
      ending ??= pool.end();
      return ending;
    },
  };
  // The database type only narrows what callers may write; the calls are the same.
  return db as unknown as Db<D>;
}

function poolFrom(options: ClientOptions): { pool: Pool; owned: boolean } {
  const given = options as { connectionString?: unknown; pool?: unknown };
  if (given.pool !== undefined && given.connectionString === undefined) {
    return { pool: given.pool as Pool, owned: false };
  }
  if (typeof given.connectionString === 'string' && given.pool === undefined) {
    const pool = new pg.Pool({ connectionString: given.connectionString });
    // pg-pool already drops an idle connection that errors; without a listener
    // that 'error' event would also crash the process.
    pool.on('error', () => undefined);
    return { pool, owned: true };
  }
  throw new RacefreeConfigError('createClient: give either "connectionString" or "pool", not both or neither', {
    option: given.pool === undefined ? 'connectionString' : 'pool',
  });
}
