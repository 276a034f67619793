#!/usr/bin/env node
/**
 * The racefree command line. Exit codes: 0 success, 1 failure (an error, a
 * failed check, or findings), 2 usage error.
 */
import { RacefreeError } from '../errors.js';
import { demoCommand } from './demo.js';
import { devCommand } from './dev.js';
import { doctorCommand } from './doctor.js';
import { migrateCommand } from './migrate.js';
import { raceCommand } from './race.js';
import { sqlCommand } from './sql.js';
import { typesCommand } from './types.js';
import { UsageError } from './usage.js';

const HELP = `racefree: make duplicate-key races impossible at the database level

Usage: racefree <command> [options]

Commands:
  migrate up|down|status   run the kit's and your migrations (racefree migrate --help)
  demo                     replay the seed-003 numbering race, naive vs racefree
  dev                      a local PostgreSQL with every migration applied, until Ctrl-C
  doctor                   inspect a database: pending or drifted migrations, INVALID
                           indexes, counters behind, PUBLIC execute (exit 1 on findings)
  race --sql "..."         hammer a statement from many connections; errors by SQLSTATE
  sql [--out FILE]         the kit as one psql script: install or upgrade without Node.js
  types [--out FILE]       TypeScript types of every callable function, for createClient<Database>

Options:
  -h, --help               show help for racefree or a command

The database is DATABASE_URL or --database-url; demo starts an embedded
PostgreSQL when neither is given, dev always does.
Exit codes: 0 success, 1 failure, 2 usage error.`;

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  migrate: migrateCommand,
  demo: demoCommand,
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

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(`racefree: ${error.message}\nRun racefree --help for usage.`);
      process.exitCode = 2;
    } else if (error instanceof RacefreeError) {
      console.error(`racefree: ${error.name}${error.code ? ` [${error.code}]` : ''}: ${error.message}`);
      process.exitCode = 1;
    } else if (error instanceof Error && process.env['RACEFREE_DEBUG'] === undefined) {
      // Driver and system errors (ECONNREFUSED, a bad password) in one line; RACEFREE_DEBUG=1 for the stack.
      const code = (error as { code?: unknown }).code;
      console.error(`racefree: ${typeof code === 'string' ? `[${code}] ` : ''}${error.message || error.name}`);
      process.exitCode = 1;
    } else {
      console.error(error);
      process.exitCode = 1;
    }
  },
);
