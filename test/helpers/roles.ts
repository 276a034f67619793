/**
 * A real application role for privilege tests: LOGIN, NOSUPERUSER, granted
 * `racefree_user` (or nothing), connecting with its own password.
 */
import { randomBytes } from 'node:crypto';

import { quoteIdent, quoteLiteral } from '../../src/quote.js';
import { withClient } from './db.js';

export interface AppRole {
  readonly name: string;
  /** The test database's URL, logged in as this role. */
  readonly url: string;
}

/**
 * Create a login role on the server of `adminUrl`, with CONNECT on its
 * database and the given racefree roles, run `fn` as it, then drop it and
 * everything it owns.
 */
export async function withAppRole<T>(adminUrl: string, grants: readonly string[], fn: (role: AppRole) => Promise<T>): Promise<T> {
  const name = `racefree_test_app_${randomBytes(5).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const database = decodeURIComponent(new URL(adminUrl).pathname.slice(1));
  await withClient(adminUrl, (c) => c.query(`CREATE ROLE ${quoteIdent(name)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${quoteLiteral(password)}`));
  const url = new URL(adminUrl);
  url.username = name;
  url.password = password;
  try {
    await withClient(adminUrl, async (c) => {
      await c.query(`GRANT CONNECT ON DATABASE ${quoteIdent(database)} TO ${quoteIdent(name)}`);
      for (const role of grants) await c.query(`GRANT ${quoteIdent(role)} TO ${quoteIdent(name)}`);
    });
    return await fn({ name, url: url.toString() });
  } finally {
    await withClient(adminUrl, async (c) => {
      // Its sessions first: DROP ROLE fails while it is connected.
      await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [name]);
      await c.query(`DROP OWNED BY ${quoteIdent(name)}`);
      await c.query(`DROP ROLE ${quoteIdent(name)}`);
    });
  }
}
