/**
 * The one mapping from what `pg` throws to racefree's classes: SQLSTATE to
 * class, the kit's RFxxx codes (codes.ts), DETAIL parsed into fields (the
 * unique violation's key, the kit's JSON details), and which failures mean a
 * lost connection.
 */

import { findRacefreeCode, type RacefreeCodeClass } from './codes.js';
import { parseUniqueViolationDetail } from './key-detail.js';
import {
  RacefreeError,
  RacefreeConfigError,
  DuplicateRowsError,
  type DuplicateGroup,
  IntegrityConstraintViolationError,
  UniqueViolationError,
  ForeignKeyViolationError,
  NotNullViolationError,
  CheckViolationError,
  SerializationFailureError,
  DeadlockDetectedError,
  LockTimeoutError,
  InsufficientPrivilegeError,
  QueryCanceledError,
  ConnectionError,
  IdempotencyKeyMismatchError,
  InvalidIdempotencyKeyError,
} from './classes.js';

/** The fields of a server error that the mapping reads (pg's DatabaseError has them all). */
interface ServerErrorFields {
  readonly original: unknown;
  readonly message: string;
  readonly code: string;
  readonly detail: string | undefined;
  readonly hint: string | undefined;
  readonly constraint: string | undefined;
  readonly schema: string | undefined;
  readonly table: string | undefined;
  readonly column: string | undefined;
}

/**
 * The error's SQLSTATE, when it has one: five digits or capitals. Socket
 * errors carry codes such as ECONNRESET, which are not SQLSTATEs.
 * @internal
 */
export function sqlStateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Duck-typed rather than `instanceof`, so errors from another copy of pg map too. */
function serverError(err: unknown): ServerErrorFields | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as Record<string, unknown>;
  const code = sqlStateOf(err);
  if (code === undefined) return undefined;
  const text = (key: string): string | undefined => {
    const v = e[key];
    return typeof v === 'string' ? v : undefined;
  };
  return {
    original: err,
    code,
    message: text('message') ?? '',
    detail: text('detail'),
    hint: text('hint'),
    constraint: text('constraint'),
    schema: text('schema'),
    table: text('table'),
    column: text('column'),
  };
}

/** SQLSTATEs after which the session is gone. */
const CONNECTION_CODES = new Set([
  '57P01', // admin_shutdown: pg_terminate_backend
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '57P05', // idle_session_timeout
  '25P03', // idle_in_transaction_session_timeout
]);

/** pg's messages when the socket fails or times out; they carry no SQLSTATE. */
const CONNECTION_MESSAGES = [
  'Connection terminated', // ... unexpectedly, ... due to connection timeout
  'not queryable', // the client saw a socket error earlier, or was ended
  'Query read timeout', // query_timeout: the statement may still be running
  'timeout expired', // connectionTimeoutMillis while connecting
];
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

function looksLikeConnectionFailure(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && SOCKET_CODES.has(code)) return true;
  return CONNECTION_MESSAGES.some((m) => err.message.includes(m));
}

/** Optional knowledge the caller has beyond the error itself. */
export interface WrapErrorContext {
  /**
   * The caller knows the connection is unusable (pg reported a socket error
   * on it), so an error without a SQLSTATE is a `ConnectionError` whatever
   * its message says.
   */
  connectionLost?: boolean;
}

const racefreeCodeFactories: Record<RacefreeCodeClass, (e: ServerErrorFields) => RacefreeError> = {
  RacefreeConfigError: (e) => {
    const detail = parseJsonObject(e.detail);
    const option = typeof detail?.['option'] === 'string' ? detail['option'] : e.column;
    return new RacefreeConfigError(e.message, {
      code: e.code,
      cause: e.original,
      ...(option === undefined ? {} : { option }),
      ...(detail !== undefined && 'value' in detail ? { value: detail['value'] } : {}),
    });
  },
  DuplicateRowsError: (e) => {
    const detail = parseJsonObject(e.detail);
    const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined);
    const groups = detail?.['groups'];
    const validGroups =
      Array.isArray(groups) &&
      groups.every(
        (g: unknown) =>
          typeof g === 'object' &&
          g !== null &&
          typeof (g as { count?: unknown }).count === 'number' &&
          Array.isArray((g as { values?: unknown }).values) &&
          (g as { values: unknown[] }).values.every((v) => v === null || typeof v === 'string'),
      );
    return new DuplicateRowsError({
      table: typeof detail?.['table'] === 'string' ? detail['table'] : undefined,
      columns: strings(detail?.['columns']),
      groups: validGroups ? (groups as DuplicateGroup[]).map((g) => ({ values: g.values, count: g.count })) : undefined,
      total: typeof detail?.['total'] === 'number' ? detail['total'] : undefined,
      cause: e.original,
    });
  },
  IdempotencyKeyMismatchError: (e) => {
    const detail = parseJsonObject(e.detail);
    const text = (name: string) => (typeof detail?.[name] === 'string' ? (detail[name] as string) : undefined);
    return new IdempotencyKeyMismatchError({ scope: text('scope'), key: text('key'), cause: e.original });
  },
  InvalidIdempotencyKeyError: (e) => {
    const argument = parseJsonObject(e.detail)?.['argument'];
    return new InvalidIdempotencyKeyError(e.message, {
      argument: typeof argument === 'string' ? argument : undefined,
      cause: e.original,
    });
  },
};

