import test from 'ava';
import pg from 'pg';

import { ConnectionError, createClient, RacefreeConfigError, RacefreeError, UnexpectedRowCountError, UniqueViolationError, type Db } from '../src/index.js';
import { useTestDatabase } from './helpers/db.js';

const url = useTestDatabase(test);

const CANARY_NAME = 'inv"; DROP TABLE canary; --';

let db: Db;

test.before(async () => {
  db = createClient({ connectionString: url() });
  await db.query(`
    CREATE TABLE canary (alive boolean);
    INSERT INTO canary VALUES (true);
    CREATE TABLE cl_items (id int PRIMARY KEY, name text, qty int);

    CREATE FUNCTION cl_echo(a int, b text, c text DEFAULT 'default c')
      RETURNS TABLE (a int, b text, c text) LANGUAGE sql AS 'SELECT a, b, c';
    CREATE FUNCTION cl_series(n int) RETURNS TABLE (i int) LANGUAGE sql AS 'SELECT generate_series(1, n)';
    CREATE FUNCTION cl_add_item(id int, name text, qty int) RETURNS cl_items
      LANGUAGE sql AS 'INSERT INTO cl_items VALUES (id, name, qty) RETURNING *';
    CREATE FUNCTION cl_scalar() RETURNS int LANGUAGE sql AS 'SELECT 42';

    -- Names that only work when quoted.
    CREATE FUNCTION "${CANARY_NAME.replaceAll('"', '""')}"("user" text) RETURNS TABLE (called_with text)
      LANGUAGE sql AS 'SELECT $1';
    CREATE FUNCTION "Mixed Case Fn"("Arg Name" int, "order" int) RETURNS TABLE (total int)
      LANGUAGE sql AS 'SELECT $1 + $2';
  `);
  await db.query(`
    CREATE FUNCTION "select"("from" int) RETURNS TABLE (x int) LANGUAGE sql AS 'SELECT $1';
    CREATE SCHEMA "Odd Schema";
    CREATE FUNCTION "Odd Schema"."dotted.name"(v text) RETURNS TABLE (v text) LANGUAGE sql AS 'SELECT $1';
    CREATE FUNCTION "Odd Schema".plain(v text) RETURNS TABLE (v text) LANGUAGE sql AS 'SELECT $1 || ''!''';
    CREATE FUNCTION cl_lower() RETURNS text LANGUAGE sql AS 'SELECT ''lower''';
    CREATE FUNCTION "CL_LOWER"() RETURNS text LANGUAGE sql AS 'SELECT ''upper''';
  `);
});

test.after.always(async () => {
  await db?.end();
});

async function canaryAlive(): Promise<boolean> {
  const result = await db.query<{ alive: boolean }>('SELECT alive FROM canary');
  return result.rows[0]?.alive === true;
}

test('call passes named arguments as parameters and returns the rows', async (t) => {
  const rows = await db.call<{ a: number; b: string; c: string }>('cl_echo', { b: "it's; DROP", a: 7, c: 'x' });
  t.deepEqual(rows, [{ a: 7, b: "it's; DROP", c: 'x' }]);
});

test('call: undefined leaves an argument to its DEFAULT, null passes NULL', async (t) => {
  t.deepEqual(await db.call('cl_echo', { a: 1, b: 'b', c: undefined }), [{ a: 1, b: 'b', c: 'default c' }]);
  t.deepEqual(await db.call('cl_echo', { a: 1, b: 'b', c: null }), [{ a: 1, b: 'b', c: null }]);
});

test('call returns every row of a set-returning function, and a scalar as one row', async (t) => {
  t.deepEqual(await db.call('cl_series', { n: 3 }), [{ i: 1 }, { i: 2 }, { i: 3 }]);
  t.deepEqual(await db.call('cl_scalar'), [{ cl_scalar: 42 }]);
});

test('callOne returns the single row', async (t) => {
  const row = await db.callOne<{ id: number; name: string; qty: number }>('cl_add_item', { id: 1, name: 'bolt', qty: 5 });
  t.deepEqual(row, { id: 1, name: 'bolt', qty: 5 });
});

