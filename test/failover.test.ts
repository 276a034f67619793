/**
 * An ambiguous commit across a failover: a primary and a streaming replica of
 * this file's own (the machine's PostgreSQL binaries, initdb on free ports),
 * the primary stopped (immediate) while a COMMIT is in flight, the replica
 * promoted, and the client's connection settings pointed at it, as DNS or a
 * proxy would after a failover. The promoted server may hand the lost xid to
 * another transaction, so the client must answer "unknown", never read
 * `pg_xact_status()` there.
 */

import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';
import pg from 'pg';

import { CommitOutcomeUnknownError, createClient } from '../src/index.js';
import { blockedBy, tracked } from './helpers/blocking.js';
import { freePort } from './helpers/pgbouncer.js';

const run = promisify(execFile);

/** The newest PostgreSQL installed from the OS packages (Debian: /usr/lib/postgresql/<major>/bin). */
function binDir(): string {
  const base = '/usr/lib/postgresql';
  const majors = existsSync(base) ? readdirSync(base).filter((d) => existsSync(path.join(base, d, 'bin', 'pg_basebackup'))) : [];
  if (majors.length === 0) throw new Error('this test needs PostgreSQL server binaries with pg_basebackup (apt-get install postgresql)');
  return path.join(base, majors.sort((a, b) => Number(b) - Number(a))[0]!, 'bin');
}

let dir: string;
let bin: string;
let as: { uid?: number; gid?: number } = {};
const ports = { primary: 0, replica: 0 };
const data = (name: 'primary' | 'replica') => path.join(dir, name);
const url = (port: number) => `postgres://postgres@127.0.0.1:${port}/postgres`;

async function pgCtl(name: 'primary' | 'replica', ...args: string[]): Promise<void> {
  await run(path.join(bin, 'pg_ctl'), ['-D', data(name), ...args], as);
}

async function start(name: 'primary' | 'replica', port: number): Promise<void> {
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off`;
  await pgCtl(name, '-w', '-l', path.join(dir, `${name}.log`), '-o', options, 'start');
}

test.before(async () => {
  bin = binDir();
  dir = await mkdtemp(path.join(tmpdir(), 'racefree-failover-'));
  await chmod(dir, 0o755);
  if (process.getuid?.() === 0) {
    as = { uid: Number((await run('id', ['-u', 'postgres'])).stdout), gid: Number((await run('id', ['-g', 'postgres'])).stdout) };
    await chown(dir, as.uid!, as.gid!);
  }
  ports.primary = await freePort();
  ports.replica = await freePort();
  await run(path.join(bin, 'initdb'), ['-D', data('primary'), '-A', 'trust', '-U', 'postgres', '--no-sync'], as);
  await start('primary', ports.primary);
  const admin = new pg.Client({ connectionString: url(ports.primary) });
  await admin.connect();
  await admin.query(`
    CREATE TABLE gated (id text PRIMARY KEY);
    CREATE FUNCTION gate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_xact_lock(hashtext(NEW.id)); RETURN NULL; END $$;
    CREATE CONSTRAINT TRIGGER gated_commit AFTER INSERT ON gated
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gate();
  `);
  await admin.end();
  await run(
    path.join(bin, 'pg_basebackup'),
    ['-h', '127.0.0.1', '-p', String(ports.primary), '-U', 'postgres', '-D', data('replica'), '-R', '-X', 'stream'],
    as,
  );
  await start('replica', ports.replica);
});

test.after.always(async () => {
  for (const name of ['primary', 'replica'] as const) await pgCtl(name, '-m', 'immediate', 'stop').catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('failover to a promoted replica during COMMIT: CommitOutcomeUnknownError, never "committed"', async (t) => {
  const holder = new pg.Client({ connectionString: url(ports.primary) });
  holder.on('error', () => undefined);
  await holder.connect();
  await holder.query("SELECT pg_advisory_lock(hashtext('failover'))");
  const observer = new pg.Client({ connectionString: url(ports.primary) });
  observer.on('error', () => undefined);
  await observer.connect();

  const pool = new pg.Pool({ connectionString: url(ports.primary), max: 1 });
  pool.on('error', () => undefined);
  let pid = 0;
  pool.on('acquire', (client) => (pid = (client as unknown as { processID: number }).processID));
  const db = createClient({ pool, commitOutcomeTimeoutMs: 30_000 });
  try {
    const running = tracked(db.transaction((tx) => tx.query("INSERT INTO gated VALUES ('failover')")));
    while (pid === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    await blockedBy(observer, pid, running.settled);

    // The primary goes down with the COMMIT in flight; the replica takes over and the
    // service's connection settings now lead to it.
    await pgCtl('primary', '-m', 'immediate', 'stop');
    await pgCtl('replica', '-w', 'promote');
    (pool as unknown as { options: { port: number; connectionString?: string } }).options.port = ports.replica;
    (pool as unknown as { options: { connectionString?: string } }).options.connectionString = url(ports.replica);

    const error = await t.throwsAsync(running.promise, { instanceOf: CommitOutcomeUnknownError });
    // A promoted server has its own postmaster start, and a new timeline once its first checkpoint is done.
    t.true(error?.reason === 'failover' || error?.reason === 'server-restarted', error?.reason);
    t.log(`reason: ${error?.reason}`);
    const promoted = new pg.Client({ connectionString: url(ports.replica) });
    await promoted.connect();
    try {
      t.is((await promoted.query("SELECT 1 FROM gated WHERE id = 'failover'")).rowCount, 0, 'the row did not survive the failover');
      t.false((await promoted.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]!.r);
    } finally {
      await promoted.end();
    }
  } finally {
    await holder.end().catch(() => undefined);
    await observer.end().catch(() => undefined);
    await pool.end();
  }
});
