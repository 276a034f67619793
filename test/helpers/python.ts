/**
 * The Python the Python examples run on: the first of `RACEFREE_PYTHON`,
 * `/usr/bin/python3` (where Debian's python3-psycopg installs) and `python3`
 * on the PATH that can import psycopg 3. None is an error, never a skip.
 */

import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';

import { root } from './cli.js';

const PYTHON_DIR = path.join(root, 'examples/python');
let found: string | undefined;

export function python(): string {
  if (found !== undefined) return found;
  const candidates = [process.env['RACEFREE_PYTHON'], '/usr/bin/python3', 'python3'].filter((c): c is string => !!c);
  for (const candidate of candidates) {
    const probe = spawnSync(candidate, ['-c', 'import psycopg; assert psycopg.__version__ >= "3"'], { stdio: 'ignore' });
    if (probe.status === 0) return (found = candidate);
  }
  throw new Error(`no Python with psycopg 3 (tried ${candidates.join(', ')}): apt-get install python3-psycopg, or set RACEFREE_PYTHON`);
}

/** Run `examples/python/<script>` with `args`; resolves to its stdout, rejects with its stderr. */
export function runPython(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(python(), [path.join(PYTHON_DIR, script), ...args], { cwd: PYTHON_DIR, env, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${script} failed (${error.code ?? error.signal}):\n${stderr}`));
      else resolve(stdout);
    });
  });
}
