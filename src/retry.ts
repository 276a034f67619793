/**
 * Attempt bookkeeping for transaction retries: full-jitter exponential
 * backoff, bounded by a number of attempts and a deadline, interruptible by an
 * AbortSignal between attempts. It knows nothing about databases; the caller
 * says which errors may be retried.
 * @internal
 */

import { AbortedError } from './errors/classes.js';

/** @internal */
export interface RetryPolicy {
  /** Attempts in all, the first included; at least 1. */
  readonly maxAttempts: number;
  /** No attempt starts later than this many ms after the first one started. */
  readonly deadlineMs: number | undefined;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly signal: AbortSignal | undefined;
  readonly shouldRetry: (err: unknown) => boolean;
  readonly onRetry: ((err: unknown, attempt: number, delayMs: number) => void) | undefined;
  /** Injectable for tests. */
  readonly random?: () => number;
  readonly now?: () => number;
}

/**
 * Full jitter: uniform in [0, min(cap, base * 2^retry)). Spreads colliding
 * transactions apart instead of letting them retry in lockstep.
 * @internal
 */
export function fullJitterDelay(retry: number, baseMs: number, capMs: number, random: () => number): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** retry));
}

/**
 * Run `attempt` until it succeeds, throws something `shouldRetry` refuses, or
 * the attempts or the deadline run out; then the last error is thrown as is.
 * @throws {AbortedError} when `signal` aborts before an attempt or during a backoff.
 * @internal
 */
export async function withRetry<T>(attempt: (n: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  const now = policy.now ?? Date.now;
  const random = policy.random ?? Math.random;
  const start = now();
  let lastError: unknown = undefined;
  for (let n = 1; ; n++) {
    if (policy.signal?.aborted === true) {
      throw new AbortedError({ cause: policy.signal.reason, lastError });
    }
    try {
      return await attempt(n);
    } catch (err) {
      if (n >= policy.maxAttempts || !policy.shouldRetry(err)) throw err;
      const delay = fullJitterDelay(n - 1, policy.baseDelayMs, policy.maxDelayMs, random);
      if (policy.deadlineMs !== undefined && now() + delay - start >= policy.deadlineMs) throw err;
      lastError = err;
      policy.onRetry?.(err, n, delay);
      await sleep(delay, policy.signal, lastError);
    }
  }
}

/** Resolve after `ms`, or reject with AbortedError as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined, lastError: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new AbortedError({ cause: signal.reason, lastError }));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError({ cause: signal?.reason, lastError }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
