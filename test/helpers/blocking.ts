import type pg from 'pg';

/** The backend pid of a connected client. */
export async function pidOf(client: pg.ClientBase): Promise<number> {
  return (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
}

/**
 * Wait until backend `pid` waits for a lock held by another backend, and
 * return the blockers: the deterministic way to know a statement sent on
 * another connection has reached its lock wait. `settled` stops the wait
 * when that statement finished (or failed) instead of blocking.
 */
export async function blockedBy(observer: pg.ClientBase, pid: number, settled: () => boolean = () => false): Promise<number[]> {
  for (;;) {
    if (settled()) throw new Error(`backend ${pid} finished instead of waiting for a lock`);
    const { rows } = await observer.query<{ b: number[] }>('SELECT pg_blocking_pids($1) AS b', [pid]);
    if (rows[0]!.b.length > 0) return rows[0]!.b;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Wait until backend `pid` waits for `holder` in particular. For a backend
 * that may first wait, briefly, for others (CREATE INDEX CONCURRENTLY waits
 * for every snapshot older than its own, a short query's included).
 */
export async function blockedByHolder(observer: pg.ClientBase, pid: number, holder: number, settled: () => boolean = () => false): Promise<void> {
  while (!(await blockedBy(observer, pid, settled)).includes(holder)) await new Promise((resolve) => setImmediate(resolve));
}

/** Track whether a promise has settled, without handling its outcome. */
export function tracked<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  return { promise, settled: () => done };
}
