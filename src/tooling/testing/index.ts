/**
 * `racefree/testing`: disposable PostgreSQL databases for tests.
 *
 * The pattern: migrate one *template* database once, then give every test
 * file (or test) its own `CREATE DATABASE … TEMPLATE` clone, which takes tens
 * of milliseconds and needs no cleanup between tests because nothing is shared.
 *
 * @example A test run against a throwaway server
 * ```ts
 * import { startEmbeddedPostgres, createTemplateDatabase, createTestDatabase } from 'racefree/testing';
 *
 * const server = await startEmbeddedPostgres();            // PostgreSQL 18, free port, temp dir
 * const template = await createTemplateDatabase({ connectionString: server.connectionString });
 * const db = await createTestDatabase({ connectionString: server.connectionString, template: template.name });
 * // … use db.connectionString …
 * await db.drop();
 * await template.drop();
 * await server.stop();
 * ```
 *
 * @example In an ava test file, with `DATABASE_URL` (and optionally `RACEFREE_TEST_TEMPLATE`) set
 * ```ts
 * import test from 'ava';
 * import { createTestDatabase, type TestDatabase } from 'racefree/testing';
 *
 * let db: TestDatabase;
 * test.before(async () => { db = await createTestDatabase(); });
 * test.after.always(async () => { await db.drop(); });
 * ```
 * @module
 */

import { randomBytes } from 'node:crypto';

import pg from 'pg';

import { withDatabase } from '../database-url.js';
import { RacefreeConfigError, RacefreeError } from '../../errors/classes.js';
import { migrate } from '../../migrate/index.js';
import { quoteIdent } from '../../quote.js';

export { startEmbeddedPostgres } from './embedded.js';
export type { EmbeddedPostgres, EmbeddedPostgresOptions } from './embedded.js';

/** Options of {@link createTemplateDatabase}. */
export interface CreateTemplateDatabaseOptions {
  /** Any database on the server, used to run `CREATE DATABASE`; the role needs CREATEDB. */
  connectionString: string;
  /** Default: `racefree_test_template_<8 hex digits>`. */
  name?: string;
  /**
   * Brings the new, empty database up to date. Default: the racefree kit's
   * own migrations (`migrate({ databaseUrl, dir: false })` from `racefree/migrate`).
   * Pass your own to add your application's migrations. Must close every
   * connection it opened before resolving.
   */
  migrate?: (databaseUrl: string) => Promise<void>;
}

/** A migrated database marked as a template, as returned by {@link createTemplateDatabase}. */
export interface TemplateDatabase {
  readonly name: string;
  /**
   * URL of the template itself. Nobody can connect while it is a template
   * (it is created with `ALLOW_CONNECTIONS false`, so that no stray session
   * can make cloning fail); kept for reference and tooling.
   */
  readonly connectionString: string;
  /** Unmark and drop the template (`WITH (FORCE)`). Idempotent. Clones are unaffected. */
  drop(): Promise<void>;
}

/** Options of {@link createTestDatabase}. */
export interface CreateTestDatabaseOptions {
  /** Any database on the server. Default: `process.env.DATABASE_URL`. */
  connectionString?: string;
  /**
   * Name of the template database to clone. Default:
   * `process.env.RACEFREE_TEST_TEMPLATE`; when that is unset too, a template
   * migrated with the kit's migrations is created once per process and
   * connection string, and dropped when the process is about to exit.
   */
  template?: string;
}

/** A disposable database, as returned by {@link createTestDatabase}. */
export interface TestDatabase {
  /** `racefree_test_<16 hex digits>` */
  readonly name: string;
  /** The server's connection string with the database replaced by this one. */
  readonly connectionString: string;
  /** `DROP DATABASE … WITH (FORCE)`, which ends any session still connected. Idempotent. */
  drop(): Promise<void>;
}

/**
 * Create a database, migrate it and mark it as a template for
 * {@link createTestDatabase}. On failure the half-made database is dropped.
 *
 * @example
 * ```ts
 * const template = await createTemplateDatabase({
 *   connectionString: process.env.DATABASE_URL!,
 *   migrate: async (databaseUrl) => {
 *     await migrate({ databaseUrl, dir: 'migrations' }); // kit + your migrations
 *   },
 * });
 * process.env.RACEFREE_TEST_TEMPLATE = template.name;
 * ```
 */
export async function createTemplateDatabase(options: CreateTemplateDatabaseOptions): Promise<TemplateDatabase> {
  const serverUrl = options.connectionString;
  const name = options.name ?? `racefree_test_template_${randomBytes(4).toString('hex')}`;
  const connectionString = withDatabase(serverUrl, name);
  const migrateDatabase = options.migrate ?? migrateWithKit;

  await withAdmin(serverUrl, `create template database ${name}`, (client) => client.query(`CREATE DATABASE ${quoteIdent(name)}`));
  const drop = memoize(() =>
    withAdmin(serverUrl, `drop template database ${name}`, async (client) => {
      try {
        await client.query(`ALTER DATABASE ${quoteIdent(name)} WITH IS_TEMPLATE false`);
      } catch (error) {
        if (sqlState(error) !== '3D000') throw error; // invalid_catalog_name: already gone
      }
      await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
    }),
  );
  try {
    await migrateDatabase(connectionString);
    await withAdmin(serverUrl, `mark ${name} as a template`, async (client) => {
      await client.query(`ALTER DATABASE ${quoteIdent(name)} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`);
      // Sessions a migrate function leaked would make every clone fail with 55006.
      await client.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
    });
  } catch (error) {
    await drop().catch(() => undefined);
    throw error instanceof RacefreeError
      ? error
      : new RacefreeError(`Could not prepare template database ${name}: ${messageOf(error)}`, {
          code: sqlState(error),
          cause: error,
        });
  }
  return { name, connectionString, drop };
}

