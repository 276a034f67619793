/**
 * The racefree error hierarchy. Every error the kit throws, from the client,
 * the migrate builders or the CLI, is a `RacefreeError`. Errors that come from
 * PostgreSQL keep the server's error as `cause` and its SQLSTATE as `code`;
 * fields the server did not send stay `undefined`, never guessed. Which
 * server error becomes which class is from-pg.ts's `wrapError`.
 */

import type { CommitOutcomeUnknownReason } from '../commit-outcome.js';

/** Base class: `code` is the SQLSTATE when the error came from PostgreSQL. */
export class RacefreeError extends Error {
  readonly code: string | undefined;
  override readonly cause: unknown;

  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message);
    this.name = new.target.name;
    this.code = options.code;
    this.cause = options.cause;
  }
}

/**
 * Bad configuration: a builder option, a template, a table or column that does
 * not exist. Raised before any DDL runs, or by the migration's own transaction
 * (which then rolls back), so nothing is half-created.
 */
export class RacefreeConfigError extends RacefreeError {
  /** The option that was wrong, e.g. `template` or `table`. */
  readonly option: string | undefined;
  /** The value given for that option. */
  readonly value: unknown;

  constructor(message: string, options: { option?: string; value?: unknown; code?: string; cause?: unknown } = {}) {
    super(message, { code: options.code ?? 'RF100', cause: options.cause });
    this.option = options.option;
    this.value = options.value;
  }
}

/** One group of rows sharing a value of a key, as listed by {@link DuplicateRowsError}. */
export interface DuplicateGroup {
  /** Each key column's value as PostgreSQL prints it (`::text`), `null` for SQL NULL. */
  readonly values: ReadonlyArray<string | null>;
  /** How many rows hold this value. */
  readonly count: number;
}

/**
 * RF101: `addUniqueKey` found rows that already share a value of the new key.
 * Raised before any DDL: the migration rolled back and nothing changed.
 * Remove or merge the rows listed in `groups`, then migrate again. Fields
 * come from the server's JSON DETAIL and stay undefined without it.
 */
export class DuplicateRowsError extends RacefreeError {
  /** The table, schema-qualified as PostgreSQL quotes it, e.g. `public.users`. */
  readonly table: string | undefined;
  /** The key's columns, in the order given. */
  readonly columns: readonly string[] | undefined;
  /** Up to 10 groups, the largest first. */
  readonly groups: readonly DuplicateGroup[] | undefined;
  /** How many groups of duplicates the table holds in all. */
  readonly total: number | undefined;

  constructor(
    options: {
      table?: string | undefined;
      columns?: readonly string[] | undefined;
      groups?: readonly DuplicateGroup[] | undefined;
      total?: number | undefined;
      cause?: unknown;
    } = {},
  ) {
    super(duplicateRowsMessage(options), { code: 'RF101', cause: options.cause });
    this.table = options.table;
    this.columns = options.columns;
    this.groups = options.groups;
    this.total = options.total;
  }
}

