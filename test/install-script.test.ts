import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';

import { kitInstallScript } from '../src/tooling/install-script.js';
import { root, runCli } from './helpers/cli.js';
import { useTestDatabase, withClient, withEmptyDatabase } from './helpers/db.js';
import { KIT, kitGuard, kitObjects, laterKit } from './helpers/kit.js';
import { runPsql, spawnPsql } from './helpers/psql.js';

const url = useTestDatabase(test);
const INSTALL_SQL = path.join(root, 'sql/install.sql');
const LOCK = '8241978080226338149';

const laterMigration = async () => {
  const guard = (await kitGuard()).replace(/^--.*\n/gm, '');
  return `-- A later kit migration (test fixture).

-- Up Migration
${guard}CREATE TABLE racefree.later_kit_fixture (id int);

-- Down Migration
${guard}DROP TABLE racefree.later_kit_fixture;
`;
};

/** `racefree sql --out FILE` of `cli` (default this kit), then psql -f FILE without -v: the script stops on errors itself. */
async function installWithPsql(dbUrl: string, cli?: string) {
  const file = path.join(root, 'dist/test', `install-${process.pid}-${Math.random().toString(36).slice(2)}.sql`);
  const written = await runCli(['sql', '--out', file], cli === undefined ? {} : { cli });
  if (written.code !== 0) throw new Error(written.stderr);
  try {
    return await runPsql(['-f', file], dbUrl);
  } finally {
    await rm(file, { force: true });
  }
}

const kitLane = (dbUrl: string) =>
  withClient(dbUrl, async (c) => (await c.query<{ name: string }>('SELECT name FROM racefree.kit_migrations ORDER BY run_on, id')).rows.map((r) => r.name));

const doctorJson = async (dbUrl: string, cli?: string) => {
  const r = await runCli(['doctor', '--json', '--database-url', dbUrl], { cwd: path.join(root, 'dist'), ...(cli === undefined ? {} : { cli }) });
  return { code: r.code, report: JSON.parse(r.stdout) as { ok: boolean; findings: unknown[] } };
};

