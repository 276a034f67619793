import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { runner, type RunnerOption } from 'node-pg-migrate';
import { RacefreeConfigError, wrapError } from '../errors.js';
import { assertSupportedServer } from '../server-version.js';
import { quoteQualified } from '../quote.js';
import { registeredObjects, type RegisteredObject } from './registry.js';

/** Options of {@link migrate} and {@link migrationStatus}. */
export interface MigrateOptions {
  /** Server to migrate; default `process.env.DATABASE_URL`. */
  readonly databaseUrl?: string;
  /** Directory of the user's node-pg-migrate migrations (`.js`, `.sql`); default `migrations`. `false`: kit lane only. */
  readonly dir?: string | false;
  /** `up` (default): pending kit migrations, then pending user migrations. `down`: the user's last `count`. */
  readonly direction?: 'up' | 'down';
  /** `down`: how many user migrations to roll back (default 1). `up`: at most this many user migrations. */
  readonly count?: number;
  /** The user's migrations table (default `pgmigrations`, node-pg-migrate's default), in `migrationsSchema`. */
  readonly migrationsTable?: string;
  /** Schema of the user's migrations table (default `public`). */
  readonly migrationsSchema?: string;
  /** Progress lines; silent when omitted. */
  readonly log?: (line: string) => void;
}

/** What {@link migrate} ran, by lane, in order. */
export interface MigrateResult {
  readonly kit: readonly string[];
  readonly user: readonly string[];
}

/** Applied and pending migrations of one lane. */
export interface LaneStatus {
  readonly applied: readonly string[];
  readonly pending: readonly string[];
}

/** The kit's own migrations, shipped in the package. @internal */
export const KIT_DIR = fileURLToPath(new URL('../../../migrations', import.meta.url));
/** Schema of the kit lane's table. @internal */
export const KIT_SCHEMA = 'racefree';
/** The kit lane's table, as node-pg-migrate makes it. @internal */
export const KIT_TABLE = 'kit_migrations';
/** Session advisory lock serializing racefree migrators: the bytes of "racefree". @internal */
export const LOCK_KEY = '8241978080226338149';

interface Lane {
  readonly name: 'kit' | 'user';
  readonly dir: string;
  readonly schema: string;
  readonly table: string;
}

function lanes(options: MigrateOptions): { kit: Lane; user: Lane | undefined } {
  const kit: Lane = { name: 'kit', dir: KIT_DIR, schema: KIT_SCHEMA, table: KIT_TABLE };
  if (options.dir === false) return { kit, user: undefined };
  const user: Lane = {
    name: 'user',
    dir: path.resolve(options.dir ?? 'migrations'),
    schema: options.migrationsSchema ?? 'public',
    table: options.migrationsTable ?? 'pgmigrations',
  };
  return { kit, user };
}

function connectionString(options: MigrateOptions): string {
  const url = options.databaseUrl ?? process.env.DATABASE_URL;
  if (!url) {
    throw new RacefreeConfigError('migrate: no database: pass databaseUrl (--database-url) or set DATABASE_URL', {
      option: 'databaseUrl',
      value: url,
    });
  }
  return url;
}

/** Connect, check the server, and hold racefree's migration lock while `work` runs. */
async function withMigrationLock<T>(options: MigrateOptions, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: connectionString(options) });
  await client.connect();
  try {
    await assertSupportedServer(client);
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [
      LOCK_KEY,
    ]);
    if (!rows[0]?.locked) {
      options.log?.('waiting: another migration holds the lock');
      await client.query('SELECT pg_advisory_lock($1::bigint)', [LOCK_KEY]);
    }
    try {
      return await work(client);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    await client.end();
  }
}

async function runLane(
  client: pg.Client,
  lane: Lane,
  direction: 'up' | 'down',
  count: number | undefined,
  log: ((line: string) => void) | undefined,
): Promise<string[]> {
  const say = (line: string) => log?.(`[${lane.name}] ${line}`);
  const options: RunnerOption = {
    dbClient: client,
    dir: lane.dir,
    migrationsSchema: lane.schema,
    migrationsTable: lane.table,
    createMigrationsSchema: true,
    direction,
    ...(count === undefined ? {} : { count }),
    // racefree's own lock already serializes migrators.
    noLock: true,
    logger: { debug: () => undefined, info: say, warn: say, error: () => undefined },
  };
  try {
    const ran = await runner(options);
    return ran.map((m) => m.name);
  } catch (error) {
    // A failed migration leaves its transaction open on this connection.
    await client.query('ROLLBACK').catch(() => undefined);
    throw wrapError(error);
  }
}

