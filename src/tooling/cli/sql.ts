import { writeFile } from 'node:fs/promises';

import { kitInstallScript } from '../install-script.js';
import { parse, UsageError } from './usage.js';

const HELP = `Usage: racefree sql [--out FILE]

Writes the kit's migrations as one psql script (to stdout, or FILE) that
installs or upgrades the kit without Node.js and records the kit lane as
racefree migrate up does:

  racefree sql --out racefree.sql
  psql -v ON_ERROR_STOP=1 -f racefree.sql "$DATABASE_URL"

Migrations the database already recorded are skipped; the others run in
order, each in its own transaction, under racefree's migration lock.
Exit codes: 0 success, 1 failure, 2 usage error.`;

export async function sqlCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse({
    args: argv,
    allowPositionals: true,
    options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
  const script = await kitInstallScript();
  if (values.out === undefined) process.stdout.write(script);
  else await writeFile(values.out, script);
  return 0;
}
