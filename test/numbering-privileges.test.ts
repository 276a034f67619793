/**
 * Numbered inserts as an application role (LOGIN, NOSUPERUSER, granted
 * racefree_user, with privileges on its own tables only): the generated code
 * writes its counter as the numbering's owner, so the role takes numbers by
 * inserting and needs no privilege on the kit's tables. Serial: concurrent
 * GRANTs on one database row fail with "tuple concurrently updated".
 */
import test from 'ava';
import pg from 'pg';

import { addNumbering, addUpsert } from '../src/migrate/index.js';
import { useTestDatabase, withClient, withPool } from './helpers/db.js';
import { runMigration } from './helpers/migration.js';
import { withAppRole } from './helpers/roles.js';

const url = useTestDatabase(test);

test.serial('an application role numbers rows by inserting, explicit numbers move the counter, and it cannot write racefree.counters', async (t) => {
  await withClient(url(), (c) =>
    c.query(`
      CREATE TABLE pv_inv (id bigserial PRIMARY KEY, tenant text NOT NULL, n text);
      CREATE TABLE pv_asm (id bigserial PRIMARY KEY, n text);
      CREATE TABLE pv_fast (id bigserial PRIMARY KEY, tenant text NOT NULL, d date NOT NULL, n text);
      CREATE TABLE pv_plain (id bigserial PRIMARY KEY, n text);`),
  );
  await runMigration(url(), (pgm) => {
    addNumbering(pgm, { name: 'pv_inv', table: 'pv_inv', column: 'n', template: '{tenant}-{seq}' });
    addNumbering(pgm, { name: 'pv_asm', table: 'pv_asm', column: 'n', template: 'A-{YYYY}-{seq}' });
    addNumbering(pgm, { name: 'pv_fast', table: 'pv_fast', column: 'n', template: 'T-{tenant}-{YYYY}-{seq}', mode: 'fast', dateColumn: 'd' });
    addNumbering(pgm, { name: 'pv_plain', table: 'pv_plain', column: 'n', template: 'P-{seq}', mode: 'fast' });
  });
  await withAppRole(url(), ['racefree_user'], async (app) => {
    await withClient(url(), (c) =>
      c.query(`
        GRANT SELECT, INSERT ON pv_inv, pv_asm, pv_fast, pv_plain TO ${app.name};
        GRANT USAGE ON SEQUENCE pv_inv_id_seq, pv_asm_id_seq, pv_fast_id_seq, pv_plain_id_seq TO ${app.name};`),
    );
    const as = new pg.Client({ connectionString: app.url });
    await as.connect();
    try {
      const n = async (sql: string) => (await as.query<{ n: string }>(sql)).rows.map((r) => r.n);
      t.deepEqual(await n(`INSERT INTO pv_inv (tenant) VALUES ('x'), ('x'), ('y') RETURNING n`), ['x-1', 'x-2', 'y-1']);
      await as.query(`INSERT INTO pv_inv (tenant, n) VALUES ('x', 'x-10')`);
      t.deepEqual(await n(`INSERT INTO pv_inv (tenant) VALUES ('x') RETURNING n`), ['x-11']);
      const year = new Date().getUTCFullYear();
      t.deepEqual(await n(`INSERT INTO pv_asm DEFAULT VALUES RETURNING n`), [`A-${year}-1`]);
      await as.query(`INSERT INTO pv_asm (n) VALUES ('A-${year}-7')`);
      t.deepEqual(await n(`INSERT INTO pv_asm DEFAULT VALUES RETURNING n`), [`A-${year}-8`]);
      t.deepEqual(await n(`INSERT INTO pv_fast (tenant, d) VALUES ('x', '2026-12-31'), ('y', '2027-01-01') RETURNING n`), ['T-x-2026-1', 'T-y-2027-2']);
      await as.query(`INSERT INTO pv_fast (tenant, d, n) VALUES ('x', '2026-12-31', 'T-z-2020-40')`);
      t.deepEqual(await n(`INSERT INTO pv_fast (tenant, d) VALUES ('x', '2026-12-31') RETURNING n`), ['T-x-2026-41']);
      t.deepEqual(await n(`INSERT INTO pv_plain DEFAULT VALUES RETURNING n`), ['P-1']);
      await as.query(`INSERT INTO pv_plain (n) VALUES ('P-5')`);
      t.deepEqual(await n(`INSERT INTO pv_plain DEFAULT VALUES RETURNING n`), ['P-6']);
      // The counters themselves are the kit's: the role cannot move them.
      await t.throwsAsync(as.query(`UPDATE racefree.counters SET value = 1000 WHERE counter = 'public.pv_inv'`), { code: '42501' });
      await t.throwsAsync(as.query(`INSERT INTO racefree.counters (counter, scope, value) VALUES ('public.pv_asm', '1999', 5)`), {
        code: '42501',
      });
    } finally {
      await as.end();
    }
  });
  t.deepEqual(
    await withClient(
      url(),
      async (c) => (await c.query(`SELECT scope, value::int FROM racefree.counters WHERE counter = 'public.pv_inv' ORDER BY scope`)).rows,
    ),
    [
      { scope: '["x-", ""]', value: 11 },
      { scope: '["y-", ""]', value: 1 },
    ],
  );
});