test('callOne throws UnexpectedRowCountError for zero rows and for several', async (t) => {
  const none = await t.throwsAsync(db.callOne('cl_series', { n: 0 }), { instanceOf: UnexpectedRowCountError });
  t.is(none?.rowCount, 0);
  const many = await t.throwsAsync(db.callOne('cl_series', { n: 2 }), { instanceOf: UnexpectedRowCountError });
  t.is(many?.rowCount, 2);
  t.true(many instanceof RacefreeError);
});

test('a function literally named with quotes and a semicolon is called as that name; nothing else runs', async (t) => {
  const rows = await db.call(CANARY_NAME, { user: 'me' });
  t.deepEqual(rows, [{ called_with: 'me' }]);
  t.true(await canaryAlive());
});

test('an injection attempt that names no function is an undefined-function error; nothing else runs', async (t) => {
  const err = await t.throwsAsync(db.call('x"(); DROP TABLE canary; --'));
  t.is((err as RacefreeError).code, '42883');
  const argErr = await t.throwsAsync(db.call('cl_echo', { 'a" => 1); DROP TABLE canary; --': 1 }));
  t.is((argErr as RacefreeError).code, '42883');
  t.true(await canaryAlive());
});

test('names with upper case, spaces and reserved words are exact', async (t) => {
  t.deepEqual(await db.call('Mixed Case Fn', { 'Arg Name': 2, order: 3 }), [{ total: 5 }]);
  t.deepEqual(await db.call('select', { from: 9 }), [{ x: 9 }]);
  // Exact, as in pg_proc: no case folding.
  t.deepEqual(await db.call('cl_lower'), [{ cl_lower: 'lower' }]);
  t.deepEqual(await db.call('CL_LOWER'), [{ CL_LOWER: 'upper' }]);
});

test('schema-qualified names: "schema.fn", and [schema, name] for names with a dot', async (t) => {
  t.deepEqual(await db.call('Odd Schema.plain', { v: 'a' }), [{ v: 'a!' }]);
  t.deepEqual(await db.call(['Odd Schema', 'dotted.name'], { v: 'b' }), [{ v: 'b' }]);
  t.deepEqual(await db.call('public.cl_scalar'), [{ cl_scalar: 42 }]);
});

test('unusable names are rejected before anything is sent', async (t) => {
  for (const fn of ['', 'a.b.c', '.fn', 'fn.', 'nul\0name']) {
    const err = await t.throwsAsync(db.call(fn), { instanceOf: RacefreeConfigError }, JSON.stringify(fn));
    t.is(err?.option, 'fn');
  }
  const badArg = await t.throwsAsync(db.call('cl_scalar', { '': 1 }), { instanceOf: RacefreeConfigError });
  t.is(badArg?.option, 'args');
  t.true(await canaryAlive());
});

test('calls are prepared once per connection and reused, whatever the argument order', async (t) => {
  const pool = new pg.Pool({ connectionString: url(), max: 1 });
  const one = createClient({ pool });
  try {
    for (let i = 0; i < 20; i++) {
      const args = i % 2 === 0 ? { a: i, b: 'x' } : { b: 'x', a: i };
      t.deepEqual(await one.call('cl_echo', args), [{ a: i, b: 'x', c: 'default c' }]);
    }
    const prepared = await one.query<{ name: string; statement: string }>(
      `SELECT name, statement FROM pg_prepared_statements WHERE statement LIKE '%cl_echo%'`,
    );
    t.is(prepared.rows.length, 1);
    t.regex(prepared.rows[0]!.name, /^racefree_[0-9a-f]{20}$/);
    t.is(prepared.rows[0]!.statement, 'SELECT * FROM "cl_echo"("a" => $1, "b" => $2)');
  } finally {
    await pool.end();
  }
});