function parseJsonObject(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a person reads in a log: the server's message, then its DETAIL (the
 * constraint's key and values) and HINT, e.g. `duplicate key value violates
 * unique constraint "t_k_key": Key (k)=(1) already exists.`
 */
function serverMessage(e: ServerErrorFields): string {
  let text = e.message;
  if (e.detail !== undefined && e.detail !== '') text += `: ${e.detail}`;
  if (e.hint !== undefined && e.hint !== '') text += ` Hint: ${e.hint}`;
  return text;
}

function fromServerError(e: ServerErrorFields): RacefreeError {
  const cause = e.original;
  const message = serverMessage(e);
  const location = { message, constraint: e.constraint, schema: e.schema, table: e.table, cause };
  switch (e.code) {
    case '23505':
      return new UniqueViolationError({ ...location, ...parseUniqueViolationDetail(e.detail) });
    case '23503':
      return new ForeignKeyViolationError(location);
    case '23502':
      return new NotNullViolationError({ ...location, column: e.column });
    case '23514':
      return new CheckViolationError(location);
    case '40001':
      return new SerializationFailureError({ message, cause });
    case '40P01':
      return new DeadlockDetectedError({ message, cause });
    case '55P03':
      return new LockTimeoutError({ message, cause });
    case '57014':
      return new QueryCanceledError({ message, cause });
  }
  if (e.code.startsWith('23')) {
    return new IntegrityConstraintViolationError('An integrity constraint was violated.', { ...location, code: e.code });
  }
  if (e.code.startsWith('08') || CONNECTION_CODES.has(e.code)) {
    return new ConnectionError({ message, code: e.code, cause });
  }
  if (e.code.startsWith('RF')) {
    const known = findRacefreeCode(e.code);
    if (known !== undefined) return racefreeCodeFactories[known.errorClass](e);
  }
  if (e.code === '42501') {
    const grant = grantFor(e.message);
    const hint = grant === undefined ? '' : ` Hint: racefree grants this to ${grant}: GRANT ${grant} TO <the role this connection logs in as>`;
    return new InsufficientPrivilegeError({ message: message + hint, grant, cause });
  }
  return new RacefreeError(message, { code: e.code, cause });
}

/** The kit's functions by the role they are granted to (sql/*.sql, README "Roles"). */
const ADMIN_FUNCTIONS = new Set(['idempotency_prune', 'next_value', 'current_value']);
const KIT_FUNCTION = /^(?:idempotency_claim|idempotency_complete)$/;
/** What the builders generate: generate_<name>_number, upsert_<name>, upsert_<name>_many, get_or_create_<name>. */
const GENERATED_FUNCTION = /^(?:generate_\w+_number|upsert_\w+|get_or_create_\w+)$/;

/**
 * The racefree role that grants a refused function or schema, if it is
 * racefree's. The server's message names a function without its schema.
 */
function grantFor(serverText: string): 'racefree_user' | 'racefree_admin' | undefined {
  const denied = /^permission denied for (function|schema) (.+)$/.exec(serverText);
  if (denied === null) return undefined;
  const [, kind, name = ''] = denied;
  // racefree_internal is no role's to grant: services never call the internals.
  if (kind === 'schema') return name === 'racefree' ? 'racefree_user' : undefined;
  if (ADMIN_FUNCTIONS.has(name)) return 'racefree_admin';
  return KIT_FUNCTION.test(name) || GENERATED_FUNCTION.test(name) ? 'racefree_user' : undefined;
}

/**
 * Turn anything thrown by `pg` (or by the kit's SQL) into a `RacefreeError`:
 * the one place SQLSTATEs are mapped to classes. A `RacefreeError` is
 * returned unchanged, so wrapping twice is harmless. Unknown SQLSTATEs, and
 * unknown `RFxxx` codes, give a plain `RacefreeError` with the server's
 * message and `code`.
 */
export function wrapError(err: unknown, context: WrapErrorContext = {}): RacefreeError {
  if (err instanceof RacefreeError) return err;
  const server = serverError(err);
  if (server !== undefined) return fromServerError(server);
  if (context.connectionLost === true || looksLikeConnectionFailure(err)) {
    const reason = err instanceof Error && err.message !== '' ? `: ${err.message}` : '';
    return new ConnectionError({ message: `The database connection failed or was lost${reason}`, cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new RacefreeError(message, { cause: err });
}

/**
 * Whether running the whole transaction again is safe and may succeed:
 * true for serialization failures (40001) and deadlocks (40P01), whether
 * given as racefree errors or as raw pg errors; false for everything else,
 * including unique violations, lock timeouts, lost connections and unknown
 * commit outcomes. `db.transaction()` retries exactly these.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof SerializationFailureError || err instanceof DeadlockDetectedError) return true;
  if (err instanceof RacefreeError) return false;
  const code = serverError(err)?.code;
  return code === '40001' || code === '40P01';
}
