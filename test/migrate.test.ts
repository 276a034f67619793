import { readdirSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { RacefreeConfigError } from '../src/errors/classes.js';
import { migrate, migrationStatus } from '../src/migrate/index.js';
import { root, runCli, userMigrations } from './helpers/cli.js';
import { exclusively, useTestDatabase, withClient, withEmptyDatabase } from './helpers/db.js';
import { KIT, kitObjects } from './helpers/kit.js';

const url = useTestDatabase(test);
/**
 * sql/<concern>.sql in the order of the first kit migration NNNN_<concern> that
 * installs it, then every other source file (one split out of a released
 * migration's concern, as unique-key.sql out of upsert.sql): all of sql/ but
 * the install script and the guard.
 */
const NAMED = [...new Set(KIT.map((name) => `${name.replace(/^\d+_/, '')}.sql`))];
const SOURCES = [
  ...NAMED,
  ...readdirSync(path.join(root, 'sql'))
    .filter((f) => f.endsWith('.sql') && !NAMED.includes(f) && f !== 'install.sql' && f !== 'kit-guard.sql')
    .sort(),
];

const ASSESSMENTS = {
  '0001_assessments.js': `
export const up = (pgm) => {
  pgm.createTable('assessments', { id: 'bigserial', title: 'text', assessment_number: 'text' });
};
export const down = (pgm) => { pgm.dropTable('assessments'); };
`,
  '0002_assessment-numbers.js': `
import { addNumbering, dropNumbering } from 'racefree/migrate';
const numbering = { name: 'assessment', table: 'assessments', column: 'assessment_number' };
export const up = (pgm) => addNumbering(pgm, { ...numbering, template: 'ASM-{YYYY}-{seq:3}', timeZone: 'UTC' });
export const down = (pgm) => dropNumbering(pgm, numbering);
`,
};

const run = (args: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string) => runCli(args, { env, ...(cwd === undefined ? {} : { cwd }) });

test.serial('20 concurrent `racefree migrate up` on an empty database apply every migration exactly once', async (t) => {
  const dir = await userMigrations(ASSESSMENTS);
  await exclusively(() =>
    withEmptyDatabase(async (dbUrl) => {
      const results = await Promise.all(Array.from({ length: 20 }, () => run(['migrate', 'up', '--dir', dir, '--database-url', dbUrl])));
      for (const r of results) {
        t.is(r.code, 0, r.stderr);
        t.notRegex(r.stderr, /error/i);
      }
      const applied = results.filter((r) => r.stdout.includes(`applied ${KIT.length} kit and 2 user`));
      t.is(applied.length, 1, 'exactly one process applied the migrations');
      t.true(results.filter((r) => /applied 0 kit and 0 user/.test(r.stdout)).length === 19);
      const rows = await withClient(dbUrl, async (c) => ({
        kit: (await c.query('SELECT name, count(*)::int AS n FROM racefree.kit_migrations GROUP BY name ORDER BY name')).rows,
        user: (await c.query('SELECT name, count(*)::int AS n FROM pgmigrations GROUP BY name ORDER BY name')).rows,
        number: (await c.query(`INSERT INTO assessments (title) VALUES ('x') RETURNING assessment_number AS n`)).rows[0].n,
      }));
      t.deepEqual(
        rows.kit,
        KIT.map((name) => ({ name, n: 1 })),
      );
      t.deepEqual(rows.user, [
        { name: '0001_assessments', n: 1 },
        { name: '0002_assessment-numbers', n: 1 },
      ]);
      t.regex(rows.number, /^ASM-\d{4}-001$/);
    }),
  );
  await rm(dir, { recursive: true });
});

test('a waiting migrator says another migration holds the lock, then finishes', async (t) => {
  const dir = await userMigrations(ASSESSMENTS);
  await withEmptyDatabase(async (dbUrl) => {
    await withClient(dbUrl, async (holder) => {
      await holder.query(`SELECT pg_advisory_lock(8241978080226338149)`);
      const lines: string[] = [];
      let settled = false;
      const waiting = migrate({ databaseUrl: dbUrl, dir, log: (l) => lines.push(l) }).finally(() => (settled = true));
      // Deterministic: the migrator says so once its try for our lock failed (it polls, never blocking a server connection).
      while (!lines.includes('waiting: another migration holds the lock')) {
        if (settled) return void (await waiting); // it failed instead of waiting: report why
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      // Still waiting a while later: nothing ran meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 300));
      t.false(settled);
      t.is((await holder.query(`SELECT to_regclass('racefree.kit_migrations') AS t`)).rows[0].t, null);
      await holder.query(`SELECT pg_advisory_unlock(8241978080226338149)`);
      const ran = await waiting;
      t.deepEqual(ran, { kit: KIT, user: ['0001_assessments', '0002_assessment-numbers'] });
    });
  });
  await rm(dir, { recursive: true });
});

test('migrate up, status, down N, up again (every builder has a working down)', async (t) => {
  const dir = await userMigrations(ASSESSMENTS);
  // The template already holds the kit lane: only the user's migrations run.
  t.deepEqual(await migrate({ databaseUrl: url(), dir }), { kit: [], user: ['0001_assessments', '0002_assessment-numbers'] });
  const version = await withClient(url(), async (c) => (await c.query('SELECT racefree_internal._generator_version() AS v')).rows[0].v);
  t.deepEqual(await migrationStatus({ databaseUrl: url(), dir }), {
    kit: { applied: KIT, pending: [] },
    user: { applied: ['0001_assessments', '0002_assessment-numbers'], pending: [] },
    generated: [
      {
        builder: 'addNumbering',
        table: 'public.assessments',
        name: 'assessment',
        generatorVersion: version,
        objects: [
          'constraint assessments_assessment_number_key',
          'function public.generate_assessment_number()',
          'trigger racefree_assessment_number',
          'trigger racefree_assessment_update',
        ],
      },
    ],
  });
  const shown = await run(['migrate', 'status', '--dir', dir, '--database-url', url()]);
  t.true(shown.stdout.includes(`generated: 1 registered\n  addNumbering  public.assessments  assessment  generator ${version}\n`), shown.stdout);
  t.deepEqual(await migrate({ databaseUrl: url(), dir, direction: 'down' }), { kit: [], user: ['0002_assessment-numbers'] });
  const afterDown = await withClient(url(), async (c) => ({
    fn: (await c.query(`SELECT to_regproc('generate_assessment_number') AS f`)).rows[0].f,
    numbering: (await c.query(`SELECT count(*)::int AS n FROM racefree.numberings`)).rows[0].n,
  }));
  t.deepEqual(afterDown, { fn: null, numbering: 0 });
  const status = await run(['migrate', 'status', '--dir', dir, '--database-url', url()]);
  t.is(status.code, 0);
  t.regex(status.stdout, /pending {2}0002_assessment-numbers/);
  t.deepEqual(await migrate({ databaseUrl: url(), dir, direction: 'down', count: 5 }), { kit: [], user: ['0001_assessments'] });
  const again = await run(['migrate', 'up', '--dir', dir, '--database-url', url()]);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /applied 0 kit and 2 user/);
  await rm(dir, { recursive: true });
});

test('a failing user migration is rolled back whole and reported as a typed error', async (t) => {
  const dir = await userMigrations({
    '0001_half.js': `
import { addNumbering } from 'racefree/migrate';
export const up = (pgm) => {
  pgm.createTable('half', { id: 'bigserial', n: 'integer' });
  addNumbering(pgm, { name: 'half', table: 'half', column: 'n', template: 'H-{seq}' });
};
export const down = (pgm) => { pgm.dropTable('half'); };
`,
  });
  await withEmptyDatabase(async (dbUrl) => {
    const error = await t.throwsAsync(migrate({ databaseUrl: dbUrl, dir }), { instanceOf: RacefreeConfigError });
    t.is(error?.option, 'column');
    t.regex(error!.message, /text or varchar/);
    const left = await withClient(dbUrl, async (c) => ({
      table: (await c.query(`SELECT to_regclass('half') AS t`)).rows[0].t,
      recorded: (await c.query(`SELECT count(*)::int AS n FROM pgmigrations`)).rows[0].n,
    }));
    t.deepEqual(left, { table: null, recorded: 0 });
    const cliRun = await run(['migrate', 'up', '--dir', dir, '--database-url', dbUrl]);
    t.is(cliRun.code, 1);
    t.regex(cliRun.stderr, /RacefreeConfigError \[RF100\]: addNumbering: column .* text or varchar/);
  });
  await rm(dir, { recursive: true });
});

test('the CLI without a database says how to give one, and rejects bad usage with exit code 2', async (t) => {
  const env = { ...process.env };
  delete env['DATABASE_URL'];
  const noDb = await run(['migrate', 'up'], env);
  t.is(noDb.code, 1);
  t.regex(noDb.stderr, /DATABASE_URL/);
  t.is((await run(['migrate', 'sideways'])).code, 2);
  t.is((await run(['frobnicate'])).code, 2);
  t.is((await run(['migrate', 'down', 'two'])).code, 2);
  const help = await run(['migrate', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /racefree migrate up/);
});

test('without a migrations directory `migrate up` applies the kit lane only; a named missing --dir is an error', async (t) => {
  const empty = await userMigrations({});
  await withEmptyDatabase(async (dbUrl) => {
    const missing = await run(['migrate', 'up', '--database-url', dbUrl, '--dir', 'nope'], process.env, empty);
    t.is(missing.code, 1);
    t.regex(missing.stderr, /RacefreeConfigError \[RF100\]: migrate: migrations directory nope does not exist/);
    const applied = await withClient(dbUrl, async (c) => (await c.query(`SELECT to_regclass('racefree.kit_migrations') AS t`)).rows[0].t);
    t.is(applied, null, 'nothing was applied');
    const kitOnly = await run(['migrate', 'up', '--database-url', dbUrl], process.env, empty);
    t.is(kitOnly.code, 0, kitOnly.stderr);
    t.regex(kitOnly.stdout, new RegExp(`applied ${KIT.length} kit and 0 user`));
    t.regex(kitOnly.stderr, /no migrations directory: kit migrations only/);
  });
  await rm(empty, { recursive: true });
});

test('sql/ sources define exactly what the kit migrations installed', async (t) => {
  const fromMigrations = await kitObjects(url());
  const fromSources = await withEmptyDatabase(async (dbUrl) => {
    await withClient(dbUrl, async (c) => {
      for (const file of SOURCES) await c.query(await readFile(path.join(root, 'sql', file), 'utf8'));
    });
    return kitObjects(dbUrl);
  });
  t.deepEqual(fromSources, fromMigrations);
  t.true(fromMigrations.functions.length >= 9);
});

test('every racefree function is documented, closed to PUBLIC, and SECURITY DEFINER only with a pinned search_path', async (t) => {
  const rows = await withClient(
    url(),
    async (c) =>
      (
        await c.query(`SELECT p.oid::regprocedure::text AS name, obj_description(p.oid, 'pg_proc') AS comment,
                            has_function_privilege('public', p.oid, 'EXECUTE') AS public_exec,
                            p.prosecdef AS definer, p.proconfig AS config
                       FROM pg_proc AS p WHERE p.pronamespace = 'racefree'::regnamespace ORDER BY 1`)
      ).rows,
  );
  t.true(rows.length > 0);
  for (const r of rows) {
    t.truthy(r.comment, `${r.name} has a COMMENT`);
    t.false(r.public_exec, `${r.name} is not executable by PUBLIC`);
    if (r.definer) t.deepEqual(r.config, ['search_path=pg_catalog, pg_temp'], `${r.name} pins search_path`);
  }
  const granted = await withClient(
    url(),
    async (c) =>
      (
        await c.query(`SELECT has_function_privilege('racefree_admin', 'racefree.next_value(text, text)', 'EXECUTE')
                          AND NOT has_function_privilege('racefree_user', 'racefree.next_value(text, text)', 'EXECUTE') AS ok`)
      ).rows[0].ok,
  );
  t.true(granted);
});