test('an error answered by the server keeps the connection; it is not reconnected', async (t) => {
  const pool = new pg.Pool({ connectionString: url(), max: 1 });
  let connects = 0;
  pool.on('connect', () => connects++);
  const one = createClient({ pool });
  try {
    await one.call('cl_add_item', { id: 100, name: 'a', qty: 1 });
    const pid = (await one.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const err = await t.throwsAsync(one.call('cl_add_item', { id: 100, name: 'a', qty: 1 }), {
      instanceOf: UniqueViolationError,
    });
    t.deepEqual(err?.columns, ['id']);
    t.deepEqual(err?.values, ['100']);
    t.is((await one.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid, pid);
    t.is(connects, 1);
  } finally {
    await pool.end();
  }
});

test('query is the escape hatch: any SQL text, values as parameters, errors mapped', async (t) => {
  const result = await db.query<{ n: number }>('SELECT $1::int + 1 AS n', [41]);
  t.deepEqual(result.rows, [{ n: 42 }]);
  t.is(result.rowCount, 1);
  t.is(result.command, 'SELECT');
  const err = await t.throwsAsync(db.query('SELECT * FROM cl_no_such_table'));
  t.is((err as RacefreeError).code, '42P01');
});

test('a pool passed in is never closed by end(); one created from a connection string is', async (t) => {
  const pool = new pg.Pool({ connectionString: url(), max: 2 });
  try {
    const borrowed = createClient({ pool });
    t.deepEqual(await borrowed.call('cl_scalar'), [{ cl_scalar: 42 }]);
    await borrowed.end();
    await borrowed.end();
    t.false(pool.ending);
    t.deepEqual((await pool.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  } finally {
    await pool.end();
  }

  const owned = createClient({ connectionString: url() });
  t.deepEqual(await owned.call('cl_scalar'), [{ cl_scalar: 42 }]);
  await owned.end();
  await owned.end();
  const err = await t.throwsAsync(owned.call('cl_scalar'));
  t.true(err instanceof RacefreeError);
});

test('createClient needs exactly one of connectionString and pool', (t) => {
  t.throws(() => createClient({} as never), { instanceOf: RacefreeConfigError });
  const pool = new pg.Pool({ connectionString: url() });
  t.throws(() => createClient({ pool, connectionString: url() } as never), { instanceOf: RacefreeConfigError });
  void pool.end();
});

test('idle pooled connections killed by the server are replaced; the next 100 calls succeed', async (t) => {
  const marked = new URL(url());
  marked.searchParams.set('application_name', 'cl_idle_victim');
  const own = createClient({ connectionString: marked.toString() });
  try {
    // Open several connections, then terminate them all while idle in the pool.
    await Promise.all(Array.from({ length: 5 }, () => own.query('SELECT pg_sleep(0.05)')));
    const killed = await db.query<{ n: number }>(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
        WHERE application_name = 'cl_idle_victim' AND state = 'idle'`,
    );
    t.is(killed.rows[0]!.n, 5);
    // Deterministic point: every terminated backend has exited.
    await waitFor(async () => {
      const alive = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'cl_idle_victim'`);
      return alive.rows[0]!.n === 0;
    });
    // Let the pool handle the sockets' close events before using it.
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (let i = 0; i < 100; i++) t.deepEqual(await own.call('cl_scalar'), [{ cl_scalar: 42 }]);
  } finally {
    await own.end();
  }
});

test('a client-side query timeout destroys the connection instead of reusing it', async (t) => {
  const pool = new pg.Pool({ connectionString: url(), max: 1, query_timeout: 50 });
  pool.on('error', () => undefined);
  const slow = createClient({ pool });
  try {
    const err = await t.throwsAsync(slow.query('SELECT pg_sleep(2)'), { instanceOf: ConnectionError });
    t.is(err?.code, undefined);
    t.is(pool.totalCount, 0, 'the busy connection left the pool');
    t.deepEqual(await slow.call('cl_scalar'), [{ cl_scalar: 42 }]);
  } finally {
    await pool.end();
  }
});

test('a function re-created with another result type fails once per connection, then works', async (t) => {
  const pool = new pg.Pool({ connectionString: url(), max: 1 });
  const one = createClient({ pool });
  try {
    await one.query(`CREATE FUNCTION cl_shape() RETURNS TABLE (x int) LANGUAGE sql AS 'SELECT 1'`);
    t.deepEqual(await one.call('cl_shape'), [{ x: 1 }]);
    await one.query(`DROP FUNCTION cl_shape(); CREATE FUNCTION cl_shape() RETURNS TABLE (x int, y int) LANGUAGE sql AS 'SELECT 1, 2'`);
    const err = await t.throwsAsync(one.call('cl_shape'));
    t.is((err as RacefreeError).code, '0A000');
    t.deepEqual(await one.call('cl_shape'), [{ x: 1, y: 2 }]);
  } finally {
    await pool.end();
  }
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
