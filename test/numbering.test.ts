import test from 'ava';
import pg from 'pg';
import { DeadlockDetectedError, NotNullViolationError, RacefreeConfigError } from '../src/errors/classes.js';
import { isTransient, wrapError } from '../src/errors/from-pg.js';
import { addNumbering, dropNumbering, type AddNumberingOptions } from '../src/migrate/index.js';
import { quoteIdent } from '../src/quote.js';
import { blockedBy, pidOf, tracked } from './helpers/blocking.js';
import { connect, exclusively, useTestDatabase, withClient, withPool } from './helpers/db.js';
import { runMigration } from './helpers/migration.js';

const url = useTestDatabase(test);

async function sql<R extends pg.QueryResultRow = any>(text: string, values: unknown[] = []): Promise<R[]> {
  return withClient(url(), async (c) => (await c.query<R>(text, values)).rows);
}

async function numbered(table: string, columns: string, options: Omit<AddNumberingOptions, 'table' | 'column'> & { column?: string }) {
  await sql(`CREATE TABLE ${quoteIdent(table)} (id bigserial PRIMARY KEY, ${columns})`);
  await runMigration(url(), (pgm) => addNumbering(pgm, { table, column: options.column ?? 'n', ...options }));
}

/** `rows` inserts from `connections` at once; `statement(i)` is the i-th insert (default: DEFAULT VALUES). */
async function insertMany(
  table: string,
  connections: number,
  rows: number,
  statement: (i: number) => [string, unknown[]] = () => [`INSERT INTO ${quoteIdent(table)} DEFAULT VALUES`, []],
): Promise<{ errors: unknown[]; opened: number }> {
  return withPool(
    url(),
    async (pool) => {
      let next = 0;
      const errors: unknown[] = [];
      await Promise.all(
        Array.from({ length: connections }, async () => {
          while (next < rows) {
            const [text, values] = statement(next++);
            await pool.query(text, values).catch((e: unknown) => errors.push(e));
          }
        }),
      );
      return { errors, opened: pool.totalCount };
    },
    { max: connections },
  );
}

test.serial('gapless: 64 connections inserting 10,000 rows get exactly 1..10,000, no error', async (t) => {
  await exclusively(async () => {
    await numbered('g64', 'n text', { name: 'g64', template: 'ASM-{YYYY}-{seq:3}', mode: 'gapless', timeZone: 'UTC' });
    const { errors, opened } = await insertMany('g64', 64, 10_000);
    t.deepEqual(errors, []);
    t.is(opened, 64);
    const [r] = await sql(`
      SELECT count(*)::int AS rows, count(DISTINCT k)::int AS distinct, min(k)::int AS min, max(k)::int AS max,
             bool_and(n LIKE 'ASM-' || to_char(now() AT TIME ZONE 'UTC', 'YYYY') || '-%') AS this_year
        FROM (SELECT n, split_part(n, '-', 3)::int AS k FROM g64) AS x`);
    t.deepEqual(r, { rows: 10_000, distinct: 10_000, min: 1, max: 10_000, this_year: true });
    t.is(
      (
        await sql(
          `SELECT count(*)::int AS c FROM g64 WHERE n IN ('ASM-' || to_char(now() AT TIME ZONE 'UTC', 'YYYY') || '-001', 'ASM-' || to_char(now() AT TIME ZONE 'UTC', 'YYYY') || '-10000')`,
        )
      )[0].c,
      2,
    );
  });
});

test.serial('fast: 64 connections inserting 10,000 rows get 10,000 distinct numbers, no error', async (t) => {
  await exclusively(async () => {
    await numbered('f64', 'n text', { name: 'f64', template: 'F-{seq:6}', mode: 'fast' });
    const { errors, opened } = await insertMany('f64', 64, 10_000);
    t.deepEqual(errors, []);
    t.is(opened, 64);
    const [r] = await sql(`SELECT count(*)::int AS rows, count(DISTINCT n)::int AS distinct, bool_and(n ~ '^F-\\d{6,}$') AS formatted FROM f64`);
    t.deepEqual(r, { rows: 10_000, distinct: 10_000, formatted: true });
  });
});

test('gapless: a waiting inserter takes the number a rolled-back transaction gave back', async (t) => {
  await numbered('rb', 'n text', { name: 'rb', template: 'R-{seq}' });
  const [a, b, observer] = [await connect(url()), await connect(url()), await connect(url())];
  try {
    await a.query('BEGIN');
    const first = (await a.query('INSERT INTO rb DEFAULT VALUES RETURNING n')).rows[0].n;
    t.is(first, 'R-1');
    const bPid = await pidOf(b);
    const aPid = await pidOf(a);
    const waiting = b.query('INSERT INTO rb DEFAULT VALUES RETURNING n');
    t.deepEqual(await blockedBy(observer, bPid), [aPid]);
    await a.query('ROLLBACK');
    t.is((await waiting).rows[0].n, 'R-1');
    t.deepEqual(await sql('SELECT n FROM rb'), [{ n: 'R-1' }]);
    t.is((await sql(`SELECT racefree.current_value('public.rb') AS v`))[0].v, '1');
  } finally {
    await Promise.all([a.end(), b.end(), observer.end()]);
  }
});

