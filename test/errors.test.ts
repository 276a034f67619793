import test from 'ava';
import pg from 'pg';

import {
  AbortedError,
  CheckViolationError,
  CommitOutcomeUnknownError,
  ConnectionError,
  createClient,
  DeadlockDetectedError,
  DuplicateRowsError,
  ForeignKeyViolationError,
  IdempotencyKeyMismatchError,
  IntegrityConstraintViolationError,
  InvalidIdempotencyKeyError,
  isTransient,
  LockTimeoutError,
  NotNullViolationError,
  QueryCanceledError,
  RacefreeConfigError,
  RacefreeError,
  SerializationFailureError,
  UniqueViolationError,
  wrapError,
  type Db,
} from '../src/index.js';
import { racefreeCodes } from '../src/errors/codes.js';
import { useTestDatabase } from './helpers/db.js';

const url = useTestDatabase(test);

/** A server error as pg builds it from an ErrorResponse. */
function serverError(code: string, fields: Partial<pg.DatabaseError> = {}, message = 'server says no'): pg.DatabaseError {
  const err = new pg.DatabaseError(message, message.length, 'error');
  Object.assign(err, { severity: 'ERROR', code, ...fields });
  return err;
}

// ---------------------------------------------------------------------------
// wrapError on built errors

test('23505 maps to UniqueViolationError with location, columns and values', (t) => {
  const cause = serverError('23505', {
    constraint: 'users_email_key',
    schema: 'app',
    table: 'users',
    detail: 'Key (email)=(a@example.com) already exists.',
  });
  const err = wrapError(cause);
  t.true(err instanceof UniqueViolationError);
  t.true(err instanceof IntegrityConstraintViolationError);
  t.true(err instanceof RacefreeError);
  const u = err as UniqueViolationError;
  t.is(u.code, '23505');
  t.is(u.cause, cause);
  t.is(u.constraint, 'users_email_key');
  t.is(u.schema, 'app');
  t.is(u.table, 'users');
  t.deepEqual(u.columns, ['email']);
  t.deepEqual(u.values, ['a@example.com']);
  t.is(u.message, 'server says no: Key (email)=(a@example.com) already exists.');
});

test('messages carry the server message, DETAIL and HINT; built without a server error they are a fixed sentence', (t) => {
  const fields = { detail: 'Key (k)=(1) already exists.', hint: 'Look at k.' };
  t.is(
    wrapError(serverError('23505', fields, 'duplicate key value violates unique constraint "t_k_key"')).message,
    'duplicate key value violates unique constraint "t_k_key": Key (k)=(1) already exists. Hint: Look at k.',
  );
  for (const code of ['23503', '23502', '23514', '23P01', '40001', '40P01', '55P03', '57014', '57P01', '08006', '42P01']) {
    t.is(wrapError(serverError(code, { detail: 'D.' }, 'the server says')).message, 'the server says: D.', code);
    t.is(wrapError(serverError(code, {}, 'the server says')).message, 'the server says', code);
  }
  t.is(new UniqueViolationError().message, 'A unique constraint was violated.');
  t.is(new LockTimeoutError().message, 'A lock could not be obtained in time.');
  t.is(wrapError(new Error('Connection terminated unexpectedly')).message, 'The database connection failed or was lost: Connection terminated unexpectedly');
});

const detailCases: Array<[string, string | undefined, readonly string[] | undefined, readonly string[] | undefined]> = [
  ['two columns', 'Key (tenant_id, number)=(7, 2024-0001) already exists.', ['tenant_id', 'number'], ['7', '2024-0001']],
  ['one value with commas, parentheses and quotes', `Key (name)=(O'Brien, "Jr." (a), b) already exists.`, ['name'], [`O'Brien, "Jr." (a), b`]],
  ['quoted column names', 'Key ("Order, ""Id""", "select")=(x, 1) already exists.', ['Order, "Id"', 'select'], ['x', '1']],
  ['a value containing ", " among several: values unknown', 'Key (a, b)=({"k": [1, 2]}, {1,2}) already exists.', ['a', 'b'], undefined],
  ['expression index', 'Key (lower(email))=(a, (b)) already exists.', ['lower(email)'], ['a, (b)']],
  ['expression with a string literal', `Key (coalesce(code, ')=('::text))=(x) already exists.`, [`coalesce(code, ')=('::text)`], ['x']],
  ['value that looks like the suffix', 'Key (a)=(x) already exists.) already exists.', ['a'], ['x) already exists.']],
  ['NULL in a NULLS NOT DISTINCT key', 'Key (a, b)=(p, null) already exists.', ['a', 'b'], ['p', 'null']],
  ['no DETAIL (row-level security)', undefined, undefined, undefined],
  ['translated DETAIL', 'Schlüssel »(email)=(x)« existiert bereits.', undefined, undefined],
  ['unbalanced column list', 'Key ("a)=(b) already exists.', undefined, undefined],
];
for (const [name, detail, columns, values] of detailCases) {
  test(`unique violation DETAIL: ${name}`, (t) => {
    const err = wrapError(serverError('23505', detail === undefined ? {} : { detail })) as UniqueViolationError;
    t.true(err instanceof UniqueViolationError);
    t.deepEqual(err.columns, columns);
    t.deepEqual(err.values, values);
  });
}

