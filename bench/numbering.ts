/**
 * Numbering throughput, 32 clients, one server, alternating rounds. Each
 * racefree variant runs beside the minimal hand-written SQL with the same
 * guarantees, and its ratio is to that baseline:
 *
 * - fast (`F-{seq:6}`, and `ASM-{YYYY}-{seq:6}` beside the same with `to_char(now(), 'YYYY')`): a sequence DEFAULT `'F-' || lpad(nextval(s)::text, 6, '0')`
 *   with the same unique index (which, unlike racefree, ignores explicit
 *   numbers and truncates past 6 digits); and, for `F-{seq:6}`, that DEFAULT
 *   with a hand-written explicit-number trigger, which keeps the guarantee,
 *   and with an empty row trigger, the floor of any design that keeps it with
 *   one; and a fill trigger without DEFAULT, the cheapest shape with the
 *   guarantee (bench/fast-hand.sql, shared with bench/pgbench/numbering.sh);
 * - gapless (`S-{tenant}-{seq}` over 50 tenants, and `ASM-{YYYY}-{seq:3}`, one
 *   scope): a BEFORE INSERT trigger in PL/pgSQL doing `INSERT INTO counters …
 *   ON CONFLICT DO UPDATE SET value = value + 1 RETURNING value`, and moving
 *   the counter past an explicit number;
 *
 * plus a plain bigserial INSERT (the limit) and seed 003's count(*)+1 loop.
 *
 * Run alone: `DATABASE_URL=postgres://... node dist/bench/numbering.js` (a
 * database where the kit is migrated), or with `--upgraded` on a database of
 * its own that was numbered by the kit of 0062 and then upgraded by
 * `racefree migrate up` (DATABASE_URL names the server).
 */
import pg from 'pg';
import { addNumbering, dropNumbering } from '../src/migrate/numbering.js';
import { withClient } from '../src/tooling/with-client.js';
import { applyMigration } from '../src/migrate/apply.js';
import { load, median, rounds, runStandalone, type Load } from './load.js';
import { benchSql } from './sql-file.js';
import { withUpgradedDatabase } from './upgraded.js';
import type { BenchResult } from './types.js';

const VARIANTS = [
  'plain',
  'fastHand',
  'fast',
  'fastGuardHand',
  'fastFloor',
  'fastFill',
  'fastYearHand',
  'fastYear',
  'g50Hand',
  'g50',
  'g1Hand',
  'g1',
  'seed003',
] as const;
type Variant = (typeof VARIANTS)[number];

const LABELS: Record<Variant, string> = {
  plain: 'plain INSERT, bigserial (limit)',
  fastHand: 'hand-written sequence DEFAULT, lpad(nextval(s)), unique (baseline of fast)',
  fast: "addNumbering mode 'fast', F-{seq:6}",
  fastGuardHand: 'hand-written sequence DEFAULT + explicit-number trigger (the baseline of fast with its guarantee)',
  fastFloor: 'hand-written sequence DEFAULT + an empty row trigger (the floor of any row trigger beside it)',
  fastFill: 'hand-written fill trigger without DEFAULT, explicit numbers kept safe (the cheapest shape with the guarantee)',
  fastYearHand: "hand-written sequence DEFAULT with to_char(now(), 'YYYY') (baseline of fast with a date)",
  fastYear: "addNumbering mode 'fast', ASM-{YYYY}-{seq:6}",
  g50Hand: 'hand-written trigger + counter upsert, 50 scopes (baseline of gapless, 50 scopes)',
  g50: "addNumbering mode 'gapless', S-{tenant}-{seq}, 50 scopes",
  g1Hand: 'hand-written trigger + counter upsert, one scope (baseline of gapless, one scope)',
  g1: "addNumbering mode 'gapless', ASM-{YYYY}-{seq:3}, one scope",
  seed003: 'seed 003: count(*)+1, 3 attempts with backoff',
};

/** Run side by side in every round: a baseline and what is compared with it. */
const GROUPS: ReadonlyArray<readonly Variant[]> = [
  ['plain'],
  ['fastHand', 'fast', 'fastGuardHand', 'fastFloor', 'fastFill'],
  ['fastYearHand', 'fastYear'],
  ['g50Hand', 'g50'],
  ['g1Hand', 'g1'],
  ['seed003'],
];

/** The rows of racefree's generated code. */
const RACEFREE: readonly Variant[] = ['fast', 'fastYear', 'g50', 'g1'];

