/**
 * The SQL API of the builders, from plain SQL as any migration tool would run
 * it (raw pg, no racefree client): racefree.add_numbering, drop_numbering,
 * add_unique_key, drop_unique_key, add_upsert, drop_upsert. Every bad
 * argument is RF100 with a message naming what was wrong, and nothing is created.
 */

import test from 'ava';
import pg from 'pg';

import { addUniqueKey } from '../src/migrate/index.js';
import { useTestDatabase, withClient } from './helpers/db.js';
import { runMigration } from './helpers/migration.js';

const url = useTestDatabase(test);

async function sql<R extends pg.QueryResultRow = any>(text: string, values: unknown[] = []): Promise<R[]> {
  return withClient(url(), async (c) => (await c.query<R>(text, values)).rows);
}

/** The server's error, as pg gives it. */
async function failure(text: string): Promise<{ code: string; message: string; detail: unknown }> {
  try {
    await sql(text);
  } catch (error) {
    const e = error as pg.DatabaseError;
    // DETAIL is JSON for racefree's own errors, PostgreSQL's words otherwise.
    return { code: e.code!, message: e.message, detail: e.code?.startsWith('RF') ? JSON.parse(e.detail!) : e.detail };
  }
  throw new Error(`succeeded: ${text}`);
}

/** What a builder could have created on the api_* tables, to show that a failed call created nothing. */
const catalog = () =>
  sql(`SELECT (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname ~ '^(generate_|upsert_|get_or_create_)')::int AS functions,
              (SELECT count(*) FROM pg_type WHERE typnamespace = 'public'::regnamespace AND typname ~ '^upsert_')::int AS types,
              (SELECT count(*) FROM pg_trigger AS g JOIN pg_class AS c ON c.oid = g.tgrelid WHERE c.relname ~ '^api_' AND NOT g.tgisinternal)::int AS triggers,
              (SELECT count(*) FROM pg_constraint AS k JOIN pg_class AS c ON c.oid = k.conrelid WHERE c.relname ~ '^api_' AND k.contype = 'u')::int AS constraints,
              (SELECT count(*) FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indrelid WHERE c.relname ~ '^api_')::int AS indexes,
              (SELECT count(*) FROM pg_sequences WHERE sequencename ~ '^api')::int AS sequences,
              (SELECT count(*) FROM racefree.registry WHERE table_name ~ '^api_')::int AS registered,
              (SELECT count(*) FROM racefree.numberings WHERE table_name ~ '^api_')::int AS numberings`);

test.serial.before(async () => {
  await sql(`CREATE TABLE api_docs (id bigserial PRIMARY KEY, n text, i int, d date, s text, dflt text DEFAULT 'x',
                                    code text, team int, status text, body json)`);
  await sql(`CREATE VIEW api_view AS SELECT * FROM api_docs`);
});

type Case = [string, string, string | null, RegExp];

