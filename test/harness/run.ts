/**
 * `npm test`: find a PostgreSQL server, migrate one template database, run ava.
 *
 * - `DATABASE_URL` set: use that server. `RACEFREE_TEST_POSTGRES=16` (or 17):
 *   start the pinned PostgreSQL of that major (test/harness/pinned-postgres.ts).
 *   Otherwise start an embedded PostgreSQL 18 for the whole run.
 * - Servers older than PostgreSQL 15 are refused before anything runs.
 * - ava gets `DATABASE_URL` and `RACEFREE_TEST_TEMPLATE`; every test file
 *   clones its own database from the template (see test/helpers/db.ts).
 * - Extra arguments go to ava: `npm test -- dist/test/foo.test.js --match 'x*'`.
 * - Exits with ava's exit code; 130/143 on SIGINT/SIGTERM. The template and
 *   the embedded server are always cleaned up.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import pg from 'pg';

import { assertSupportedServer } from '../../src/server-version.js';
import { startPinnedPostgres, type PinnedPostgres } from './pinned-postgres.js';
import { createTemplateDatabase, startEmbeddedPostgres, type EmbeddedPostgres, type TemplateDatabase } from '../../src/tooling/testing/index.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

let interrupted: NodeJS.Signals | undefined;
let ava: ChildProcess | undefined;

class Interrupted extends Error {}

function checkInterrupted(): void {
  if (interrupted !== undefined) throw new Interrupted(interrupted);
}

function onSignal(signal: NodeJS.Signals): void {
  if (interrupted !== undefined) {
    // Second signal: stop waiting. The embedded server's exit handler still
    // stops it and removes its data directory.
    process.exit(exitCodeOf(signal));
  }
  interrupted = signal;
  if (ava !== undefined && ava.exitCode === null && ava.signalCode === null) ava.kill(signal);
  // Whatever the main flow is waiting for, don't wait for ever.
  setTimeout(() => process.exit(exitCodeOf(signal)), 30_000).unref();
}

async function main(): Promise<number> {
  for (const signal of SIGNALS) process.on(signal, onSignal);

  let server: EmbeddedPostgres | undefined;
  let template: TemplateDatabase | undefined;
  let stopDocker: (() => Promise<void>) | undefined;
  let pinned: PinnedPostgres | undefined;
  const major = process.env['RACEFREE_TEST_POSTGRES'] || undefined;
  try {
    let databaseUrl = process.env['DATABASE_URL'] || undefined;
    let description: string;
    if (databaseUrl === undefined && process.env['RACEFREE_TEST_SERVER'] === 'docker') {
      // For machines with a Docker engine: @databases/pg-test runs PostgreSQL in a container.
      // A CommonJS module: its default export arrives as `.default.default` under NodeNext.
      const pgTest = (await import('@databases/pg-test')).default as unknown as { default: typeof import('@databases/pg-test').default };
      const docker = await pgTest.default();
      stopDocker = docker.kill;
      databaseUrl = docker.databaseURL;
      description = `PostgreSQL in Docker (@databases/pg-test) at ${redact(docker.databaseURL)}`;
    } else if (databaseUrl === undefined && major !== undefined) {
      const started = performance.now();
      pinned = await startPinnedPostgres(major);
      databaseUrl = pinned.connectionString;
      description = `pinned PostgreSQL ${major} (postgres-${major}) at ${redact(databaseUrl)} (started in ${Math.round(performance.now() - started)} ms)`;
    } else if (databaseUrl === undefined) {
      const started = performance.now();
      server = await startEmbeddedPostgres();
      description = `embedded PostgreSQL at 127.0.0.1:${server.port} (started in ${Math.round(performance.now() - started)} ms)`;
      databaseUrl = server.connectionString;
    } else {
      description = `DATABASE_URL ${redact(databaseUrl)}`;
    }
    checkInterrupted();

    const version = await serverVersion(databaseUrl).catch((error: unknown) => {
      throw new Error(`${description}: ${messageOf(error)}`, { cause: error });
    });
    console.log(`racefree tests: ${description}: PostgreSQL ${version}`);
    if (pinned !== undefined && version.split('.')[0] !== major) {
      throw new Error(`RACEFREE_TEST_POSTGRES=${major}, but the pinned server runs PostgreSQL ${version}`);
    }
    checkInterrupted();

    template = await createTemplateDatabase({ connectionString: databaseUrl });
    checkInterrupted();

    const avaStarted = performance.now();
    const code = await runAva({
      ...process.env,
      DATABASE_URL: databaseUrl,
      RACEFREE_TEST_TEMPLATE: template.name,
    });
    // One line per run for CI's summary (.ci/run): the suite's time on this server.
    console.log(`racefree tests: PostgreSQL ${version.split(' ')[0]}: ava took ${Math.round((performance.now() - avaStarted) / 1000)} s`);
    return code;
  } catch (error) {
    if (error instanceof Interrupted) return exitCodeOf(interrupted ?? 'SIGINT');
    if (interrupted !== undefined) return exitCodeOf(interrupted); // e.g. the server went away under us
    console.error(`racefree tests: ${messageOf(error)}`);
    return 1;
  } finally {
    try {
      await template?.drop();
    } catch (error) {
      // An embedded server may already be stopping after a signal, and takes the template with it;
      // a template left on someone's DATABASE_URL server is worth a word.
      if (server === undefined) {
        console.error(`racefree tests: could not drop template ${template?.name}: ${messageOf(error)}`);
      }
    }
    try {
      await stopDocker?.();
      await server?.stop();
      await pinned?.stop();
    } catch (error) {
      console.error(`racefree tests: could not stop the embedded PostgreSQL: ${messageOf(error)}`);
    }
  }
}

/** Refuse servers older than 15; returns the `server_version` text. */
async function serverVersion(databaseUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await assertSupportedServer(client);
    const { rows } = await client.query<{ version: string }>("select current_setting('server_version') as version");
    return rows[0]?.version ?? 'unknown';
  } finally {
    await client.end().catch(() => undefined);
  }
}

function runAva(env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [avaCli(), ...process.argv.slice(2)], {
      stdio: 'inherit',
      env,
    });
    ava = child;
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      ava = undefined;
      if (interrupted !== undefined) resolve(exitCodeOf(interrupted));
      else resolve(code ?? (signal === null ? 1 : exitCodeOf(signal)));
    });
  });
}

/** ava's CLI script, found through ava's package.json (which its exports map does not expose). */
function avaCli(): string {
  for (let dir = dirname(fileURLToPath(import.meta.resolve('ava'))); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as {
        name?: string;
        bin?: string | Record<string, string>;
      };
      if (pkg.name === 'ava') {
        const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.['ava'];
        if (bin === undefined) throw new Error(`${manifest} names no ava binary`);
        return join(dir, bin);
      }
    }
    if (dirname(dir) === dir) throw new Error('ava is not installed (run npm ci)');
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function exitCodeOf(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/** The URL without its password, for printing. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