test('other integrity violations map to their classes with the server fields', (t) => {
  const fk = wrapError(serverError('23503', { constraint: 'books_author_fkey', table: 'books', schema: 'public' }));
  t.true(fk instanceof ForeignKeyViolationError);
  t.is((fk as ForeignKeyViolationError).constraint, 'books_author_fkey');
  t.is(fk.code, '23503');

  const nn = wrapError(serverError('23502', { column: 'title', table: 'books', schema: 'public' }));
  t.true(nn instanceof NotNullViolationError);
  t.is((nn as NotNullViolationError).column, 'title');
  t.is((nn as NotNullViolationError).constraint, undefined);

  const ck = wrapError(serverError('23514', { constraint: 'books_pages_check' }));
  t.true(ck instanceof CheckViolationError);
  t.is((ck as CheckViolationError).constraint, 'books_pages_check');
  t.is((ck as CheckViolationError).table, undefined);

  const ex = wrapError(serverError('23P01', { constraint: 'no_overlap' }));
  t.is(ex.constructor, IntegrityConstraintViolationError);
  t.is(ex.code, '23P01');
  t.is((ex as IntegrityConstraintViolationError).constraint, 'no_overlap');
});

test('concurrency, lock and cancel SQLSTATEs map to their classes', (t) => {
  const cases: Array<[string, new (...args: never[]) => RacefreeError]> = [
    ['40001', SerializationFailureError],
    ['40P01', DeadlockDetectedError],
    ['55P03', LockTimeoutError],
    ['57014', QueryCanceledError],
  ];
  for (const [code, cls] of cases) {
    const cause = serverError(code);
    const err = wrapError(cause);
    t.is(err.constructor, cls, code);
    t.is(err.code, code);
    t.is(err.cause, cause);
  }
});

test('lost sessions map to ConnectionError with the SQLSTATE when the server sent one', (t) => {
  for (const code of ['57P01', '57P02', '08006', '08003', '25P03']) {
    const err = wrapError(serverError(code, { severity: 'FATAL' }));
    t.true(err instanceof ConnectionError, code);
    t.is(err.code, code);
  }
  const socket = new Error('Connection terminated unexpectedly');
  const lost = wrapError(socket);
  t.true(lost instanceof ConnectionError);
  t.is(lost.code, undefined);
  t.is(lost.cause, socket);

  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  t.true(wrapError(refused) instanceof ConnectionError);
  t.is(wrapError(refused).code, undefined, 'a Node error code is not a SQLSTATE');

  t.true(wrapError(new Error('Query read timeout')) instanceof ConnectionError);
  t.true(wrapError(new Error('tls: bad record'), { connectionLost: true }) instanceof ConnectionError);
});

test('RF100 maps to RacefreeConfigError with option and value from the JSON DETAIL', (t) => {
  const cause = serverError('RF100', { detail: '{"option": "table", "value": "nope"}' }, 'addNumbering: option "table" names no table: "nope"');
  const err = wrapError(cause);
  t.true(err instanceof RacefreeConfigError);
  const c = err as RacefreeConfigError;
  t.is(c.code, 'RF100');
  t.is(c.message, 'addNumbering: option "table" names no table: "nope"');
  t.is(c.option, 'table');
  t.is(c.value, 'nope');
  t.is(c.cause, cause);
});

test('RF100 without a JSON DETAIL keeps what it knows and guesses nothing', (t) => {
  const withColumn = wrapError(serverError('RF100', { column: 'template', detail: 'not json' })) as RacefreeConfigError;
  t.true(withColumn instanceof RacefreeConfigError);
  t.is(withColumn.option, 'template');
  t.is(withColumn.value, undefined);

  const bare = wrapError(serverError('RF100')) as RacefreeConfigError;
  t.is(bare.option, undefined);
  t.is(bare.value, undefined);
});