test('gapless: a committed winner makes the waiter take the next number', async (t) => {
  await numbered('cw', 'n text', { name: 'cw', template: 'C-{seq}' });
  const [a, b, observer] = [await connect(url()), await connect(url()), await connect(url())];
  try {
    await a.query('BEGIN');
    t.is((await a.query('INSERT INTO cw DEFAULT VALUES RETURNING n')).rows[0].n, 'C-1');
    const bPid = (await b.query('SELECT pg_backend_pid() AS p')).rows[0].p;
    const waiting = b.query('INSERT INTO cw DEFAULT VALUES RETURNING n');
    await blockedBy(observer, bPid);
    await a.query('COMMIT');
    t.is((await waiting).rows[0].n, 'C-2');
  } finally {
    await Promise.all([a.end(), b.end(), observer.end()]);
  }
});

test('fast: an inserter never waits for another open transaction', async (t) => {
  await numbered('nw', 'n text', { name: 'nw', template: 'N-{seq}', mode: 'fast' });
  const [a, b] = [await connect(url()), await connect(url())];
  try {
    await a.query('BEGIN');
    const first = (await a.query('INSERT INTO nw DEFAULT VALUES RETURNING n')).rows[0].n;
    await b.query(`SET lock_timeout = '2s'`);
    const second = (await b.query('INSERT INTO nw DEFAULT VALUES RETURNING n')).rows[0].n;
    t.is(first, 'N-1');
    t.is(second, 'N-2');
    await a.query('ROLLBACK');
    t.is((await b.query('INSERT INTO nw DEFAULT VALUES RETURNING n')).rows[0].n, 'N-3'); // gaps allowed
  } finally {
    await Promise.all([a.end(), b.end()]);
  }
});

test.serial('fast with dates: 64 connections across a period boundary get distinct numbers, no error; the count goes on', async (t) => {
  await exclusively(async () => {
    await numbered('fd64', 'd date NOT NULL, n text', { name: 'fd64', template: 'ASM-{YYYY}-{seq:3}', mode: 'fast', dateColumn: 'd' });
    const { errors, opened } = await insertMany('fd64', 64, 4_000, (i) => ['INSERT INTO fd64 (d) VALUES ($1)', [i % 2 === 0 ? '2026-12-31' : '2027-01-01']]);
    t.deepEqual(errors, []);
    t.is(opened, 64);
    const [r] = await sql(`
      SELECT count(*)::int AS rows, count(DISTINCT n)::int AS distinct, count(DISTINCT split_part(n, '-', 3)::int)::int AS seqs,
             bool_and(split_part(n, '-', 2) = to_char(d, 'YYYY')) AS dated, count(DISTINCT d)::int AS periods
        FROM fd64`);
    // The date is a label: one sequence numbers both years.
    t.deepEqual(r, { rows: 4_000, distinct: 4_000, seqs: 4_000, dated: true, periods: 2 });
  });
});

test.serial('fast with column scopes: 64 connections creating 1,000 new scopes get distinct numbers, no error', async (t) => {
  await exclusively(async () => {
    await numbered('fs64', 'tenant text NOT NULL, n text', { name: 'fs64', template: '{tenant}/{YY}-{seq:4}', mode: 'fast' });
    const { errors, opened } = await insertMany('fs64', 64, 4_000, (i) => ['INSERT INTO fs64 (tenant) VALUES ($1)', [`t${i % 1_000}`]]);
    t.deepEqual(errors, []);
    t.is(opened, 64);
    const [r] = await sql(`
      SELECT count(*)::int AS rows, count(DISTINCT n)::int AS distinct, count(DISTINCT tenant)::int AS scopes,
             bool_and(n LIKE tenant || '/' || to_char(now() AT TIME ZONE 'UTC', 'YY') || '-%') AS formatted
        FROM fs64`);
    t.deepEqual(r, { rows: 4_000, distinct: 4_000, scopes: 1_000, formatted: true });
  });
});

test('fast with dates and scopes: a new period or scope never waits for an open transaction; a rollback leaves a gap, nothing else', async (t) => {
  await numbered('fw', 'tenant text NOT NULL, d date NOT NULL, n text', {
    name: 'fw',
    template: 'W-{tenant}-{YYYY}{MM}-{seq}',
    mode: 'fast',
    dateColumn: 'd',
  });
  const [a, b] = [await connect(url()), await connect(url())];
  try {
    await a.query('BEGIN');
    const first = (await a.query(`INSERT INTO fw (tenant, d) VALUES ('x', '2026-01-31') RETURNING n`)).rows[0].n;
    t.is(first, 'W-x-202601-1');
    // The same new period and scope, and others, while the first inserter's transaction is open.
    await b.query(`SET lock_timeout = '2s'`);
    const inserted = await b.query(`INSERT INTO fw (tenant, d) VALUES ('x', '2026-01-31'), ('x', '2026-02-01'), ('y', '2026-02-01') RETURNING n`);
    t.deepEqual(
      inserted.rows.map((r) => r.n),
      ['W-x-202601-2', 'W-x-202602-3', 'W-y-202602-4'],
    );
    await a.query('ROLLBACK');
    t.is((await b.query(`INSERT INTO fw (tenant, d) VALUES ('x', '2026-01-31') RETURNING n`)).rows[0].n, 'W-x-202601-5');
    t.deepEqual(await sql(`SELECT count(*)::int AS c FROM racefree.counters WHERE counter = 'public.fw'`), [{ c: 0 }]);
    t.deepEqual(await sql(`SELECT count(*)::int AS c FROM fw`), [{ c: 4 }]);
    // An explicit number moves the one sequence past it, whatever its scope.
    await sql(`INSERT INTO fw (tenant, d, n) VALUES ('z', '2030-05-05', 'W-q-202001-90')`);
    t.is((await b.query(`INSERT INTO fw (tenant, d) VALUES ('x', '2026-01-31') RETURNING n`)).rows[0].n, 'W-x-202601-91');
  } finally {
    await Promise.all([a.end(), b.end()]);
  }
});

