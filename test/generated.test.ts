import test from 'ava';
import pg from 'pg';
import { createClient, type Db } from '../src/index.js';
import { RacefreeConfigError } from '../src/errors/classes.js';
import { runDoctor } from '../src/tooling/doctor/index.js';
import {
  addNumbering,
  addUniqueKey,
  addUpsert,
  dropNumbering,
  dropUniqueKey,
  dropUpsert,
  type AddNumberingOptions,
  type AddUniqueKeyOptions,
  type AddUpsertOptions,
} from '../src/migrate/index.js';
import type { MigrationAction } from '../src/migrate/apply.js';
import { quoteIdent, quoteLiteral } from '../src/quote.js';
import { useTestDatabase, withClient, withPool } from './helpers/db.js';
import { runMigration } from './helpers/migration.js';

const url = useTestDatabase(test);

async function sql<R extends pg.QueryResultRow = any>(text: string, values: unknown[] = []): Promise<R[]> {
  return withClient(url(), async (c) => (await c.query<R>(text, values)).rows);
}
const migrate = (action: MigrationAction) => runMigration(url(), action);

let db: Db;
test.before(() => {
  db = createClient({ connectionString: url() });
});
test.after.always(() => db.end());

/** Text that generated code must carry byte for byte. */
const HOSTILE = 'line1\nline2\ttab \'quote\' "dq" $$ $f$ back\\slash é ü 日本 \r\n end';

test('defaults with newlines, tabs, quotes, $$, backslashes and non-ASCII are written byte-exact by every generated function', async (t) => {
  await sql(`CREATE TABLE nl (k text PRIMARY KEY DEFAULT 'x', note text DEFAULT E'line1\\nline2', other text DEFAULT ${quoteLiteral(HOSTILE)})`);
  await migrate((pgm) => addUpsert(pgm, { table: 'nl', key: ['k'] }));
  await sql(`INSERT INTO nl (k) VALUES ('plain')`);
  const plain = (await sql(`SELECT note, other FROM nl WHERE k = 'plain'`))[0];
  t.is(plain.note, 'line1\nline2');
  t.is(plain.other, HOSTILE);
  t.like(await db.callOne('upsert_nl', { k: 'a' }), { note: plain.note, other: plain.other, action: 'inserted' });
  t.like(await db.callOne('get_or_create_nl', { k: 'b' }), { note: plain.note, other: plain.other, action: 'inserted' });
  t.like((await db.call('upsert_nl_many', { rows: JSON.stringify([{ k: 'c' }]) }))[0], { note: plain.note, other: plain.other });
  // The key's own default, too: the row read back is the one inserted.
  t.like(await db.callOne('upsert_nl', { note: 'n' }), { k: 'x', note: 'n', other: HOSTILE, action: 'inserted' });
  const stored = await sql(`SELECT k, note, other = $1 AS other_ok, length(note) AS len FROM nl ORDER BY k`, [HOSTILE]);
  t.deepEqual(stored, [
    { k: 'a', note: 'line1\nline2', other_ok: true, len: 11 },
    { k: 'b', note: 'line1\nline2', other_ok: true, len: 11 },
    { k: 'c', note: 'line1\nline2', other_ok: true, len: 11 },
    { k: 'plain', note: 'line1\nline2', other_ok: true, len: 11 },
    { k: 'x', note: 'n', other_ok: true, len: 1 },
  ]);
});

test('a partial key whose predicate holds a newline and quotes works in every generated function', async (t) => {
  await sql(`CREATE TABLE pk (id bigserial PRIMARY KEY, team int NOT NULL, status text NOT NULL, note text DEFAULT ${quoteLiteral(HOSTILE)})`);
  const where = "status = 'a\nctive'";
  await migrate((pgm) => {
    addUniqueKey(pgm, { table: 'pk', columns: ['team'], where, name: 'pk_active' });
    addUpsert(pgm, { table: 'pk', key: ['team'], where });
  });
  t.like(await db.callOne('upsert_pk', { team: 1, status: 'a\nctive' }), { action: 'inserted', note: HOSTILE });
  t.like(await db.callOne('upsert_pk', { team: 1, status: 'a\nctive' }), { action: 'unchanged' });
  t.like(await db.callOne('get_or_create_pk', { team: 1, status: 'a\nctive' }), { action: 'existing' });
  const many = await db.call('upsert_pk_many', {
    rows: JSON.stringify([
      { team: 1, status: 'a\nctive', note: 'x' },
      { team: 2, status: 'a\nctive' },
    ]),
  });
  t.deepEqual(
    many.map((r) => [r.team, r.action]),
    [
      [1, 'updated'],
      [2, 'inserted'],
    ],
  );
});

