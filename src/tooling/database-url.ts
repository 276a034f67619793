import { RacefreeConfigError } from '../errors/classes.js';

/**
 * The connection string with its database replaced; user, password, host and
 * parameters are kept.
 * @throws {RacefreeConfigError} when it is not a URL.
 * @internal
 */
export function withDatabase(connectionString: string, database: string): string {
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch (error) {
    throw new RacefreeConfigError('expected a postgres:// URL as connection string', {
      option: 'connectionString',
      cause: error,
    });
  }
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}