test('RF001 and RF002 map to the idempotency errors with fields from the JSON DETAIL, guessing nothing without it', (t) => {
  const mismatch = wrapError(serverError('RF001', { detail: '{"key": "k1", "scope": "tenant:7"}' }));
  t.true(mismatch instanceof IdempotencyKeyMismatchError);
  t.like(mismatch, { code: 'RF001', scope: 'tenant:7', key: 'k1' });
  t.is(mismatch.message, 'Idempotency key "k1" in scope "tenant:7" was already used with a different request.');
  t.like(wrapError(serverError('RF001')), { scope: undefined, key: undefined, message: 'The idempotency key was already used with a different request.' });

  const invalid = wrapError(serverError('RF002', { detail: '{"argument": "key"}' }, 'key must be 1 to 255 characters'));
  t.true(invalid instanceof InvalidIdempotencyKeyError);
  t.like(invalid, { code: 'RF002', argument: 'key', message: 'key must be 1 to 255 characters' });
  t.is((wrapError(serverError('RF002')) as InvalidIdempotencyKeyError).argument, undefined);
});

test('RF101 maps to DuplicateRowsError with table, columns, groups and total from the JSON DETAIL', (t) => {
  const detail = JSON.stringify({
    table: 'public.users',
    columns: ['slack_id', 'discipline'],
    groups: [
      { values: ['U1', null], count: 3 },
      { values: ['U2', 'be'], count: 2 },
    ],
    total: 2,
  });
  const err = wrapError(serverError('RF101', { detail }));
  t.true(err instanceof DuplicateRowsError);
  t.like(err, { code: 'RF101', table: 'public.users', columns: ['slack_id', 'discipline'], total: 2 });
  t.deepEqual((err as DuplicateRowsError).groups, [
    { values: ['U1', null], count: 3 },
    { values: ['U2', 'be'], count: 2 },
  ]);
  t.is(
    err.message,
    [
      'public.users holds 2 groups of rows with the same (slack_id, discipline); nothing was changed.',
      '  (U1, NULL) x3',
      '  (U2, be) x2',
      'Remove or merge the duplicate rows (one row per key value), then run the migration again.',
    ].join('\n'),
  );

  const more = wrapError(serverError('RF101', { detail: JSON.stringify({ table: 't', columns: ['k'], groups: [{ values: ['a'], count: 2 }], total: 13 }) }));
  t.is(more.message.split('\n')[0], 't holds 13 groups of rows with the same (k); nothing was changed.');
  t.is(more.message.split('\n')[2], '  ... and 12 more groups');

  const bare = wrapError(serverError('RF101', { detail: '{"groups": [{"values": [1], "count": "x"}]}' })) as DuplicateRowsError;
  t.like(bare, { table: undefined, columns: undefined, groups: undefined, total: undefined });
  t.is(
    bare.message,
    'Existing rows share a value of the new unique key; nothing was changed. Remove or merge the duplicate rows (one row per key value), then run the migration again.',
  );
});

test('every code in the racefree code table maps to its class', (t) => {
  const classes: Record<string, abstract new (...args: never[]) => RacefreeError> = {
    RacefreeConfigError,
    IdempotencyKeyMismatchError,
    InvalidIdempotencyKeyError,
    DuplicateRowsError,
  };
  t.plan(racefreeCodes.length * 2);
  for (const entry of racefreeCodes) {
    const err = wrapError(serverError(entry.code));
    t.is(err.constructor, classes[entry.errorClass]!, entry.code);
    t.is(err.code, entry.code);
  }
});

test('unknown SQLSTATEs, unknown RF codes and non-errors give a plain RacefreeError', (t) => {
  const unknownRf = wrapError(serverError('RF999', {}, 'a future racefree condition'));
  t.is(unknownRf.constructor, RacefreeError);
  t.is(unknownRf.code, 'RF999');
  t.is(unknownRf.message, 'a future racefree condition');

  const undefinedTable = wrapError(serverError('42P01', {}, 'relation "nope" does not exist'));
  t.is(undefinedTable.constructor, RacefreeError);
  t.is(undefinedTable.code, '42P01');
  t.is(undefinedTable.message, 'relation "nope" does not exist');

  const thrown = wrapError('a string');
  t.is(thrown.constructor, RacefreeError);
  t.is(thrown.code, undefined);
  t.is(thrown.cause, 'a string');
});

test('wrapError returns racefree errors unchanged', (t) => {
  const err = new LockTimeoutError();
  t.is(wrapError(err), err);
});

