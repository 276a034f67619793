import { writeFile } from 'node:fs/promises';

import { readCatalog } from '../typegen/catalog.js';
import { renderDatabaseTypes } from '../typegen/render.js';
import { connectClient } from '../../connect.js';
import { DATABASE_URL_OPTION, databaseUrlOf, HELP_OPTION, parseCommand, type CommandSpec, type OptionSpecs } from './usage.js';

const COMMAND = {
  usage: 'racefree types [--database-url URL] [--schema S]... [--out FILE]',
  about: `Writes TypeScript types for every function db.call can reach in the given
schemas (from pg_proc, pg_type and racefree's registry) (default: public and racefree): generated upserts, get-or-create,
_many, numbering generators, the kit's public functions and your own. Use them
as createClient<Database>(...): call, callOne and tx.call then check function
names, argument names and types, and type the rows.`,
  options: {
    'database-url': DATABASE_URL_OPTION,
    schema: { type: 'string', multiple: true, value: 'S', help: 'a schema to read; repeat for several' },
    out: { type: 'string', value: 'FILE', help: 'write to FILE instead of standard output' },
    help: HELP_OPTION,
  },
  notes: 'Read-only. Exit codes: 0 written, 1 the database could not be read, 2 usage error.',
} as const satisfies CommandSpec<OptionSpecs>;

export async function typesCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(COMMAND, argv);
  if (parsed === undefined) return 0;
  const { values } = parsed;
  const databaseUrl = databaseUrlOf('types', values['database-url']);
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
