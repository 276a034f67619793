/**
 * Numbered inserts as an application role (LOGIN, NOSUPERUSER, granted
 * racefree_user, with privileges on its own tables only): the generated code
 * writes its counter as the numbering's owner, so the role takes numbers by
 * inserting and needs no privilege on the kit's tables. Serial: concurrent
 * GRANTs on one database row fail with "tuple concurrently updated".
 */
import test from 'ava';
import pg from 'pg';

import { addNumbering } from '../src/migrate/index.js';
import { useTestDatabase, withClient } from './helpers/db.js';
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