test('numbers grow past the width instead of being truncated', async (t) => {
  await sql(`CREATE TABLE w (id bigserial PRIMARY KEY, n text)`);
  await sql(`INSERT INTO w (n) VALUES ('W-998')`);
  await runMigration(url(), (pgm) => addNumbering(pgm, { name: 'w', table: 'w', column: 'n', template: 'W-{seq:3}' }));
  const got = [];
  for (let i = 0; i < 3; i++) got.push((await sql('INSERT INTO w DEFAULT VALUES RETURNING n'))[0].n);
  t.deepEqual(got, ['W-999', 'W-1000', 'W-1001']);
});

test('period resets at the year boundary of the numbering time zone, not UTC or the session', async (t) => {
  await numbered('yr', 'created_at timestamptz NOT NULL, n text', {
    name: 'yr',
    template: 'T-{YYYY}-{seq:2}',
    timeZone: 'Asia/Tokyo',
    dateColumn: 'created_at',
  });
  const rows = await withClient(url(), async (c) => {
    await c.query(`SET TimeZone = 'America/Los_Angeles'`);
    const out = [];
    for (const at of ['2026-12-31 14:59:59+00', '2026-12-31 15:00:00+00', '2026-12-31 10:00:00+00', '2027-01-01 01:00:00+00']) {
      out.push((await c.query('INSERT INTO yr (created_at) VALUES ($1) RETURNING n', [at])).rows[0].n);
    }
    return out;
  });
  // 15:00 UTC on 31 December is midnight of 1 January in Tokyo.
  t.deepEqual(rows, ['T-2026-01', 'T-2027-01', 'T-2026-02', 'T-2027-02']);
});

test('without dateColumn the date is the transaction start in timeZone, whatever the session TimeZone', async (t) => {
  // Kiritimati (UTC+14) and Pago Pago (UTC-11) never share a calendar date.
  await numbered('tz', 'n text', { name: 'tz', template: '{YYYY}{MM}{DD}-{seq}', timeZone: 'Pacific/Kiritimati' });
  const [r] = await withClient(url(), async (c) => {
    await c.query(`SET TimeZone = 'Pacific/Pago_Pago'`);
    await c.query('BEGIN');
    const res = await c.query(`INSERT INTO tz DEFAULT VALUES
      RETURNING n, to_char(now() AT TIME ZONE 'Pacific/Kiritimati', 'YYYYMMDD') AS kiritimati, to_char(now(), 'YYYYMMDD') AS session`);
    await c.query('COMMIT');
    return res.rows;
  });
  t.is(r.n, `${r.kiritimati}-1`);
  t.not(r.kiritimati, r.session);
});

test('retrofit: counters continue after the existing maximum per scope and period', async (t) => {
  await sql(`CREATE TABLE inv (id bigserial PRIMARY KEY, tenant_id int, created_at timestamptz NOT NULL, n text)`);
  await sql(`INSERT INTO inv (tenant_id, created_at, n) VALUES
    (1, '2025-06-01Z', 'INV-1-2025-007'), (1, '2026-06-01Z', 'INV-1-2026-003'), (1, '2026-06-01Z', 'INV-1-2026-002'),
    (2, '2026-06-01Z', 'INV-2-2026-010'), (2, '2026-06-01Z', 'legacy-42'), (1, '2026-06-01Z', NULL)`);
  await runMigration(url(), (pgm) =>
    addNumbering(pgm, { name: 'inv', table: 'inv', column: 'n', template: 'INV-{tenant_id}-{YYYY}-{seq:3}', dateColumn: 'created_at' }),
  );
  const insert = async (tenant: number, at: string) => (await sql('INSERT INTO inv (tenant_id, created_at) VALUES ($1, $2) RETURNING n', [tenant, at]))[0].n;
  t.is(await insert(1, '2026-07-01Z'), 'INV-1-2026-004');
  t.is(await insert(1, '2025-07-01Z'), 'INV-1-2025-008');
  t.is(await insert(2, '2026-07-01Z'), 'INV-2-2026-011');
  t.is(await insert(3, '2026-07-01Z'), 'INV-3-2026-001');
  t.is(await insert(2, '2027-01-01T12:00Z'), 'INV-2-2027-001');
  const status = await sql(`SELECT scope, value::int FROM racefree.counter_status WHERE counter = 'public.inv' ORDER BY scope`);
  t.deepEqual(status, [
    { scope: '["INV-1-2025-", ""]', value: 8 },
    { scope: '["INV-1-2026-", ""]', value: 4 },
    { scope: '["INV-2-2026-", ""]', value: 11 },
    { scope: '["INV-2-2027-", ""]', value: 1 },
    { scope: '["INV-3-2026-", ""]', value: 1 },
  ]);
});

test('explicit numbers move the counter past them, by INSERT and by UPDATE; lower ones do not move it back', async (t) => {
  await numbered('ex', 'n text', { name: 'ex', template: 'E-{seq:3}' });
  const next = async () => (await sql('INSERT INTO ex DEFAULT VALUES RETURNING n'))[0].n;
  t.is(await next(), 'E-001');
  await sql(`INSERT INTO ex (n) VALUES ('E-050')`);
  t.is(await next(), 'E-051');
  await sql(`INSERT INTO ex (n) VALUES ('E-010'), ('not-a-number')`);
  t.is(await next(), 'E-052');
  await sql(`UPDATE ex SET n = 'E-100' WHERE n = 'E-001'`);
  t.is(await next(), 'E-101');
  t.is((await sql(`SELECT count(*)::int AS c FROM ex`))[0].c, 7);
});