test.serial('a gapless number is taken only by inserting: the generator is a trigger, the kit functions that move counters are closed', async (t) => {
  await withClient(url(), (c) =>
    c.query(`
      CREATE TABLE pv_gl (id bigserial PRIMARY KEY, title text NOT NULL UNIQUE, note text, n text NOT NULL);
      CREATE TABLE pv_secret (id bigserial PRIMARY KEY, n text);`),
  );
  await runMigration(url(), (pgm) => {
    addNumbering(pgm, { name: 'pv_gl', table: 'pv_gl', column: 'n', template: 'G-{seq}' });
    addNumbering(pgm, { name: 'pv_secret', table: 'pv_secret', column: 'n', template: 'S-{seq}' });
    addUpsert(pgm, { table: 'pv_gl', key: ['title'], update: ['note'] });
  });
  const admin = new pg.Client({ connectionString: url() });
  await admin.connect();
  const counter = async (name: string) =>
    (await admin.query<{ v: number }>(`SELECT coalesce(max(value), 0)::int AS v FROM racefree.counters WHERE counter = $1`, [name])).rows[0]!.v;
  try {
    // No column DEFAULT: the trigger fills the column, so nothing callable hands out a number.
    t.deepEqual(
      (await admin.query(`SELECT attname FROM pg_attrdef JOIN pg_attribute ON attrelid = adrelid AND attnum = adnum WHERE adrelid = 'pv_gl'::regclass`)).rows,
      [{ attname: 'id' }],
    );
    for (const fn of ['racefree_internal._numbering_explicit()', 'racefree_internal._numbering_advance(text, text)', 'racefree.next_value(text, text)']) {
      t.false((await admin.query(`SELECT has_function_privilege('racefree_user', $1, 'EXECUTE') AS ok`, [fn])).rows[0].ok, fn);
    }
    await withAppRole(url(), ['racefree_user'], async (app) => {
      await admin.query(`GRANT SELECT, INSERT, UPDATE ON pv_gl TO ${app.name}; GRANT USAGE ON SEQUENCE pv_gl_id_seq TO ${app.name}`);
      const as = new pg.Client({ connectionString: app.url });
      await as.connect();
      try {
        const n = async (sql: string) => (await as.query<{ n: string }>(sql)).rows.map((r) => r.n);
        t.deepEqual(await n(`INSERT INTO pv_gl (title) VALUES ('a') RETURNING n`), ['G-1']);

        // Calling the generator without inserting: refused before its body runs; no number taken, no lock held.
        await as.query('BEGIN');
        await t.throwsAsync(as.query('SELECT generate_pv_gl_number()'), { code: '0A000', message: /trigger functions can only be called as triggers/ });
        const appPid = (await admin.query(`SELECT pid FROM pg_stat_activity WHERE usename = $1`, [app.name])).rows[0].pid;
        t.deepEqual((await admin.query(`SELECT mode FROM pg_locks WHERE pid = $1 AND relation = 'racefree.counters'::regclass`, [appPid])).rows, []);
        // The counter row is free: another session can lock it at once.
        await admin.query('BEGIN');
        t.is((await admin.query(`SELECT value::int FROM racefree.counters WHERE counter = 'public.pv_gl' FOR UPDATE NOWAIT`)).rows[0].value, 1);
        await admin.query('ROLLBACK');
        await as.query('ROLLBACK');
        for (const call of [
          `SELECT racefree_internal._numbering_advance('public.pv_gl', 'G-500000')`,
          `SELECT racefree_internal._numbering_explicit()`,
          `SELECT racefree.next_value('public.pv_gl')`,
        ]) {
          await t.throwsAsync(as.query(call), { code: '42501' }, call);
        }
        t.is(await counter('public.pv_gl'), 1);

        // A table the role may not INSERT into: none of its numbers at all.
        await t.throwsAsync(as.query('INSERT INTO pv_secret DEFAULT VALUES'), { code: '42501' });
        await t.throwsAsync(as.query('SELECT generate_pv_secret_number()'), { code: '0A000' });
        await t.throwsAsync(as.query(`SELECT racefree_internal._numbering_advance('public.pv_secret', 'S-999')`), { code: '42501' });
        t.is(await counter('public.pv_secret'), 0);

        // What a service does: numbered inserts, explicit numbers, NULL, rollbacks, upserts.
        await as.query(`INSERT INTO pv_gl (title, n) VALUES ('b', 'G-10')`);
        t.is(await counter('public.pv_gl'), 10);
        t.deepEqual(await n(`INSERT INTO pv_gl (title, n) VALUES ('c', NULL), ('d', DEFAULT) RETURNING n`), ['G-11', 'G-12']);
        await as.query('BEGIN');
        t.deepEqual(await n(`INSERT INTO pv_gl (title) VALUES ('e') RETURNING n`), ['G-13']);
        await as.query('ROLLBACK');
        t.deepEqual(await n(`INSERT INTO pv_gl (title) VALUES ('e') RETURNING n`), ['G-13']);
        t.deepEqual((await as.query(`SELECT n, action FROM upsert_pv_gl(title => 'f')`)).rows, [{ n: 'G-14', action: 'inserted' }]);
        t.deepEqual(
          (await as.query(`SELECT n, action FROM upsert_pv_gl_many('[{"title": "g"}, {"title": "h"}]')`)).rows.map((r) => r.action),
          ['inserted', 'inserted'],
        );
        t.deepEqual(await n(`INSERT INTO pv_gl (title) VALUES ('i') ON CONFLICT (title) DO NOTHING RETURNING n`), ['G-17']);
        // An upsert that finds its row keeps the row's number.
        t.deepEqual((await as.query(`SELECT n, note, action FROM upsert_pv_gl(title => 'a', note => 'x')`)).rows, [{ n: 'G-1', note: 'x', action: 'updated' }]);
        t.deepEqual(await n(`INSERT INTO pv_gl (title, note) VALUES ('b', 'y') ON CONFLICT (title) DO UPDATE SET note = excluded.note RETURNING n`), ['G-10']);
      } finally {
        await as.end();
      }

      // 32 concurrent inserters as the role: one number each, no gap, no error.
      await admin.query(`DELETE FROM pv_gl; DELETE FROM racefree.counters WHERE counter = 'public.pv_gl'`);
      const numbers = await withPool(
        app.url,
        async (pool) =>
          (
            await Promise.all(
              Array.from(
                { length: 320 },
                async (_, i) => (await pool.query<{ n: string }>(`INSERT INTO pv_gl (title) VALUES ($1) RETURNING n`, [`t${i}`])).rows[0]!.n,
              ),
            )
          ).map((s) => Number(s.slice(2))),
        { max: 32 },
      );
      t.deepEqual(
        numbers.sort((a, b) => a - b),
        Array.from({ length: 320 }, (_, i) => i + 1),
      );
    });
  } finally {
    await admin.end();
  }
});

