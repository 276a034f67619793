/**
 * racefree's own SQLSTATEs. The kit's SQL raises them with
 * `RAISE ... USING ERRCODE = 'RF100'`; `wrapError()` reads this table to turn
 * them into error classes. Class `RF` is unused by PostgreSQL, so these never
 * collide with the server's codes.
 *
 * Ranges: RF0xx for request-level conditions (RF001 idempotency key mismatch,
 * RF002 invalid idempotency key), RF1xx for configuration (RF100 bad option,
 * RF101 duplicate rows under a new unique key). Adding a code
 * is one row here plus, if it gets its own class, one entry in the factory
 * table in from-pg.ts; the compiler checks that the two agree.
 * @internal
 */

/** The error class a racefree SQLSTATE maps to, by name (classes.ts holds the constructors). */
export type RacefreeCodeClass = 'RacefreeConfigError' | 'IdempotencyKeyMismatchError' | 'InvalidIdempotencyKeyError' | 'DuplicateRowsError';

/** @internal */
export interface RacefreeCode {
  readonly code: string;
  readonly name: string;
  readonly errorClass: RacefreeCodeClass;
  readonly description: string;
}

/** @internal */
export const racefreeCodes = [
  {
    code: 'RF001',
    name: 'idempotency_key_mismatch',
    errorClass: 'IdempotencyKeyMismatchError',
    description:
      'racefree.idempotency_claim: the key was already used in its scope with a different request fingerprint. ' +
      'MESSAGE names scope and key; DETAIL is {"scope", "key"} as JSON; never the stored response.',
  },
  {
    code: 'RF002',
    name: 'invalid_idempotency_key',
    errorClass: 'InvalidIdempotencyKeyError',
    description: 'An idempotency scope or key is NULL, empty or longer than 255 characters, or a fingerprint is NULL. ' + 'DETAIL is {"argument"} as JSON.',
  },
  {
    code: 'RF100',
    name: 'config_error',
    errorClass: 'RacefreeConfigError',
    description:
      'A racefree installer rejected its configuration before running any DDL. ' +
      'MESSAGE names the builder and option; DETAIL is {"option", "value"} as JSON.',
  },
  {
    code: 'RF101',
    name: 'duplicate_rows',
    errorClass: 'DuplicateRowsError',
    description:
      'addUniqueKey found rows that already share a value of the key, before any DDL. ' +
      'DETAIL is {"table", "columns", "groups": [{"values", "count"}] (up to 10), "total"} as JSON.',
  },
] as const satisfies readonly RacefreeCode[];

/** @internal */
export function findRacefreeCode(code: string): RacefreeCode | undefined {
  return racefreeCodes.find((c) => c.code === code);
}