test('isTransient is true exactly for serialization failures and deadlocks', (t) => {
  t.true(isTransient(new SerializationFailureError()));
  t.true(isTransient(new DeadlockDetectedError()));
  t.true(isTransient(serverError('40001')));
  t.true(isTransient(serverError('40P01')));
  t.false(isTransient(new UniqueViolationError()));
  t.false(isTransient(serverError('23505')));
  t.false(isTransient(new LockTimeoutError()));
  t.false(isTransient(new QueryCanceledError()));
  t.false(isTransient(new ConnectionError()));
  t.false(isTransient(new CommitOutcomeUnknownError({ xid: '42' })));
  t.false(isTransient(new AbortedError()));
  t.false(isTransient(new RacefreeError('x', { code: '40001' })), 'only the classes, not a base error with the code');
  t.false(isTransient(new Error('40001')));
  t.false(isTransient(undefined));
});

test('config errors from the client say which option was wrong', async (t) => {
  const db = createClient({ connectionString: url() });
  try {
    const err = await t.throwsAsync(db.call('a.b.c'), { instanceOf: RacefreeConfigError });
    t.is(err?.option, 'fn');
    t.is(err?.value, 'a.b.c');
  } finally {
    await db.end();
  }
});

// ---------------------------------------------------------------------------
// Real errors from the server

let db: Db;

test.before(async () => {
  db = createClient({ connectionString: url() });
  await db.query(`
    CREATE TABLE err_users (id int PRIMARY KEY, email text NOT NULL UNIQUE, age int CHECK (age >= 0));
    CREATE TABLE err_pairs ("Order, ""Id""" text, "select" int, note text, UNIQUE ("Order, ""Id""", "select"));
    CREATE TABLE err_docs (body jsonb, tags int[], UNIQUE (body, tags));
    CREATE TABLE err_emails (email text);
    CREATE UNIQUE INDEX err_emails_lower ON err_emails (lower(email));
    CREATE TABLE err_orders (id int PRIMARY KEY, user_id int REFERENCES err_users (id));
    CREATE TABLE err_secret (owner text, code text UNIQUE);

    CREATE FUNCTION err_add_user(id int, email text, age int DEFAULT 0) RETURNS void
      LANGUAGE sql AS 'INSERT INTO err_users VALUES (id, email, age)';
    CREATE FUNCTION err_add_pair(a text, b int) RETURNS void
      LANGUAGE sql AS 'INSERT INTO err_pairs VALUES (a, b)';
    CREATE FUNCTION err_add_doc(body jsonb, tags int[]) RETURNS void
      LANGUAGE sql AS 'INSERT INTO err_docs VALUES (body, tags)';
    CREATE FUNCTION err_add_email(email text) RETURNS void
      LANGUAGE sql AS 'INSERT INTO err_emails VALUES (email)';
    CREATE FUNCTION err_add_order(id int, user_id int) RETURNS void
      LANGUAGE sql AS 'INSERT INTO err_orders VALUES (id, user_id)';
    CREATE FUNCTION err_config(option text, value text) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION USING ERRCODE = 'RF100',
        MESSAGE = format('addNumbering: option %I is wrong: %L', option, value),
        DETAIL = jsonb_build_object('option', option, 'value', value)::text;
    END $$;
  `);
});

test.after.always(async () => {
  await db?.end();
});

test('server 23505: columns and values, including a value with commas, parentheses and quotes', async (t) => {
  const tricky = `O'Brien, "Jr." (a), b)=(c`;
  await db.call('err_add_user', { id: 1, email: tricky });
  const err = await t.throwsAsync(db.call('err_add_user', { id: 2, email: tricky }), {
    instanceOf: UniqueViolationError,
  });
  t.is(err?.code, '23505');
  t.is(err?.constraint, 'err_users_email_key');
  t.is(err?.schema, 'public');
  t.is(err?.table, 'err_users');
  t.deepEqual(err?.columns, ['email']);
  t.deepEqual(err?.values, [tricky]);
  t.true(err?.cause instanceof pg.DatabaseError);
});

test('server 23505: quoted multi-column key', async (t) => {
  await db.call('err_add_pair', { a: 'x, y', b: 1 });
  await db.call('err_add_pair', { a: 'plain', b: 2 });
  const ambiguous = await t.throwsAsync(db.call('err_add_pair', { a: 'x, y', b: 1 }), {
    instanceOf: UniqueViolationError,
  });
  t.deepEqual(ambiguous?.columns, ['Order, "Id"', 'select']);
  t.is(ambiguous?.values, undefined, '"x, y, 1" cannot be split with certainty');

  const clear = await t.throwsAsync(db.call('err_add_pair', { a: 'plain', b: 2 }), {
    instanceOf: UniqueViolationError,
  });
  t.deepEqual(clear?.columns, ['Order, "Id"', 'select']);
  t.deepEqual(clear?.values, ['plain', '2']);
});

