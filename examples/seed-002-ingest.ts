/**
 * Seed 002 with `db.once`: a viewer's outbox POSTs a finished quiz session,
 * keyed by `client_session_uuid`, and re-sends it while the first POST is
 * still being ingested (at-least-once delivery).
 *
 * - naive: the seed's "does a session with this uuid exist? no: ingest" in
 *   one transaction. Both POSTs check before either commits, both ingest, the
 *   second hits the unique constraint (23505) and the user gets a 500.
 * - racefree: the handler body runs inside `db.once` keyed by the uuid. The
 *   re-send waits for the first POST and replays its response; a later re-send
 *   replays it too; the same uuid with other attempts is a 422.
 *
 * `run(databaseUrl, options)` needs the kit's migrations applied (`racefree
 * migrate up`) and works in a schema `seed002` that it creates and drops. It
 * tells the two-POST story, then runs `options.requests` POSTs per side (each
 * session sent twice at once) and reports them as `npm run demo` does. Standalone,
 * `DATABASE_URL=postgres://... node dist/examples/seed-002-ingest.js`, it uses a
 * scratch database that it creates, migrates and drops.
 */

import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';

import pg from 'pg';

import { createClient, IdempotencyKeyInFlightError, IdempotencyKeyMismatchError, InvalidIdempotencyKeyError, type Db } from '../src/index.js';
import { hammer, runStandalone, type RunOptions, type SeedReport } from './report.js';

/** The request body of POST /ingest/study/attempts. */
export interface IngestBody {
  client_session_uuid: string;
  user_id: number;
  topic_id: number;
  attempts: Array<{ question_id: number; outcome: 'correct' | 'wrong' | 'unsure' }>;
}

/** What the HTTP layer would send. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  /** The SQLSTATE behind a 500, as the server would log it. */
  sqlstate?: string;
}

/** The demo's report (load through each pattern), plus the two-POST story in detail. */
export interface Seed002Report extends SeedReport {
  readonly story: {
    /** The two concurrent POSTs: one 200 and one 500. */
    readonly naive: { readonly responses: HttpResponse[]; readonly ingests: number };
    /** The two concurrent POSTs, a later re-send, and the same uuid with other attempts. */
    readonly racefree: { readonly responses: HttpResponse[]; readonly ingests: number; readonly sameBody: boolean };
  };
}

const SCHEMA = `
  DROP SCHEMA IF EXISTS seed002 CASCADE;
  CREATE SCHEMA seed002;
  CREATE TABLE seed002.quiz_sessions (
    id bigserial PRIMARY KEY,
    user_id int NOT NULL,
    topic_id int NOT NULL,
    client_session_uuid uuid NOT NULL,
    correct int NOT NULL, wrong int NOT NULL, unsure int NOT NULL,
    UNIQUE (client_session_uuid, topic_id)
  );
  CREATE TABLE seed002.progress (user_id int, topic_id int, answered int NOT NULL, PRIMARY KEY (user_id, topic_id));

  -- The ingest of one session: the session row, then "finalize" (the seed's
  -- spaced-repetition progress), which must never advance twice.
  CREATE FUNCTION seed002.ingest_session(user_id int, topic_id int, client_session_uuid uuid, attempts jsonb)
  RETURNS TABLE (quiz_session_id bigint, correct int, wrong int, unsure int)
  LANGUAGE plpgsql AS $$
  DECLARE
    c int := (SELECT count(*) FROM jsonb_array_elements(attempts) a WHERE a->>'outcome' = 'correct');
    w int := (SELECT count(*) FROM jsonb_array_elements(attempts) a WHERE a->>'outcome' = 'wrong');
    u int := (SELECT count(*) FROM jsonb_array_elements(attempts) a WHERE a->>'outcome' = 'unsure');
  BEGIN
    INSERT INTO seed002.quiz_sessions AS s (user_id, topic_id, client_session_uuid, correct, wrong, unsure)
    VALUES (ingest_session.user_id, ingest_session.topic_id, ingest_session.client_session_uuid, c, w, u)
    RETURNING s.id INTO quiz_session_id;
    PERFORM pg_sleep(0.05); -- finalize_session's work: the window the re-send arrives in
    INSERT INTO seed002.progress AS p VALUES (ingest_session.user_id, ingest_session.topic_id, jsonb_array_length(attempts))
    ON CONFLICT ON CONSTRAINT progress_pkey DO UPDATE SET answered = p.answered + excluded.answered;
    correct := c; wrong := w; unsure := u;
    RETURN NEXT;
  END
  $$;`;

