/**
 * A PgBouncer of the test's own in front of a PostgreSQL server: own config
 * file, own free port, its own process, removed by `stop()`. Needs the
 * `pgbouncer` binary (Debian: `apt-get install pgbouncer`); without it
 * `startPgBouncer` throws, so a pooler test fails instead of skipping.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PgBouncer {
  /** The upstream URL with host and port replaced by the pooler's. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export interface PgBouncerOptions {
  /** The server behind the pooler, a postgres:// URL on 127.0.0.1 (user and password are used for server logins). */
  readonly upstream: string;
  readonly poolMode?: 'transaction' | 'session';
  /** Server connections per database and user. Default 5. */
  readonly poolSize?: number;
}

const BINARY_CANDIDATES = ['pgbouncer', '/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'];

function binary(): string {
  for (const candidate of BINARY_CANDIDATES) {
    if (spawnSync(candidate, ['--version'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  throw new Error('pgbouncer is not installed: apt-get install -y pgbouncer (the pooler tests need a real PgBouncer)');
}

/** The pooler's URL from the environment (set by .ci/run), or a PgBouncer of this process in front of `upstream`. */
export async function pgBouncerFor(upstream: string, env = 'RACEFREE_TEST_PGBOUNCER_URL'): Promise<PgBouncer> {
  const given = process.env[env];
  if (given !== undefined && given !== '') {
    return { url: given, port: Number(new URL(given).port), stop: async () => undefined };
  }
  return startPgBouncer({ upstream });
}

/** Point `url` (any database) at the pooler, keeping user, password and database. */
export function throughPooler(url: string, pooler: PgBouncer): string {
  const target = new URL(url);
  const via = new URL(pooler.url);
  target.hostname = via.hostname;
  target.port = via.port;
  return target.toString();
}

export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const bin = binary();
  const upstream = new URL(options.upstream);
  const user = decodeURIComponent(upstream.username || 'postgres');
  const password = decodeURIComponent(upstream.password);
  const dir = await mkdtemp(join(tmpdir(), 'racefree-pgbouncer-'));
  // As root pgbouncer runs as the postgres user (-u), which must read the config.
  await chmod(dir, 0o755);
  const port = await freePort();
  const quote = (s: string): string => `"${s.replaceAll('"', '""')}"`;
  await writeFile(join(dir, 'userlist.txt'), `${quote(user)} ${quote(password)}\n`, { mode: 0o644 });
  await writeFile(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      // Any database name: tests clone databases with random names.
      `* = host=${upstream.hostname} port=${upstream.port || '5432'}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `pool_mode = ${options.poolMode ?? 'transaction'}`,
      `default_pool_size = ${options.poolSize ?? 5}`,
      'max_client_conn = 1000',
      'max_db_connections = 0',
      'ignore_startup_parameters = extra_float_digits,options',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn(bin, [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const exited = once(child, 'exit');
  try {
    await listening(port, child);
  } catch (error) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`pgbouncer did not start: ${stderr.trim() || String(error)}`);
  }
  const url = new URL(options.upstream);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  let stopping: Promise<void> | undefined;
  return {
    url: url.toString(),
    port,
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGINT');
          await exited;
        }
        await rm(dir, { recursive: true, force: true });
      })()),
  };
}

async function listening(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error('not listening after 10 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
