import { existsSync } from 'node:fs';

import { runDoctor, type DoctorReport } from '../doctor/index.js';
import { renderTable } from './table.js';
import { parse, UsageError } from './usage.js';

const HELP = `Usage: racefree doctor [--database-url URL] [--dir DIR] [--migrations-table T] [--json]

Inspects a database and lists what breaks racefree's guarantees:

  migrations              kit or user migrations pending, or applied but missing from the code
  drift                   a kit function whose definition differs from the one this kit installs
                          (checked once the kit's migrations are up to date)
  invalid_index           an INVALID index (a failed CREATE INDEX CONCURRENTLY)
  counter_behind          a numbering counter below a number already in its column
  idempotency_incomplete  idempotency keys claimed but never completed
  public_execute          a racefree or generated function that PUBLIC may execute
  generated_stale         a generated function whose source differs from what the current
                          generator makes from its registry entry (checked once the kit's
                          migrations are up to date)

Options:
  --database-url URL      default DATABASE_URL
  --dir DIR               your migrations; default migrations (skipped when it does not exist)
  --migrations-table T    your migrations table; default pgmigrations
  --json                  {"ok": boolean, "findings": [{"check", "object", "detail"}]}

Read-only. Exit codes: 0 no findings, 1 findings (or the database could not be
inspected), 2 usage error.`;

export async function doctorCommand(argv: string[]): Promise<number> {
  const { values } = parse({
    args: argv,
    options: {
      'database-url': { type: 'string' },
      dir: { type: 'string' },
      'migrations-table': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const report = await runDoctor({
    databaseUrl: values['database-url'],
    dir: userMigrations(values.dir),
    migrationsTable: values['migrations-table'],
  });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
  return report.ok ? 0 : 1;
}

/** An explicit --dir must exist; the default is skipped, with a note, when absent. */
function userMigrations(dir: string | undefined): string | false {
  if (dir !== undefined) {
    if (!existsSync(dir)) throw new UsageError(`--dir ${dir} does not exist`);
    return dir;
  }
  if (existsSync('migrations')) return 'migrations';
  console.error('note: no migrations directory here; checking the kit lane only (--dir DIR to point at yours)');
  return false;
}

function formatReport(report: DoctorReport): string {
  if (report.ok) return 'racefree doctor: no findings';
  const rows = report.findings.map((f) => [f.check, f.object, f.detail]);
  const table = renderTable(['check', 'object', 'detail'], rows, [undefined, undefined, 64]);
  return `${table}\nracefree doctor: ${report.findings.length} finding(s)`;
}
