/**
 * Run psql as a user would. psql must be installed (postgresql-client); a
 * missing psql fails the test that needs it.
 */

import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';

import { completion, type CliResult } from './cli.js';

/** Start `psql -X <args> <dbUrl>` (no ~/.psqlrc); stdin closed. */
export function spawnPsql(args: string[], dbUrl: string): ChildProcessByStdio<null, Readable, Readable> {
  return spawn('psql', ['-X', ...args, dbUrl], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PGAPPNAME: 'psql' } });
}

/** Run psql to completion. */
export function runPsql(args: string[], dbUrl: string): Promise<CliResult> {
  return completion(spawnPsql(args, dbUrl)).catch((error: Error) => {
    throw new Error(`psql could not be started (install postgresql-client): ${error.message}`);
  });
}
