import pg from 'pg';

/**
 * Run `fn` on a client connected to `url`, and end it afterwards whatever
 * happens. A connection the server ends meanwhile fails the next query
 * rather than crashing the process. For the tools, the scripts and the tests.
 * @internal
 */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
