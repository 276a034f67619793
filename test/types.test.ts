/**
 * `racefree types` and `createClient<Database>`: types generated from a real
 * database compile against a usage file whose every `@ts-expect-error` must
 * be an error, and the values pg returns match the generated types.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import ts from 'typescript';
import { createClient } from '../src/index.js';
import { root, runCli, userMigrations } from './helpers/cli.js';
import { useTestDatabase } from './helpers/db.js';

const url = useTestDatabase(test);

const SCHEMA = {
  '0001_assessments.js': `
import { addNumbering, addUpsert } from 'racefree/migrate';
export const up = (pgm) => {
  pgm.sql(\`
    CREATE TYPE level AS ENUM ('beginner', 'expert');
    CREATE DOMAIN positive_int AS int CHECK (VALUE > 0);
    CREATE TABLE assessments (
      id bigserial PRIMARY KEY, technology text NOT NULL, level level NOT NULL DEFAULT 'beginner',
      questions jsonb, score numeric, tags text[], n positive_int,
      created_at timestamptz NOT NULL DEFAULT now(), assessment_number text,
      UNIQUE (technology, level));
    CREATE TABLE points (who text PRIMARY KEY, total bigint NOT NULL, last_note text);
    CREATE FUNCTION award_points(who text, points int, note text DEFAULT NULL)
      RETURNS TABLE (total bigint, last_note text) LANGUAGE sql AS $$
        INSERT INTO points AS p VALUES (who, points, note)
        ON CONFLICT (who) DO UPDATE SET total = p.total + EXCLUDED.total, last_note = EXCLUDED.last_note
        RETURNING p.total, p.last_note $$;
    CREATE FUNCTION sum_all(VARIADIC xs int[]) RETURNS int LANGUAGE sql AS 'SELECT 0';
    COMMENT ON FUNCTION award_points(text, int, text) IS 'Adds points to who''s total. */ stays inside the comment.';
  \`);
  // Fast: its generator is a column DEFAULT, a function a caller may call (a gapless one is a trigger, which is no call).
  addNumbering(pgm, { name: 'assessment', table: 'assessments', column: 'assessment_number', template: 'ASM-{YYYY}-{seq:3}', mode: 'fast' });
  addUpsert(pgm, { table: 'assessments', key: ['technology', 'level'] });
};
`,
};

let generated = '';
let dir = '';

test.serial.before(async () => {
  const migrations = await userMigrations(SCHEMA);
  const up = await runCli(['migrate', 'up', '--dir', migrations, '--database-url', url()]);
  await rm(migrations, { recursive: true, force: true });
  if (up.code !== 0) throw new Error(up.stderr);
  // Inside the package, so the usage file's `import 'racefree'` resolves to this package.
  dir = path.join(root, 'dist/test/.types', randomBytes(6).toString('hex'));
  await mkdir(dir, { recursive: true });
  const r = await runCli(['types', '--out', path.join(dir, 'database.ts'), '--database-url', url()]);
  if (r.code !== 0) throw new Error(r.stderr);
  generated = await readFile(path.join(dir, 'database.ts'), 'utf8');
});

test.after.always(() => (dir === '' ? undefined : rm(dir, { recursive: true, force: true })));

test('the generated types compile against the usage file: every wrong name, type and missing argument is an error', async (t) => {
  const usage = path.join(dir, 'typed-calls.ts');
  await copyFile(path.join(root, 'test/fixtures/typecheck/typed-calls.ts'), usage);
  const { config } = ts.readConfigFile(path.join(root, 'tsconfig.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, root);
  const program = ts.createProgram([usage], { ...options, noEmit: true, noUnusedLocals: true });
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file === undefined ? '' : `${path.basename(d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: `;
    return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
  });
  t.deepEqual(diagnostics, []);
});

test('the generated file names what it leaves out and keeps comments inside their JSDoc', (t) => {
  t.regex(generated, /^\/\/ Not callable by name, left out: public\.sum_all: a VARIADIC argument$/m);
  t.true(generated.includes("/** Adds points to who's total. *\\/ stays inside the comment. */"));
  t.notRegex(generated, /_numbering_key|_add_upsert/);
  t.regex(generated, /award_points: \{\n\s+args: \{ who: string \| null; points: number \| null; note\?: string \| null \};/);
});

test('the values pg returns are of the generated types', async (t) => {
  const db = createClient({ connectionString: url() });
  t.teardown(() => db.end());
  const row = await db.callOne<Record<string, unknown>>('upsert_assessments', {
    technology: 'Hive',
    level: 'expert',
    questions: { q: [1] },
    score: '1.50',
    tags: ['a', null],
    n: 3,
  });
  t.is(typeof row['id'], 'string');
  t.is(row['level'], 'expert');
  t.deepEqual(row['questions'], { q: [1] });
  t.is(row['score'], '1.50');
  t.deepEqual(row['tags'], ['a', null]);
  t.is(row['n'], 3);
  t.true(row['created_at'] instanceof Date);
  t.regex(String(row['assessment_number']), /^ASM-\d{4}-001$/);
  t.is(row['action'], 'inserted');
  const [points] = await db.call<Record<string, unknown>>('award_points', { who: 'ann', points: 3 });
  t.deepEqual(points, { total: '3', last_note: null });
  const next = await db.callOne<Record<string, unknown>>('racefree.next_value', { counter: 'types-test' });
  t.deepEqual(next, { next_value: '1' });
});