const N = `racefree.add_numbering('api_docs', 'n', 'A-{seq}'`;
const badNumbering: Case[] = [
  ['tbl NULL', `SELECT racefree.add_numbering(NULL, 'n', 'A-{seq}')`, 'table', /addNumbering: option "table" \(tbl\) must be a table, not NULL/],
  ['tbl a view', `SELECT racefree.add_numbering('api_view', 'n', 'A-{seq}')`, 'table', /addNumbering: table public\.api_view does not exist/],
  ['col NULL', `SELECT racefree.add_numbering('api_docs', NULL, 'A-{seq}')`, 'column', /option "column" must be a non-empty string/],
  ['col empty', `SELECT racefree.add_numbering('api_docs', '', 'A-{seq}', name => 'x')`, 'column', /option "column" must be a non-empty string/],
  ['col missing', `SELECT racefree.add_numbering('api_docs', 'nope', 'A-{seq}')`, 'column', /column nope does not exist in table public\.api_docs/],
  ['col not text', `SELECT racefree.add_numbering('api_docs', 'i', 'A-{seq}')`, 'column', /api_docs\.i is integer; a numbered column must be text or varchar/],
  ['col with a DEFAULT', `SELECT racefree.add_numbering('api_docs', 'dflt', 'A-{seq}')`, 'column', /already has a DEFAULT/],
  ['template NULL', `SELECT racefree.add_numbering('api_docs', 'n', NULL)`, 'template', /option "template" must be a non-empty string/],
  ['template empty', `SELECT racefree.add_numbering('api_docs', 'n', '')`, 'template', /option "template" must be a non-empty string/],
  ['template without {seq}', `SELECT racefree.add_numbering('api_docs', 'n', 'A-{YYYY}')`, 'template', /template "A-\{YYYY\}" has no \{seq\} token/],
  ['template with an unknown column', `SELECT racefree.add_numbering('api_docs', 'n', '{tenant}-{seq}')`, 'template', /\{tenant\} names no column/],
  ['template of 256 characters', `SELECT racefree.add_numbering('api_docs', 'n', 'A-{seq}-' || repeat('x', 248))`, 'template', /256 characters long/],
  ['mode unknown', `SELECT ${N}, mode => 'quick')`, 'mode', /option "mode" must be 'gapless' or 'fast', not "quick"/],
  ['mode NULL', `SELECT ${N}, mode => NULL)`, 'mode', /option "mode" must be 'gapless' or 'fast', not NULL/],
  ['time_zone NULL', `SELECT ${N}, time_zone => NULL)`, 'timeZone', /option "timeZone" must be a non-empty string/],
  ['time_zone unknown', `SELECT ${N}, time_zone => 'Mars/Olympus')`, 'timeZone', /unknown time zone 'Mars\/Olympus'/],
  [
    'date_column empty',
    `SELECT racefree.add_numbering('api_docs', 'n', 'A-{YYYY}-{seq}', date_column => '')`,
    'dateColumn',
    /option "dateColumn" must be a non-empty string/,
  ],
  [
    'date_column without a date token',
    `SELECT ${N}, date_column => 'd')`,
    'dateColumn',
    /option "dateColumn" is set but template "A-\{seq\}" has no date token/,
  ],
  [
    'date_column missing',
    `SELECT racefree.add_numbering('api_docs', 'n', 'A-{YYYY}-{seq}', date_column => 'nope')`,
    'dateColumn',
    /dateColumn nope does not exist/,
  ],
  [
    'date_column not a date',
    `SELECT racefree.add_numbering('api_docs', 'n', 'A-{YYYY}-{seq}', date_column => 's')`,
    'dateColumn',
    /must be date, timestamp or timestamptz/,
  ],
  ['name empty', `SELECT ${N}, name => '')`, 'name', /option "name" must be a non-empty string/],
  ['name over 63 bytes', `SELECT ${N}, name => repeat('é', 25))`, 'name', /makes generate_é+_number, 66 bytes; PostgreSQL names hold at most 63/],
  ['drop: tbl NULL', `SELECT racefree.drop_numbering(NULL, 'n')`, 'table', /dropNumbering: option "table" \(tbl\) must be a table/],
  ['drop: col NULL', `SELECT racefree.drop_numbering('api_docs', NULL)`, 'column', /dropNumbering: option "column" must be a non-empty string/],
  ['drop: none there', `SELECT racefree.drop_numbering('api_docs', 'n')`, 'name', /dropNumbering: no numbering 'n' on column n of table public\.api_docs/],
];

