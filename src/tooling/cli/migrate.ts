import { migrate, migrationStatus, type LaneStatus, type RegisteredObject } from '../../migrate/index.js';
import {
  DATABASE_URL_OPTION,
  DIR_OPTION,
  HELP_OPTION,
  MIGRATIONS_TABLE_OPTION,
  parseCommand,
  UsageError,
  wholeNumber,
  type CommandSpec,
  type OptionSpecs,
} from './usage.js';

const COMMAND = {
  usage: [
    'racefree migrate up [--dir DIR] [--database-url URL] [--count N]',
    'racefree migrate down [N] [--dir DIR] [--database-url URL]',
    'racefree migrate status [--dir DIR] [--database-url URL] [--json]',
  ],
  about: `up      apply pending kit migrations (schema racefree), then your migrations
down    roll back your last N migrations (default 1); the kit lane is untouched
status  list applied and pending migrations of both lanes, and the generator
        version of every object the builders generated`,
  options: {
    dir: DIR_OPTION,
    'database-url': DATABASE_URL_OPTION,
    'migrations-table': MIGRATIONS_TABLE_OPTION,
    count: { type: 'string', value: 'N', help: 'up: apply at most N of your migrations' },
    json: { type: 'boolean', help: 'status: machine-readable output' },
    help: HELP_OPTION,
  },
  notes: `Concurrent runs queue on an advisory lock ("waiting: another migration holds
the lock") and each migration runs once, in its own transaction.
Exit codes: 0 success, 1 a migration failed, 2 usage error.`,
  positionals: true,
} as const satisfies CommandSpec<OptionSpecs>;

export async function migrateCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(COMMAND, argv);
  if (parsed === undefined) return 0;
  const { values, positionals } = parsed;
  const [action, n, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  const options = {
    ...(values.dir === undefined ? {} : { dir: values.dir }),
    ...(values['database-url'] ? { databaseUrl: values['database-url'] } : {}),
    ...(values['migrations-table'] ? { migrationsTable: values['migrations-table'] } : {}),
    log: (line: string) => console.error(line),
  };
  switch (action) {
    case 'up': {
      if (n !== undefined) throw new UsageError('migrate up takes no positional argument; use --count N');
      const count = values.count === undefined ? undefined : wholeNumber('--count', values.count, 0);
      const ran = await migrate({ ...options, direction: 'up', ...(count === undefined ? {} : { count }) });
      console.log(`applied ${ran.kit.length} kit and ${ran.user.length} user migration(s)`);
      return 0;
    }
    case 'down': {
      const count = wholeNumber('N', n ?? values.count, 1);
      const ran = await migrate({ ...options, direction: 'down', count });
      console.log(`rolled back ${ran.user.length} user migration(s)${ran.user.length ? `: ${ran.user.join(', ')}` : ''}`);
      return 0;
    }
    case 'status': {
      const status = await migrationStatus(options);
      if (values.json) {
        console.log(JSON.stringify(status, null, 2));
      } else {
        printLane('kit', status.kit);
        if (status.user) printLane(`user (${values.dir ?? 'migrations'})`, status.user);
        printGenerated(status.generated);
      }
      return 0;
    }
    default:
      throw new UsageError(action === undefined ? 'migrate needs up, down or status' : `unknown migrate action ${JSON.stringify(action)}`);
  }
}

function printGenerated(objects: readonly RegisteredObject[]): void {
  console.log(`generated: ${objects.length} registered`);
  for (const o of objects) console.log(`  ${o.builder.padEnd(12)}  ${o.table}  ${o.name}  generator ${o.generatorVersion}`);
}

function printLane(title: string, lane: LaneStatus): void {
  console.log(`${title}: ${lane.applied.length} applied, ${lane.pending.length} pending`);
  for (const name of lane.applied) console.log(`  applied  ${name}`);
  for (const name of lane.pending) console.log(`  pending  ${name}`);
}