test('fast: explicit numbers move the sequence past them', async (t) => {
  await numbered('fx', 'n text', { name: 'fx', template: 'FX-{seq}', mode: 'fast' });
  const next = async () => (await sql('INSERT INTO fx DEFAULT VALUES RETURNING n'))[0].n;
  await sql(`INSERT INTO fx (n) VALUES ('FX-1')`); // before the sequence was ever used
  t.is(await next(), 'FX-2');
  await sql(`INSERT INTO fx (n) VALUES ('FX-500')`);
  t.is(await next(), 'FX-501');
  await sql(`INSERT INTO fx (n) VALUES ('FX-7')`);
  t.is(await next(), 'FX-502');
});

test('fast: an open transaction that wrote explicit numbers ahead of the sequence holds no inserter off; a bulk load of them rewrites nothing', async (t) => {
  await numbered('fxb', 'n text', { name: 'fxb', template: 'B-{seq}', mode: 'fast' });
  const [holder, other] = await Promise.all([connect(url()), connect(url())]);
  try {
    const filenode = async () => (await holder.query(`SELECT pg_relation_filenode('fxb_number_seq') AS f`)).rows[0].f;
    const before = await filenode();
    await holder.query('BEGIN');
    await holder.query(`INSERT INTO fxb (n) VALUES ('B-50')`);
    // Before kit 0071 the holder kept nextval() off until it ended: this insert waited for its COMMIT.
    await other.query(`SET lock_timeout = '5s'`);
    t.deepEqual((await other.query(`INSERT INTO fxb DEFAULT VALUES RETURNING n`)).rows, [{ n: 'B-51' }]);
    // 20,000 explicit numbers in one statement, each ahead of the sequence.
    await holder.query(`INSERT INTO fxb (n) SELECT 'B-' || g FROM generate_series(100, 20099) AS g`);
    t.deepEqual((await other.query(`INSERT INTO fxb DEFAULT VALUES RETURNING n`)).rows, [{ n: 'B-20100' }]);
    await holder.query('COMMIT');
    t.deepEqual(
      (await sql(`INSERT INTO fxb DEFAULT VALUES RETURNING n`)).map((r) => r.n),
      ['B-20101'],
    );
    t.is(await filenode(), before, 'the sequence was never rewritten');
    t.is((await sql(`SELECT count(*)::int AS c FROM fxb`))[0].c, 20_004);
  } finally {
    await Promise.all([holder.end(), other.end()]);
  }
});

test('fast: an explicit number ahead of the sequence waits for an open transaction that took numbers of it; new numbers wait behind it, then come after it', async (t) => {
  await numbered('fxw', 'n text', { name: 'fxw', template: 'W-{seq}', mode: 'fast' });
  const [taker, bringer, third, observer] = await Promise.all([connect(url()), connect(url()), connect(url()), connect(url())]);
  try {
    // Asked before any of them is busy: a client queues its queries.
    const [takerPid, bringerPid, thirdPid] = await Promise.all([pidOf(taker), pidOf(bringer), pidOf(third)]);
    await taker.query('BEGIN');
    t.deepEqual((await taker.query(`INSERT INTO fxw DEFAULT VALUES RETURNING n`)).rows, [{ n: 'W-1' }]);
    // Moving the sequence must not pass a number handed out meanwhile: it waits for the taker's
    // transaction, which holds the sequence from its nextval() on.
    const brought = tracked(bringer.query(`INSERT INTO fxw (n) VALUES ('W-100') RETURNING n`));
    t.deepEqual(await blockedBy(observer, bringerPid, brought.settled), [takerPid]);
    // A new number queues behind the move, so it cannot be one the move then passes.
    const generated = tracked(third.query(`INSERT INTO fxw DEFAULT VALUES RETURNING n`));
    t.true((await blockedBy(observer, thirdPid, generated.settled)).includes(bringerPid));
    await taker.query('COMMIT');
    t.deepEqual((await brought.promise).rows, [{ n: 'W-100' }]);
    t.deepEqual((await generated.promise).rows, [{ n: 'W-101' }]);
    t.deepEqual(
      (await sql(`SELECT n FROM fxw ORDER BY substr(n, 3)::int`)).map((r) => r.n),
      ['W-1', 'W-100', 'W-101'],
    );
  } finally {
    await Promise.all([taker.end(), bringer.end(), third.end(), observer.end()]);
  }
});

test('fast: a number brought ahead of the sequence also waits for an open transaction that brought one before it; numbers taken meanwhile do not', async (t) => {
  await numbered('fxv', 'n text', { name: 'fxv', template: 'V-{seq}', mode: 'fast' });
  const [first, second, taker, observer] = await Promise.all([connect(url()), connect(url()), connect(url()), connect(url())]);
  try {
    const [firstPid, secondPid] = await Promise.all([pidOf(first), pidOf(second)]);
    await first.query('BEGIN');
    await first.query(`INSERT INTO fxv (n) VALUES ('V-100')`);
    // setval, like nextval, keeps the sequence's ROW EXCLUSIVE lock until commit: a second move waits for it.
    const moved = tracked(second.query(`INSERT INTO fxv (n) VALUES ('V-200') RETURNING n`));
    t.deepEqual(await blockedBy(observer, secondPid, moved.settled), [firstPid]);
    await first.query('COMMIT');
    t.deepEqual((await moved.promise).rows, [{ n: 'V-200' }]);
    // A number taken while a transaction that brought one is open never waits for it.
    await first.query('BEGIN');
    await first.query(`INSERT INTO fxv (n) VALUES ('V-300')`);
    await taker.query(`SET lock_timeout = '5s'`);
    t.deepEqual((await taker.query(`INSERT INTO fxv DEFAULT VALUES RETURNING n`)).rows, [{ n: 'V-301' }]);
    await first.query('COMMIT');
  } finally {
    await Promise.all([first.end(), second.end(), taker.end(), observer.end()]);
  }
});

