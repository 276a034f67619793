import test from 'ava';
import pg from 'pg';
import { DuplicateRowsError, RacefreeConfigError, UniqueViolationError } from '../src/errors/classes.js';
import { wrapError } from '../src/errors/from-pg.js';
import { addUniqueKey, dropUniqueKey, type AddUniqueKeyOptions } from '../src/migrate/index.js';
import { quoteIdent } from '../src/quote.js';
import { blockedBy, pidOf, tracked } from './helpers/blocking.js';
import { connect, exclusively, useTestDatabase, withClient, withPool } from './helpers/db.js';
import { runMigration } from './helpers/migration.js';

const url = useTestDatabase(test);

async function sql<R extends pg.QueryResultRow = any>(text: string, values: unknown[] = []): Promise<R[]> {
  return withClient(url(), async (c) => (await c.query<R>(text, values)).rows);
}

/** The unique constraints and unique indexes of a table, and whether each index is valid. */
async function uniqueKeys(table: string) {
  return sql(
    `SELECT c.relname AS name, i.indisvalid AS valid, pg_get_indexdef(i.indexrelid) AS def,
            (SELECT contype::text FROM pg_constraint WHERE conindid = i.indexrelid) AS constraint
       FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid
      WHERE i.indrelid = $1::regclass AND i.indisunique AND NOT i.indisprimary ORDER BY 1`,
    [table],
  );
}

const add = (options: AddUniqueKeyOptions) => runMigration(url(), (pgm) => addUniqueKey(pgm, options));

test('a table holding duplicates: DuplicateRowsError lists the groups and the total, and nothing is created', async (t) => {
  await sql(`CREATE TABLE users (id serial PRIMARY KEY, slack_id text, discipline text, name text)`);
  await sql(`INSERT INTO users (slack_id, discipline) VALUES
    ('U1', 'ui'), ('U1', 'ui'), ('U1', 'ui'), ('U1', 'backend'), ('U2', 'backend'), ('U2', 'backend'),
    ('U3', 'ui'), (NULL, 'ui'), (NULL, 'ui')`);
  const error = await t.throwsAsync(add({ table: 'users', columns: ['slack_id', 'discipline'] }), { instanceOf: DuplicateRowsError });
  t.is(error?.code, 'RF101');
  t.is(error?.table, 'public.users');
  t.deepEqual(error?.columns, ['slack_id', 'discipline']);
  // Largest group first; NULLs are distinct, so (NULL, ui) is no duplicate.
  t.deepEqual(error?.groups, [
    { values: ['U1', 'ui'], count: 3 },
    { values: ['U2', 'backend'], count: 2 },
  ]);
  t.is(error?.total, 2);
  t.regex(
    error!.message,
    /^public\.users holds 2 groups of rows with the same \(slack_id, discipline\); nothing was changed\.\n {2}\(U1, ui\) x3\n {2}\(U2, backend\) x2\n/,
  );
  t.deepEqual(await uniqueKeys('users'), []);

  // With NULLS NOT DISTINCT the two (NULL, ui) rows collide too.
  const nnd = await t.throwsAsync(add({ table: 'users', columns: ['slack_id', 'discipline'], nullsNotDistinct: true }), {
    instanceOf: DuplicateRowsError,
  });
  t.deepEqual(
    nnd?.groups?.map((g) => g.values),
    [
      ['U1', 'ui'],
      [null, 'ui'],
      ['U2', 'backend'],
    ],
  );

  await sql(`DELETE FROM users WHERE id NOT IN (SELECT min(id) FROM users GROUP BY slack_id, discipline)`);
  await add({ table: 'users', columns: ['slack_id', 'discipline'], nullsNotDistinct: true });
  t.deepEqual(await uniqueKeys('users'), [
    {
      name: 'users_slack_id_discipline_key',
      valid: true,
      def: 'CREATE UNIQUE INDEX users_slack_id_discipline_key ON public.users USING btree (slack_id, discipline) NULLS NOT DISTINCT',
      constraint: 'u',
    },
  ]);
  const again = wrapError(await t.throwsAsync(sql(`INSERT INTO users (slack_id, discipline) VALUES (NULL, 'ui')`)));
  t.true(again instanceof UniqueViolationError);
  t.is((again as UniqueViolationError).constraint, 'users_slack_id_discipline_key');
  // A user may hold several disciplines, as seed 004 wanted.
  await sql(`INSERT INTO users (slack_id, discipline) VALUES ('U3', 'backend')`);
});

