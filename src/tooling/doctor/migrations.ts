/**
 * Migrations: pending ones in either lane, and applied ones whose file is gone
 * (the database is ahead of, or diverged from, the code that runs against it).
 * @internal
 */

import path from 'node:path';

import { KIT_DIR, migrationNames, migrationStatus, type LaneStatus } from '../../migrate/lanes.js';
import type { DoctorFinding } from './finding.js';

export interface MigrationCheckOptions {
  readonly databaseUrl: string;
  /** The user's migrations; `false` checks the kit lane only. */
  readonly dir: string | false;
  readonly migrationsTable?: string | undefined;
}

/** The findings, and whether the kit lane is exactly up to date (drift is only meaningful then). */
export async function migrationFindings(options: MigrationCheckOptions): Promise<{ findings: DoctorFinding[]; kitCurrent: boolean }> {
  const status = await migrationStatus({
    databaseUrl: options.databaseUrl,
    dir: options.dir,
    ...(options.migrationsTable === undefined ? {} : { migrationsTable: options.migrationsTable }),
  });
  const kit = laneFindings('kit', status.kit, await migrationNames(KIT_DIR), 'the installed racefree package');
  const user = status.user && options.dir !== false ? laneFindings('user', status.user, await migrationNames(path.resolve(options.dir)), options.dir) : [];
  return { findings: [...kit, ...user], kitCurrent: kit.length === 0 };
}

function laneFindings(lane: 'kit' | 'user', status: LaneStatus, files: readonly string[], where: string): DoctorFinding[] {
  const present = new Set(files);
  const findings: DoctorFinding[] = status.pending.map((name) => ({
    check: 'migrations',
    object: `${lane} migration ${name}`,
    detail: 'pending: run racefree migrate up',
  }));
  for (const name of status.applied) {
    if (!present.has(name)) {
      findings.push({
        check: 'migrations',
        object: `${lane} migration ${name}`,
        detail: `applied, but no such migration in ${where}: the database is ahead of this code`,
      });
    }
  }
  return findings;
}
