/**
 * Several statements in one round trip: a pg Submittable that writes
 * Parse/Bind/Describe/Execute for each statement and one Sync after the last.
 * The server runs them in order and answers all at once; after an error it
 * skips the rest up to the Sync, so a statement never runs after one that
 * failed. Named statements are parsed once per connection, as pg's own
 * queries are, and stay valid for pg's later queries with the same name.
 * Only for statements without a row limit (no portals kept open).
 * @internal
 */

import { createRequire } from 'node:module';
import pg from 'pg';
import type { QueryConfig, QueryResult } from 'pg';

/** The parts of pg's connection a submittable writes to and listens on. */
interface Wire {
  readonly parsedStatements: Record<string, string>;
  readonly submittedNamedStatements: Record<string, string>;
  readonly stream: { cork?: () => void; uncork?: () => void };
  parse(message: { text: string; name: string; types: unknown[] }): void;
  bind(message: { statement: string; portal: string; values: unknown[]; valueMapper: (value: unknown) => unknown }): void;
  describe(message: { type: 'P'; name: string }): void;
  execute(message: { portal: string; rows: number }): void;
  sync(): void;
  on(event: string, listener: () => void): unknown;
  once(event: string, listener: () => void): unknown;
  removeListener(event: string, listener: () => void): unknown;
}

interface PgResult extends QueryResult {
  addFields(fields: unknown[]): void;
  parseRow(fields: unknown[]): unknown;
  addRow(row: unknown): void;
  addCommandComplete(message: unknown): void;
  _types?: unknown;
}

type ResultCtor = new (rowMode: undefined, types: unknown) => PgResult;
const Result = (pg as unknown as { Result: ResultCtor }).Result;

// pg's own conversion of parameter values (Date, Buffer, arrays, objects), as its queries use.
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue: (value: unknown) => unknown };

/** @internal */
export class Pipeline {
  readonly #statements: readonly QueryConfig[];
  readonly #results: PgResult[];
  #current = 0;
  #error: unknown = undefined;
  #settled = false;
  #resolve!: (results: QueryResult[]) => void;
  #reject!: (err: unknown) => void;
  /** Set by pg's Client.query when it times the submittable out (query_timeout); called once it settles. */
  callback: unknown;
  readonly done: Promise<QueryResult[]>;

  constructor(statements: readonly QueryConfig[], types: unknown) {
    this.#statements = statements;
    this.#results = statements.map(() => new Result(undefined, types));
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  submit(connection: Wire): void {
    // The name of every statement parsed, in order ('' for unnamed ones).
    const parsed: string[] = [];
    connection.stream.cork?.();
    try {
      for (const s of this.#statements) {
        const name = s.name ?? '';
        if (name === '' || (connection.parsedStatements[name] === undefined && connection.submittedNamedStatements[name] === undefined)) {
          connection.parse({ text: s.text, name, types: [] });
          parsed.push(name);
          if (name !== '') connection.submittedNamedStatements[name] = s.text;
        }
        connection.bind({ statement: name, portal: '', values: (s.values as unknown[] | undefined) ?? [], valueMapper: prepareValue });
        connection.describe({ type: 'P', name: '' });
        connection.execute({ portal: '', rows: 0 });
      }
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    // Each ParseComplete answers one Parse, in order: a named statement is
    // prepared once its own arrives (pg forwards none of them to a submittable).
    let next = 0;
    const onParsed = (): void => {
      const name = parsed[next++];
      if (name === undefined || name === '') return;
      connection.parsedStatements[name] = this.#statements.find((s) => s.name === name)!.text;
      delete connection.submittedNamedStatements[name];
    };
    connection.on('parseComplete', onParsed);
    const forgetParsed = (): void => {
      connection.removeListener('parseComplete', onParsed);
      for (const name of parsed.slice(next)) if (name !== '') delete connection.submittedNamedStatements[name];
    };
    void this.done.then(forgetParsed, forgetParsed);
  }

  handleRowDescription(message: { fields: unknown[] }): void {
    this.#results[this.#current]?.addFields(message.fields);
  }

  handleDataRow(message: { fields: unknown[] }): void {
    const result = this.#results[this.#current];
    if (result === undefined || this.#error !== undefined) return;
    try {
      result.addRow(result.parseRow(message.fields));
    } catch (err) {
      this.#error = err;
    }
  }

  handleCommandComplete(message: unknown): void {
    this.#results[this.#current]?.addCommandComplete(message);
    this.#current++;
  }

  handleEmptyQuery(): void {
    this.#current++;
  }

  handlePortalSuspended(): void {
    // Never: every Execute asks for all rows.
  }

  handleCopyInResponse(connection: { sendCopyFail(message: string): void }): void {
    connection.sendCopyFail('No source stream defined');
  }

  handleCopyData(): void {}

  handleReadyForQuery(): void {
    this.#finish();
  }

  /**
   * pg calls this for the server's ErrorResponse, before ReadyForQuery, and
   * for a dead socket or a read timeout, after which nothing more arrives.
   * A server error settles only at ReadyForQuery, once pg has read the
   * transaction status the error left (aborted, or ended by a failed COMMIT).
   */
  handleError(err: unknown, connection: Wire): void {
    if (this.#settled) return;
    this.#error ??= err;
    if (typeof (err as { severity?: unknown }).severity !== 'string') {
      this.#finish();
      return;
    }
    const settle = (): void => {
      connection.removeListener('readyForQuery', settle);
      connection.removeListener('end', settle);
      connection.removeListener('error', settle);
      this.#finish();
    };
    connection.once('readyForQuery', settle);
    connection.once('end', settle);
    connection.once('error', settle);
  }

  #finish(): void {
    if (this.#settled) return;
    this.#settled = true;
    // pg wraps the callback of a submittable to clear its query_timeout timer.
    if (typeof this.callback === 'function') (this.callback as (err: unknown, results?: unknown) => void)(this.#error, this.#results);
    if (this.#error !== undefined) this.#reject(this.#error);
    else this.#resolve(this.#results);
  }
}
