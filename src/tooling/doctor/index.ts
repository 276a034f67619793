/**
 * `racefree doctor`: inspect a database for what makes racefree's guarantees
 * fail in practice. Each check is a module of its own; this one runs them and
 * collects their findings.
 * @internal
 */

import pg from 'pg';

import { RacefreeConfigError, RacefreeError } from '../../errors/classes.js';
import { sqlStateOf } from '../../errors/from-pg.js';
import { quoteIdent } from '../../quote.js';
import { invalidIndexFindings, publicExecuteFindings } from './catalog.js';
import { counterFindings } from './counters.js';
import { driftFindings } from './drift.js';
import { generatedStaleFindings } from './generated.js';
import type { DoctorFinding, DoctorReport } from './finding.js';
import { idempotencyFindings } from './idempotency.js';
import { readManifest, type KitManifest } from './manifest.js';
import { kitRecordFindings } from './kit-records.js';
import { migrationFindings } from './migrations.js';

export type { DoctorCheck, DoctorFinding, DoctorReport } from './finding.js';

export interface DoctorOptions {
  /** Default `process.env.DATABASE_URL`. */
  readonly databaseUrl?: string | undefined;
  /** The user's migrations directory; `false` checks the kit lane only. */
  readonly dir: string | false;
  readonly migrationsTable?: string | undefined;
  /** Default: the committed sql/manifest.json. */
  readonly manifest?: KitManifest;
}

/**
 * Run every check against one database. Read-only; findings come in check order.
 * @throws {RacefreeConfigError} without a database URL or on PostgreSQL before 15.
 */
export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const databaseUrl = options.databaseUrl ?? process.env['DATABASE_URL'];
  if (!databaseUrl) {
    throw new RacefreeConfigError('doctor: no database: pass --database-url or set DATABASE_URL', { option: 'databaseUrl' });
  }
  const manifest = options.manifest ?? (await readManifest());
  const role = new pg.Client({ connectionString: databaseUrl }).user;
  const fail = (error: unknown): never => {
    throw inspectionFailure(error, role, options.migrationsTable ?? 'pgmigrations');
  };
  const migrations = await migrationFindings({ databaseUrl, dir: options.dir, migrationsTable: options.migrationsTable }).catch(fail);
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'racefree doctor' });
  client.on('error', () => undefined);
  try {
    await client.connect();
    // Nothing here writes; a read-only transaction makes that a guarantee.
    await client.query('BEGIN READ ONLY');
    await client.query('SET LOCAL search_path = pg_catalog, pg_temp');
    const kitRecords = await kitRecordFindings(client);
    const kitCurrent = migrations.kitCurrent && kitRecords.findings.length === 0;
    const findings: DoctorFinding[] = [
      // Kit migrations without records are not pending: the records finding says how to record them.
      ...migrations.findings.filter((f) => !(kitRecords.unrecorded && f.object.startsWith('kit migration '))),
      ...kitRecords.findings,
      // Against a kit lane that is behind or ahead, every difference is expected: the migrations finding says why.
      ...(kitCurrent ? await driftFindings(client, manifest) : []),
      ...(await invalidIndexFindings(client)),
      ...(await counterFindings(client)),
      ...(await idempotencyFindings(client)),
      ...(await publicExecuteFindings(client)),
      ...(migrations.kitCurrent ? await generatedStaleFindings(client) : []),
    ];
    await client.query('COMMIT');
    return { ok: findings.length === 0, findings };
  } catch (error) {
    return fail(error);
  } finally {
    await client.end();
  }
}

/**
 * Driver errors (refused connection, unknown database) as one readable
 * RacefreeError; a refused read says which grant doctor needs.
 */
function inspectionFailure(error: unknown, role: string | undefined, migrationsTable: string): RacefreeError {
  if (error instanceof RacefreeError) return error;
  const code = sqlStateOf(error);
  const message = error instanceof Error ? error.message : String(error);
  return new RacefreeError(`doctor could not inspect the database: ${message}${code === '42501' ? `: ${grantAdvice(message, role, migrationsTable)}` : ''}`, {
    code,
    cause: error,
  });
}

/** What to grant so that doctor reads everything it checks (sql/monitor.sql). */
function grantAdvice(message: string, role: string | undefined, migrationsTable: string): string {
  if (message === `permission denied for table ${migrationsTable}`) {
    return `racefree_monitor may not read your migrations table yet: run racefree migrate up (it grants SELECT on it to racefree_monitor), or GRANT SELECT ON ${migrationsTable} TO racefree_monitor`;
  }
  return `run doctor as a role granted racefree_monitor, which reads everything doctor checks and writes nothing: GRANT racefree_monitor TO ${quoteIdent(role ?? 'your_role')}`;
}