test('server 23505: jsonb and array values', async (t) => {
  await db.call('err_add_doc', { body: { k: 'v' }, tags: [1, 2] });
  const err = await t.throwsAsync(db.call('err_add_doc', { body: { k: 'v' }, tags: [1, 2] }), {
    instanceOf: UniqueViolationError,
  });
  t.deepEqual(err?.columns, ['body', 'tags']);
  t.deepEqual(err?.values, ['{"k": "v"}', '{1,2}']);
});

test('server 23505: expression index', async (t) => {
  await db.call('err_add_email', { email: 'A, (B)' });
  const err = await t.throwsAsync(db.call('err_add_email', { email: 'a, (b)' }), {
    instanceOf: UniqueViolationError,
  });
  t.is(err?.constraint, 'err_emails_lower');
  t.deepEqual(err?.columns, ['lower(email)']);
  t.deepEqual(err?.values, ['a, (b)']);
});

test('server 23505 under row-level security: DETAIL hidden, fields undefined, not wrong', async (t) => {
  const role = `racefree_rls_${process.pid}_${Date.now()}`;
  await db.query(`
    CREATE ROLE ${role} NOLOGIN;
    ALTER TABLE err_secret ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own_rows ON err_secret USING (owner = current_user) WITH CHECK (true);
    GRANT SELECT, INSERT ON err_secret TO ${role};
    INSERT INTO err_secret VALUES ('someone else', 'S-1');
  `);
  try {
    const err = await t.throwsAsync(
      db.transaction(async (tx) => {
        await tx.query(`SET LOCAL ROLE ${role}`);
        await tx.query(`INSERT INTO err_secret VALUES (current_user, 'S-1')`);
      }),
      { instanceOf: UniqueViolationError },
    );
    t.is(err?.constraint, 'err_secret_code_key');
    t.is(err?.table, 'err_secret');
    t.is((err?.cause as pg.DatabaseError).detail, undefined, 'the server hid the key');
    t.is(err?.columns, undefined);
    t.is(err?.values, undefined);
  } finally {
    await db.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
  }
});

test('server 23503, 23502 and 23514 map with their fields', async (t) => {
  await db.call('err_add_user', { id: 10, email: 'ten@example.com' });
  const fk = await t.throwsAsync(db.call('err_add_order', { id: 1, user_id: 999 }), {
    instanceOf: ForeignKeyViolationError,
  });
  t.is(fk?.constraint, 'err_orders_user_id_fkey');
  t.is(fk?.table, 'err_orders');

  const nn = await t.throwsAsync(db.call('err_add_user', { id: 11, email: null }), {
    instanceOf: NotNullViolationError,
  });
  t.is(nn?.column, 'email');
  t.is(nn?.table, 'err_users');

  const ck = await t.throwsAsync(db.call('err_add_user', { id: 12, email: 'x@example.com', age: -1 }), {
    instanceOf: CheckViolationError,
  });
  t.is(ck?.constraint, 'err_users_age_check');
});

test('server RF100 maps to RacefreeConfigError with option and value', async (t) => {
  const err = await t.throwsAsync(db.call('err_config', { option: 'template', value: '{nope}' }), {
    instanceOf: RacefreeConfigError,
  });
  t.is(err?.code, 'RF100');
  t.is(err?.message, `addNumbering: option template is wrong: '{nope}'`);
  t.is(err?.option, 'template');
  t.is(err?.value, '{nope}');
});

test('server 57014 (statement_timeout) maps to QueryCanceledError', async (t) => {
  const err = await t.throwsAsync(
    db.transaction(async (tx) => {
      await tx.query(`SET LOCAL statement_timeout = '20ms'`);
      await tx.query('SELECT pg_sleep(5)');
    }),
    { instanceOf: QueryCanceledError },
  );
  t.is(err?.code, '57014');
});

test('server errors without a class keep the SQLSTATE and message', async (t) => {
  const err = await t.throwsAsync(db.call('err_no_such_function'));
  t.is(err?.constructor, RacefreeError);
  t.is((err as RacefreeError).code, '42883');
  t.regex(err?.message ?? '', /err_no_such_function/);
});
