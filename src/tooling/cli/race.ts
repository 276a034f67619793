import { readFile } from 'node:fs/promises';

import { connectClient } from '../../connect.js';
import { startProgress } from './progress.js';
import { renderTable } from './table.js';
import { percentile, runRace, type RaceResult } from './race-run.js';
import {
  DATABASE_URL_OPTION,
  databaseUrlOf,
  duration,
  HELP_OPTION,
  parseCommand,
  UsageError,
  wholeNumber,
  type CommandSpec,
  type OptionSpecs,
} from './usage.js';

const COMMAND = {
  usage: `racefree race --sql "<statement>" [--setup FILE] [--concurrency N]
                     [--duration 10s | --count N] [--check "<query>"] [--database-url URL]`,
  about: `Hammers one SQL statement from many connections at once, to prove it race-free
(or not): shows a live progress bar on a terminal, then prints executions,
ops/s, p50/p99 latency and errors by SQLSTATE, and runs --check.`,
  options: {
    sql: {
      type: 'string',
      value: 'SQL',
      help: [
        'the statement; each execution is its own implicit transaction',
        '(several statements separated by ; run as one). No parameters:',
        'use random(), gen_random_uuid() etc. to vary the data',
      ],
    },
    setup: { type: 'string', value: 'FILE', help: 'SQL run once, on one connection, before the race (e.g. CREATE TABLE)' },
    concurrency: { type: 'string', value: 'N', help: 'connections, each running --sql in a loop; default 16' },
    duration: { type: 'string', value: 'D', help: 'run for D (10s, 500ms, 2m); default 10s' },
    count: { type: 'string', value: 'N', help: 'run N executions in all, instead of --duration' },
    check: {
      type: 'string',
      value: 'QUERY',
      help: ['run once at the end; it must return one row with one boolean', 'column that is true, e.g. "SELECT count(*) = count(DISTINCT n) FROM t"'],
    },
    'database-url': DATABASE_URL_OPTION,
    help: HELP_OPTION,
  },
  notes: `A failing execution is counted under its SQLSTATE, never a crash.
Exit codes: 0 no errors and --check true (or absent), 1 errors happened, --check
failed or setup failed, 2 usage error.`,
} as const satisfies CommandSpec<OptionSpecs>;

export async function raceCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(COMMAND, argv);
  if (parsed === undefined) return 0;
  const { values } = parsed;
  if (!values.sql) throw new UsageError('race needs --sql "<statement>"');
  if (values.duration !== undefined && values.count !== undefined) throw new UsageError('give --duration or --count, not both');
  const concurrency = wholeNumber('--concurrency', values.concurrency, 16);
  if (concurrency < 1) throw new UsageError('--concurrency must be at least 1');
  const count = values.count === undefined ? undefined : wholeNumber('--count', values.count, 0);
  if (count === 0) throw new UsageError('--count must be at least 1');
  const durationMs = count === undefined ? duration('--duration', values.duration ?? '10s') : undefined;
  const setup = values.setup === undefined ? undefined : await readSetup(values.setup);
  const databaseUrl = databaseUrlOf('race', values['database-url']);

  if (setup !== undefined) {
    const failure = await runSetup(databaseUrl, setup);
    if (failure) {
      console.error(`racefree race: --setup ${values.setup} failed: ${failure}`);
      return 1;
    }
  }

  const zero = { executions: 0, failed: 0, rate: 0 };
  const progress =
    count === undefined
      ? startProgress(durationMs!, '{bar} {percentage}% | {executions} executions | {failed} errors | {rate} ops/s', zero)
      : startProgress(count, '{bar} {percentage}% | {value}/{total} executions | {failed} errors | {rate} ops/s', zero);
  const interrupt = new AbortController();
  const onSigint = (): void => {
    if (interrupt.signal.aborted) process.exit(130);
    interrupt.abort();
    progress.stop();
    console.error('racefree race: interrupted; finishing the executions in flight (Ctrl-C again to quit)');
  };
  process.on('SIGINT', onSigint);
  let result: RaceResult;
  try {
    result = await runRace({
      databaseUrl,
      sql: values.sql,
      concurrency,
      durationMs,
      count,
      signal: interrupt.signal,
      onTick: (t) =>
        progress.update(count === undefined ? t.elapsedMs : t.executions, {
          executions: t.executions,
          failed: t.failed,
          rate: t.elapsedMs > 0 ? Math.round((t.executions * 1000) / t.elapsedMs) : 0,
        }),
    });
  } finally {
    progress.stop();
    process.removeListener('SIGINT', onSigint);
  }

  const check = values.check === undefined ? undefined : await runCheck(databaseUrl, values.check);
  console.log(formatReport(result, concurrency, check));
  return result.failed === 0 && (check === undefined || check.ok) ? 0 : 1;
}

async function readSetup(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--setup ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(error)}`);
  }
}

/** Run SQL on a connection of its own; the error as text when it fails. */
async function runSetup(databaseUrl: string, sql: string): Promise<string | undefined> {
  const client = await connectClient(databaseUrl, 'racefree race');
  try {
    await client.query(sql);
    return undefined;
  } catch (error) {
    return describe(error);
  } finally {
    await client.end();
  }
}

interface CheckOutcome {
  readonly query: string;
  readonly ok: boolean;
  /** `true`, or why not. */
  readonly outcome: string;
}

async function runCheck(databaseUrl: string, query: string): Promise<CheckOutcome> {
  const client = await connectClient(databaseUrl, 'racefree race');
  try {
    const { rows, fields } = await client.query({ text: query, rowMode: 'array' });
    const only = rows.length === 1 && fields.length === 1 ? (rows[0] as unknown[])[0] : undefined;
    if (only === true) return { query, ok: true, outcome: 'true' };
    const outcome =
      rows.length !== 1 || fields.length !== 1
        ? `returned ${rows.length} row(s) of ${fields.length} column(s); expected one boolean`
        : `returned ${only === null ? 'NULL' : String(only)}`;
    return { query, ok: false, outcome };
  } catch (error) {
    return { query, ok: false, outcome: `failed: ${describe(error)}` };
  } finally {
    await client.end();
  }
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return typeof code === 'string' ? `${code} ${message}` : message;
}

function formatReport(r: RaceResult, concurrency: number, check: CheckOutcome | undefined): string {
  const seconds = r.elapsedMs / 1000;
  const lines = [
    `racefree race: ${concurrency} connection(s), ${seconds.toFixed(2)} s`,
    `  executions  ${r.executions} (${r.executions - r.failed} ok, ${r.failed} failed)`,
    `  ops/s       ${seconds > 0 ? (r.executions / seconds).toFixed(1) : '0'}`,
    `  latency     p50 ${ms(percentile(r.latenciesMs, 0.5))}, p99 ${ms(percentile(r.latenciesMs, 0.99))}`,
  ];
  if (r.errors.size === 0) {
    lines.push('  errors      none');
  } else {
    lines.push(`  errors      ${[...r.errors].map(([code, e]) => `${code} x${e.count}`).join(', ')}`);
    const rows = [...r.errors].sort((a, b) => b[1].count - a[1].count).map(([code, e]) => [code, e.count, e.message]);
    lines.push(renderTable(['SQLSTATE', 'count', 'first message'], rows, [undefined, undefined, 70]));
  }
  if (r.lostConnections > 0) lines.push(`  lost        ${r.lostConnections} connection(s) broke during the run`);
  if (check) lines.push(`  check       ${check.ok ? 'true' : `FAILED: ${check.outcome}`}  (${check.query})`);
  return lines.join('\n');
}

function ms(value: number): string {
  return `${value.toFixed(2)} ms`;
}
