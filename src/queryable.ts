/**
 * `call`, `callOne` and `query`, written once over "run this statement
 * somewhere": on a pooled connection for `db`, on the transaction's
 * connection for `tx`.
 */

import type { QueryConfig, QueryResult, QueryResultRow } from 'pg';
import { buildCall, type CallArgs, type FunctionName } from './call-statement.js';
import { UnexpectedRowCountError } from './errors/classes.js';

/** What `db` and `tx` have in common. */
export interface Queryable {
  /**
   * Call a database function with named arguments and return its rows:
   * `SELECT * FROM fn(a => $1, b => $2)`, prepared once per connection
   * (unless the client was created with `preparedStatements: false`).
   * @throws {RacefreeError} mapped from the server's SQLSTATE, e.g. `UniqueViolationError`.
   * @throws {RacefreeConfigError} when `fn` or an argument name is not a usable identifier.
   */
  call<R = Record<string, unknown>>(fn: FunctionName, args?: CallArgs): Promise<R[]>;

  /**
   * Like `call`, for functions that return exactly one row.
   * @throws {UnexpectedRowCountError} when there are zero rows or more than one.
   * @throws {RacefreeError} as `call`.
   */
  callOne<R = Record<string, unknown>>(fn: FunctionName, args?: CallArgs): Promise<R>;

  /**
   * Escape hatch: run any SQL text, values always as parameters. Outside the
   * race-free guarantee: meant for reads and psql-style inspection; writes
   * belong in database functions called with `call`. Never send BEGIN, COMMIT
   * or ROLLBACK through it.
   * @throws {RacefreeError} mapped from the server's SQLSTATE.
   */
  query<R extends QueryResultRow = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<QueryResult<R>>;
}

/** @internal */
export type Run = (config: QueryConfig) => Promise<QueryResult>;

const rowsOf = (result: QueryResult): unknown[] => result.rows;

/**
 * `prepared: false` sends every call as an unnamed statement, so no server
 * session keeps anything of it (for transaction-mode poolers).
 * @internal
 */
export function makeQueryable(run: Run, prepared: boolean): Queryable {
  // Bare promises rather than async/await: this is the hot path of every call.
  const call = <R>(fn: FunctionName, args?: CallArgs): Promise<R[]> => {
    let statement: QueryConfig;
    try {
      const built = buildCall(fn, args);
      statement = prepared ? built : { text: built.text, values: built.values };
    } catch (err) {
      return Promise.reject(err);
    }
    return run(statement).then(rowsOf) as Promise<R[]>;
  };
  return {
    call,
    async callOne<R>(fn: FunctionName, args?: CallArgs): Promise<R> {
      const rows = await call<R>(fn, args);
      if (rows.length !== 1) throw new UnexpectedRowCountError({ rowCount: rows.length });
      return rows[0] as R;
    },
    async query<R extends QueryResultRow>(text: string, values?: readonly unknown[]): Promise<QueryResult<R>> {
      const config: QueryConfig = values === undefined ? { text } : { text, values: [...values] };
      return (await run(config)) as QueryResult<R>;
    },
  };
}
