/**
 * The oldest PostgreSQL racefree supports, and the check for it.
 * @internal
 */

import type { ClientBase } from 'pg';

import { RacefreeConfigError } from './errors/classes.js';

/** `server_version_num` of PostgreSQL 15.0. */
export const MIN_SERVER_VERSION_NUM = 150000;

/**
 * Fail fast on servers older than PostgreSQL 15.
 *
 * @returns the server's `server_version_num`, e.g. `150020` or `180004`.
 * @throws RacefreeConfigError "racefree needs PostgreSQL 15 or newer; <host:port> runs <version>".
 *
 * @example
 * ```ts
 * const client = new pg.Client(databaseUrl);
 * await client.connect();
 * const versionNum = await assertSupportedServer(client);
 * ```
 */
export async function assertSupportedServer(client: ClientBase): Promise<number> {
  const { rows } = await client.query<{ num: string; version: string }>(
    "select current_setting('server_version_num') as num, current_setting('server_version') as version",
  );
  const row = rows[0];
  const num = Number(row?.num);
  if (!Number.isInteger(num) || num < MIN_SERVER_VERSION_NUM) {
    const version = row?.version ?? 'an unknown version';
    throw new RacefreeConfigError(`racefree needs PostgreSQL 15 or newer; ${serverAddress(client)} runs ${version}`, {
      option: 'server_version',
      value: version,
    });
  }
  return num;
}

/** host:port of a connected client (pg's Client has both at runtime; the ClientBase type does not say so). */
function serverAddress(client: ClientBase): string {
  const { host, port } = client as ClientBase & { host?: unknown; port?: unknown };
  const h = typeof host === 'string' && host !== '' ? host : 'the server';
  return typeof port === 'number' && typeof host === 'string' && !host.startsWith('/') ? `${h}:${port}` : h;
}