test('fast: two transactions that took numbers and then both bring one ahead of the sequence: one is a deadlock (40P01, which db.transaction retries), the other goes on', async (t) => {
  await numbered('fxd', 'n text', { name: 'fxd', template: 'D-{seq}', mode: 'fast' });
  const [a, b, observer] = await Promise.all([connect(url()), connect(url()), connect(url())]);
  try {
    const aPid = await pidOf(a);
    for (const c of [a, b]) await c.query(`BEGIN; SET LOCAL deadlock_timeout = '100ms'`);
    t.deepEqual((await a.query(`INSERT INTO fxd DEFAULT VALUES RETURNING n`)).rows, [{ n: 'D-1' }]);
    t.deepEqual((await b.query(`INSERT INTO fxd DEFAULT VALUES RETURNING n`)).rows, [{ n: 'D-2' }]);
    // Each waits for the other's nextval() to end before it may move the sequence.
    const fromA = tracked(a.query(`INSERT INTO fxd (n) VALUES ('D-1000')`));
    await blockedBy(observer, aPid, fromA.settled);
    const fromB = tracked(b.query(`INSERT INTO fxd (n) VALUES ('D-2000')`));
    const outcomes = await Promise.allSettled([fromA.promise, fromB.promise]);
    const lost = outcomes.findIndex((o) => o.status === 'rejected');
    t.is(outcomes.filter((o) => o.status === 'rejected').length, 1, 'exactly one of the two is chosen to break the deadlock');
    const error = wrapError((outcomes[lost] as PromiseRejectedResult).reason);
    t.true(error instanceof DeadlockDetectedError);
    t.is(error.code, '40P01');
    t.true(isTransient(error), 'db.transaction() runs such a transaction again');
    const [loser, winner] = lost === 0 ? [a, b] : [b, a];
    await loser.query('ROLLBACK');
    await winner.query('COMMIT');
    const kept = lost === 0 ? ['D-2', 'D-2000'] : ['D-1', 'D-1000'];
    t.deepEqual(
      (await sql(`SELECT n FROM fxd ORDER BY substr(n, 3)::int`)).map((r) => r.n),
      kept,
    );
    // The winner's number moved the sequence; the loser's rollback left its number as a gap, nothing else.
    t.deepEqual(
      (await sql(`INSERT INTO fxd DEFAULT VALUES RETURNING n`)).map((r) => r.n),
      [`D-${Number(kept[1]!.slice(2)) + 1}`],
    );
  } finally {
    await Promise.all([a.end(), b.end(), observer.end()]);
  }
});

test.serial(
  'fast: 32 connections mixing explicit numbers far ahead with generated ones get distinct numbers, no error; each explicit one moves the sequence past it',
  async (t) => {
    await numbered('fxm', 'n text', { name: 'fxm', template: 'M-{seq}', mode: 'fast' });
    // Every 10th insert brings M-<k million>, each ahead of whatever the sequence has handed out
    // by then (fewer than a million numbers are generated in all), so none may collide.
    const { errors } = await insertMany('fxm', 32, 4000, (i) =>
      i % 10 === 0 ? [`INSERT INTO fxm (n) VALUES ($1)`, [`M-${(i / 10 + 1) * 1_000_000}`]] : [`INSERT INTO fxm DEFAULT VALUES`, []],
    );
    t.deepEqual(errors, []);
    const [{ rows, distinct }] = await sql(`SELECT count(*)::int AS rows, count(DISTINCT n)::int AS distinct FROM fxm`);
    t.is(rows, 4000);
    t.is(distinct, 4000);
    t.deepEqual(
      (await sql(`INSERT INTO fxm DEFAULT VALUES RETURNING substr(n, 3)::bigint > 400000000 AS past`)).map((r) => r.past),
      [true],
    );
  },
);

test('explicit numbers with digits of other scripts are outside the format: stored as given, no counter moved (gapless, fast, retrofit scan)', async (t) => {
  // U+0663 ARABIC-INDIC DIGIT THREE and U+FF19 FULLWIDTH DIGIT NINE: \d would match them, ::bigint rejects them.
  const foreign = ['E-\u0663\u0663\u0663', 'E-\uff19\uff19\uff19'];
  await numbered('exu', 'n text', { name: 'exu', template: 'E-{seq:3}' });
  await numbered('fxu', 'n text', { name: 'fxu', template: 'E-{seq:3}', mode: 'fast' });
  for (const table of ['exu', 'fxu']) {
    const next = async () => (await sql(`INSERT INTO ${table} DEFAULT VALUES RETURNING n`))[0].n;
    t.is(await next(), 'E-001', table);
    t.deepEqual(
      (await sql(`INSERT INTO ${table} (n) VALUES ($1), ($2) RETURNING n`, foreign)).map((r) => r.n),
      foreign,
      table,
    );
    t.is(await next(), 'E-002', `${table}: the counter did not move`);
  }
  // The retrofit's scan reads the same way: only E-001 and E-002 count.
  const highest = await sql(
    `SELECT scope, seq::int FROM racefree_internal._numbering_highest((SELECT parts FROM racefree.numberings WHERE counter = 'public.exu'), 'exu', 'n')`,
  );
  t.deepEqual(highest, [{ scope: '', seq: 2 }]);
});