test('identifiers with newlines and quotes work in upsert_, get_or_create_ and upsert_<t>_many', async (t) => {
  const key = 'k\ney "q"';
  const col = "v'al\tue";
  await sql(`CREATE TABLE ${quoteIdent('we\nird')} (${quoteIdent(key)} text PRIMARY KEY, ${quoteIdent(col)} text DEFAULT ${quoteLiteral(HOSTILE)})`);
  await migrate((pgm) => addUpsert(pgm, { table: 'we\nird', key: [key], name: 'weird' }));
  t.like(await db.callOne('upsert_weird', { [key]: 'a', [col]: 'v' }), { [key]: 'a', [col]: 'v', action: 'inserted' });
  t.like(await db.callOne('get_or_create_weird', { [key]: 'b' }), { [key]: 'b', [col]: HOSTILE, action: 'inserted' });
  const many = await db.call('upsert_weird_many', { rows: JSON.stringify([{ [key]: 'a', [col]: 'w' }, { [key]: 'c' }]) });
  t.deepEqual(
    many.map((r) => [r[key], r[col], r.action]),
    [
      ['a', 'w', 'updated'],
      ['c', HOSTILE, 'inserted'],
    ],
  );
});

test("{a}-{b}-{seq}: rows ('x-y', 'z') and ('x', 'y-z') share one counter, so their numbers never collide", async (t) => {
  await sql(`CREATE TABLE ab (id bigserial PRIMARY KEY, a text NOT NULL, b text NOT NULL, n text)`);
  await migrate((pgm) => addNumbering(pgm, { name: 'ab', table: 'ab', column: 'n', template: '{a}-{b}-{seq}' }));
  const insert = async (a: string, b: string) => (await sql('INSERT INTO ab (a, b) VALUES ($1, $2) RETURNING n', [a, b]))[0].n;
  t.is(await insert('x-y', 'z'), 'x-y-z-1');
  t.is(await insert('x', 'y-z'), 'x-y-z-2');
  t.is(await insert('x', 'y'), 'x-y-1');
  // An explicit number is read back by its text alone, whatever the row's values.
  await sql(`INSERT INTO ab (a, b, n) VALUES ('other', 'row', 'q-r-5')`);
  t.is(await insert('q', 'r'), 'q-r-6');
  t.deepEqual(await sql(`SELECT scope, value::int FROM racefree.counters WHERE counter = 'public.ab' ORDER BY scope`), [
    { scope: '["q-r-", ""]', value: 6 },
    { scope: '["x-y-", ""]', value: 1 },
    { scope: '["x-y-z-", ""]', value: 2 },
  ]);
});

test('template literals with quotes, backslashes, $$, newlines and non-ASCII are numbered byte-exact, as DEFAULT and as trigger', async (t) => {
  const literal = "Q'\\ $$ $f$\n\té-";
  await sql(`CREATE TABLE lit (id bigserial PRIMARY KEY, n text, m text, tenant text NOT NULL DEFAULT 'T\n1')`);
  await migrate((pgm) => {
    addNumbering(pgm, { name: 'lit_n', table: 'lit', column: 'n', template: `${literal}{{{seq:2}}}` });
    addNumbering(pgm, { name: 'lit_m', table: 'lit', column: 'm', template: `${literal}{tenant}/{seq}` });
  });
  t.deepEqual(await sql('INSERT INTO lit DEFAULT VALUES RETURNING n, m'), [{ n: `${literal}{01}`, m: `${literal}T\n1/1` }]);
  t.deepEqual(await sql('INSERT INTO lit DEFAULT VALUES RETURNING n, m'), [{ n: `${literal}{02}`, m: `${literal}T\n1/2` }]);
  // Explicit numbers in the same format are read back and move the counters.
  await sql('INSERT INTO lit (n, m) VALUES ($1, $2)', [`${literal}{10}`, `${literal}T\n1/10`]);
  t.deepEqual(await sql('INSERT INTO lit DEFAULT VALUES RETURNING n, m'), [{ n: `${literal}{11}`, m: `${literal}T\n1/11` }]);
});

