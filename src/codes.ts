/**
 * racefree's own SQLSTATEs. The kit's SQL raises them with
 * `RAISE ... USING ERRCODE = 'RF100'`; `wrapError()` reads this table to turn
 * them into error classes. Class `RF` is unused by PostgreSQL, so these never
 * collide with the server's codes.
 *
 * Ranges: RF0xx for request-level conditions (RF001, idempotency key mismatch,
 * arrives with the idempotency issue), RF1xx for configuration. Adding a code
 * is one row here plus, if it gets its own class, one entry in the factory
 * table in errors.ts; the compiler checks that the two agree.
 * @internal
 */

/** The error class a racefree SQLSTATE maps to, by name (errors.ts holds the constructors). */
export type RacefreeCodeClass = 'RacefreeConfigError';

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
    code: 'RF100',
    name: 'config_error',
    errorClass: 'RacefreeConfigError',
    description:
      'A racefree installer rejected its configuration before running any DDL. ' +
      'MESSAGE names the builder and option; DETAIL is {"option", "value"} as JSON.',
  },
] as const satisfies readonly RacefreeCode[];

/** @internal */
export function findRacefreeCode(code: string): RacefreeCode | undefined {
  return racefreeCodes.find((c) => c.code === code);
}
