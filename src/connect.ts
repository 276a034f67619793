import pg from 'pg';

import { RacefreeError } from './errors/classes.js';
import { sqlStateOf } from './errors/from-pg.js';

/**
 * A connected client for a CLI command or the migrator. Connection failures (refused, bad
 * password, no such database) become a RacefreeError with the driver's message,
 * which the CLI prints as one line instead of a stack trace.
 * @internal
 */
export async function connectClient(databaseUrl: string, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: applicationName });
  // A connection the server ends later must not crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw connectionFailure(error);
  }
  return client;
}

/** @internal */
export function connectionFailure(error: unknown): RacefreeError {
  if (error instanceof RacefreeError) return error;
  return new RacefreeError(`could not connect: ${error instanceof Error ? error.message : String(error)}`, {
    code: sqlStateOf(error),
    cause: error,
  });
}