/**
 * Whether the user's migrations directory exists. The default `migrations`
 * may be absent (kit lane only); a directory the caller named must exist.
 */
async function userDirExists(lane: Lane, options: MigrateOptions): Promise<boolean> {
  const found = await stat(lane.dir).then((s) => s.isDirectory(), () => false);
  if (!found && options.dir !== undefined) {
    throw new RacefreeConfigError(`migrate: migrations directory ${options.dir} does not exist`, { option: 'dir', value: options.dir });
  }
  if (!found) options.log?.(`[user] no ${path.relative(process.cwd(), lane.dir) || lane.dir} directory: kit migrations only`);
  return found;
}

/**
 * Apply pending kit migrations (schema `racefree`, tracked in
 * `racefree.kit_migrations`), then the user's (tracked in `pgmigrations`), or
 * roll back the user's last `count` with `direction: 'down'`. Concurrent
 * callers queue on an advisory lock; each migration is its own transaction.
 *
 * @example
 * ```ts
 * import { migrate } from 'racefree/migrate';
 * await migrate({ databaseUrl: process.env.DATABASE_URL, dir: 'migrations' });
 * ```
 * @throws {RacefreeConfigError} without a database URL, on PostgreSQL before 15,
 *   or when a builder's configuration is rejected by the database.
 * @throws {RacefreeError} (a subclass by SQLSTATE) when a migration fails; it is rolled back.
 */
export async function migrate(options: MigrateOptions = {}): Promise<MigrateResult> {
  const { kit, user } = lanes(options);
  const direction = options.direction ?? 'up';
  return withMigrationLock(options, async (client) => {
    if (direction === 'down') {
      if (!user || !(await userDirExists(user, options))) return { kit: [], user: [] };
      return { kit: [], user: await runLane(client, user, 'down', options.count ?? 1, options.log) };
    }
    // A named directory that is missing fails before anything is applied.
    const withUser = user !== undefined && (await userDirExists(user, options));
    const kitRan = await runLane(client, kit, 'up', undefined, options.log);
    const userRan = withUser ? await runLane(client, user, 'up', options.count, options.log) : [];
    return { kit: kitRan, user: userRan };
  });
}

/** Migration names (file names without extension) in `dir`, in run order; none when it does not exist. @internal */
export async function migrationNames(dir: string): Promise<string[]> {
  const files = await readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  return files
    .filter((f) => (f.isFile() || f.isSymbolicLink()) && !f.name.startsWith('.') && !f.name.endsWith('.d.ts') && !f.name.endsWith('.map'))
    .map((f) => f.name.slice(0, f.name.length - path.extname(f.name).length))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

async function laneStatus(client: pg.Client, lane: Lane): Promise<LaneStatus> {
  const names = await migrationNames(lane.dir);
  const exists = await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [
    quoteQualified(lane.schema, lane.table),
  ]);
  const applied = exists.rows[0]?.t
    ? (await client.query<{ name: string }>(`SELECT name FROM ${quoteQualified(lane.schema, lane.table)} ORDER BY run_on, id`)).rows.map(
        (r) => r.name,
      )
    : [];
  const done = new Set(applied);
  return { applied, pending: names.filter((n) => !done.has(n)) };
}

/**
 * Applied and pending migrations of both lanes, and the objects the builders
 * generated with the generator version of each, without changing anything.
 * @throws {RacefreeConfigError} without a database URL or on PostgreSQL before 15.
 */
export async function migrationStatus(
  options: MigrateOptions = {},
): Promise<{ kit: LaneStatus; user: LaneStatus | undefined; generated: RegisteredObject[] }> {
  const { kit, user } = lanes(options);
  const client = new pg.Client({ connectionString: connectionString(options) });
  await client.connect();
  try {
    await assertSupportedServer(client);
    return {
      kit: await laneStatus(client, kit),
      user: user ? await laneStatus(client, user) : undefined,
      generated: await registeredObjects(client),
    };
  } finally {
    await client.end();
  }
}
