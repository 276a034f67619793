/**
 * racefree's public entry point. Everything exported here is public API;
 * modules marked `@internal` are not, and are not listed.
 */

export { createClient } from './client.js';
export type { ClientOptions, Db } from './client.js';
export type { Tx, TransactionOptions, IsolationLevel } from './transaction.js';
export type { Queryable } from './queryable.js';
export type { FunctionName, CallArgs } from './call-statement.js';

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
  LockTimeoutError,
  QueryCanceledError,
  ConnectionError,
  CommitOutcomeUnknownError,
  UnexpectedRowCountError,
  TransactionClosedError,
  TransactionBusyError,
  AbortedError,
  wrapError,
  isTransient,
} from './errors.js';
export type { ConstraintLocation, WrapErrorContext } from './errors.js';