test('at most 10 groups are listed, largest first; total counts them all', async (t) => {
  await sql(`CREATE TABLE many (k int)`);
  await sql(`INSERT INTO many SELECT g % 25 FROM generate_series(1, 100 + 3) AS g`);
  const error = await t.throwsAsync(add({ table: 'many', columns: 'k' }), { instanceOf: DuplicateRowsError });
  t.is(error?.total, 25);
  t.is(error?.groups?.length, 10);
  t.deepEqual(error?.groups?.slice(0, 4), [
    { values: ['1'], count: 5 },
    { values: ['2'], count: 5 },
    { values: ['3'], count: 5 },
    { values: ['0'], count: 4 },
  ]);
});

test('partial key: one active sprint per team; closed ones may repeat', async (t) => {
  await sql(`CREATE TABLE sprints (id serial PRIMARY KEY, team_id int NOT NULL, status text NOT NULL)`);
  await sql(`INSERT INTO sprints (team_id, status) VALUES (1, 'closed'), (1, 'closed'), (1, 'active'), (2, 'active'), (2, 'active')`);
  const key: AddUniqueKeyOptions = { table: 'sprints', columns: ['team_id'], where: "status = 'active'", name: 'one_active_sprint' };
  const error = await t.throwsAsync(add(key), { instanceOf: DuplicateRowsError });
  t.deepEqual(error?.groups, [{ values: ['2'], count: 2 }]);
  t.regex(error!.message, /\(team_id\)/);
  await sql(`UPDATE sprints SET status = 'closed' WHERE id = 4`);
  await add(key);
  t.deepEqual(await uniqueKeys('sprints'), [
    {
      name: 'one_active_sprint',
      valid: true,
      def: "CREATE UNIQUE INDEX one_active_sprint ON public.sprints USING btree (team_id) WHERE (status = 'active'::text)",
      constraint: null,
    },
  ]);
  const second = wrapError(await t.throwsAsync(sql(`INSERT INTO sprints (team_id, status) VALUES (1, 'active')`)));
  t.true(second instanceof UniqueViolationError);
  t.deepEqual((second as UniqueViolationError).columns, ['team_id']);
  await sql(`INSERT INTO sprints (team_id, status) VALUES (1, 'closed'), (1, 'closed'), (3, 'active')`);
  t.is((await sql(`SELECT count(*)::int AS n FROM sprints WHERE team_id = 1`))[0].n, 5);
});

test('a duplicate written while the migration waits for its lock is found by the check, not by CREATE INDEX', async (t) => {
  await sql(`CREATE TABLE racing (k text)`);
  const [writer, observer] = [await connect(url()), await connect(url())];
  try {
    await writer.query('BEGIN');
    await writer.query(`INSERT INTO racing VALUES ('a')`);
    await sql(`INSERT INTO racing VALUES ('a')`).catch(() => undefined); // committed: the first of the pair
    const migration = tracked(add({ table: 'racing', columns: 'k' }));
    migration.promise.catch(() => undefined);
    // The migration's SHARE lock waits for the open writer; the check runs after it commits.
    const migrator = await waitForQuery(observer, ['SELECT racefree.add_unique_key', 'racing'], migration.settled);
    t.deepEqual(await blockedBy(observer, migrator, migration.settled), [await pidOf(writer)]);
    await writer.query('COMMIT');
    const error = await t.throwsAsync(migration.promise, { instanceOf: DuplicateRowsError });
    t.deepEqual(error?.groups, [{ values: ['a'], count: 2 }]);
    t.deepEqual(await uniqueKeys('racing'), []);
  } finally {
    await Promise.all([writer.end(), observer.end()]);
  }
});

