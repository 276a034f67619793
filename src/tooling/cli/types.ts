import { writeFile } from 'node:fs/promises';

import { RacefreeConfigError } from '../../errors/classes.js';
import { readCatalog } from '../typegen/catalog.js';
import { renderDatabaseTypes } from '../typegen/render.js';
import { connectClient } from '../../connect.js';
import { parse } from './usage.js';

const HELP = `Usage: racefree types [--database-url URL] [--schema S]... [--out FILE]

Writes TypeScript types for every function db.call can reach in the given
schemas (from pg_proc, pg_type and racefree's registry) (default: public and racefree): generated upserts, get-or-create,
_many, numbering generators, the kit's public functions and your own. Use them
as createClient<Database>(...): call, callOne and tx.call then check function
names, argument names and types, and type the rows.

Options:
  --database-url URL      default DATABASE_URL
  --schema S              a schema to read; repeat for several
  --out FILE              write to FILE instead of standard output

Read-only. Exit codes: 0 written, 1 the database could not be read, 2 usage error.`;

export async function typesCommand(argv: string[]): Promise<number> {
  const { values } = parse({
    args: argv,
    options: {
      'database-url': { type: 'string' },
      schema: { type: 'string', multiple: true },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const databaseUrl = values['database-url'] ?? process.env['DATABASE_URL'];
  if (!databaseUrl) {
    throw new RacefreeConfigError('types: no database: pass --database-url or set DATABASE_URL', { option: 'databaseUrl' });
  }
  const schemas = values.schema ?? ['public', 'racefree'];
  const client = await connectClient(databaseUrl, 'racefree types');
  let text: string;
  try {
    const { functions, types, upserts } = await readCatalog(client, schemas);
    text = renderDatabaseTypes(functions, types, schemas, upserts);
  } finally {
    await client.end().catch(() => undefined);
  }
  if (values.out === undefined) process.stdout.write(text);
  else await writeFile(values.out, text);
  return 0;
}
