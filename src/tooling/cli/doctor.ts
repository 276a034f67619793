import { runDoctor, type DoctorReport } from '../doctor/index.js';
import { renderTable } from './table.js';
import {
  DATABASE_URL_OPTION,
  DIR_OPTION,
  HELP_OPTION,
  MIGRATIONS_TABLE_OPTION,
  migrationsDirOf,
  parseCommand,
  type CommandSpec,
  type OptionSpecs,
} from './usage.js';

const COMMAND = {
  usage: 'racefree doctor [--database-url URL] [--dir DIR] [--migrations-table T] [--json]',
  about: `Inspects a database and lists what breaks racefree's guarantees:

  migrations              kit or user migrations pending, or applied but missing from the code
  drift                   a kit function whose definition differs from the one this kit installs
                          (checked once the kit's migrations are up to date)
  invalid_index           an INVALID index (a failed CREATE INDEX CONCURRENTLY)
  counter_behind          a numbering counter below a number already in its column
  idempotency_incomplete  idempotency keys claimed but never completed
  public_execute          a racefree or generated function that PUBLIC may execute
  generated_stale         a generated function whose source differs from what the current
                          generator makes from its registry entry (checked once the kit's
                          migrations are up to date)`,
  options: {
    'database-url': DATABASE_URL_OPTION,
    dir: DIR_OPTION,
    'migrations-table': MIGRATIONS_TABLE_OPTION,
    json: { type: 'boolean', help: '{"ok": boolean, "findings": [{"check", "object", "detail"}]}' },
    help: HELP_OPTION,
  },
  notes: `Read-only. Exit codes: 0 no findings, 1 findings (or the database could not be
inspected), 2 usage error.`,
} as const satisfies CommandSpec<OptionSpecs>;

export async function doctorCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(COMMAND, argv);
  if (parsed === undefined) return 0;
  const { values } = parsed;
  const report = await runDoctor({
    databaseUrl: values['database-url'],
    dir: userMigrations(values.dir),
    migrationsTable: values['migrations-table'],
  });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
  return report.ok ? 0 : 1;
}

/** --dir, or the default when it exists; a note when there is none. */
function userMigrations(given: string | undefined): string | false {
  const dir = migrationsDirOf(given);
  if (dir === false) console.error('note: no migrations directory here; checking the kit lane only (--dir DIR to point at yours)');
  return dir;
}

function formatReport(report: DoctorReport): string {
  if (report.ok) return 'racefree doctor: no findings';
  const rows = report.findings.map((f) => [f.check, f.object, f.detail]);
  const table = renderTable(['check', 'object', 'detail'], rows, [undefined, undefined, 64]);
  return `${table}\nracefree doctor: ${report.findings.length} finding(s)`;
}