/**
 * Clone a fresh, uniquely named database from a template.
 *
 * Without a `template` (option or `RACEFREE_TEST_TEMPLATE`) it migrates a
 * template itself, once per process, so that a single test file also runs
 * directly: `DATABASE_URL=… npx ava dist/test/foo.test.js`.
 *
 * Cloning is retried a few times when the template is busy (SQLSTATE 55006,
 * "source database is being accessed by other users").
 *
 * @throws RacefreeConfigError when neither `connectionString` nor `DATABASE_URL` is set.
 *
 * @example
 * ```ts
 * const db = await createTestDatabase();   // DATABASE_URL, RACEFREE_TEST_TEMPLATE
 * const pool = new pg.Pool({ connectionString: db.connectionString });
 * try {
 *   // …
 * } finally {
 *   await pool.end();
 *   await db.drop();
 * }
 * ```
 */
export async function createTestDatabase(options: CreateTestDatabaseOptions = {}): Promise<TestDatabase> {
  const serverUrl = options.connectionString ?? nonEmpty(process.env['DATABASE_URL']);
  if (serverUrl === undefined) {
    throw new RacefreeConfigError(
      'createTestDatabase needs a PostgreSQL server: set DATABASE_URL, pass connectionString, ' +
        'or start one with startEmbeddedPostgres() from racefree/testing',
      { option: 'connectionString' },
    );
  }
  const template = options.template ?? nonEmpty(process.env['RACEFREE_TEST_TEMPLATE']) ?? (await processTemplate(serverUrl)).name;
  const name = `racefree_test_${randomBytes(8).toString('hex')}`;
  const connectionString = withDatabase(serverUrl, name);

  await withAdmin(serverUrl, `create test database ${name} from template ${template}`, async (client) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}`);
        return;
      } catch (error) {
        const code = sqlState(error);
        if (code === '55006' && attempt < CLONE_ATTEMPTS) {
          await sleep(50 * 2 ** attempt + Math.random() * 50);
          continue;
        }
        if (code === '3D000') {
          throw new RacefreeConfigError(`Template database ${template} does not exist`, {
            option: 'template',
            value: template,
            code,
            cause: error,
          });
        }
        throw error;
      }
    }
  });

  const drop = memoize(() =>
    withAdmin(serverUrl, `drop test database ${name}`, (client) => client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`)),
  );
  return { name, connectionString, drop };
}

/** Connection attempts while the server reports too many clients (53300): about 5 s in all. */
const CONNECT_ATTEMPTS = 10;

/** CREATE DATABASE itself already waits up to 5 s for the template to be free, per attempt. */
const CLONE_ATTEMPTS = 6;

function migrateWithKit(databaseUrl: string): Promise<void> {
  return migrate({ databaseUrl, dir: false }).then(() => undefined);
}

// ---------------------------------------------------------------------------
// The per-process template of createTestDatabase()

const processTemplates = new Map<string, Promise<TemplateDatabase>>();
let dropOnExitRegistered = false;

function processTemplate(serverUrl: string): Promise<TemplateDatabase> {
  let template = processTemplates.get(serverUrl);
  if (template === undefined) {
    template = createTemplateDatabase({ connectionString: serverUrl });
    processTemplates.set(serverUrl, template);
    template.catch(() => processTemplates.delete(serverUrl));
    if (!dropOnExitRegistered) {
      dropOnExitRegistered = true;
      // 'beforeExit' runs when the event loop is empty and may start async work.
      process.once('beforeExit', () => {
        void dropProcessTemplates();
      });
    }
  }
  return template;
}

async function dropProcessTemplates(): Promise<void> {
  const templates = [...processTemplates.values()];
  processTemplates.clear();
  await Promise.allSettled(templates.map(async (template) => (await template).drop()));
}

// ---------------------------------------------------------------------------
// helpers

/** Run `fn` on a short-lived connection; errors become RacefreeErrors saying what was attempted. */
async function withAdmin<T>(connectionString: string, action: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  let client = new pg.Client({ connectionString });
  try {
    // A busy test server may be out of connection slots (53300) for a moment.
    for (let attempt = 1; ; attempt++) {
      // An idle connection that the server closes (e.g. shutdown) must not crash the process.
      client.on('error', () => undefined);
      try {
        await client.connect();
        break;
      } catch (error) {
        if (sqlState(error) !== '53300' || attempt >= CONNECT_ATTEMPTS) throw error;
        await client.end().catch(() => undefined);
        await sleep(100 * attempt + Math.random() * 100);
        client = new pg.Client({ connectionString });
      }
    }
    return await fn(client);
  } catch (error) {
    if (error instanceof RacefreeError) throw error;
    throw new RacefreeError(`Could not ${action}: ${messageOf(error)}`, {
      code: sqlState(error),
      cause: error,
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Share one run of `fn` between all callers; after a failure the next call tries again. */
function memoize(fn: () => Promise<unknown>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () =>
    (running ??= fn().then(
      () => undefined,
      (error: unknown) => {
        running = undefined;
        throw error;
      },
    ));
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