interface Ingested {
  status: 'ingested' | 'already_ingested';
  quiz_session_id: string;
  correct: number;
  wrong: number;
  unsure: number;
}

/**
 * The seed's handler: check, then ingest, in one transaction; no idempotency
 * key. (The seed later catches the IntegrityError and re-reads: no 500, but
 * the re-send gets an 'already_ingested' summary, not the response.) `gate`
 * holds each request after its check until both have checked.
 */
async function naiveIngest(pool: pg.Pool, body: IngestBody, gate?: { checked: () => void; bothChecked: Promise<void> }): Promise<HttpResponse> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const existing = await client.query<Omit<Ingested, 'status'>>(
      'SELECT id::text AS quiz_session_id, correct, wrong, unsure FROM seed002.quiz_sessions WHERE client_session_uuid = $1',
      [body.client_session_uuid],
    );
    if (existing.rows.length > 0) {
      await client.query('COMMIT');
      return { status: 200, headers: {}, body: { status: 'already_ingested', ...existing.rows[0]! } };
    }
    // Found nothing: the race window, made deterministic when gated.
    gate?.checked();
    await gate?.bothChecked;
    const { rows } = await client.query<Omit<Ingested, 'status'>>(
      `SELECT quiz_session_id::text, correct, wrong, unsure
         FROM seed002.ingest_session(user_id => $1, topic_id => $2, client_session_uuid => $3, attempts => $4)`,
      [body.user_id, body.topic_id, body.client_session_uuid, JSON.stringify(body.attempts)],
    );
    await client.query('COMMIT');
    return { status: 200, headers: {}, body: { status: 'ingested', ...rows[0]! } };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    const sqlstate = (error as { code?: string }).code ?? 'unknown';
    return { status: 500, headers: {}, body: { error: 'Internal Server Error' }, sqlstate };
  } finally {
    client.release();
  }
}

/** The same handler with `db.once`, and the HTTP mapping of its errors (IETF Idempotency-Key draft). */
export async function racefreeIngest(db: Db, body: IngestBody): Promise<HttpResponse> {
  try {
    const { replayed, response } = await db.once(
      { scope: `user:${body.user_id}`, key: body.client_session_uuid, request: body },
      async (tx): Promise<Ingested> => {
        const row = await tx.callOne<Omit<Ingested, 'status'>>('seed002.ingest_session', {
          user_id: body.user_id,
          topic_id: body.topic_id,
          client_session_uuid: body.client_session_uuid,
          attempts: JSON.stringify(body.attempts),
        });
        return { status: 'ingested', ...row };
      },
    );
    return { status: 200, headers: replayed ? { 'Idempotent-Replayed': 'true' } : {}, body: response };
  } catch (error) {
    if (error instanceof InvalidIdempotencyKeyError) return problem(400, error.message);
    if (error instanceof IdempotencyKeyMismatchError) return problem(422, error.message);
    if (error instanceof IdempotencyKeyInFlightError) {
      return { ...problem(409, error.message), headers: { 'Retry-After': String(error.retryAfter) } };
    }
    throw error;
  }
}

function problem(status: number, detail: string): HttpResponse {
  return { status, headers: {}, body: { detail } };
}

/** One POST per request, each session sent twice at once (an outbox re-send racing the first send). */
function pairs(prefix: string): (i: number) => IngestBody {
  return (i) => post(`${prefix}${String(Math.floor(i / 2)).padStart(12, '0')}`);
}

function post(uuid: string): IngestBody {
  return {
    client_session_uuid: uuid,
    user_id: 7,
    topic_id: 3,
    attempts: [
      { question_id: 1, outcome: 'correct' },
      { question_id: 2, outcome: 'wrong' },
      { question_id: 3, outcome: 'unsure' },
    ],
  };
}