test.serial(
  "a fast DEFAULT's explicit-number trigger runs as the inserting role: its owner-rights call moves only a fast sequence, only for a transaction writing the table, whatever the role's search_path",
  async (t) => {
    await withClient(url(), (c) =>
      c.query(`
        CREATE TABLE pv_fa (id bigserial PRIMARY KEY, n text);
        CREATE TABLE pv_fb (id bigserial PRIMARY KEY, n varchar(20));
        CREATE TABLE pv_gc (id bigserial PRIMARY KEY, n text);`),
    );
    await runMigration(url(), (pgm) => {
      addNumbering(pgm, { name: 'pv_fa', table: 'pv_fa', column: 'n', template: 'A-{seq}', mode: 'fast' });
      addNumbering(pgm, { name: 'pv_fb', table: 'pv_fb', column: 'n', template: 'B-{seq}', mode: 'fast' });
      addNumbering(pgm, { name: 'pv_gc', table: 'pv_gc', column: 'n', template: 'C-{seq}' });
    });
    const admin = new pg.Client({ connectionString: url() });
    await admin.connect();
    const last = async (seq: string) =>
      (await admin.query(`SELECT coalesce(last_value, 0)::int AS v FROM pg_sequences WHERE sequencename = $1`, [seq])).rows[0].v;
    try {
      const definer = await admin.query(`SELECT p.prosecdef, p.proconfig FROM pg_proc AS p WHERE p.oid = 'racefree_pv_fa_explicit()'::regprocedure`);
      t.deepEqual(definer.rows, [{ prosecdef: false, proconfig: null }], 'the hot path changes no setting and no user');
      await withAppRole(url(), ['racefree_user'], async (app) => {
        await admin.query(`
          GRANT SELECT, INSERT ON pv_fa, pv_gc TO ${app.name};
          GRANT USAGE ON SEQUENCE pv_fa_id_seq, pv_gc_id_seq TO ${app.name};
          CREATE SCHEMA pv_evil AUTHORIZATION ${app.name};`);
        const as = new pg.Client({ connectionString: app.url });
        await as.connect();
        try {
          const n = async (sql: string) => (await as.query<{ n: string }>(sql)).rows.map((r) => r.n);
          t.deepEqual(await n(`INSERT INTO pv_fa DEFAULT VALUES RETURNING n`), ['A-1']);

          // Called, not fired: refused without a write of the table, for a table the role cannot write, and for a gapless counter.
          const call = (counter: string, number: string) => `SELECT racefree._numbering_explicit_advance('${counter}', '${number}')`;
          await t.throwsAsync(as.query(call('public.pv_fa', 'A-900')), {
            code: '42501',
            message: /only a row written to the table of a fast numbering moves its sequence/,
          });
          await t.throwsAsync(as.query(call('public.pv_fb', 'B-900')), { code: '42501' });
          // A number outside the format moves nothing, so it is not checked further.
          await t.notThrowsAsync(as.query(call('public.pv_fa', 'A-x900')));
          await t.throwsAsync(as.query('INSERT INTO pv_fb DEFAULT VALUES'), { code: '42501' });
          await as.query('BEGIN');
          t.deepEqual(await n(`INSERT INTO pv_gc DEFAULT VALUES RETURNING n`), ['C-1']);
          await t.throwsAsync(as.query(call('public.pv_gc', 'C-900')), { code: '42501' });
          await as.query('ROLLBACK');
          t.is(await last('pv_fa_number_seq'), 1);
          t.is(await last('pv_fb_number_seq'), 0);
          t.deepEqual((await admin.query(`SELECT coalesce(max(value), 0)::int AS v FROM racefree.counters WHERE counter = 'public.pv_gc'`)).rows, [{ v: 0 }]);

          // Explicit numbers through the trigger, as the role: the sequence moves past them, also in a multi-row insert.
          await as.query(`INSERT INTO pv_fa (n) VALUES ('A-10')`);
          t.deepEqual(await n(`INSERT INTO pv_fa (n) VALUES (DEFAULT), ('A-20'), (DEFAULT) RETURNING n`), ['A-11', 'A-20', 'A-21']);

          // A search_path that shadows what the DEFAULT and the trigger call changes nothing: every name in
          // them is qualified (the planner parses the inlined DEFAULT under the inserting session's search_path).
          await as.query(`
            CREATE FUNCTION pv_evil.current_setting(text, boolean) RETURNS text LANGUAGE sql AS $$ SELECT 'A-30' $$;
            CREATE FUNCTION pv_evil.texteq(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
            CREATE FUNCTION pv_evil.set_config(text, text, boolean) RETURNS text LANGUAGE sql AS $$ SELECT 'A-set_config' $$;
            CREATE FUNCTION pv_evil.nextval(regclass) RETURNS bigint LANGUAGE sql AS $$ SELECT 7 $$;
            CREATE FUNCTION pv_evil.cat(text, text) RETURNS text LANGUAGE sql AS $$ SELECT 'A-cat' $$;
            CREATE OPERATOR pv_evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = pv_evil.cat);
            CREATE DOMAIN pv_evil.text AS pg_catalog.text CHECK (VALUE = 'never');
            SET search_path = pv_evil, pg_catalog, public`);
          await as.query(`INSERT INTO pv_fa (n) VALUES ('A-30')`);
          t.deepEqual(await n(`INSERT INTO pv_fa DEFAULT VALUES RETURNING n`), ['A-31']);
          await as.query('RESET search_path');
          t.deepEqual(
            (await admin.query(`SELECT n FROM pv_fa ORDER BY id`)).rows.map((r) => r.n),
            ['A-1', 'A-10', 'A-11', 'A-20', 'A-21', 'A-30', 'A-31'],
          );
        } finally {
          await as.end();
        }
      });
    } finally {
      await admin.end();
    }
  },
);