/** Every listed group on a line of its own, the total, and what to do next: the CLI prints it as is. */
function duplicateRowsMessage(o: {
  table?: string | undefined;
  columns?: readonly string[] | undefined;
  groups?: readonly DuplicateGroup[] | undefined;
  total?: number | undefined;
}): string {
  const next = 'Remove or merge the duplicate rows (one row per key value), then run the migration again.';
  if (o.table === undefined || o.columns === undefined || o.total === undefined) {
    return `Existing rows share a value of the new unique key; nothing was changed. ${next}`;
  }
  const groups = o.groups ?? [];
  const plural = (n: number) => (n === 1 ? 'group' : 'groups');
  const lines = [
    `${o.table} holds ${o.total} ${plural(o.total)} of rows with the same (${o.columns.join(', ')}); nothing was changed.`,
    ...groups.map((g) => `  (${g.values.map((v) => (v === null ? 'NULL' : v)).join(', ')}) x${g.count}`),
  ];
  const unlisted = o.total - groups.length;
  if (groups.length > 0 && unlisted > 0) lines.push(`  ... and ${unlisted} more ${plural(unlisted)}`);
  lines.push(next);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// Integrity constraints (SQLSTATE class 23). Never transient: retrying the same
// statement violates the same constraint.

/** Where a constraint violation happened, from the server's error fields. */
export interface ConstraintLocation {
  /** What a person reads: the server's message and DETAIL when the error came from PostgreSQL. */
  message?: string | undefined;
  constraint?: string | undefined;
  schema?: string | undefined;
  table?: string | undefined;
  cause?: unknown;
}

/**
 * Any integrity constraint violation (class 23). Thrown as is for the ones
 * without a class of their own, e.g. 23P01 exclusion_violation.
 */
export class IntegrityConstraintViolationError extends RacefreeError {
  readonly constraint: string | undefined;
  readonly schema: string | undefined;
  readonly table: string | undefined;

  constructor(message: string, options: ConstraintLocation & { code?: string | undefined } = {}) {
    super(options.message ?? message, { code: options.code, cause: options.cause });
    this.constraint = options.constraint;
    this.schema = options.schema;
    this.table = options.table;
  }
}

/**
 * 23505 unique_violation. `columns` and `values` come from the server's
 * DETAIL (`Key (a, b)=(1, x) already exists.`): `values` are PostgreSQL's
 * output text of each key column (SQL NULL shows as `null`); an expression
 * index gives the expression as the column. Both stay undefined when DETAIL
 * is absent (row-level security, no SELECT privilege) or translated, and
 * `values` stays undefined when a value contains ", " so the split would be a
 * guess.
 */
export class UniqueViolationError extends IntegrityConstraintViolationError {
  readonly columns: readonly string[] | undefined;
  readonly values: readonly string[] | undefined;

  constructor(
    options: ConstraintLocation & {
      columns?: readonly string[] | undefined;
      values?: readonly string[] | undefined;
    } = {},
  ) {
    super('A unique constraint was violated.', { ...options, code: '23505' });
    this.columns = options.columns;
    this.values = options.values;
  }
}

/** 23503 foreign_key_violation. */
export class ForeignKeyViolationError extends IntegrityConstraintViolationError {
  constructor(options: ConstraintLocation = {}) {
    super('A foreign key constraint was violated.', { ...options, code: '23503' });
  }
}

/** 23502 not_null_violation; `column` is the column that was null. */
export class NotNullViolationError extends IntegrityConstraintViolationError {
  readonly column: string | undefined;

  constructor(options: ConstraintLocation & { column?: string | undefined } = {}) {
    super('A NOT NULL constraint was violated.', { ...options, code: '23502' });
    this.column = options.column;
  }
}

/** 23514 check_violation. */
export class CheckViolationError extends IntegrityConstraintViolationError {
  constructor(options: ConstraintLocation = {}) {
    super('A check constraint was violated.', { ...options, code: '23514' });
  }
}

// ---------------------------------------------------------------------------
// Concurrency. Only these two are transient: the server rolled the transaction
// back because of a concurrent one, so running it again is safe.

/** Options of the errors that carry no fields beyond the server's words and the cause. */
export interface ServerErrorOptions {
  /** The server's message and DETAIL; a fixed sentence when absent. */
  message?: string | undefined;
  cause?: unknown;
}

/** 40001 serialization_failure. Transient: `db.transaction()` retries it. */
export class SerializationFailureError extends RacefreeError {
  constructor(options: ServerErrorOptions = {}) {
    super(options.message ?? 'The transaction could not be serialized with a concurrent one and was rolled back.', {
      code: '40001',
      cause: options.cause,
    });
  }
}

/** 40P01 deadlock_detected. Transient: `db.transaction()` retries it. */
export class DeadlockDetectedError extends RacefreeError {
  constructor(options: ServerErrorOptions = {}) {
    super(options.message ?? 'The transaction was rolled back to break a deadlock.', { code: '40P01', cause: options.cause });
  }
}

/**
 * 55P03 lock_not_available: `lock_timeout` expired, or `NOWAIT` found the row
 * locked. Not retried: the timeout is the caller's own limit.
 */
export class LockTimeoutError extends RacefreeError {
  constructor(options: ServerErrorOptions = {}) {
    super(options.message ?? 'A lock could not be obtained in time.', { code: '55P03', cause: options.cause });
  }
}

/**
 * 42501 insufficient_privilege. `grant` is the racefree role that grants what
 * was refused (`racefree_user`, `racefree_admin`) when the refused object is
 * racefree's or generated by its builders; the message then ends with the
 * `GRANT` to run. Not retried.
 */
export class InsufficientPrivilegeError extends RacefreeError {
  readonly grant: 'racefree_user' | 'racefree_admin' | undefined;

  constructor(options: ServerErrorOptions & { grant?: 'racefree_user' | 'racefree_admin' | undefined } = {}) {
    super(options.message ?? 'Permission denied.', { code: '42501', cause: options.cause });
    this.grant = options.grant;
  }
}

/** 57014 query_canceled: `statement_timeout` or a cancel request. Not retried. */
export class QueryCanceledError extends RacefreeError {
  constructor(options: ServerErrorOptions = {}) {
    super(options.message ?? 'The statement was canceled.', { code: '57014', cause: options.cause });
  }
}

// ---------------------------------------------------------------------------
// Connections and commits.

/**
 * The connection could not be made, or was lost: socket closed, backend
 * terminated (57P01), server shut down, client-side query timeout. `code` is
 * the SQLSTATE when the server said why, undefined when the socket just went.
 * Not retried: work done before the loss is rolled back, but the callback may
 * have had effects outside the database.
 */
export class ConnectionError extends RacefreeError {
  constructor(options: ServerErrorOptions & { code?: string | undefined } = {}) {
    // The server's (or the socket's) own words, e.g. "terminating connection due to administrator command".
    const why = options.cause instanceof Error && options.cause.message !== '' ? `: ${options.cause.message}` : '.';
    super(options.message ?? `The database connection failed or was lost${why}`, { code: options.code, cause: options.cause });
  }
}

/**
 * The connection was lost while COMMIT was in flight and whether the
 * transaction committed cannot be known for certain. It may have committed.
 * Never retried. `xid` is the transaction id; `reason` says why the server's
 * answer could not be trusted or had: the transaction was still committing
 * (`in-progress`; `SELECT pg_xact_status('<xid>')` tells the outcome later),
 * the server could not be reached (`unreachable`), or it crashed, restarted
 * or failed over since (`crash-recovery`, `server-restarted`, `failover`,
 * `different-server`), when the same xid may since name another transaction.
 * `code` is 08007 (transaction_resolution_unknown); `cause` is the error that
 * broke the COMMIT. With `db.once`, call again with the same key: it replays
 * the stored response if the work committed, and runs it if it did not.
 */
export class CommitOutcomeUnknownError extends RacefreeError {
  readonly xid: string;
  readonly reason: CommitOutcomeUnknownReason;

  constructor(options: { xid: string; reason?: CommitOutcomeUnknownReason; cause?: unknown }) {
    const reason = options.reason ?? 'in-progress';
    super(`The connection was lost during COMMIT and whether the transaction committed is unknown: ${UNKNOWN_REASONS[reason]}.`, {
      code: '08007',
      cause: options.cause,
    });
    this.xid = options.xid;
    this.reason = reason;
  }
}

const UNKNOWN_REASONS: Record<CommitOutcomeUnknownReason, string> = {
  'in-progress': 'it was still committing when the resolution window closed',
  unreachable: 'the server could not be reached to ask',
  'xid-too-old': 'the transaction id is older than the server remembers',
  'different-server': 'another server answers now',
  failover: "the server's timeline changed (a failover or restore) since the transaction id was read",
  'server-restarted': 'the server restarted since the transaction id was read',
  'crash-recovery': 'the server ran crash recovery (or a checkpoint) since the transaction id was read',
};

// ---------------------------------------------------------------------------
// Misuse of the client, and its own conditions.

/** `callOne()` got zero rows or more than one. */
export class UnexpectedRowCountError extends RacefreeError {
  readonly rowCount: number;

  constructor(options: { rowCount: number }) {
    super('Expected exactly one row.');
    this.rowCount = options.rowCount;
  }
}

/** A `tx` object was used after its callback ended. */
export class TransactionClosedError extends RacefreeError {
  constructor() {
    super('The transaction has ended; use its tx object only inside its callback.');
  }
}

/**
 * A `tx` object was used while a nested transaction opened from it was still
 * running, or a callback returned with statements still running. One
 * connection runs one thing at a time; await each call, and use the nested
 * transaction's own tx inside it.
 */
export class TransactionBusyError extends RacefreeError {
  constructor() {
    super('The transaction is busy: a nested transaction or statement is still running on it.');
  }
}

/**
 * The transaction's `signal` aborted before an attempt started or during the
 * backoff between attempts. `cause` is `signal.reason`; `lastError` is the
 * error of the attempt before, if any.
 */
export class AbortedError extends RacefreeError {
  readonly lastError: unknown;

  constructor(options: { cause?: unknown; lastError?: unknown } = {}) {
    super('The transaction was aborted by its signal.', { cause: options.cause });
    this.lastError = options.lastError;
  }
}

// ---------------------------------------------------------------------------
// Idempotency keys (`db.once`, racefree.idempotency_*). None is transient.

/** How an idempotency error names its key; JSON so that odd characters stay visible. */
const keyText = (scope: string | undefined, key: string | undefined): string =>
  key === undefined ? 'The idempotency key' : `Idempotency key ${JSON.stringify(key)} in scope ${JSON.stringify(scope)}`;

/**
 * RF001: the key was already used, in the same scope, with a different
 * request (another fingerprint). HTTP: 422. Carries scope and key only, never
 * the stored response, which may belong to another caller.
 */
export class IdempotencyKeyMismatchError extends RacefreeError {
  readonly scope: string | undefined;
  readonly key: string | undefined;

  constructor(options: { scope?: string | undefined; key?: string | undefined; cause?: unknown } = {}) {
    super(`${keyText(options.scope, options.key)} was already used with a different request.`, {
      code: 'RF001',
      cause: options.cause,
    });
    this.scope = options.scope;
    this.key = options.key;
  }
}

/**
 * A duplicate waited `waitMs` for the request holding its key and that
 * request is still running. HTTP: 409 with `Retry-After: retryAfter`. `code`
 * is 55P03, the lock timeout that ended the wait; nothing was written.
 */
export class IdempotencyKeyInFlightError extends RacefreeError {
  readonly scope: string;
  readonly key: string;
  readonly waitMs: number;
  /** Suggested seconds before retrying, for a Retry-After header. */
  readonly retryAfter: number;

  constructor(options: { scope: string; key: string; waitMs: number; cause?: unknown }) {
    super(`${keyText(options.scope, options.key)} is still being processed by another request after ${options.waitMs} ms.`, {
      code: '55P03',
      cause: options.cause,
    });
    this.scope = options.scope;
    this.key = options.key;
    this.waitMs = options.waitMs;
    this.retryAfter = Math.max(1, Math.ceil(options.waitMs / 1000));
  }
}

/**
 * RF002: an idempotency scope or key is missing, empty or longer than 255
 * characters (or a fingerprint is missing). HTTP: 400. Thrown by `db.once`
 * before it touches the database, and raised by the SQL functions.
 */
export class InvalidIdempotencyKeyError extends RacefreeError {
  /** Which argument was wrong: `scope`, `key` or `fingerprint`. */
  readonly argument: string | undefined;

  constructor(message: string, options: { argument?: string | undefined; cause?: unknown } = {}) {
    super(message, { code: 'RF002', cause: options.cause });
    this.argument = options.argument;
  }
}