/**
 * Both sides of seed 002 against `databaseUrl` (kit migrations applied): the
 * two-POST story, then `options.requests` POSTs (each session twice at once)
 * from `options.concurrency` callers per side.
 */
export async function run(databaseUrl: string, options: RunOptions = {}): Promise<Seed002Report> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: Math.max(4, options.concurrency ?? 32) });
  pool.on('error', () => undefined); // idle clients may outlive a dropped scratch database
  const db = createClient({ pool });
  try {
    await pool.query(SCHEMA);
    const story = await twoPosts(pool, db);

    const naiveLoad = await hammer(options, async (_errors, i) => {
      const response = await naiveIngest(pool, pairs('00000000-0000-4000-8000-')(i));
      if (response.status === 500) throw Object.assign(new Error('500'), { code: response.sqlstate });
    });
    const racefreeLoad = await hammer(options, async (_errors, i) => {
      const response = await racefreeIngest(db, pairs('00000000-0000-4000-9000-')(i));
      if (response.status !== 200) throw Object.assign(new Error(String(response.status)), { code: `HTTP ${response.status}` });
    });
    return {
      seed: '002',
      title: 'ingest keyed by client_session_uuid (check, then insert)',
      naive: [{ pattern: 'check for the uuid, then ingest', ...naiveLoad, duplicates: await twice(pool, '00000000-0000-4000-8000-') }],
      racefree: [{ pattern: 'db.once keyed by the uuid', ...racefreeLoad, duplicates: await twice(pool, '00000000-0000-4000-9000-') }],
      story,
    };
  } finally {
    await pool.query('DROP SCHEMA IF EXISTS seed002 CASCADE').catch(() => undefined);
    await pool.end();
  }
}

/** Sessions ingested more than once. None on either side: seed 002's unique constraint sees to that; its bug is the 500. */
async function twice(pool: pg.Pool, prefix: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT (count(*) - count(DISTINCT client_session_uuid))::int AS n
       FROM seed002.quiz_sessions WHERE starts_with(client_session_uuid::text, $1)`,
    [prefix],
  );
  return rows[0]!.n;
}

/** Two POSTs of one session at once; naive made to race deterministically. */
async function twoPosts(pool: pg.Pool, db: Db): Promise<Seed002Report['story']> {
  const ingests = async (uuid: string): Promise<number> =>
    (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM seed002.quiz_sessions WHERE client_session_uuid = $1', [uuid])).rows[0]!.n;

  const naiveUuid = randomUUID();
  let checks = 0;
  let open!: () => void;
  const bothChecked = new Promise<void>((resolve) => (open = resolve));
  const gate = { checked: () => void (++checks === 2 && open()), bothChecked };
  const naive = await Promise.all([0, 1].map(() => naiveIngest(pool, post(naiveUuid), gate)));

  const uuid = randomUUID();
  const concurrent = await Promise.all([0, 1].map(() => racefreeIngest(db, post(uuid))));
  const resend = await racefreeIngest(db, post(uuid));
  const mismatch = await racefreeIngest(db, { ...post(uuid), attempts: [{ question_id: 1, outcome: 'wrong' }] });
  // Deep equality: a replay is the stored jsonb, whose object keys come in jsonb's order.
  const bodies = [...concurrent, resend].map((r) => r.body);
  return {
    naive: { responses: naive, ingests: await ingests(naiveUuid) },
    racefree: {
      responses: [...concurrent, resend, mismatch],
      ingests: await ingests(uuid),
      sameBody: bodies.every((b) => isDeepStrictEqual(b, bodies[0])),
    },
  };
}

await runStandalone(import.meta.url, run, (report) =>
  Object.entries(report.story).flatMap(([side, result]) => [
    `${side}, two POSTs at once: ${result.ingests} ingest(s)`,
    ...result.responses.map((r) => {
      const headers = Object.entries(r.headers)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ');
      return `  ${r.status}${headers ? ` [${headers}]` : ''} ${JSON.stringify(r.body)}${r.sqlstate ? ` (SQLSTATE ${r.sqlstate})` : ''}`;
    }),
  ]),
);
