/**
 * `db.once()`: exactly one execution per idempotency key. The claim, the
 * work and the response commit in one READ COMMITTED transaction, so either
 * all of it is stored or none of it and the key is free again. A duplicate
 * that arrives while the winner is in flight waits for it (up to `waitMs`)
 * and replays its response; if the winner fails, the duplicate runs the work.
 * SQL side: sql/idempotency.sql.
 */

import { IdempotencyKeyInFlightError, InvalidIdempotencyKeyError, LockTimeoutError, RacefreeConfigError, RacefreeError } from './errors/classes.js';
import { buildCall } from './call-statement.js';
import { selectWithXid } from './commit-outcome.js';
import { fingerprintOf, hasUnpairedSurrogate } from './fingerprint.js';
import type { Bracket, TransactionOptions, Tx } from './transaction.js';

/** Options of `db.once()`; the transaction options apply to its transaction, which is always READ COMMITTED. */
export interface OnceOptions extends Omit<TransactionOptions, 'isolation'> {
  /**
   * Whose keys these are, e.g. `tenant:${tenantId}`: a key only ever replays
   * a response stored under the same scope. 1 to 255 characters.
   */
  scope: string;
  /** The idempotency key, e.g. the `Idempotency-Key` header. 1 to 255 characters, compared byte for byte. */
  key: string;
  /**
   * The request the key stands for, fingerprinted (canonical JSON, SHA-256):
   * the same key with a different request is an `IdempotencyKeyMismatchError`.
   * Object key order does not matter. Required unless `fingerprint` is given.
   */
  request?: unknown;
  /** Your own fingerprint of the request, used instead of hashing `request`. */
  fingerprint?: string;
  /**
   * How long a duplicate waits for the request that holds its key before
   * `IdempotencyKeyInFlightError`. Default 5 000 ms.
   */
  waitMs?: number;
}

/** What `db.once()` resolves to. */
export interface OnceResult<T> {
  /** True when an earlier request ran the work and this is its stored response. */
  readonly replayed: boolean;
  /**
   * The callback's result, or on a replay the stored JSON of the original
   * result (a Date arrives as its ISO string, undefined as null).
   */
  readonly response: T;
}

/** @internal */
export type BracketRunner = <T>(bracket: Bracket<ClaimRow, T>, options: TransactionOptions) => Promise<T>;

const DEFAULT_WAIT_MS = 5_000;
const MAX_WAIT_MS = 2_147_483_647; // lock_timeout's upper bound
const MAX_KEY_CHARS = 255;

/** @internal */
export interface ClaimRow {
  status: 'claimed' | 'replayed';
  response: unknown;
  xid: string | null;
  history: string | null;
}

/**
 * The claim, sent with BEGIN: racefree._idempotency_claim (one round trip for
 * the claim and its lock_timeout) and, read after it, the xid the claim gave
 * the transaction and the server's history, so COMMIT needs no read before it.
 */
const CLAIM = {
  name: 'racefree_once_claim',
  text: selectWithXid(['status', 'response'], 'racefree._idempotency_claim(scope => $1, key => $2, fingerprint => $3, wait_ms => $4) AS c'),
};

/**
 * @throws {InvalidIdempotencyKeyError} when scope or key is not 1 to 255 characters, before any SQL runs.
 * @throws {RacefreeConfigError} for other invalid options, before any SQL runs.
 * @throws {IdempotencyKeyMismatchError} when the key was used with a different request.
 * @throws {IdempotencyKeyInFlightError} when the request holding the key is still running after `waitMs`.
 * @throws whatever `fn` throws, after rolling back (the key is free again).
 * @internal
 */