test('bad options found in the database fail the migration with RacefreeConfigError and create nothing', async (t) => {
  await sql(`CREATE TABLE cfg (id serial PRIMARY KEY, a int, b text)`);
  await sql(`CREATE INDEX taken ON cfg (b)`);
  const cases: Array<[Partial<AddUniqueKeyOptions>, string, RegExp]> = [
    [{ table: 'missing' }, 'table', /table "missing" does not exist/],
    [{ columns: ['a', 'nope'] }, 'columns', /column nope does not exist in table cfg/],
    [{ name: 'taken' }, 'name', /already exists/],
    [{ name: 'cfg_pkey' }, 'name', /already exists/],
    [{ where: 'a >' }, 'where', /option "where" is not a condition on cfg: syntax error/],
    [{ where: 'nope = 1' }, 'where', /column "nope" does not exist/],
    [{ where: 'a > random()' }, 'where', /IMMUTABLE/],
    [{ columns: [] }, 'columns', /at least one column/],
    [{ columns: ['a', 'a'] }, 'columns', /names column a twice/],
    [{ columns: [''] }, 'columns', /empty/],
    [{ name: 'n'.repeat(64) }, 'name', /64 bytes; PostgreSQL names hold at most 63/],
    [{ name: '' }, 'name', /non-empty/],
    [{ where: '' }, 'where', /non-empty/],
  ];
  for (const [override, option, message] of cases) {
    for (const concurrently of [false, true]) {
      const error = await t.throwsAsync(add({ table: 'cfg', columns: ['a'], concurrently, ...override }), {
        instanceOf: RacefreeConfigError,
        message,
      });
      t.is(error?.option, option, JSON.stringify({ ...override, concurrently }));
    }
  }
  t.deepEqual(
    (await uniqueKeys('cfg')).map((k) => k.name),
    [],
  );
});

test('options of the wrong type are rejected before any SQL is queued', (t) => {
  const cases: Array<[Partial<AddUniqueKeyOptions>, string, RegExp]> = [
    [{ columns: 5 as never }, 'columns', /column name or an array/],
    [{ columns: [7] as never }, 'columns', /must be a string/],
    [{ where: 1 as never }, 'where', /must be a string/],
    [{ nullsNotDistinct: 'no' as never }, 'nullsNotDistinct', /true or false/],
    [{ concurrently: 'yes' as never }, 'concurrently', /true or false/],
    [{ table: { schema: '', name: 'x' } }, 'table.schema', /non-empty/],
  ];
  for (const [override, option, message] of cases) {
    let queued = 0;
    const pgm = { sql: () => queued++, noTransaction: () => queued++ } as never;
    const error = t.throws(() => addUniqueKey(pgm, { table: 't', columns: ['a'], ...override }), { instanceOf: RacefreeConfigError, message });
    t.is(error?.option, option);
    t.is(queued, 0);
  }
});

test("the default name is <table>_<columns>_key (PostgreSQL's own for short names), cut to 63 bytes", async (t) => {
  const long = `t_${'x'.repeat(40)}`;
  await sql(`CREATE TABLE ${long} (${'c'.repeat(30)} int, b int)`);
  await add({ table: long, columns: ['c'.repeat(30), 'b'] });
  const [key] = await uniqueKeys(long);
  t.is(Buffer.byteLength(key.name), 63);
  t.regex(key.name, /^t_x+_c+_key$/);
  await runMigration(url(), (pgm) => dropUniqueKey(pgm, { table: long, columns: ['c'.repeat(30), 'b'] }));
  t.deepEqual(await uniqueKeys(long), []);
});

test('dropUniqueKey undoes addUniqueKey: the catalog is as before, for constraints and partial indexes', async (t) => {
  await sql(`CREATE TABLE dr (id serial PRIMARY KEY, a int, b int, status text, UNIQUE (b))`);
  const catalog = () =>
    sql(`SELECT (SELECT array_agg(conname ORDER BY conname) FROM pg_constraint WHERE conrelid = 'dr'::regclass) AS constraints,
                (SELECT array_agg(indexrelid::regclass::text ORDER BY 1) FROM pg_index WHERE indrelid = 'dr'::regclass) AS indexes`);
  const before = await catalog();
  const keys: AddUniqueKeyOptions[] = [
    { table: 'dr', columns: ['a', 'b'] },
    { table: { schema: 'public', name: 'dr' }, columns: ['a'], where: "status = 'x'", name: 'dr_partial' },
    { table: 'dr', columns: ['status'], concurrently: true },
    { table: 'dr', columns: ['a', 'status'], where: 'a > 0', concurrently: true, nullsNotDistinct: true },
  ];
  for (const key of keys) await add(key);
  t.is((await uniqueKeys('dr')).length, 5);
  for (const key of keys) await runMigration(url(), (pgm) => dropUniqueKey(pgm, key));
  t.deepEqual(await catalog(), before);
  await t.throwsAsync(
    runMigration(url(), (pgm) => dropUniqueKey(pgm, keys[0]!)),
    {
      instanceOf: RacefreeConfigError,
      message: /no unique key "?dr_a_b_key"? on table dr/,
    },
  );
});