test('sql/install.sql is what `racefree sql` writes for the kit migrations (else: npm run install-sql)', async (t) => {
  const printed = await runCli(['sql']);
  t.is(printed.code, 0, printed.stderr);
  t.is(printed.stdout, await kitInstallScript());
  t.is(await readFile(INSTALL_SQL, 'utf8'), printed.stdout, 'sql/install.sql is out of date with migrations/: run `npm run install-sql` and commit it');
  for (const name of KIT) t.true(printed.stdout.includes(`\\echo 'racefree: applying kit migration ${name}'`), name);
  const help = await runCli(['sql', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /psql -v ON_ERROR_STOP=1 -f racefree.sql/);
  t.is((await runCli(['sql', 'extra'])).code, 2);
  t.is((await runCli(['sql', '--outfile', 'x'])).code, 2);
});

test.serial(
  '`racefree sql` into psql installs the kit as `migrate up` does: status and doctor clean, the same objects; a second run changes nothing',
  async (t) => {
    await withEmptyDatabase(async (dbUrl) => {
      const first = await installWithPsql(dbUrl);
      t.is(first.code, 0, first.stderr);
      t.is(first.stderr, '');
      t.is(
        first.stdout,
        [...KIT.map((n) => `racefree: applying kit migration ${n}`), `racefree: kit migrations up to date (${KIT.length}, last ${KIT.at(-1)})`, ''].join('\n'),
      );

      const status = await runCli(['migrate', 'status', '--json', '--database-url', dbUrl, '--dir', path.join(root, 'dist/test/.none')]);
      t.is(status.code, 0, status.stderr);
      t.deepEqual(JSON.parse(status.stdout).kit, { applied: KIT, pending: [] });
      t.deepEqual(await doctorJson(dbUrl), { code: 0, report: { ok: true, findings: [] } });
      t.deepEqual(await kitObjects(dbUrl), await kitObjects(url()), 'what migrate up installed in the template');
      const up = await runCli(['migrate', 'up', '--database-url', dbUrl], { cwd: path.join(root, 'dist') });
      t.is(up.code, 0, up.stderr);
      t.regex(up.stdout, /applied 0 kit and 0 user/);

      const again = await installWithPsql(dbUrl);
      t.is(again.code, 0, again.stderr);
      t.is(again.stdout, `racefree: kit migrations up to date (${KIT.length}, last ${KIT.at(-1)})\n`);
      t.deepEqual(await kitLane(dbUrl), KIT);
    });
  },
);

test.serial('a later kit migration on a psql-installed database: `migrate up` of the later kit applies just it, and so does its `racefree sql`', async (t) => {
  const later = await laterKit({ '9999_later-kit-fixture.sql': await laterMigration() });
  try {
    // migrate up of the later kit
    await withEmptyDatabase(async (dbUrl) => {
      t.is((await installWithPsql(dbUrl)).code, 0);
      const up = await runCli(['migrate', 'up', '--database-url', dbUrl], { cli: later.cli, cwd: path.join(root, 'dist') });
      t.is(up.code, 0, up.stderr);
      t.regex(up.stdout, /applied 1 kit and 0 user/);
      t.deepEqual(await kitLane(dbUrl), [...KIT, '9999_later-kit-fixture']);
      t.deepEqual(await doctorJson(dbUrl, later.cli), { code: 0, report: { ok: true, findings: [] } });
      // This kit's doctor sees a database ahead of it.
      const older = await doctorJson(dbUrl);
      t.is(older.code, 1);
      t.like(older.report.findings, [{ check: 'migrations', object: 'kit migration 9999_later-kit-fixture' }]);
    });
    // the later kit's script
    await withEmptyDatabase(async (dbUrl) => {
      t.is((await installWithPsql(dbUrl)).code, 0);
      const upgrade = await installWithPsql(dbUrl, later.cli);
      t.is(upgrade.code, 0, upgrade.stderr);
      t.is(
        upgrade.stdout,
        `racefree: applying kit migration 9999_later-kit-fixture\nracefree: kit migrations up to date (${KIT.length + 1}, last 9999_later-kit-fixture)\n`,
      );
      t.deepEqual(await kitLane(dbUrl), [...KIT, '9999_later-kit-fixture']);
      const table = await withClient(dbUrl, async (c) => (await c.query(`SELECT to_regclass('racefree.later_kit_fixture')::text AS t`)).rows[0].t);
      t.is(table, 'racefree.later_kit_fixture');
      t.deepEqual(await doctorJson(dbUrl, later.cli), { code: 0, report: { ok: true, findings: [] } });
    });
  } finally {
    await later.remove();
  }
});

test.serial("the script waits for a running migrator's lock, says so, then applies the kit once", async (t) => {
  await withEmptyDatabase(async (dbUrl) => {
    const file = path.join(root, 'dist/test', `install-wait-${process.pid}.sql`);
    await writeFile(file, await kitInstallScript());
    try {
      await withClient(dbUrl, async (holder) => {
        await holder.query(`SELECT pg_advisory_lock(${LOCK})`);
        const psql = spawnPsql(['-f', file], dbUrl);
        let stdout = '';
        // The line may reach this process after the backend is seen waiting: read it as it comes.
        const announced = new Promise<void>((resolve) =>
          psql.stdout.on('data', (d) => {
            stdout += d;
            if (stdout.includes('\n')) resolve();
          }),
        );
        const exited = new Promise<number | null>((resolve) => psql.on('close', resolve));
        // Deterministic: wait until psql's backend is blocked on our lock.
        for (;;) {
          const { rows } = await holder.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'advisory' AND application_name = 'psql'`,
          );
          if (rows[0].n > 0) break;
          if (psql.exitCode !== null) break;
        }
        t.is(psql.exitCode, null, 'psql waits');
        await Promise.race([announced, exited]);
        t.regex(stdout, /^waiting: another migration holds the lock\n/);
        t.is(
          await withClient(dbUrl, async (c) => (await c.query(`SELECT to_regclass('racefree.kit_migrations') AS t`)).rows[0].t),
          null,
          'nothing before the lock',
        );
        await holder.query(`SELECT pg_advisory_unlock(${LOCK})`);
        t.is(await exited, 0);
      });
      t.deepEqual(await kitLane(dbUrl), KIT);
    } finally {
      await rm(file, { force: true });
    }
  });
});

test.serial('the script refuses a kit lane recorded out of order, with the message migrate up gives', async (t) => {
  await withEmptyDatabase(async (dbUrl) => {
    t.is((await installWithPsql(dbUrl)).code, 0);
    await withClient(dbUrl, (c) => c.query(`DELETE FROM racefree.kit_migrations WHERE name = $1`, [KIT[1]]));
    const expected = `Not run migration ${KIT[1]} is preceding already run migration ${KIT[2]}`;
    const script = await installWithPsql(dbUrl);
    t.is(script.code, 3);
    t.true(script.stderr.includes(expected), script.stderr);
    const up = await runCli(['migrate', 'up', '--database-url', dbUrl], { cwd: path.join(root, 'dist') });
    t.is(up.code, 1);
    t.true(up.stderr.includes(expected), up.stderr);
    t.deepEqual(
      await kitLane(dbUrl),
      KIT.filter((n) => n !== KIT[1]),
      'nothing recorded',
    );
  });
});

test('psql -f on a kit migration file fails loudly and installs nothing', async (t) => {
  await withEmptyDatabase(async (dbUrl) => {
    for (const name of KIT) {
      const file = path.join(root, 'migrations', `${name}.sql`);
      const stopped = await runPsql(['-v', 'ON_ERROR_STOP=1', '-f', file], dbUrl);
      t.is(stopped.code, 3, name);
      t.regex(stopped.stderr, /ERROR: {2}racefree kit migrations are applied by racefree migrate up, or with psql by the script racefree sql writes/);
      t.regex(stopped.stderr, /HINT: {2}racefree sql --out racefree.sql && psql -v ON_ERROR_STOP=1 -f racefree.sql/);
      t.is(await withClient(dbUrl, async (c) => (await c.query(`SELECT to_regnamespace('racefree')::text AS s`)).rows[0].s), null, name);
    }
    // Without ON_ERROR_STOP psql carries on, but says so for each section.
    const carriedOn = await runPsql(['-f', path.join(root, 'migrations', `${KIT[0]}.sql`)], dbUrl);
    t.is(carriedOn.stderr.match(/racefree kit migrations are applied by racefree migrate up/g)?.length, 2);
  });
});

test('every kit migration starts its Up and its Down section with the kit-lane guard (sql/kit-guard.sql)', async (t) => {
  const guard = (await kitGuard()).replace(/^--.*\n/gm, '');
  for (const name of KIT) {
    const text = await readFile(path.join(root, 'migrations', `${name}.sql`), 'utf8');
    for (const section of ['Up', 'Down']) {
      const at = text.indexOf(`-- ${section} Migration\n`);
      t.true(at >= 0, `${name} has a ${section} section`);
      const rest = text
        .slice(at)
        .split('\n')
        .slice(1)
        .filter((line) => !line.startsWith('--'))
        .join('\n');
      t.true(rest.startsWith(guard), `${name}: its ${section} section starts with the statement of sql/kit-guard.sql`);
    }
  }
});
