/**
 * A lean runtime: importing `racefree` or `racefree/migrate` loads pg,
 * node-pg-migrate (with what they depend on) and racefree's own runtime
 * modules, nothing else: no CLI, doctor, testing or type-generation code, no
 * embedded PostgreSQL, no terminal libraries.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { root } from './helpers/cli.js';

/** Every file the child loads for `import(specifier)`, as paths relative to the package. */
function loadedBy(specifier: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', path.join(root, 'test/fixtures/module-graph-hook.mjs'), '--input-type=module', '-e', `await import(${JSON.stringify(specifier)})`],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`import(${specifier}) exited ${code}`));
      const urls = JSON.parse(out) as string[];
      resolve(urls.filter((u) => u.startsWith('file:')).map((u) => path.relative(root, fileURLToPath(u))));
    });
  });
}

/** `names` and everything they depend on, by the installed package.json files. */
function dependencyClosure(names: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const manifest = JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) visit(dep);
  };
  names.forEach(visit);
  return seen;
}

const packageOf = (file: string): string | undefined => {
  const parts = file.split(path.sep);
  const at = parts.lastIndexOf('node_modules');
  if (at === -1) return undefined;
  return parts[at + 1]!.startsWith('@') ? `${parts[at + 1]}/${parts[at + 2]}` : parts[at + 1];
};

// Tooling lives in these folders of dist/src: never loaded by the runtime.
const TOOLING = ['cli', 'doctor', 'testing', 'typegen'].map((d) => path.join('dist', 'src', d) + path.sep);

for (const [specifier, runtime] of [
  ['racefree', ['pg']],
  ['racefree/migrate', ['pg', 'node-pg-migrate']],
] as const) {
  test(`import '${specifier}' loads only ${runtime.join(' and ')} and racefree's runtime modules`, async (t) => {
    const allowed = dependencyClosure(runtime);
    const files = await loadedBy(specifier);
    const own = files.filter((f) => packageOf(f) === undefined);
    const foreign = [...new Set(files.map(packageOf).filter((p): p is string => p !== undefined))];
    t.true(own.some((f) => f.startsWith(path.join('dist', 'src') + path.sep)), 'it loaded racefree itself');
    t.deepEqual(foreign.filter((p) => !allowed.has(p)), [], 'packages beyond the runtime dependencies');
    t.deepEqual(own.filter((f) => !f.startsWith(path.join('dist', 'src') + path.sep) || TOOLING.some((d) => f.startsWith(d))), [], 'tooling modules');
  });
}