test.serial(
  'a fast numbering of a partitioned table: an explicit number inserted straight into a partition, as an application role, moves the sequence; a write of another table does not let it',
  async (t) => {
    // Partitioned by the number itself, so that it can be unique on its own.
    await withClient(url(), (c) =>
      c.query(`
        CREATE TABLE pv_pt (id bigserial, n text PRIMARY KEY) PARTITION BY RANGE (n);
        CREATE TABLE pv_pt_low PARTITION OF pv_pt FOR VALUES FROM (MINVALUE) TO ('P-5');
        CREATE TABLE pv_pt_high PARTITION OF pv_pt FOR VALUES FROM ('P-5') TO (MAXVALUE);
        CREATE TABLE pv_other (id bigserial PRIMARY KEY);`),
    );
    await runMigration(url(), (pgm) => addNumbering(pgm, { name: 'pv_pt', table: 'pv_pt', column: 'n', template: 'P-{seq}', mode: 'fast' }));
    const admin = new pg.Client({ connectionString: url() });
    await admin.connect();
    try {
      await withAppRole(url(), ['racefree_user'], async (app) => {
        await admin.query(`
          GRANT SELECT, INSERT ON pv_pt, pv_pt_low, pv_pt_high, pv_other TO ${app.name};
          GRANT USAGE ON SEQUENCE pv_pt_id_seq, pv_other_id_seq TO ${app.name};`);
        const as = new pg.Client({ connectionString: app.url });
        await as.connect();
        try {
          const n = async (sql: string) => (await as.query<{ n: string }>(sql)).rows.map((r) => r.n);
          t.deepEqual(await n(`INSERT INTO pv_pt VALUES (DEFAULT), (DEFAULT) RETURNING n`), ['P-1', 'P-2']);
          // Straight into a partition: its cloned trigger fires, and the transaction writes a table of the partition tree.
          t.deepEqual(await n(`INSERT INTO pv_pt_high (n) VALUES ('P-50') RETURNING n`), ['P-50']);
          t.deepEqual(await n(`INSERT INTO pv_pt DEFAULT VALUES RETURNING n`), ['P-51']);
          t.deepEqual(await n(`INSERT INTO pv_pt_high (n) VALUES ('P-60') RETURNING n`), ['P-60']);
          t.deepEqual(await n(`INSERT INTO pv_pt_high DEFAULT VALUES RETURNING n`), ['P-61']);
          // Writing some other table is not writing this one: a direct call is still refused.
          await as.query('BEGIN');
          await as.query('INSERT INTO pv_other DEFAULT VALUES');
          await t.throwsAsync(as.query(`SELECT racefree._numbering_explicit_advance('public.pv_pt', 'P-900')`), { code: '42501' });
          await as.query('ROLLBACK');
          t.deepEqual(await n(`INSERT INTO pv_pt DEFAULT VALUES RETURNING n`), ['P-62']);
          t.deepEqual((await admin.query(`SELECT tableoid::regclass::text AS p, array_agg(n ORDER BY id) AS n FROM pv_pt GROUP BY 1 ORDER BY 1`)).rows, [
            { p: 'pv_pt_high', n: ['P-50', 'P-51', 'P-60', 'P-61', 'P-62'] },
            { p: 'pv_pt_low', n: ['P-1', 'P-2'] },
          ]);
        } finally {
          await as.end();
        }
      });
    } finally {
      await admin.end();
    }
  },
);
