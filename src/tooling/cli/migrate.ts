import { migrate, migrationStatus, type LaneStatus, type RegisteredObject } from '../../migrate/index.js';
import { parse, UsageError, wholeNumber } from './usage.js';

const HELP = `Usage:
  racefree migrate up [--dir DIR] [--database-url URL] [--count N]
  racefree migrate down [N] [--dir DIR] [--database-url URL]
  racefree migrate status [--dir DIR] [--database-url URL] [--json]

up      apply pending kit migrations (schema racefree), then your migrations
down    roll back your last N migrations (default 1); the kit lane is untouched
status  list applied and pending migrations of both lanes, and the generator
        version of every object the builders generated

Options:
  --dir DIR               your migrations (.js or .sql, node-pg-migrate format); default migrations
  --database-url URL      default DATABASE_URL
  --migrations-table T    your migrations table; default pgmigrations
  --count N               up: apply at most N of your migrations
  --json                  status: machine-readable output

Concurrent runs queue on an advisory lock ("waiting: another migration holds
the lock") and each migration runs once, in its own transaction.
Exit codes: 0 success, 1 a migration failed, 2 usage error.`;

export async function migrateCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse({
    args: argv,
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      'database-url': { type: 'string' },
      'migrations-table': { type: 'string' },
      count: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
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