export async function runOnce<T>(transaction: BracketRunner, options: OnceOptions, fn: (tx: Tx) => Promise<T>): Promise<OnceResult<T>> {
  if (typeof options !== 'object' || options === null) {
    throw new RacefreeConfigError('once: the first argument must be an options object', { option: 'options' });
  }
  const { scope, key, request, fingerprint, waitMs = DEFAULT_WAIT_MS, ...transactionOptions } = options;
  checkKeyPart('scope', scope);
  checkKeyPart('key', key);
  if (!Number.isInteger(waitMs) || waitMs < 1 || waitMs > MAX_WAIT_MS) {
    throw new RacefreeConfigError(`once: option "waitMs" must be an integer from 1 to ${MAX_WAIT_MS}`, {
      option: 'waitMs',
      value: waitMs,
    });
  }
  if (typeof fn !== 'function') {
    throw new RacefreeConfigError('once: the second argument must be a function', { option: 'fn' });
  }
  const claim = { ...CLAIM, values: [scope, key, requestFingerprint(request, fingerprint), waitMs] };

  try {
    // Two round trips besides the work: BEGIN with the claim, and the
    // response with COMMIT. Nothing is stored unless both commit together.
    const response = await transaction<T>(
      {
        opening: claim,
        openingError: (err) => (err instanceof LockTimeoutError ? new IdempotencyKeyInFlightError({ scope, key, waitMs, cause: err }) : err),
        run: async (tx, claimed) => {
          if (claimed.status === 'replayed') throw new Replay(claimed.response);
          return fn(tx);
        },
        closing: (value) => buildCall('racefree.idempotency_complete', { scope, key, response: responseJson(value) }),
      },
      // A duplicate waiting on an uncommitted claim must read the winner's row
      // once it commits; a snapshot taken before would make that a 40001.
      { ...transactionOptions, isolation: 'read committed' },
    );
    return { replayed: false, response };
  } catch (err) {
    if (err instanceof Replay) return { replayed: true, response: err.response as T };
    throw err;
  }
}

/**
 * Ends a replay's transaction by rolling it back: it wrote nothing, and one
 * ROLLBACK is a round trip shorter than committing the claim's statement.
 * Not an error, so the transaction runner never retries it.
 */
class Replay {
  constructor(readonly response: unknown) {}
}

function checkKeyPart(argument: 'scope' | 'key', value: unknown): asserts value is string {
  if (typeof value !== 'string') {
    throw new InvalidIdempotencyKeyError(
      `once: ${argument} must be a string of 1 to ${MAX_KEY_CHARS} characters, got ${value === null ? 'null' : typeof value}`,
      { argument },
    );
  }
  const chars = codePoints(value);
  if (chars < 1 || chars > MAX_KEY_CHARS) {
    throw new InvalidIdempotencyKeyError(`once: ${argument} must be 1 to ${MAX_KEY_CHARS} characters, got ${chars}`, { argument });
  }
  if (value.includes('\0')) {
    // PostgreSQL text cannot hold NUL.
    throw new InvalidIdempotencyKeyError(`once: ${argument} must not contain NUL characters`, { argument });
  }
  if (hasUnpairedSurrogate(value)) {
    // UTF-8 cannot encode it: pg would send U+FFFD, and two different keys would become one.
    throw new InvalidIdempotencyKeyError(`once: ${argument} contains a lone UTF-16 surrogate, which cannot be sent to PostgreSQL losslessly`, { argument });
  }
}

/** Characters as PostgreSQL counts them (code points, not UTF-16 units); exact above 255, where it matters. */
function codePoints(value: string): number {
  if (value.length <= MAX_KEY_CHARS) return value.length; // code points <= UTF-16 units
  let n = 0;
  for (const _ of value) n++;
  return n;
}

function requestFingerprint(request: unknown, fingerprint: unknown): string {
  if (fingerprint !== undefined) {
    if (typeof fingerprint !== 'string' || fingerprint === '') {
      throw new RacefreeConfigError('once: option "fingerprint" must be a non-empty string', {
        option: 'fingerprint',
        value: fingerprint,
      });
    }
    return fingerprint;
  }
  if (request === undefined) {
    // Without a fingerprint a reused key could silently replay another request's response.
    throw new RacefreeConfigError('once: give "request" (use null for a request without a body) or "fingerprint"', {
      option: 'request',
    });
  }
  return fingerprintOf(request);
}

function responseJson(response: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(response);
  } catch (err) {
    throw new RacefreeError(`once: the callback's result cannot be stored as JSON: ${(err as Error).message}`, { cause: err });
  }
  return json ?? 'null';
}
