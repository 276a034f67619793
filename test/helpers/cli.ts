/**
 * Run the built CLI as a user would: `node dist/src/tooling/cli/main.js ...` in a
 * child process.
 */

import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';

import { createTestDatabase } from '../../src/tooling/testing/index.js';
import { withClient } from './db.js';

export const root = fileURLToPath(new URL('../../..', import.meta.url));
const cli = path.join(root, 'dist/src/tooling/cli/main.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Another build's CLI script (e.g. a later kit version); default this package's. */
  readonly cli?: string;
}

/** Start the CLI; stdin is closed, stdout and stderr are pipes (not a TTY, so no progress bar). */
export function spawnCli(args: string[], options: CliOptions = {}): ChildProcessByStdio<null, Readable, Readable> {
  return spawnNode([options.cli ?? cli, ...args], options);
}

/** Start `node` with these arguments, as spawnCli does. */
function spawnNode(args: string[], options: CliOptions): ChildProcessByStdio<null, Readable, Readable> {
  return spawn(process.execPath, args, {
    env: options.env ?? process.env,
    cwd: options.cwd ?? root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Run the CLI to completion. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return completion(spawnCli(args, options));
}

/** Run `node` with these arguments to completion (e.g. `['--input-type=module', '-e', script]`, or another CLI's script). */
export function runNode(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return completion(spawnNode(args, options));
}

/** A started child's exit code and everything it printed. */
export function completion(child: ChildProcessByStdio<null, Readable, Readable>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A directory of user migrations inside the package, so `racefree/migrate` resolves to this package. */
export async function userMigrations(files: Record<string, string>): Promise<string> {
  const dir = path.join(root, 'dist/test/.migrations', randomBytes(6).toString('hex'));
  await mkdir(dir, { recursive: true });
  for (const [name, body] of Object.entries(files)) await writeFile(path.join(dir, name), body);
  return dir;
}

/**
 * `racefree migrate up` of `files` on a clone of the migrated template, after
 * `setup` (SQL) ran there; the clone and the files are removed with the test.
 */
export async function migrateUpClone(t: ExecutionContext, files: Record<string, string>, setup?: string): Promise<CliResult & { url: string; dir: string }> {
  const db = await createTestDatabase();
  const dir = await userMigrations(files);
  t.teardown(async () => {
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });
  if (setup !== undefined) await withClient(db.connectionString, (c) => c.query(setup));
  const result = await runCli(['migrate', 'up', '--dir', dir, '--database-url', db.connectionString]);
  return { ...result, url: db.connectionString, dir };
}

/** {@link migrateUpClone}, which must succeed. */
export async function migratedClone(t: ExecutionContext, files: Record<string, string>): Promise<{ url: string; dir: string }> {
  const up = await migrateUpClone(t, files);
  if (up.code !== 0) throw new Error(up.stderr);
  return up;
}

/** A finding as `racefree doctor --json` prints it. */
export interface DoctorFindingJson {
  check: string;
  object: string;
  detail: string;
}

/** `racefree doctor --json`: its exit code and stderr, and its report (none when it could not inspect the database). */
export async function doctorJson(url: string, dir: string): Promise<{ code: number | null; stderr: string; ok: boolean; findings: DoctorFindingJson[] }> {
  const r = await runCli(['doctor', '--json', '--dir', dir, '--database-url', url]);
  const report = r.stdout.trim() === '' ? { ok: false, findings: [] } : (JSON.parse(r.stdout) as { ok: boolean; findings: DoctorFindingJson[] });
  return { code: r.code, stderr: r.stderr, ...report };
}

/** Start `racefree dev`, wait for its DATABASE_URL line, then stop it with `signal`. */
export async function devSession(
  cwd: string,
  args: string[],
  signal: NodeJS.Signals,
  whileRunning: (databaseUrl: string) => Promise<void>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(['dev', ...args], { cwd });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const databaseUrl = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      const match = /^DATABASE_URL=(\S+)$/m.exec(stdout);
      if (match && /Press Ctrl-C to stop/.test(stdout)) resolve(match[1]!);
    });
    void exited.then((code) => reject(new Error(`racefree dev exited with ${code} before it was ready:\n${stdout}\n${stderr}`)));
  });
  try {
    await whileRunning(databaseUrl);
  } finally {
    child.kill(signal);
  }
  return { code: await exited, stdout, stderr };
}
