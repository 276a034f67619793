import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { runner, type RunnerOption } from 'node-pg-migrate';
import { connectClient } from '../connect.js';
import { RacefreeConfigError } from '../errors/classes.js';
import { wrapError } from '../errors/from-pg.js';
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

/** What `racefree migrate` says when its connection is not one stable session. */
export const POOLER_MESSAGE =
  "racefree migrate needs a direct connection to PostgreSQL, not a transaction pooler: point --database-url (or DATABASE_URL) at the server, or use the pooler's session mode";

/** A session-level setting only this migrator's session holds. */
const SESSION_SETTING = 'racefree.migrate_session';
const SESSION_ROUNDS = 3;
/** A waiting migrator tries the lock again after 50 ms, backing off to 400 ms (with jitter). */
const LOCK_POLL_MS = 50;
const LOCK_POLL_MAX_MS = 400;

function poolerError(detail: string): RacefreeConfigError {
  return new RacefreeConfigError(POOLER_MESSAGE, { option: 'databaseUrl', value: detail });
}

interface SessionRow {
  pid: number;
  token: string | null;
}

/**
 * Prove that `client` is one server session, as migrations need (session
 * state, `CREATE INDEX CONCURRENTLY` outside a transaction, one writer at a
 * time), before anything is changed. A transaction pooler hands each
 * transaction any server connection: then a second connection sees this
 * one's backend or session setting, or this one's backend changes.
 * Returns the check to repeat later.
 */
async function assertOneSession(client: pg.Client, url: string): Promise<() => Promise<void>> {
  const token = randomBytes(12).toString('hex');
  const read = `SELECT pg_backend_pid() AS pid, current_setting('${SESSION_SETTING}', true) AS token`;
  const probe = await connectClient(url, 'racefree migrate probe');
  let mine: SessionRow | undefined;
  try {
    for (let round = 0; round < SESSION_ROUNDS; round++) {
      const before = (await client.query<SessionRow>(`SELECT pg_backend_pid() AS pid, set_config('${SESSION_SETTING}', $1, false) AS token`, [token])).rows[0]!;
      mine ??= before;
      // At once, and in a transaction that keeps its server connection while this one is idle:
      // a pooler that just took this one's server connection back lends it out next.
      const results = (await probe.query(`BEGIN; ${read}`)) as unknown as Array<{ rows: SessionRow[] }>;
      const other = results[1]!.rows[0]!;
      const after = (await client.query<SessionRow>(read)).rows[0]!;
      await probe.query('ROLLBACK');
      if (other.pid === mine.pid || other.token === token) throw poolerError('another connection was given this session');
      if (before.pid !== mine.pid || after.pid !== mine.pid || after.token !== token) {
        throw poolerError('the server session changed between transactions');
      }
    }
  } finally {
    await probe.end().catch(() => undefined);
  }
  const first = mine!;
  return async () => {
    const now = (await client.query<SessionRow>(read)).rows[0]!;
    if (now.pid !== first.pid || now.token !== token) throw poolerError('the server session changed between transactions');
  };
}

/**
 * Take racefree's migration lock on a connection of its own, as a
 * transaction-level lock in a transaction left open until the run ends: it
 * is released when that transaction or connection ends, whatever sits in
 * between, so no lock can outlive its migrator or end up held by another
 * client's pooled backend. A waiting migrator polls on a new connection each
 * time and holds none while it waits, so waiters never take the server
 * connections a pooler has from the migrator that holds the lock.
 */
async function takeLock(url: string, log: ((line: string) => void) | undefined): Promise<pg.Client> {
  for (let attempt = 0; ; attempt++) {
    const lock = await connectClient(url, 'racefree migrate lock');
    try {
      await lock.query('BEGIN');
      // An idle-in-transaction timeout would end the lock's transaction mid-run.
      await lock.query('SET LOCAL idle_in_transaction_session_timeout = 0');
      const { rows } = await lock.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1::bigint) AS locked', [LOCK_KEY]);
      if (rows[0]?.locked) return lock;
    } catch (error) {
      await lock.end().catch(() => undefined);
      throw wrapError(error);
    }
    await lock.end().catch(() => undefined);
    if (attempt === 0) log?.('waiting: another migration holds the lock');
    const pause = Math.min(LOCK_POLL_MAX_MS, LOCK_POLL_MS * 2 ** Math.min(attempt, 4));
    await new Promise((resolve) => setTimeout(resolve, pause / 2 + Math.random() * (pause / 2)));
  }
}

/**
 * Take racefree's migration lock, then connect, check the server and the
 * session, and hold the lock while `work` runs. The session is checked once
 * the lock is held, while other migrators only poll, so a pooler's lending of
 * server connections shows plainly; nothing has been changed by then.
 */