test('hostile identifiers are names, never SQL', async (t) => {
  const table = 'u"; DROP TABLE canary; --';
  await sql('CREATE TABLE canary (x int)');
  await sql(`CREATE TABLE ${quoteIdent(table)} (${quoteIdent('Key "1"')} text, ${quoteIdent('b; --')} text)`);
  await sql(`INSERT INTO ${quoteIdent(table)} VALUES ('x', 'y'), ('x', 'y')`);
  const error = await t.throwsAsync(add({ table, columns: ['Key "1"', 'b; --'] }), { instanceOf: DuplicateRowsError });
  t.deepEqual(error?.columns, ['Key "1"', 'b; --']);
  await sql(`DELETE FROM ${quoteIdent(table)} WHERE ctid = (SELECT min(ctid) FROM ${quoteIdent(table)})`);
  await add({ table, columns: ['Key "1"', 'b; --'], name: 'weird"key' });
  await add({ table, columns: ['b; --'], name: 'weird"concurrent', concurrently: true });
  t.deepEqual(
    (await uniqueKeys(quoteIdent(table))).map((k) => k.name),
    ['weird"concurrent', 'weird"key'],
  );
  t.is((await sql(`SELECT to_regclass('canary') IS NOT NULL AS ok`))[0].ok, true);
});

// ---------------------------------------------------------------------------
// concurrently

test.serial('concurrently: writers keep running while the index is built', async (t) => {
  await sql(`CREATE TABLE live (id bigserial PRIMARY KEY, k text NOT NULL)`);
  await sql(`INSERT INTO live (k) SELECT 'old-' || g FROM generate_series(1, 1000) AS g`);
  await exclusively(async () => {
    const [holder, observer] = [await connect(url()), await connect(url())];
    try {
      // An open writer: CREATE INDEX CONCURRENTLY waits for it before building.
      await holder.query('BEGIN');
      await holder.query(`INSERT INTO live (k) VALUES ('held')`);
      const migration = tracked(add({ table: 'live', columns: 'k', concurrently: true }));
      migration.promise.catch(() => undefined);
      const builder = await waitForQuery(observer, ['CREATE UNIQUE INDEX CONCURRENTLY', ' ON "live" '], migration.settled);
      t.deepEqual(await blockedBy(observer, builder, migration.settled), [await pidOf(holder)]);
      // While the build is in progress, 8 other connections write; a blocked
      // writer would hit the lock timeout instead.
      const written = await withPool(
        url(),
        (pool) =>
          Promise.all(
            Array.from({ length: 8 }, async (_, w) => {
              const c = await pool.connect();
              try {
                await c.query(`SET lock_timeout = '3s'`);
                for (let i = 0; i < 50; i++) await c.query('INSERT INTO live (k) VALUES ($1)', [`during-${w}-${i}`]);
              } finally {
                c.release();
              }
              return 50;
            }),
          ),
        { max: 8 },
      );
      t.false(migration.settled(), 'the build was still waiting while the writers wrote');
      t.deepEqual(written, Array(8).fill(50));
      await holder.query('COMMIT');
      await migration.promise;
      t.deepEqual(await uniqueKeys('live'), [
        { name: 'live_k_key', valid: true, def: 'CREATE UNIQUE INDEX live_k_key ON public.live USING btree (k)', constraint: 'u' },
      ]);
      t.is((await sql(`SELECT count(*)::int AS n FROM live`))[0].n, 1000 + 1 + 400);
    } finally {
      await Promise.all([holder.end(), observer.end()]);
    }
  });
});

