import { writeFile } from 'node:fs/promises';

import { kitInstallScript } from '../install-script.js';
import { HELP_OPTION, parseCommand, UsageError, type CommandSpec, type OptionSpecs } from './usage.js';

const COMMAND = {
  usage: 'racefree sql [--out FILE]',
  about: `Writes the kit's migrations as one psql script (to stdout, or FILE) that
installs or upgrades the kit without Node.js and records the kit lane as
racefree migrate up does:

  racefree sql --out racefree.sql
  psql -v ON_ERROR_STOP=1 -f racefree.sql "$DATABASE_URL"`,
  options: {
    out: { type: 'string', value: 'FILE', help: 'write to FILE instead of standard output' },
    help: HELP_OPTION,
  },
  notes: `Migrations the database already recorded are skipped; the others run in
order, each in its own transaction, under racefree's migration lock.
Exit codes: 0 success, 1 failure, 2 usage error.`,
  positionals: true,
} as const satisfies CommandSpec<OptionSpecs>;

export async function sqlCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(COMMAND, argv);
  if (parsed === undefined) return 0;
  const { values, positionals } = parsed;
  if (positionals.length > 0) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
  const script = await kitInstallScript();
  if (values.out === undefined) process.stdout.write(script);
  else await writeFile(values.out, script);
  return 0;
}
