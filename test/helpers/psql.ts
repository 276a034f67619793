/**
 * Run psql as a user would. psql must be installed (postgresql-client); a
 * missing psql fails the test that needs it.
 */

import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';

import type { CliResult } from './cli.js';

/** Start `psql -X <args> <dbUrl>` (no ~/.psqlrc); stdin closed. */
export function spawnPsql(args: string[], dbUrl: string): ChildProcessByStdio<null, Readable, Readable> {
  return spawn('psql', ['-X', ...args, dbUrl], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PGAPPNAME: 'psql' } });
}

/** Run psql to completion. */
export function runPsql(args: string[], dbUrl: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnPsql(args, dbUrl);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (error) => reject(new Error(`psql could not be started (install postgresql-client): ${error.message}`)));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
