/**
 * What a person reads when a migration meets unclean data or a database
 * without the kit: the CLI's stderr, as printed.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { KIT_MISSING_MESSAGE } from '../src/migrate/kit-check.js';
import { migrateUpClone, root, runNode, userMigrations } from './helpers/cli.js';
import { withClient, withEmptyDatabase } from './helpers/db.js';

/** `racefree migrate up` of `files` on a fresh clone of the template, after `setup` ran there. */
const migrateUp = (t: ExecutionContext, setup: string, files: Record<string, string>) => migrateUpClone(t, files, setup);

/** The error the CLI printed last, after the migration progress lines. */
const printedError = (stderr: string): string => stderr.slice(stderr.lastIndexOf('\nracefree: ') + 1).trim();

test('addUniqueKey over duplicates: every group, the total and what to do next', async (t) => {
  const r = await migrateUp(
    t,
    `CREATE TABLE users (slack_id text, discipline text);
     INSERT INTO users VALUES ('U1', 'be'), ('U1', 'be'), ('U1', 'be'), ('U2', 'fe'), ('U2', 'fe'), ('U3', 'be');`,
    {
      '0001_key.js': `
import { addUniqueKey, dropUniqueKey } from 'racefree/migrate';
const key = { table: 'users', columns: ['slack_id', 'discipline'] };
export const up = (pgm) => addUniqueKey(pgm, key);
export const down = (pgm) => dropUniqueKey(pgm, key);
`,
    },
  );
  t.is(r.code, 1);
  t.is(
    printedError(r.stderr),
    [
      'racefree: DuplicateRowsError [RF101]: public.users holds 2 groups of rows with the same (slack_id, discipline); nothing was changed.',
      '  (U1, be) x3',
      '  (U2, fe) x2',
      'Remove or merge the duplicate rows (one row per key value), then run the migration again.',
    ].join('\n'),
  );
  const { rows } = await withClient(r.url, (c) => c.query(`SELECT count(*)::int AS n FROM pg_indexes WHERE tablename = 'users'`));
  t.is(rows[0].n, 0);
});

test('a unique violation names the constraint, the key and the value', async (t) => {
  const r = await migrateUp(
    t,
    `CREATE TABLE assessments (id bigserial PRIMARY KEY, assessment_number text UNIQUE);
     INSERT INTO assessments (assessment_number) VALUES ('ASM-2026-100');`,
    { '0001_insert.js': `export const up = (pgm) => pgm.sql("INSERT INTO assessments (assessment_number) VALUES ('ASM-2026-100')");\n` },
  );
  t.is(r.code, 1);
  t.is(
    printedError(r.stderr),
    'racefree: UniqueViolationError [23505]: duplicate key value violates unique constraint "assessments_assessment_number_key": ' +
      'Key (assessment_number)=(ASM-2026-100) already exists.',
  );
});

test('addNumbering over duplicate numbers: the message names the value that is duplicated', async (t) => {
  const r = await migrateUp(
    t,
    `CREATE TABLE assessments (id bigserial PRIMARY KEY, assessment_number text);
     INSERT INTO assessments (assessment_number) VALUES ('ASM-2026-100'), ('ASM-2026-100'), ('ASM-2026-101');`,
    {
      '0001_numbers.js': `
import { addNumbering, dropNumbering } from 'racefree/migrate';
const n = { name: 'assessment', table: 'assessments', column: 'assessment_number' };
export const up = (pgm) => addNumbering(pgm, { ...n, template: 'ASM-{YYYY}-{seq:3}' });
export const down = (pgm) => dropNumbering(pgm, n);
`,
    },
  );
  t.is(r.code, 1);
  t.regex(r.stderr, /ASM-2026-100/);
  t.notRegex(r.stderr, /A unique constraint was violated/);
});

test("node-pg-migrate's own CLI on a database without the kit: the builder says to run racefree migrate up", async (t) => {
  const dir = await userMigrations({
    '0001_numbers.js': `
import { addNumbering } from 'racefree/migrate';
export const up = (pgm) => {
  pgm.createTable('tickets', { id: 'bigserial', ticket_number: 'text' });
  addNumbering(pgm, { name: 'ticket', table: 'tickets', column: 'ticket_number', template: 'T-{seq}' });
};
`,
  });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await withEmptyDatabase(async (url) => {
    const nodePgMigrate = path.join(root, 'node_modules/node-pg-migrate/bin/node-pg-migrate.js');
    const r = await runNode([nodePgMigrate, 'up', '-m', dir], { env: { ...process.env, DATABASE_URL: url } });
    t.not(r.code, 0);
    t.true(`${r.stdout}${r.stderr}`.includes(KIT_MISSING_MESSAGE), r.stderr);
    // Nothing of the migration stayed: it ran in one transaction.
    const { rows } = await withClient(url, (c) => c.query(`SELECT to_regclass('public.tickets') IS NULL AS gone`));
    t.true(rows[0].gone);
  });
});