const K = `racefree.add_unique_key('api_docs', ARRAY['code']`;
const badUniqueKey: Case[] = [
  ['tbl NULL', `SELECT racefree.add_unique_key(NULL, ARRAY['code'])`, 'table', /addUniqueKey: option "table" \(tbl\) must be a table/],
  ['columns NULL', `SELECT racefree.add_unique_key('api_docs', NULL)`, 'columns', /option "columns" must name at least one column/],
  ['columns empty', `SELECT racefree.add_unique_key('api_docs', '{}')`, 'columns', /option "columns" must name at least one column/],
  [
    'columns with a NULL',
    `SELECT racefree.add_unique_key('api_docs', ARRAY['code', NULL])`,
    'columns',
    /must hold column names, not NULL or empty ones: \{code,NULL\}/,
  ],
  ['columns with an empty name', `SELECT racefree.add_unique_key('api_docs', ARRAY[''])`, 'columns', /not NULL or empty/],
  ['columns twice', `SELECT racefree.add_unique_key('api_docs', ARRAY['code', 'code'])`, 'columns', /names column code twice/],
  ['columns two-dimensional', `SELECT racefree.add_unique_key('api_docs', ARRAY[ARRAY['code']])`, 'columns', /one-dimensional/],
  ['column missing', `SELECT racefree.add_unique_key('api_docs', ARRAY['nope'])`, 'columns', /column nope does not exist in table api_docs/],
  ['column without equality', `SELECT racefree.add_unique_key('api_docs', ARRAY['body'])`, 'columns', /json/],
  ['where empty', `SELECT ${K}, "where" => '')`, 'where', /option "where" must be a non-empty condition/],
  ['where not a condition', `SELECT ${K}, "where" => 'team >')`, 'where', /option "where" is not a condition on api_docs: syntax error/],
  ['where with a subquery', `SELECT ${K}, "where" => 'team IN (SELECT 1)')`, 'where', /cannot use subquery/],
  ['nulls_not_distinct NULL', `SELECT ${K}, nulls_not_distinct => NULL)`, 'nullsNotDistinct', /must be true or false/],
  ['name empty', `SELECT ${K}, name => '')`, 'name', /option "name" must be a non-empty string/],
  ['name over 63 bytes', `SELECT ${K}, name => repeat('k', 64))`, 'name', /option "name" is 64 bytes; PostgreSQL names hold at most 63/],
  ['name taken', `SELECT ${K}, name => 'api_docs_pkey')`, 'name', /api_docs_pkey already exists/],
  ['drop: tbl NULL', `SELECT racefree.drop_unique_key(NULL, name => 'x')`, 'table', /dropUniqueKey: option "table" \(tbl\)/],
  ['drop: neither columns nor name', `SELECT racefree.drop_unique_key('api_docs')`, 'columns', /give option "name", or "columns" for the default name/],
  ['drop: columns with a NULL', `SELECT racefree.drop_unique_key('api_docs', ARRAY[NULL]::name[])`, 'columns', /not NULL or empty/],
  ['drop: name empty', `SELECT racefree.drop_unique_key('api_docs', name => '')`, 'name', /must be a non-empty string/],
  ['drop: none there', `SELECT racefree.drop_unique_key('api_docs', ARRAY['code'])`, 'name', /no unique key api_docs_code_key on table api_docs/],
];