/** Each row's ratio is to this row of the same run. */
const BASELINE: Record<Variant, Variant> = {
  plain: 'plain',
  fastHand: 'plain',
  fast: 'fastHand',
  fastGuardHand: 'fastHand',
  fastFloor: 'fastHand',
  fastFill: 'fastHand',
  fastYearHand: 'plain',
  fastYear: 'fastYearHand',
  g50Hand: 'plain',
  g50: 'g50Hand',
  g1Hand: 'plain',
  g1: 'g1Hand',
  seed003: 'plain',
};

const TABLES =
  'bench_plain, bench_fast, bench_fast_year_hand, bench_fast_year, bench_g50_hand, bench_g50, bench_g1_hand, bench_g1, bench_seed003, bench_counters';

/** The hand-written baselines of fast, and what removes them, shared with bench/pgbench/numbering.sh. */
const FAST_HAND = benchSql('fast-hand.sql');
const FAST_HAND_DROP = benchSql('fast-hand-drop.sql');

/** The tables, and the hand-written baselines: minimal SQL with racefree's guarantees. */
const SETUP = `
  DROP TABLE IF EXISTS ${TABLES};
  DROP SEQUENCE IF EXISTS bench_fast_year_hand_seq;
${FAST_HAND_DROP}
  CREATE TABLE bench_plain (id bigserial PRIMARY KEY, title text);
${FAST_HAND}
  CREATE SEQUENCE bench_fast_year_hand_seq;
  CREATE TABLE bench_fast_year_hand (id bigserial PRIMARY KEY, title text,
    n text UNIQUE DEFAULT 'ASM-' || to_char(now() AT TIME ZONE 'UTC', 'YYYY') || '-' || lpad(nextval('bench_fast_year_hand_seq')::text, 6, '0'));
  CREATE TABLE bench_fast (id bigserial PRIMARY KEY, title text, n text);
  CREATE TABLE bench_fast_year (id bigserial PRIMARY KEY, title text, n text);
  CREATE TABLE bench_counters (counter text NOT NULL, scope text NOT NULL, value bigint NOT NULL, PRIMARY KEY (counter, scope));
  CREATE OR REPLACE FUNCTION bench_g50_hand_number() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE
    v bigint;
  BEGIN
    IF NEW.n IS NULL THEN
      INSERT INTO bench_counters AS c (counter, scope, value) VALUES ('g50', NEW.tenant::text, 1)
      ON CONFLICT (counter, scope) DO UPDATE SET value = c.value + 1 RETURNING c.value INTO v;
      NEW.n := 'S-' || NEW.tenant || '-' || v;
    ELSIF NEW.n ~ '^S-[0-9]+-[0-9]{1,18}$' THEN
      INSERT INTO bench_counters AS c (counter, scope, value) VALUES ('g50', split_part(NEW.n, '-', 2), split_part(NEW.n, '-', 3)::bigint)
      ON CONFLICT (counter, scope) DO UPDATE SET value = excluded.value WHERE c.value < excluded.value;
    END IF;
    RETURN NEW;
  END
  $$;
  CREATE TABLE bench_g50_hand (id bigserial PRIMARY KEY, title text, tenant int NOT NULL, n text UNIQUE);
  CREATE TRIGGER bench_g50_hand BEFORE INSERT ON bench_g50_hand FOR EACH ROW EXECUTE FUNCTION bench_g50_hand_number();
  CREATE OR REPLACE FUNCTION bench_g1_hand_number() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE
    y text := to_char(now() AT TIME ZONE 'UTC', 'YYYY');
    v bigint;
  BEGIN
    IF NEW.n IS NULL THEN
      INSERT INTO bench_counters AS c (counter, scope, value) VALUES ('g1', y, 1)
      ON CONFLICT (counter, scope) DO UPDATE SET value = c.value + 1 RETURNING c.value INTO v;
      NEW.n := 'ASM-' || y || '-' || lpad(v::text, greatest(3, length(v::text)), '0');
    ELSIF NEW.n ~ '^ASM-[0-9]{4}-[0-9]{1,18}$' THEN
      INSERT INTO bench_counters AS c (counter, scope, value) VALUES ('g1', split_part(NEW.n, '-', 2), split_part(NEW.n, '-', 3)::bigint)
      ON CONFLICT (counter, scope) DO UPDATE SET value = excluded.value WHERE c.value < excluded.value;
    END IF;
    RETURN NEW;
  END
  $$;
  CREATE TABLE bench_g1_hand (id bigserial PRIMARY KEY, title text, n text UNIQUE);
  CREATE TRIGGER bench_g1_hand BEFORE INSERT ON bench_g1_hand FOR EACH ROW EXECUTE FUNCTION bench_g1_hand_number();
  CREATE TABLE bench_g50 (id bigserial PRIMARY KEY, title text, tenant int NOT NULL, n text);
  CREATE TABLE bench_g1 (id bigserial PRIMARY KEY, title text, n text);
  CREATE TABLE bench_seed003 (id bigserial PRIMARY KEY, title text, n text NOT NULL UNIQUE);`;

