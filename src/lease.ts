/**
 * One checkout of a pooled connection, and the decision whether it may go
 * back to the pool. A connection returns only when it is healthy and idle
 * (not inside or aborted in a transaction); otherwise it is destroyed, so no
 * later caller ever receives a broken or idle-in-transaction session.
 * @internal
 */

import type { Pool, PoolClient, QueryConfig, QueryResult, QueryResultRow } from 'pg';
import { ConnectionError } from './errors/classes.js';
import { wrapError } from './errors/from-pg.js';
import { Pipeline } from './pipeline.js';

/** @internal */
export class Lease {
  readonly client: PoolClient;
  /** The socket-level error pg reported on this connection, if any. */
  #failure: unknown = undefined;
  #mustDestroy = false;
  #released = false;
  readonly #onError: (err: Error) => void;

  private constructor(client: PoolClient) {
    this.client = client;
    // pg emits 'error' on a checked-out client when the backend goes away
    // between queries; without a listener that would crash the process.
    this.#onError = (err) => {
      this.#failure ??= err;
      this.#mustDestroy = true;
    };
    client.on('error', this.#onError);
  }

  /** @throws {RacefreeError} (usually `ConnectionError`) when no connection can be had. */
  static acquire(pool: Pool): Promise<Lease> {
    return pool.connect().then(
      (client) => new Lease(client),
      (err: unknown) => {
        throw wrapError(err);
      },
    );
  }

  /**
   * One statement on a connection of its own, returned (or destroyed) at once.
   * Callback-style pg calls, as pg-pool's own `pool.query()` uses: this is the
   * `db.call` hot path, and every promise layer shows in its overhead.
   * @throws {RacefreeError}
   */
  static query(pool: Pool, config: QueryConfig): Promise<QueryResult> {
    return new Promise((resolve, reject) => {
      pool.connect((connectError, client) => {
        if (connectError || !client) {
          reject(wrapError(connectError));
          return;
        }
        const lease = new Lease(client);
        try {
          client.query(config, (queryError: Error | undefined, result: QueryResult) => {
            if (queryError) {
              const wrapped = lease.#fail(queryError);
              lease.release();
              reject(wrapped);
            } else {
              lease.release();
              resolve(result);
            }
          });
        } catch (err) {
          // pg throws synchronously only for invalid arguments.
          lease.release();
          reject(wrapError(err));
        }
      });
    });
  }

  /** False once the connection is known to be unusable. */
  get healthy(): boolean {
    return !this.#mustDestroy;
  }

  /**
   * Run one statement; errors come back as racefree errors.
   * @throws {RacefreeError}
   */
  async query<R extends QueryResultRow>(config: QueryConfig): Promise<QueryResult<R>> {
    try {
      return await this.client.query<R>(config);
    } catch (err) {
      throw this.#fail(err);
    }
  }

  /**
   * Several statements in one round trip (src/pipeline.ts): their results in
   * order, or the first error, after which none of the rest ran.
   * @throws {RacefreeError}
   */
  async pipeline(statements: readonly QueryConfig[]): Promise<QueryResult[]> {
    const client = this.client as unknown as { _types?: unknown; pipeline?: boolean };
    try {
      if (client.pipeline === true) {
        // pg's own pipeline mode (a pool made with `pipeline: true`) refuses
        // submittables, and already writes queued queries without waiting,
        // each with its Sync: a statement after a failed one then fails in
        // the aborted transaction (a COMMIT there answers ROLLBACK).
        const settled = await Promise.allSettled(statements.map((s) => this.client.query(s)));
        const failed = settled.find((r) => r.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
        return settled.map((r) => (r as PromiseFulfilledResult<QueryResult>).value);
      }
      // The client's type parsers, as pg gives its own queries.
      const pipeline = new Pipeline(statements, client._types);
      this.client.query(pipeline as never);
      return await pipeline.done;
    } catch (err) {
      throw this.#fail(err);
    }
  }

  #fail(err: unknown): Error {
    const serverAnswered = typeof (err as { severity?: unknown }).severity === 'string';
    if (!serverAnswered) {
      // No ErrorResponse: the socket failed or a client-side timeout fired while
      // the statement may still be running. Either way the session is spent.
      this.#mustDestroy = true;
      // Report why the socket died (e.g. 57P01 from pg_terminate_backend), not pg's "not queryable".
      if (this.#failure !== undefined) return wrapError(this.#failure, { connectionLost: true });
      return wrapError(err);
    }
    const wrapped = wrapError(err);
    if (wrapped instanceof ConnectionError || isStalePlan(err)) this.#mustDestroy = true;
    return wrapped;
  }

  /** Mark the connection as not to be reused. */
  discard(): void {
    this.#mustDestroy = true;
  }

  /** Give the connection back, or destroy it when it is not healthy and idle. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.client.removeListener('error', this.#onError);
    const status = this.client.getTransactionStatus();
    const destroy = this.#mustDestroy || status === 'T' || status === 'E';
    // `true` tells pg-pool to end the connection instead of keeping it.
    this.client.release(destroy);
  }
}

/**
 * A prepared statement whose result type changed (a function was dropped and
 * re-created) fails on that connection forever; a fresh connection re-parses it.
 */
function isStalePlan(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e.code === '0A000' && typeof e.message === 'string' && e.message.includes('cached plan must not change');
}