const U = `racefree.add_upsert('api_docs', ARRAY['id']`;
const badUpsert: Case[] = [
  ['tbl NULL', `SELECT racefree.add_upsert(NULL, ARRAY['id'])`, 'table', /addUpsert: option "table" \(tbl\) must be a table/],
  ['key NULL', `SELECT racefree.add_upsert('api_docs', NULL)`, 'key', /option "key" must name at least one column/],
  ['key empty', `SELECT racefree.add_upsert('api_docs', '{}')`, 'key', /option "key" must name at least one column/],
  ['key with a NULL', `SELECT racefree.add_upsert('api_docs', ARRAY[NULL]::name[])`, 'key', /not NULL or empty/],
  ['key twice', `SELECT racefree.add_upsert('api_docs', ARRAY['id', 'id'])`, 'key', /names column id twice/],
  ['key missing', `SELECT racefree.add_upsert('api_docs', ARRAY['nope'])`, 'key', /column nope does not exist in table api_docs/],
  [
    'key without a unique index',
    `SELECT racefree.add_upsert('api_docs', ARRAY['code'])`,
    'key',
    /no unique index or constraint of table api_docs matches ON CONFLICT \(code\)/,
  ],
  ['where empty', `SELECT ${U}, "where" => '')`, 'where', /option "where" must be a non-empty condition/],
  ['update with a NULL', `SELECT ${U}, update => ARRAY[NULL]::name[])`, 'update', /option "update" must hold column names/],
  ['update missing', `SELECT ${U}, update => ARRAY['nope'])`, 'update', /column nope does not exist/],
  ['update a key column', `SELECT ${U}, update => ARRAY['id'])`, 'update', /names id, which an update cannot change/],
  ['name empty', `SELECT ${U}, name => '')`, 'name', /option "name" must be a non-empty string/],
  ['name over 63 bytes', `SELECT ${U}, name => repeat('u', 50))`, 'name', /get_or_create_u{50} and upsert_u{50}_many must fit in 63 bytes/],
  ['drop: tbl NULL', `SELECT racefree.drop_upsert(NULL)`, 'table', /dropUpsert: option "table" \(tbl\)/],
  ['drop: name empty', `SELECT racefree.drop_upsert('api_docs', '')`, 'name', /must be a non-empty string/],
  ['drop: none there', `SELECT racefree.drop_upsert('api_docs')`, 'name', /no upsert 'api_docs' of table api_docs in racefree\.registry/],
];

for (const [group, cases] of [
  ['add_numbering', badNumbering],
  ['add_unique_key', badUniqueKey],
  ['add_upsert', badUpsert],
] as const) {
  test.serial(`${group} and its drop: every bad argument is RF100 naming the option, and nothing is created`, async (t) => {
    const before = await catalog();
    for (const [what, statement, option, message] of cases) {
      const error = await failure(statement);
      t.is(error.code, 'RF100', `${what}: ${error.message}`);
      t.regex(error.message, message, what);
      t.like(error.detail, { option }, what);
      t.deepEqual(await catalog(), before, `${what}: nothing created`);
    }
  });
}

test.serial("a table that does not exist fails the regclass cast itself: PostgreSQL's 42P01, before the function runs", async (t) => {
  const before = await catalog();
  const error = await failure(`SELECT racefree.add_upsert('api_missing', ARRAY['id'])`);
  t.is(error.code, '42P01');
  t.regex(error.message, /relation "api_missing" does not exist/);
  t.deepEqual(await catalog(), before);
});