/** The numberings every kit since 0005 can add (the upgraded database gets them from the old kit). */
const NUMBERINGS = [
  { name: 'bench_fast', table: 'bench_fast', column: 'n', template: 'F-{seq:6}', mode: 'fast' },
  { name: 'bench_g50', table: 'bench_g50', column: 'n', template: 'S-{tenant}-{seq}' },
  { name: 'bench_g1', table: 'bench_g1', column: 'n', template: 'ASM-{YYYY}-{seq:3}' },
] as const;
/** What needs this kit: fast numbering with a date. */
const FAST_YEAR = { name: 'bench_fast_year', table: 'bench_fast_year', column: 'n', template: 'ASM-{YYYY}-{seq:6}', mode: 'fast' } as const;

/** Tables and the numberings every kit can add, on a database where the kit is migrated (`kit` old or current). */
export async function prepare(databaseUrl: string): Promise<void> {
  await withClient(databaseUrl, async (client) => {
    await client.query(SETUP);
    await applyMigration(client, (pgm) => {
      for (const options of NUMBERINGS) addNumbering(pgm, options);
    });
  });
}

export async function run(
  databaseUrl: string,
  options: { clients?: number; ms?: number; rounds?: number; prepared?: boolean; title?: string } = {},
): Promise<BenchResult> {
  const clients = options.clients ?? 32;
  const ms = options.ms ?? 1000;
  const count = options.rounds ?? 10;
  if (!options.prepared) await prepare(databaseUrl);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: clients });
  pool.on('error', () => undefined); // idle clients see the scratch database dropped
  try {
    const client = await pool.connect();
    try {
      await applyMigration(client, (pgm) => addNumbering(pgm, FAST_YEAR));
    } finally {
      client.release();
    }
    const year = new Date().getUTCFullYear();
    // Prepared statements, as pgbench -M prepared and racefree's client use them.
    const insert = (table: string) => async (c: pg.PoolClient) =>
      void (await c.query({ name: table, text: `INSERT INTO ${table} (title) VALUES ($1)`, values: ['x'] }));
    const tenant = (table: string) => async (c: pg.PoolClient, i: number) =>
      void (await c.query({ name: table, text: `INSERT INTO ${table} (title, tenant) VALUES ($1, $2)`, values: ['x', i % 50] }));
    const ops: Record<Variant, (c: pg.PoolClient, i: number) => Promise<void>> = {
      plain: insert('bench_plain'),
      fastHand: insert('bench_fast_hand'),
      fast: insert('bench_fast'),
      fastGuardHand: insert('bench_fast_guard_hand'),
      fastFloor: insert('bench_fast_floor'),
      fastFill: insert('bench_fast_fill'),
      fastYearHand: insert('bench_fast_year_hand'),
      fastYear: insert('bench_fast_year'),
      g50Hand: tenant('bench_g50_hand'),
      g50: tenant('bench_g50'),
      g1Hand: insert('bench_g1_hand'),
      g1: insert('bench_g1'),
      seed003: async (c) => {
        for (let attempt = 0; ; attempt++) {
          const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM bench_seed003 WHERE n LIKE $1', [`ASM-${year}-%`]);
          try {
            await c.query('INSERT INTO bench_seed003 (title, n) VALUES ($1, $2)', ['x', `ASM-${year}-${String(rows[0]!.n + 1).padStart(3, '0')}`]);
            return;
          } catch (error) {
            if ((error as { code?: string }).code !== '23505' || attempt === 2) throw error;
            await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
          }
        }
      },
    };
    // Warm up: every connection, every prepared plan.
    for (const v of VARIANTS) await load(pool, clients, 200, ops[v]);
    // A racefree row runs right next to its baseline, first after it, then
    // before it (A B, B A, ...), so the load of a shared machine hits both
    // alike; each round gives every row a ratio to its baseline.
    const totals = Object.fromEntries(VARIANTS.map((v) => [v, { ops: 0, errors: 0, seconds: 0 }])) as Record<Variant, Load>;
    const perRound = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
    const fastToGuard: number[] = [];
    for (let r = 0; r < count; r++) {
      const order = GROUPS.flatMap((g) => (r % 2 === 0 ? g : [...g].reverse()));
      const round = await rounds(order, 1, (v) => load(pool, clients, ms, ops[v]));
      for (const v of VARIANTS) {
        const t = totals[v];
        totals[v] = { ops: t.ops + round[v].ops, errors: t.errors + round[v].errors, seconds: t.seconds + round[v].seconds };
        perRound[v].push(round[v].ops / round[v].seconds / (round[BASELINE[v]].ops / round[BASELINE[v]].seconds));
      }
      fastToGuard.push(round.fast.ops / round.fast.seconds / (round.fastGuardHand.ops / round.fastGuardHand.seconds));
    }
    const rate = (v: Variant) => totals[v].ops / totals[v].seconds;
    const spread = (v: Variant) =>
      `${LABELS[v]}: median ${median(perRound[v]).toFixed(2)}x (${Math.min(...perRound[v]).toFixed(2)} to ${Math.max(...perRound[v]).toFixed(2)})`;
    const kind = (v: Variant): 'limit' | 'naive' | 'racefree' => (v === 'seed003' ? 'naive' : RACEFREE.includes(v) ? 'racefree' : 'limit');
    const rows = VARIANTS.map((v) => ({ name: LABELS[v], opsPerSec: rate(v), errors: totals[v].errors, ratio: median(perRound[v]), kind: kind(v) }));
    return {
      scenario: `${options.title ?? 'Numbering'}: inserts/s, ${clients} clients, ${count} alternating rounds of ${ms} ms (ratio to its baseline)`,
      rows,
      notes: [
        'Ratios: the median of the per-round ratios; racefree rows to their hand-written baseline, the other hand-written rows of F-{seq:6} to its baseline, the rest to plain INSERT.',
        `Per-round ratios, median (min to max) of ${count} rounds: ${RACEFREE.map(spread).join('; ')}.`,
        `fast F-{seq:6} to the hand-written DEFAULT with its explicit-number trigger: median ${median(fastToGuard).toFixed(2)}x (${Math.min(...fastToGuard).toFixed(2)} to ${Math.max(...fastToGuard).toFixed(2)})`,
        `The floor of fast's target: ${spread('fastFloor')}; any row trigger beside the DEFAULT, as keeping explicit numbers safe needs, costs at least this.`,
        `A design racefree does not use (it drops the DEFAULT): ${spread('fastFill')}.`,
        `gapless one scope vs seed 003: ${(rate('g1') / rate('seed003')).toFixed(1)}x, with ${totals.g1.errors} errors vs ${totals.seed003.errors} failed requests`,
      ],
    };
  } finally {
    await dropNumberings(pool).catch(() => undefined);
    await pool
      .query(
        `DROP TABLE IF EXISTS ${TABLES}; DROP SEQUENCE IF EXISTS bench_fast_year_hand_seq;
         DROP FUNCTION IF EXISTS bench_g50_hand_number(), bench_g1_hand_number(); ${FAST_HAND_DROP}`,
      )
      .catch(() => undefined);
    await pool.end();
  }
}

/** dropNumbering for those of the scenario's numberings that were added, so it can run again in the same database. */
async function dropNumberings(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    const all = [...NUMBERINGS, FAST_YEAR];
    const { rows } = await client.query<{ name: string }>('SELECT name FROM racefree.numberings WHERE table_schema = current_schema() AND name = ANY($1)', [
      all.map((n) => n.name),
    ]);
    const added = all.filter((n) => rows.some((r) => r.name === n.name));
    if (added.length > 0) await applyMigration(client, (pgm) => added.forEach((n) => dropNumbering(pgm, n)));
  } finally {
    client.release();
  }
}

/**
 * The same on a database numbered by the kit of 0062 (generator 5, the last
 * before 0070) and then upgraded with `migrate up`. Today's builders call the
 * internals in racefree_internal, so the old kit must be 0061 or later.
 */
export async function runUpgraded(serverUrl: string, options: { rounds?: number } = {}): Promise<BenchResult> {
  return withUpgradedDatabase(serverUrl, '0062', prepare, (url) => run(url, { ...options, prepared: true, title: 'Numbering, upgraded from kit 0062' }));
}

await runStandalone(import.meta.url, (url) => (process.argv.includes('--upgraded') ? runUpgraded(url) : run(url)));