test('scope columns: each value has its own counter; NULL is a NOT NULL error naming the column', async (t) => {
  await numbered('sc', 'tenant_id text, n text', { name: 'sc', template: '{tenant_id}-{seq}' });
  const insert = async (tenant: string | null) => (await sql('INSERT INTO sc (tenant_id) VALUES ($1) RETURNING n', [tenant]))[0].n;
  t.is(await insert('a'), 'a-1');
  t.is(await insert('a'), 'a-2');
  t.is(await insert('b'), 'b-1');
  t.is(await insert('a-1'), 'a-1-1'); // values holding the separator keep their own counter
  const raw = await t.throwsAsync(insert(null));
  const error = wrapError(raw);
  t.true(error instanceof NotNullViolationError);
  t.is(error.code, '23502');
  t.is((error as NotNullViolationError).column, 'tenant_id');
  t.regex((error.cause as Error).message, /null value in column "tenant_id"/);
  t.is((await sql(`SELECT count(*)::int AS c FROM sc`))[0].c, 4);
});

test('scope columns: the literal side of {seq} keeps its quotes, backslashes and accents in the counter scope; explicit numbers move the same counter', async (t) => {
  // Column tokens before {seq}, literal text after it, and the mirror image: the generated
  // code renders the JSON of the literal side once; explicit numbers are parsed at run time.
  const literal = 'é"\\\t';
  await numbered('scl', 'tenant_id text, n text', { name: 'scl', template: `{tenant_id}-{seq}/${literal}` });
  await numbered('scr', 'tenant_id text, n text', { name: 'scr', template: `${literal}/{seq}-{tenant_id}` });
  const insert = async (table: string, tenant: string, n?: string) =>
    (n === undefined
      ? await sql(`INSERT INTO ${table} (tenant_id) VALUES ($1) RETURNING n`, [tenant])
      : await sql(`INSERT INTO ${table} (tenant_id, n) VALUES ($1, $2) RETURNING n`, [tenant, n]))[0].n;
  t.is(await insert('scl', 'a"b'), `a"b-1/${literal}`);
  t.is(await insert('scl', 'a"b', `a"b-40/${literal}`), `a"b-40/${literal}`);
  t.is(await insert('scl', 'a"b'), `a"b-41/${literal}`);
  t.is(await insert('scr', 'a"b'), `${literal}/1-a"b`);
  t.is(await insert('scr', 'a"b', `${literal}/40-a"b`), `${literal}/40-a"b`);
  t.is(await insert('scr', 'a"b'), `${literal}/41-a"b`);
  // One counter row per scope, keyed exactly as racefree_internal._numbering_scope keys it.
  t.deepEqual(
    await sql(
      `SELECT counter, value::int, scope = racefree_internal._numbering_scope($1, $2) AS left_key, scope = racefree_internal._numbering_scope($3, $4) AS right_key
                 FROM racefree.counters WHERE counter IN ('public.scl', 'public.scr') ORDER BY 1`,
      ['a"b-', `/${literal}`, `${literal}/`, '-a"b'],
    ),
    [
      { counter: 'public.scl', value: 41, left_key: true, right_key: false },
      { counter: 'public.scr', value: 41, left_key: false, right_key: true },
    ],
  );
});

test('a NULL dateColumn is a NOT NULL error naming it', async (t) => {
  await numbered('dn', 'd date, n text', { name: 'dn', template: 'D{YY}{MM}{DD}-{seq}', dateColumn: 'd' });
  t.is((await sql(`INSERT INTO dn (d) VALUES ('2026-02-03') RETURNING n`))[0].n, 'D260203-1');
  const error = wrapError(await t.throwsAsync(sql('INSERT INTO dn (d) VALUES (NULL)')));
  t.true(error instanceof NotNullViolationError);
  t.is((error as NotNullViolationError).column, 'd');
});

test('adds a unique constraint when the column has none, and reuses an existing one', async (t) => {
  await numbered('u1', 'n text', { name: 'u1', template: 'U-{seq}' });
  await numbered('u2', 'n text UNIQUE', { name: 'u2', template: 'U-{seq}' });
  const constraints = await sql(`
    SELECT conrelid::regclass::text AS t, count(*)::int AS c FROM pg_constraint
     WHERE conrelid IN ('u1'::regclass, 'u2'::regclass) AND contype = 'u' GROUP BY 1 ORDER BY 1`);
  t.deepEqual(constraints, [
    { t: 'u1', c: 1 },
    { t: 'u2', c: 1 },
  ]);
});

test('hostile identifiers are literal names, never executed', async (t) => {
  const table = 'inv"; DROP TABLE canary; --';
  await sql('CREATE TABLE canary (x int)');
  await sql(`CREATE TABLE ${quoteIdent(table)} (id bigserial, ${quoteIdent('Tenant "Id"')} text, ${quoteIdent('Number; Mixed')} text)`);
  // {Tenant "Id"} is not a token: rejected before any SQL.
  const error = await t.throwsAsync(
    runMigration(url(), (pgm) => addNumbering(pgm, { name: 'x', table, column: 'Number; Mixed', template: '{Tenant "Id"}-{seq}' })),
  );
  t.true(error instanceof RacefreeConfigError);
  await runMigration(url(), (pgm) => addNumbering(pgm, { name: 'Select"; --', table, column: 'Number; Mixed', template: "O'Brien-{seq}" }));
  const rows = await sql(`INSERT INTO ${quoteIdent(table)} DEFAULT VALUES RETURNING ${quoteIdent('Number; Mixed')} AS n`);
  t.deepEqual(rows, [{ n: "O'Brien-1" }]);
  t.is((await sql(`SELECT to_regclass('canary') IS NOT NULL AS ok`))[0].ok, true);
  t.is((await sql(`SELECT count(*)::int AS c FROM pg_proc WHERE proname = $1`, ['generate_Select"; --_number']))[0].c, 1);
});

