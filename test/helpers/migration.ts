import { applyMigration, type MigrationAction } from '../../src/migrate/apply.js';
import { withClient } from './db.js';

/** Run a builder-using migration action on the database at `url`, in one transaction. */
export function runMigration(url: string, action: MigrationAction): Promise<void> {
  return withClient(url, (client) => applyMigration(client, action));
}