test.serial('concurrently: writers running throughout never fail, and the key holds afterwards', async (t) => {
  await sql(`CREATE TABLE busy (id bigserial PRIMARY KEY, k text NOT NULL)`);
  await sql(`INSERT INTO busy (k) SELECT 'seed-' || g FROM generate_series(1, 20000) AS g`);
  await exclusively(() =>
    withPool(
      url(),
      async (pool) => {
        let done = false;
        const errors: unknown[] = [];
        let writes = 0;
        const writers = Array.from({ length: 6 }, async (_, w) => {
          for (let i = 0; !done; i++) {
            await pool.query('INSERT INTO busy (k) VALUES ($1)', [`w${w}-${i}`]).then(
              () => writes++,
              (e: unknown) => errors.push(e),
            );
          }
        });
        // Writes before, during and after the build.
        while (writes < 100) await new Promise((resolve) => setImmediate(resolve));
        const before = writes;
        await add({ table: 'busy', columns: ['k'], concurrently: true, name: 'busy_k' });
        const during = writes - before;
        done = true;
        await Promise.all(writers);
        t.deepEqual(errors, []);
        t.true(during > 0, 'writes completed while the migration ran');
        t.like((await uniqueKeys('busy'))[0], { name: 'busy_k', valid: true, constraint: 'u' });
        const dup = wrapError(await t.throwsAsync(pool.query(`INSERT INTO busy (k) VALUES ('w0-0')`)));
        t.true(dup instanceof UniqueViolationError);
      },
      { max: 7 },
    ),
  );
});

test('concurrently: an INVALID index left by a failed build is dropped and built again', async (t) => {
  await sql(`CREATE TABLE retry (k int)`);
  await sql(`INSERT INTO retry VALUES (1), (1), (2)`);
  // What a failed concurrent build leaves behind.
  await t.throwsAsync(sql(`CREATE UNIQUE INDEX CONCURRENTLY retry_k_key ON retry (k)`), { message: /could not create unique index/ });
  t.like((await uniqueKeys('retry'))[0], { name: 'retry_k_key', valid: false });
  // Still duplicates: reported, and the leftover stays for the next attempt.
  const error = await t.throwsAsync(add({ table: 'retry', columns: 'k', concurrently: true }), { instanceOf: DuplicateRowsError });
  t.deepEqual(error?.groups, [{ values: ['1'], count: 2 }]);
  await sql(`DELETE FROM retry WHERE ctid = (SELECT max(ctid) FROM retry WHERE k = 1)`);
  await add({ table: 'retry', columns: 'k', concurrently: true });
  t.deepEqual(await uniqueKeys('retry'), [
    { name: 'retry_k_key', valid: true, def: 'CREATE UNIQUE INDEX retry_k_key ON public.retry USING btree (k)', constraint: 'u' },
  ]);
});

test('concurrently: a valid index of the same name is never dropped', async (t) => {
  await sql(`CREATE TABLE keep (k int, j int)`);
  await sql(`CREATE UNIQUE INDEX keep_k_key ON keep (j)`);
  await t.throwsAsync(add({ table: 'keep', columns: 'k', concurrently: true }), {
    instanceOf: RacefreeConfigError,
    message:
      /index keep_k_key already exists on table keep as CREATE UNIQUE INDEX keep_k_key ON keep USING btree \(j\), not the key asked for, CREATE UNIQUE INDEX keep_k_key ON keep USING btree \(k\)/,
  });
  t.like((await uniqueKeys('keep'))[0], { name: 'keep_k_key', valid: true, def: 'CREATE UNIQUE INDEX keep_k_key ON public.keep USING btree (j)' });
});

test('concurrently: a partial key stays a unique index', async (t) => {
  await sql(`CREATE TABLE psprints (team_id int, status text)`);
  await add({ table: 'psprints', columns: 'team_id', where: "status = 'active'", concurrently: true, name: 'psprints_active' });
  t.deepEqual(await uniqueKeys('psprints'), [
    {
      name: 'psprints_active',
      valid: true,
      def: "CREATE UNIQUE INDEX psprints_active ON public.psprints USING btree (team_id) WHERE (status = 'active'::text)",
      constraint: null,
    },
  ]);
});

/** The pid of the backend running a statement that contains every fragment, once it runs. */
async function waitForQuery(observer: pg.ClientBase, fragments: string[], settled: () => boolean): Promise<number> {
  for (;;) {
    if (settled()) throw new Error(`the migration ended before running ${fragments.join(' ... ')}`);
    const { rows } = await observer.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()
          AND (SELECT bool_and(strpos(query, f) > 0) FROM unnest($1::text[]) AS f)`,
      [fragments],
    );
    if (rows[0] !== undefined) return rows[0].pid;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