test('options of the wrong type are rejected with a typed error naming the option before any SQL', async (t) => {
  const cases: Array<[Partial<AddNumberingOptions>, string, RegExp]> = [
    [{ name: 5 as never }, 'name', /must be a string/],
    [{ template: undefined as never }, 'template', /must be a string/],
    [{ column: 'a\0b' }, 'column', /NUL/],
    [{ table: { schema: '', name: 'x' } }, 'table.schema', /non-empty/],
  ];
  for (const [override, option, message] of cases) {
    let steps = -1;
    const error = t.throws(
      () => {
        const pgm = { sql: () => (steps = 1) } as never;
        steps = 0;
        addNumbering(pgm, { name: 'bad', table: 'bad', column: 'n', template: 'B-{seq}', ...override });
      },
      { instanceOf: RacefreeConfigError, message },
    );
    t.is(error?.option, option, JSON.stringify(override));
    t.is(steps, 0, 'no SQL queued');
  }
});

test('bad input found in the database fails the migration with RacefreeConfigError and creates nothing', async (t) => {
  await sql(`CREATE TABLE bad (id bigserial, n text, i int, d text, created_at timestamptz, dflt text DEFAULT 'x')`);
  const cases: Array<[Partial<AddNumberingOptions>, string, RegExp]> = [
    [{ table: 'missing' }, 'table', /does not exist/],
    [{ table: { schema: 'nope', name: 'bad' } }, 'table', /does not exist/],
    [{ column: 'missing' }, 'column', /does not exist/],
    [{ column: 'i' }, 'column', /text or varchar/],
    [{ column: 'dflt' }, 'column', /already has a DEFAULT/],
    [{ timeZone: 'Mars/Olympus' }, 'timeZone', /unknown time zone/],
    [{ template: 'B-{YYYY}-{seq}', dateColumn: 'd' }, 'dateColumn', /date, timestamp or timestamptz/],
    [{ template: 'B-{YYYY}-{seq}', dateColumn: 'missing' }, 'dateColumn', /does not exist/],
    [{ template: '{tenant}-{seq}' }, 'template', /\{tenant\} names no column/],
    // Checked by the SQL API, their one home, when the migration runs.
    [{ template: 'A-{YYYY}' }, 'template', /no \{seq\}/],
    [{ template: '{seq}{seq}' }, 'template', /2 \{seq\} tokens/],
    [{ template: 'A-{seq:0}' }, 'template', /width/],
    [{ template: 'A-{nope-}-{seq}' }, 'template', /unknown token/],
    [{ name: 'n'.repeat(50) }, 'name', /66 bytes; PostgreSQL names hold at most 63/],
    [{ name: 'é'.repeat(25) }, 'name', /66 bytes/],
    [{ name: '' }, 'name', /non-empty/],
    [{ mode: 'quick' as never }, 'mode', /'gapless' or 'fast'/],
    [{ dateColumn: 'created_at', template: 'A-{seq}' }, 'dateColumn', /no date token/],
    [{ column: '' }, 'column', /non-empty/],
    [{ timeZone: '' }, 'timeZone', /non-empty/],
  ];
  for (const [override, option, message] of cases) {
    const error = await t.throwsAsync(
      runMigration(url(), (pgm) => addNumbering(pgm, { name: 'bad', table: 'bad', column: 'n', template: 'B-{seq}', ...override })),
      { instanceOf: RacefreeConfigError, message },
    );
    t.is(error?.option, option, JSON.stringify(override));
    t.is(error?.code, 'RF100');
  }
  const leftovers = await sql(`
    SELECT (SELECT count(*) FROM pg_proc WHERE proname = 'generate_bad_number')::int AS functions,
           (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'bad'::regclass)::int AS triggers,
           (SELECT count(*) FROM pg_constraint WHERE conrelid = 'bad'::regclass AND contype <> 'n')::int AS constraints,
           (SELECT count(*) FROM racefree.numberings WHERE name = 'bad')::int AS registered`);
  t.deepEqual(leftovers, [{ functions: 0, triggers: 0, constraints: 0, registered: 0 }]);

  // The same name twice is refused too.
  await runMigration(url(), (pgm) => addNumbering(pgm, { name: 'bad', table: 'bad', column: 'n', template: 'B-{seq}' }));
  await t.throwsAsync(
    runMigration(url(), (pgm) => addNumbering(pgm, { name: 'bad', table: 'bad', column: 'd', template: 'B-{seq}' })),
    { instanceOf: RacefreeConfigError, message: /already exists/ },
  );
});