async function withMigrationLock<T>(options: MigrateOptions, work: (client: pg.Client, check: () => Promise<void>) => Promise<T>): Promise<T> {
  const url = connectionString(options);
  const lock = await takeLock(url, options.log);
  let client: pg.Client | undefined;
  try {
    client = await connectClient(url, 'racefree migrate');
    await assertSupportedServer(client);
    const check = await assertOneSession(client, url);
    // The lock lives as long as its connection: a run whose lock connection died must stop.
    const checkBoth = async (): Promise<void> => {
      await check();
      await lock.query('SELECT 1');
    };
    await checkBoth();
    const result = await work(client, checkBoth);
    await checkBoth();
    return result;
  } catch (error) {
    throw wrapError(error);
  } finally {
    await client?.end().catch(() => undefined);
    await lock.query('ROLLBACK').catch(() => undefined);
    await lock.end().catch(() => undefined);
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
  // What a step waits for (racefree_internal._lock_with_retries) reaches the person running it.
  const onNotice = (notice: { message?: string }) => {
    if (notice.message?.startsWith('waiting: ')) say(notice.message);
  };
  client.on('notice', onNotice);
  try {
    const ran = await runner(options);
    return ran.map((m) => m.name);
  } catch (error) {
    // A failed migration leaves its transaction open on this connection.
    await client.query('ROLLBACK').catch(() => undefined);
    throw wrapError(error);
  } finally {
    client.off('notice', onNotice);
  }
}

/**
 * Whether the user's migrations directory exists. The default `migrations`
 * may be absent (kit lane only); a directory the caller named must exist.
 */
async function userDirExists(lane: Lane, options: MigrateOptions): Promise<boolean> {
  if (isKitDir(lane.dir)) {
    options.log?.(`[user] ${path.relative(process.cwd(), lane.dir) || lane.dir} holds the racefree kit's own migrations, not yours: skipped`);
    return false;
  }
  const found = await stat(lane.dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
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
  return withMigrationLock(options, async (client, check) => {
    if (direction === 'down') {
      if (!user || !(await userDirExists(user, options))) return { kit: [], user: [] };
      return { kit: [], user: await runLane(client, user, 'down', options.count ?? 1, options.log) };
    }
    // A named directory that is missing fails before anything is applied.
    const withUser = user !== undefined && (await userDirExists(user, options));
    const kitRan = await runLane(client, kit, 'up', undefined, options.log);
    await check();
    const userRan = withUser ? await runLane(client, user, 'up', options.count, options.log) : [];
    if (withUser) await grantMonitor(client, user);
    return { kit: kitRan, user: userRan };
  });
}

/**
 * racefree doctor reads the user lane's table; racefree_monitor (sql/monitor.sql)
 * may, once a migrator that can grant it has run. Every `migrate up` does, so
 * databases migrated before the role existed get it too.
 */
async function grantMonitor(client: pg.Client, lane: Lane): Promise<void> {
  const table = quoteQualified(lane.schema, lane.table);
  const { rows } = await client.query<{ grant: boolean }>(
    `SELECT CASE WHEN pg_catalog.to_regclass($1) IS NULL OR pg_catalog.to_regrole('racefree_monitor') IS NULL THEN false
                ELSE pg_catalog.has_table_privilege(pg_catalog.to_regclass($1), 'SELECT WITH GRANT OPTION')
                     AND NOT pg_catalog.has_table_privilege('racefree_monitor', pg_catalog.to_regclass($1), 'SELECT') END AS grant`,
    [table],
  );
  if (rows[0]?.grant) await client.query(`GRANT SELECT ON ${table} TO racefree_monitor`);
}

/** Whether `dir` is the kit's own migrations directory (e.g. `racefree dev` run in a clone of racefree). @internal */
export function isKitDir(dir: string): boolean {
  try {
    return realpathSync(dir) === realpathSync(KIT_DIR);
  } catch {
    return false;
  }
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
  const names = lane.name === 'user' && isKitDir(lane.dir) ? [] : await migrationNames(lane.dir);
  const exists = await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [quoteQualified(lane.schema, lane.table)]);
  const applied = exists.rows[0]?.t
    ? (await client.query<{ name: string }>(`SELECT name FROM ${quoteQualified(lane.schema, lane.table)} ORDER BY run_on, id`)).rows.map((r) => r.name)
    : [];
  const done = new Set(applied);
  return { applied, pending: names.filter((n) => !done.has(n)) };
}

/**
 * Applied and pending migrations of both lanes, and the objects the builders
 * generated with the generator version of each, without changing anything.
 * @throws {RacefreeConfigError} without a database URL or on PostgreSQL before 15.
 */
export async function migrationStatus(options: MigrateOptions = {}): Promise<{ kit: LaneStatus; user: LaneStatus | undefined; generated: RegisteredObject[] }> {
  const { kit, user } = lanes(options);
  const client = await connectClient(connectionString(options), 'racefree migrate status');
  try {
    await assertSupportedServer(client);
    return {
      kit: await laneStatus(client, kit),
      user: user ? await laneStatus(client, user) : undefined,
      generated: await registeredObjects(client),
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}
