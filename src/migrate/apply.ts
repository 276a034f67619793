import { MigrationBuilder } from 'node-pg-migrate';
import type { ClientBase } from 'pg';
import { wrapError } from '../errors/from-pg.js';

/** What a migration's `up` or `down` receives. */
export type MigrationAction = (pgm: MigrationBuilder) => void | Promise<void>;

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * Run one migration action on a connected client, in one transaction, the way
 * node-pg-migrate would, without recording it in a migrations table. For
 * demos, benchmarks and tests of builders.
 * @throws {RacefreeError} (by SQLSTATE) when a statement fails; the transaction is rolled back.
 * @internal
 */
export async function applyMigration(client: ClientBase, action: MigrationAction): Promise<void> {
  const db = {
    query: (text: string, values?: unknown[]) => client.query(text, values),
    select: async (text: string, values?: unknown[]) => (await client.query(text, values)).rows,
  };
  const pgm = new MigrationBuilder(db as never, undefined, false, quiet);
  await action(pgm);
  const steps = pgm.getSqlSteps();
  const transactional = pgm.isUsingTransaction();
  if (transactional) await client.query('BEGIN');
  try {
    for (const step of steps) await client.query(step);
    if (transactional) await client.query('COMMIT');
  } catch (error) {
    if (transactional) await client.query('ROLLBACK').catch(() => undefined);
    throw wrapError(error);
  }
}