test('dropNumbering undoes everything addNumbering created, and keeps what it did not', async (t) => {
  await sql(`CREATE TABLE dr (id bigserial, tenant text, n text, m text UNIQUE)`);
  const before = await catalogOf('dr');
  await runMigration(url(), (pgm) => {
    addNumbering(pgm, { name: 'dr_n', table: 'dr', column: 'n', template: 'N-{seq}' });
    addNumbering(pgm, { name: 'dr_m', table: 'dr', column: 'm', template: '{tenant}-{seq}' });
    addNumbering(pgm, { name: 'dr_f', table: { schema: 'public', name: 'dr' }, column: 'tenant', template: 'T{seq}', mode: 'fast' });
  });
  await sql(`INSERT INTO dr (tenant) VALUES ('x')`);
  t.notDeepEqual(await catalogOf('dr'), before);
  await runMigration(url(), (pgm) => {
    dropNumbering(pgm, { name: 'dr_n', table: 'dr', column: 'n' });
    dropNumbering(pgm, { name: 'dr_m', table: 'dr', column: 'm' });
    dropNumbering(pgm, { name: 'dr_f', table: { schema: 'public', name: 'dr' }, column: 'tenant' });
  });
  t.deepEqual(await catalogOf('dr'), before);
  t.deepEqual(await sql(`SELECT counter FROM racefree.counters WHERE counter LIKE 'public.dr_%'`), []);
  await t.throwsAsync(
    runMigration(url(), (pgm) => dropNumbering(pgm, { name: 'dr_n', table: 'dr', column: 'n' })),
    {
      instanceOf: RacefreeConfigError,
      message: /no numbering/,
    },
  );
});

async function catalogOf(table: string) {
  return sql(
    `SELECT (SELECT array_agg(conname ORDER BY conname) FROM pg_constraint WHERE conrelid = $1::regclass) AS constraints,
            (SELECT array_agg(tgname ORDER BY tgname) FROM pg_trigger WHERE tgrelid = $1::regclass) AS triggers,
            (SELECT array_agg(attname || '=' || pg_get_expr(adbin, adrelid) ORDER BY attname) FROM pg_attrdef
               JOIN pg_attribute ON attrelid = adrelid AND attnum = adnum WHERE adrelid = $1::regclass) AS defaults,
            (SELECT array_agg(proname ORDER BY proname) FROM pg_proc WHERE proname LIKE 'generate_dr%') AS functions,
            (SELECT array_agg(relname ORDER BY relname) FROM pg_class WHERE relkind = 'S' AND relname LIKE $2 || '%') AS sequences,
            (SELECT count(*)::int FROM racefree.numberings WHERE table_name = $2) AS registered`,
    [table, table],
  );
}

test('next_value and current_value: gapless per (counter, scope), 0 when unused', async (t) => {
  const [a, b] = [await connect(url()), await connect(url())];
  try {
    t.is((await a.query(`SELECT racefree.current_value('orders') AS v`)).rows[0].v, '0');
    t.is((await a.query(`SELECT racefree.next_value('orders') AS v`)).rows[0].v, '1');
    t.is((await a.query(`SELECT racefree.next_value('orders', 'eu') AS v`)).rows[0].v, '1');
    await b.query('BEGIN');
    t.is((await b.query(`SELECT racefree.next_value('orders') AS v`)).rows[0].v, '2');
    await b.query('ROLLBACK');
    t.is((await a.query(`SELECT racefree.next_value('orders') AS v`)).rows[0].v, '2');
    t.is((await a.query(`SELECT racefree.current_value('orders', 'eu') AS v`)).rows[0].v, '1');
    const status = (await a.query(`SELECT counter, scope, value::int, mode FROM racefree.counter_status WHERE counter = 'orders' ORDER BY scope`)).rows;
    t.deepEqual(status, [
      { counter: 'orders', scope: '', value: 2, mode: 'gapless' },
      { counter: 'orders', scope: 'eu', value: 1, mode: 'gapless' },
    ]);
    const error = await t.throwsAsync(a.query(`SELECT racefree.next_value(NULL)`));
    t.is((error as { code?: string }).code, '23502');
    const empty = await t.throwsAsync(a.query(`SELECT racefree.next_value('')`));
    t.is((empty as { code?: string }).code, '23514');
    t.is(empty!.message, 'racefree.next_value: counter must not be empty');
  } finally {
    await Promise.all([a.end(), b.end()]);
  }
});

test('generated functions read like documentation and are not executable by PUBLIC', async (t) => {
  await numbered('doc', 'tenant text, n text', { name: 'doc', template: '{tenant}/{seq}' });
  await numbered('doc2', 'n text', { name: 'doc2', template: 'D-{seq}' });
  await numbered('doc3', 'n text', { name: 'doc3', template: 'F-{seq}', mode: 'fast' });
  const rows = await sql(`
    SELECT p.proname, obj_description(p.oid, 'pg_proc') AS comment,
           has_function_privilege('public', p.oid, 'EXECUTE') AS public_exec,
           has_function_privilege('racefree_user', p.oid, 'EXECUTE') AS user_exec
      FROM pg_proc AS p WHERE p.proname IN ('generate_doc_number', 'generate_doc2_number', 'generate_doc3_number') ORDER BY 1`);
  t.is(rows.length, 3);
  for (const r of rows) {
    t.regex(r.comment, /formatted as/);
    t.false(r.public_exec);
    t.true(r.user_exec);
  }
  const comment = (name: string) => rows.find((r) => r.proname === name)?.comment;
  t.regex(comment('generate_doc_number'), /BEFORE INSERT trigger/);
  // Gapless without row values too: a trigger, so its numbers are taken only by inserting.
  t.regex(comment('generate_doc2_number'), /BEFORE INSERT trigger/);
  t.regex(comment('generate_doc3_number'), /column DEFAULT/);
});
