/**
 * racefree's public entry point. Everything exported here is public API;
 * modules marked `@internal` are not, and are not listed.
 */

export { createClient } from './client.js';
export type { ClientOptions, Db, DbMethods } from './client.js';
export type { Tx, TxMethods, TransactionOptions, IsolationLevel } from './transaction.js';
export type { DatabaseTypes, FunctionTypes, FunctionNameOf, ArgsOf, RowOf, TypedQueryable, QueryableOf } from './typed-calls.js';
export type { OnceOptions, OnceResult } from './idempotency.js';
export type { Queryable } from './queryable.js';
export type { FunctionName, CallArgs } from './call-statement.js';
export type { CommitOutcomeUnknownReason } from './commit-outcome.js';

export {
  RacefreeError,
  RacefreeConfigError,
  IntegrityConstraintViolationError,
  UniqueViolationError,
  ForeignKeyViolationError,
  NotNullViolationError,
  CheckViolationError,
  SerializationFailureError,
  DeadlockDetectedError,
  InsufficientPrivilegeError,
  LockTimeoutError,
  QueryCanceledError,
  ConnectionError,
  CommitOutcomeUnknownError,
  UnexpectedRowCountError,
  TransactionClosedError,
  TransactionBusyError,
  AbortedError,
  IdempotencyKeyMismatchError,
  IdempotencyKeyInFlightError,
  InvalidIdempotencyKeyError,
  DuplicateRowsError,
} from './errors/classes.js';
export type { ConstraintLocation, DuplicateGroup } from './errors/classes.js';
export { wrapError, isTransient } from './errors/from-pg.js';
export type { WrapErrorContext } from './errors/from-pg.js';