test('a dateColumn past year 9999 fails the insert with 22008 instead of a 5-digit year that could be misread', async (t) => {
  await sql(`CREATE TABLE far (id bigserial PRIMARY KEY, on_day date NOT NULL, n text)`);
  await migrate((pgm) => addNumbering(pgm, { name: 'far', table: 'far', column: 'n', template: '{YYYY}{seq:2}', dateColumn: 'on_day' }));
  t.deepEqual(await sql(`INSERT INTO far (on_day) VALUES ('9999-12-31') RETURNING n`), [{ n: '999901' }]);
  await t.throwsAsync(sql(`INSERT INTO far (on_day) VALUES ('10000-01-01')`), { code: '22008', message: /years of 4 digits/ });
});

test('adversarial values: 64 connections inserting values full of separators and digits never collide, and each rendered scope is 1..n', async (t) => {
  await sql(`CREATE TABLE adv (id bigserial PRIMARY KEY, a text NOT NULL, b text NOT NULL, n text)`);
  await migrate((pgm) => addNumbering(pgm, { name: 'adv', table: 'adv', column: 'n', template: '{a}.{b}/{seq}' }));
  const alphabet = ['', '.', '/', '1', '2', '.1', '1/', '/2', 'x'];
  const pairs = alphabet.flatMap((a) => alphabet.map((b) => [a, b] as const));
  await withPool(
    url(),
    async (pool) => {
      await Promise.all(
        Array.from({ length: 64 }, async (_, i) => {
          for (let j = 0; j < 20; j++) {
            const [a, b] = pairs[(i * 7 + j * 13) % pairs.length]!;
            await pool.query('INSERT INTO adv (a, b) VALUES ($1, $2)', [a, b]);
          }
        }),
      );
    },
    { max: 64 },
  );
  const [check] = await sql(`SELECT count(*)::int AS rows, count(DISTINCT n)::int AS distinct_numbers FROM adv`);
  t.deepEqual(check, { rows: 1280, distinct_numbers: 1280 });
  // Gapless per rendered scope: the numbers of one prefix are exactly 1..n.
  const gaps = await sql(`
    SELECT p.scope, count(*)::int AS n, max(p.seq)::int AS top
      FROM adv, LATERAL racefree_internal._numbering_parse((SELECT parts FROM racefree.numberings WHERE counter = 'public.adv'), n) AS p
     GROUP BY p.scope HAVING count(*) <> max(p.seq) OR count(*) <> count(DISTINCT p.seq)`);
  t.deepEqual(gaps, []);
});

test('templates whose numbers could be read two ways are rejected', async (t) => {
  await sql(`CREATE TABLE twoways (a text, b text, n text)`);
  const cases: Array<[string, RegExp]> = [
    ['{a}-{seq}-{b}', /column tokens on both sides of \{seq\}/],
    ['{a}{seq}', /needs literal text with a non-digit between \{a\} and \{seq\}/],
    ['{seq}1{b}', /needs literal text with a non-digit between \{seq\} and \{b\}/],
  ];
  for (const [template, message] of cases) {
    const error = await t.throwsAsync(
      migrate((pgm) => addNumbering(pgm, { name: 'x', table: 'twoways', column: 'n', template })),
      { instanceOf: RacefreeConfigError, message },
    );
    t.is(error?.option, 'template');
    t.is(error?.value, template);
  }
  t.deepEqual(await sql(`SELECT count(*)::int AS n FROM racefree.numberings WHERE table_name = 'twoways'`), [{ n: 0 }]);
});

/** Every object of the tables the bad inputs name, and their registry entries, to show that nothing was created. */
const catalog = () =>
  sql(`SELECT (SELECT array_agg(c.relname::text || ':' || c.relkind::text ORDER BY c.relname) FROM pg_class AS c
                WHERE c.relnamespace = 'public'::regnamespace AND c.relname ~ '^(short|parted|docs|wide|racefree_probe)') AS relations,
              (SELECT array_agg(p.proname::text ORDER BY p.proname) FROM pg_proc AS p
                WHERE p.pronamespace = 'public'::regnamespace AND p.proname ~ '(bad|short|parted|docs|wide)') AS functions,
              (SELECT array_agg(k.conname::text ORDER BY k.conname) FROM pg_constraint AS k
                WHERE k.conrelid IN ('short'::regclass, 'parted'::regclass, 'parted_eu'::regclass, 'docs'::regclass, 'wide'::regclass)) AS constraints,
              (SELECT array_agg(g.tgname::text ORDER BY g.tgname) FROM pg_trigger AS g
                WHERE g.tgrelid IN ('short'::regclass, 'parted'::regclass, 'parted_eu'::regclass, 'docs'::regclass, 'wide'::regclass)) AS triggers,
              (SELECT count(*)::int FROM racefree.registry WHERE table_name IN ('short', 'parted', 'docs', 'wide')) AS registered,
              (SELECT count(*)::int FROM racefree.numberings WHERE table_name IN ('short', 'parted', 'docs', 'wide')) AS numberings,
              (SELECT count(*)::int FROM pg_sequences WHERE sequencename LIKE 'bad%') AS sequences`);