test.serial('from plain SQL: number, key and upsert a table, then drop it all back to the catalog it had', async (t) => {
  await sql(`CREATE TABLE api_orders (id bigserial PRIMARY KEY, tenant text NOT NULL, number text, email text, note text, status text)`);
  const before = await catalog();
  await sql(`BEGIN;
    SELECT racefree.add_numbering('api_orders', 'number', 'ORD-{tenant}-{YYYY}-{seq:3}', time_zone => 'Europe/Paris', name => 'api_order');
    SELECT racefree.add_unique_key(tbl => 'api_orders', columns => ARRAY['tenant', 'email'], nulls_not_distinct => true);
    SELECT racefree.add_unique_key('api_orders', ARRAY['tenant'], "where" => $$status = 'open'$$, name => 'api_orders_one_open');
    SELECT racefree.add_upsert('api_orders', key => ARRAY['email', 'tenant'], update => ARRAY['note']);
    COMMIT`);
  const [row] = await sql(`SELECT number, action FROM upsert_api_orders(tenant => 'acme', email => 'a@x', note => 'hi')`);
  t.regex(row.number, /^ORD-acme-\d{4}-001$/);
  t.is(row.action, 'inserted');
  t.regex((await sql(`INSERT INTO api_orders (tenant) VALUES ('acme') RETURNING number`))[0].number, /^ORD-acme-\d{4}-002$/);
  t.like((await sql(`SELECT action FROM upsert_api_orders(tenant => 'acme', email => 'a@x', note => 'again')`))[0], { action: 'updated' });
  // NULLS NOT DISTINCT: a second row of acme without an email is a duplicate.
  t.is((await failure(`INSERT INTO api_orders (tenant) VALUES ('acme')`)).code, '23505');
  t.is((await failure(`INSERT INTO api_orders (tenant, email, status) VALUES ('b', '1', 'open'), ('b', '2', 'open')`)).code, '23505');
  t.deepEqual(
    (await sql(`SELECT builder, name, config FROM racefree.registry WHERE table_name = 'api_orders' ORDER BY builder, name`)).map((r) => [r.builder, r.name]),
    [
      ['addNumbering', 'api_order'],
      ['addUniqueKey', 'api_orders_one_open'],
      ['addUniqueKey', 'api_orders_tenant_email_key'],
      ['addUpsert', 'api_orders'],
    ],
  );
  await sql(`BEGIN;
    SELECT racefree.drop_upsert('api_orders');
    SELECT racefree.drop_unique_key('api_orders', name => 'api_orders_one_open');
    SELECT racefree.drop_unique_key('api_orders', ARRAY['tenant', 'email']);
    SELECT racefree.drop_numbering('api_orders', 'number', 'api_order');
    COMMIT`);
  t.deepEqual(await catalog(), before);
  t.deepEqual(await sql(`SELECT column_default FROM information_schema.columns WHERE table_name = 'api_orders' AND column_name = 'number'`), [
    { column_default: null },
  ]);
});

test.serial('add_numbering without a name is named after the column, and the drop finds it the same way', async (t) => {
  await sql(`CREATE TABLE api_tickets (id bigserial PRIMARY KEY, ticket_no text)`);
  await sql(`SELECT racefree.add_numbering('api_tickets', 'ticket_no', 'T-{seq:4}', mode => 'fast')`);
  t.deepEqual(await sql(`INSERT INTO api_tickets DEFAULT VALUES RETURNING ticket_no`), [{ ticket_no: 'T-0001' }]);
  t.deepEqual(await sql(`SELECT proname FROM pg_proc WHERE proname = 'generate_ticket_no_number'`), [{ proname: 'generate_ticket_no_number' }]);
  await sql(`SELECT racefree.drop_numbering('api_tickets', 'ticket_no')`);
  t.deepEqual(await sql(`SELECT count(*)::int AS n FROM racefree.numberings WHERE table_name = 'api_tickets'`), [{ n: 0 }]);
});

test.serial('the default unique-key name is the same from SQL and from addUniqueKey({ concurrently }), cut to 63 bytes by characters', async (t) => {
  const table = `api_${'é'.repeat(20)}`;
  const columns = ['colonne_é', 'b'];
  for (const schema of ['api_s1', 'api_s2']) {
    await sql(`CREATE SCHEMA ${schema}`);
    await sql(`CREATE TABLE ${schema}."${table}" ("colonne_é" int, b int)`);
  }
  await sql(`SELECT racefree.add_unique_key('api_s1."${table}"', ARRAY['colonne_é', 'b'])`);
  await runMigration(url(), (pgm) => addUniqueKey(pgm, { table: { schema: 'api_s2', name: table }, columns, concurrently: true }));
  const names = await sql(`SELECT n.nspname AS schema, c.relname AS name, octet_length(c.relname) AS bytes FROM pg_index AS i
                             JOIN pg_class AS c ON c.oid = i.indexrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace
                            WHERE n.nspname IN ('api_s1', 'api_s2') ORDER BY 1`);
  t.is(names.length, 2);
  t.is(names[0].name, names[1].name);
  t.true(names[0].bytes <= 63 && names[0].bytes >= 61, `${names[0].bytes} bytes`);
  t.regex(names[0].name, /_key$/);
});