test('every bad input is RF100 naming the option and value, and nothing is created', async (t) => {
  await sql(`CREATE TABLE short (id bigserial PRIMARY KEY, n varchar(5))`);
  await sql(`CREATE TABLE parted (id bigint NOT NULL, region text NOT NULL, n text) PARTITION BY LIST (region)`);
  await sql(`CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu')`);
  await sql(`CREATE TABLE docs (id bigserial PRIMARY KEY, team int, body json, status text)`);
  await sql(`CREATE TABLE wide (id bigserial PRIMARY KEY, ${Array.from({ length: 101 }, (_, i) => `c${i} text`).join(', ')})`);
  const before = await catalog();
  type Case = [string, MigrationAction, string, unknown, RegExp];
  const numbering =
    (o: Partial<AddNumberingOptions>): MigrationAction =>
    (pgm) =>
      addNumbering(pgm, { name: 'bad', table: 'short', column: 'n', template: 'B-{seq}', ...o });
  const key =
    (o: Partial<AddUniqueKeyOptions>): MigrationAction =>
    (pgm) =>
      addUniqueKey(pgm, { table: 'docs', columns: ['team'], ...o });
  const cases: Case[] = [
    ['NUL in a template', numbering({ template: 'A\0-{seq}' }), 'template', 'A\0-{seq}', /NUL/],
    ['a 10 kB template', numbering({ template: `${'x'.repeat(10_000)}-{seq}` }), 'template', `${'x'.repeat(10_000)}-{seq}`, /at most 255/],
    ['a varchar(5) the template outgrows', numbering({ template: 'ASM-{YYYY}-{seq:3}' }), 'column', 'n', /varchar\(5\).*needs at least varchar\(12\)/],
    ['a partitioned table', numbering({ table: 'parted' }), 'table', 'public.parted', /must include the partition key \(region\)/],
    ['a subquery in where', key({ where: 'team IN (SELECT 1)' }), 'where', 'team IN (SELECT 1)', /cannot use subquery/],
    ['a json key column', key({ columns: ['body'] }), 'columns', '["body"]', /json/],
    [
      'a unique key without the partition key',
      (pgm) => addUniqueKey(pgm, { table: 'parted', columns: ['id'] }),
      'columns',
      '["id"]',
      /partition key: add region/,
    ],
    [
      'an upsert over 100 columns',
      (pgm) => addUpsert(pgm, { table: 'wide', key: ['id'] }),
      'table',
      'public.wide',
      /102 columns a caller may give.*at most 100 arguments/,
    ],
  ];
  for (const [what, action, option, value, message] of cases) {
    const error = await t.throwsAsync(migrate(action), { instanceOf: RacefreeConfigError, message }, what);
    t.is(error?.code, 'RF100', what);
    t.is(error?.option, option, what);
    t.deepEqual(error?.value, value, what);
  }
  t.deepEqual(await catalog(), before);
});

test('numberings whose names share their first 40 characters, and numbered columns sharing their first 28, all work', async (t) => {
  const long = 'numbering_names_sharing_forty_characters';
  const column = 'column_names_sharing_28_char';
  t.is(long.length, 40);
  t.is(column.length, 28);
  await sql(`CREATE TABLE ${long}s (id bigserial PRIMARY KEY, ${column}_one text, ${column}_two text, scope text NOT NULL DEFAULT 's')`);
  await migrate((pgm) => {
    addNumbering(pgm, { name: `${long}_one`, table: `${long}s`, column: `${column}_one`, template: 'A-{seq}' });
    addNumbering(pgm, { name: `${long}_two`, table: `${long}s`, column: `${column}_two`, template: 'B-{scope}-{seq}' });
  });
  t.like((await sql(`INSERT INTO ${long}s DEFAULT VALUES RETURNING *`))[0], { [`${column}_one`]: 'A-1', [`${column}_two`]: 'B-s-1' });
  const names = await sql(`SELECT object_type, object_name FROM racefree.registry_objects ORDER BY 1, 2`);
  t.is(new Set(names.map((n) => n.object_name)).size, names.length);
  t.true(names.every((n) => Buffer.byteLength(n.object_name) <= 63));
  await migrate((pgm) => {
    dropNumbering(pgm, { name: `${long}_two`, table: `${long}s`, column: `${column}_two` });
    dropNumbering(pgm, { name: `${long}_one`, table: `${long}s`, column: `${column}_one` });
  });
  t.deepEqual(await sql(`SELECT tgname FROM pg_trigger WHERE tgrelid = '${long}s'::regclass`), []);
  t.deepEqual(await sql(`SELECT conname FROM pg_constraint WHERE conrelid = '${long}s'::regclass AND contype = 'u'`), []);
});

test('the registry records the configuration, the generator version and every object; drop reads it and leaves nothing', async (t) => {
  await sql(`CREATE TABLE reg (id bigserial PRIMARY KEY, code text NOT NULL, tenant text NOT NULL, n text, note text)`);
  const numbering = { name: 'reg', table: 'reg', column: 'n', template: 'R-{tenant}-{seq:2}', mode: 'gapless' as const };
  const key = { table: 'reg', columns: ['code'] };
  const upsert = { table: 'reg', key: ['code'] };
  await migrate((pgm) => {
    addNumbering(pgm, numbering);
    addUniqueKey(pgm, key);
    addUpsert(pgm, upsert);
  });
  const entries = await sql(`
    SELECT r.builder, r.name, r.config, r.generator_version,
           (SELECT array_agg(o.object_type || ' ' || o.object_name || '(' || o.arguments || ')' ORDER BY o.object_type, o.object_name)
              FROM racefree.registry_objects AS o WHERE o.registry_id = r.id) AS objects
      FROM racefree.registry AS r WHERE r.table_name = 'reg' ORDER BY r.builder`);
  const [{ version }] = await sql(`SELECT racefree_internal._generator_version() AS version`);
  t.deepEqual(entries, [
    {
      builder: 'addNumbering',
      name: 'reg',
      config: { name: 'reg', table: 'public.reg', column: 'n', template: 'R-{tenant}-{seq:2}', mode: 'gapless', timeZone: 'UTC' },
      generator_version: version,
      objects: ['constraint reg_n_key()', 'function generate_reg_number()', 'trigger racefree_reg_number()', 'trigger racefree_reg_update()'],
    },
    {
      builder: 'addUniqueKey',
      name: 'reg_code_key',
      config: { table: 'public.reg', columns: ['code'], name: 'reg_code_key', nullsNotDistinct: false },
      generator_version: version,
      objects: ['constraint reg_code_key()'],
    },
    {
      builder: 'addUpsert',
      name: 'reg',
      config: { table: 'public.reg', key: ['code'], name: 'reg' },
      generator_version: version,
      objects: [
        'function get_or_create_reg(bigint, text, text, text, text)',
        'function upsert_reg(bigint, text, text, text, text)',
        'function upsert_reg_many(jsonb)',
        'type upsert_reg_result()',
      ],
    },
  ]);
  await migrate((pgm) => {
    dropUpsert(pgm, upsert);
    dropUniqueKey(pgm, key);
    dropNumbering(pgm, numbering);
  });
  t.deepEqual(await sql(`SELECT count(*)::int AS n FROM racefree.registry WHERE table_name = 'reg'`), [{ n: 0 }]);
  t.deepEqual(
    await sql(`SELECT (SELECT count(*)::int FROM pg_proc WHERE proname LIKE '%reg%' AND pronamespace = 'public'::regnamespace) AS functions,
                      (SELECT count(*)::int FROM pg_constraint WHERE conrelid = 'reg'::regclass AND contype = 'u') AS keys,
                      (SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'reg'::regclass) AS triggers,
                      (SELECT count(*)::int FROM pg_type WHERE typname = 'upsert_reg_result') AS types`),
    [{ functions: 0, keys: 0, triggers: 0, types: 0 }],
  );
});

test('a unique key built concurrently is registered too, and dropped through the registry', async (t) => {
  await sql(`CREATE TABLE conc (id bigserial PRIMARY KEY, code text)`);
  const key: AddUniqueKeyOptions = { table: 'conc', columns: ['code'], concurrently: true };
  await migrate((pgm) => addUniqueKey(pgm, key));
  const objects = () =>
    sql(`SELECT o.object_type, o.object_name FROM racefree.registry AS r JOIN racefree.registry_objects AS o ON o.registry_id = r.id
          WHERE r.table_name = 'conc'`);
  t.deepEqual(await objects(), [{ object_type: 'constraint', object_name: 'conc_code_key' }]);
  await migrate((pgm) => dropUniqueKey(pgm, key));
  t.deepEqual(await objects(), []);
  t.deepEqual(await sql(`SELECT indexrelid::regclass::text AS i FROM pg_index WHERE indrelid = 'conc'::regclass AND NOT indisprimary`), []);
});

test('doctor generated_stale: found after ALTER COLUMN SET DEFAULT, gone after the fix it names', async (t) => {
  await sql(`CREATE TABLE stale (k text PRIMARY KEY, status text DEFAULT 'new')`);
  const options: AddUpsertOptions = { table: 'stale', key: ['k'] };
  await migrate((pgm) => addUpsert(pgm, options));
  const stale = async () => (await runDoctor({ databaseUrl: url(), dir: false })).findings.filter((f) => f.check === 'generated_stale');
  t.deepEqual(await stale(), []);
  await sql(`ALTER TABLE stale ALTER COLUMN status SET DEFAULT 'fresh'`);
  // The generated function still writes the default it captured.
  t.like(await db.callOne('upsert_stale', { k: 'a' }), { status: 'new' });
  const found = await stale();
  t.deepEqual(found.map((f) => f.object).sort(), [
    'public.get_or_create_stale(text,text)',
    'public.upsert_stale(text,text)',
    'public.upsert_stale_many(jsonb)',
  ]);
  for (const f of found)
    t.regex(
      f.detail,
      /a column default, type or the column list has changed since.*fix: a new migration with dropUpsert\(pgm, \{"name": "stale", "table": \{"name": "stale", "schema": "public"\}\}\) then addUpsert\(pgm, \{"key": \["k"\], "name": "stale", "table": \{"name": "stale", "schema": "public"\}\}\)$/,
    );
  await migrate((pgm) => {
    dropUpsert(pgm, options);
    addUpsert(pgm, options);
  });
  t.deepEqual(await stale(), []);
  t.like(await db.callOne('upsert_stale', { k: 'b' }), { status: 'fresh' });
  // A generated function edited by hand is stale too; the fix it names restores it.
  await sql(`CREATE TABLE hand (id bigserial PRIMARY KEY, n text)`);
  await migrate((pgm) => addNumbering(pgm, { name: 'hand', table: 'hand', column: 'n', template: 'H-{seq}' }));
  await sql(`CREATE OR REPLACE FUNCTION generate_hand_number() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.n := 'H-0'; RETURN NEW; END $$`);
  const edited = await stale();
  t.is(edited.length, 1);
  t.is(edited[0]?.object, 'public.generate_hand_number()');
  t.regex(edited[0]!.detail, /fix: SELECT racefree_internal\._regenerate_all\(\)/);
  await sql('SELECT racefree_internal._regenerate_all()');
  t.deepEqual(await stale(), []);
  t.deepEqual(await sql(`INSERT INTO hand DEFAULT VALUES RETURNING n`), [{ n: 'H-1' }]);
  t.deepEqual(await sql(`INSERT INTO hand DEFAULT VALUES RETURNING n`), [{ n: 'H-2' }]);
});

test('doctor public_execute covers generated upserts', async (t) => {
  await sql(`CREATE TABLE pub (k text PRIMARY KEY, v text)`);
  await migrate((pgm) => addUpsert(pgm, { table: 'pub', key: ['k'] }));
  const publicExec = async () =>
    (await runDoctor({ databaseUrl: url(), dir: false })).findings.filter((f) => f.check === 'public_execute').map((f) => f.object);
  t.deepEqual(await publicExec(), []);
  await sql(`GRANT EXECUTE ON FUNCTION upsert_pub_many(jsonb) TO PUBLIC`);
  t.deepEqual(await publicExec(), ['public.upsert_pub_many(jsonb)']);
  await sql(`REVOKE EXECUTE ON FUNCTION upsert_pub_many(jsonb) FROM PUBLIC`);
});
