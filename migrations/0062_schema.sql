-- racefree kit migration 0062: the kit's tables on the hot path lose their CHECK constraints, and their writers keep the rules: PostgreSQL reads a table's CHECK constraints back from the catalog and plans them again in every statement that writes it, which cost a numbered insert about an eighth of its server CPU and an idempotency claim about a quarter; racefree.next_value refuses an empty counter itself (23514, as before); racefree_internal._lock_with_retries, the online retrofit's lock retries, takes several tables at once, and takes this migration's locks.
-- A frozen copy of the changes to sql/numbering.sql, sql/idempotency.sql and sql/generated.sql as released; change behaviour with a new migration.

-- Up Migration
-- Fails unless run by racefree migrate up or racefree sql (sql/kit-guard.sql).
DO $racefree_guard$
BEGIN
  IF coalesce(current_setting('racefree.migrate_session', true), '') = '' THEN
    RAISE EXCEPTION 'racefree kit migrations are applied by racefree migrate up, or with psql by the script racefree sql writes'
      USING ERRCODE = '55000',
            DETAIL = 'psql -f on a kit migration file runs its Up and Down sections alike and installs nothing.',
            HINT = 'racefree sql --out racefree.sql && psql -v ON_ERROR_STOP=1 -f racefree.sql';
  END IF;
END
$racefree_guard$;
-- sql/generated.sql: the lock retries of the online retrofit, for several
-- tables at once.
CREATE OR REPLACE FUNCTION racefree_internal._lock_with_retries(tbls regclass[], lock_mode text, config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  attempts int := coalesce((config->>'lockRetries')::int, 20) + 1;
  timeout_ms int := coalesce((config->>'lockTimeoutMs')::int, 100);
  step text := coalesce(config->>'stepName', 'addNumbering');
  saved text := current_setting('lock_timeout');
  -- One statement for all: none is held while another is waited for.
  names text := array_to_string(tbls::text[], ', ');
  holders text;
  more int;
  pause_ms int;
BEGIN
  IF lock_mode NOT IN ('SHARE ROW EXCLUSIVE', 'ACCESS EXCLUSIVE') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('racefree_internal._lock_with_retries: lock mode %L is not one the retrofit takes', lock_mode);
  END IF;
  FOR attempt IN 1 .. attempts LOOP
    BEGIN
      -- Writers queue behind a waiting lock request: it waits only this long.
      PERFORM set_config('lock_timeout', timeout_ms || 'ms', true);
      EXECUTE format('LOCK TABLE %s IN %s MODE', names, lock_mode);
      PERFORM set_config('lock_timeout', saved, true);
      RETURN;
    EXCEPTION WHEN lock_not_available THEN
      -- The failed attempt rolled back: this transaction holds no lock on tbls while it waits.
      SELECT string_agg(format('pid %s (%s, %s lock: %s)', h.pid, coalesce(h.state, 'unknown'), h.mode, left(coalesce(h.query, ''), 100)),
                        '; ' ORDER BY h.pid) FILTER (WHERE h.k <= 3),
             count(*) FILTER (WHERE h.k > 3)
        INTO holders, more
        FROM (SELECT l.pid, l.mode, a.state, a.query, row_number() OVER (ORDER BY l.pid) AS k
                FROM pg_catalog.pg_locks AS l LEFT JOIN pg_catalog.pg_stat_activity AS a ON a.pid = l.pid
               WHERE l.locktype = 'relation' AND l.relation = ANY (tbls) AND l.granted AND l.pid <> pg_backend_pid()) AS h;
      IF more > 0 THEN
        holders := format('%s and %s more session(s)', holders, more);
      END IF;
      IF attempt = attempts THEN
        RAISE EXCEPTION USING
          ERRCODE = 'lock_not_available',
          MESSAGE = format('%s: could not lock %s in %s mode in %s attempts of %s ms: held by %s; this step changed nothing',
            step, names, lock_mode, attempts, timeout_ms, coalesce(holders, 'sessions that have ended since')),
          HINT = coalesce(config->>'hint', 'End or wait out the sessions holding the table, or raise lockRetries or lockTimeoutMs, then run the migration again: it goes on from the last step done.');
      END IF;
      pause_ms := least(2000, 25 * 2 ^ least(attempt, 7))::int;
      pause_ms := pause_ms / 2 + (random() * pause_ms / 2)::int;
      RAISE NOTICE USING MESSAGE = format('waiting: %s needs a %s lock on %s, held by %s (attempt %s of %s, next in %s ms)',
        step, lock_mode, names, coalesce(holders, 'a session that has ended since'), attempt, attempts, pause_ms);
      PERFORM pg_sleep(pause_ms / 1000.0);
    END;
  END LOOP;
END
$$;
COMMENT ON FUNCTION racefree_internal._lock_with_retries(regclass[], text, jsonb) IS
  'Internal, the lock of each catalog step of an online retrofit and of kit migrations that alter the kit''s busy tables: LOCK TABLE tbls (all in one statement) in lock_mode under a short lock_timeout (config lockTimeoutMs, default 100), so writers queue behind the request for at most that long; on timeout it holds nothing, prints a NOTICE ''waiting: ...'' naming the sessions that hold the tables, sleeps with exponential backoff and jitter (25 ms doubling, at most 2 s) and tries again, config lockRetries times (default 20); then 55P03 naming them (config hint replaces the retrofit''s HINT). The locks, once taken, are held to the end of the calling transaction.';

CREATE OR REPLACE FUNCTION racefree_internal._lock_with_retries(tbl regclass, lock_mode text, config jsonb)
RETURNS void
LANGUAGE sql
AS $$ SELECT racefree_internal._lock_with_retries(ARRAY[tbl], lock_mode, config) $$;
COMMENT ON FUNCTION racefree_internal._lock_with_retries(regclass, text, jsonb) IS
  'Internal: racefree_internal._lock_with_retries of one table.';

REVOKE ALL ON FUNCTION racefree_internal._lock_with_retries(regclass[], text, jsonb) FROM PUBLIC;

-- ALTER TABLE takes ACCESS EXCLUSIVE on tables every numbered insert and
-- every claim writes. Waiting for it behind a long transaction would queue
-- them all, so each attempt waits at most 1 s, and a few attempts are made
-- before the migration fails (run it again later).
DO $$
BEGIN
  PERFORM racefree_internal._lock_with_retries(ARRAY['racefree.counters', 'racefree.idempotency_keys']::regclass[], 'ACCESS EXCLUSIVE',
    '{"lockTimeoutMs": 1000, "lockRetries": 9, "stepName": "racefree kit migration 0062",
      "hint": "Run racefree migrate up again when no long transaction holds them."}');
END
$$;
ALTER TABLE racefree.counters DROP CONSTRAINT counters_counter_check, DROP CONSTRAINT counters_value_check;
ALTER TABLE racefree.idempotency_keys DROP CONSTRAINT idempotency_keys_scope_check, DROP CONSTRAINT idempotency_keys_key_check;
CREATE OR REPLACE FUNCTION racefree.next_value(counter text, scope text DEFAULT '')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  taken bigint;
BEGIN
  IF next_value.counter = '' THEN
    RAISE EXCEPTION USING ERRCODE = 'check_violation', SCHEMA = 'racefree', TABLE = 'counters', COLUMN = 'counter',
      MESSAGE = 'racefree.next_value: counter must not be empty';
  END IF;
  INSERT INTO racefree.counters AS c (counter, scope, value)
  VALUES (next_value.counter, next_value.scope, 1)
  ON CONFLICT ON CONSTRAINT counters_pkey
  DO UPDATE SET value = c.value + 1, updated_at = now()
  RETURNING c.value INTO taken;
  RETURN taken;
END
$$;
COMMENT ON FUNCTION racefree.next_value(text, text) IS
  'Next gapless value of counter within scope (1, 2, 3, ...). One statement: locks the counter row until the calling transaction ends, so concurrent callers queue instead of colliding, and a rollback returns the value (no gaps). Under READ COMMITTED callers never fail; under REPEATABLE READ or SERIALIZABLE a concurrent caller gets 40001 (retry the transaction). Errors: 23502/23514 when counter is NULL or empty.';


-- Down Migration
-- Fails unless run by racefree migrate up or racefree sql (sql/kit-guard.sql).
DO $racefree_guard$
BEGIN
  IF coalesce(current_setting('racefree.migrate_session', true), '') = '' THEN
    RAISE EXCEPTION 'racefree kit migrations are applied by racefree migrate up, or with psql by the script racefree sql writes'
      USING ERRCODE = '55000',
            DETAIL = 'psql -f on a kit migration file runs its Up and Down sections alike and installs nothing.',
            HINT = 'racefree sql --out racefree.sql && psql -v ON_ERROR_STOP=1 -f racefree.sql';
  END IF;
END
$racefree_guard$;
CREATE OR REPLACE FUNCTION racefree.next_value(counter text, scope text DEFAULT '')
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  INSERT INTO racefree.counters AS c (counter, scope, value)
  VALUES (next_value.counter, next_value.scope, 1)
  ON CONFLICT ON CONSTRAINT counters_pkey
  DO UPDATE SET value = c.value + 1, updated_at = now()
  RETURNING c.value
$$;
COMMENT ON FUNCTION racefree.next_value(text, text) IS
  'Next gapless value of counter within scope (1, 2, 3, ...). One statement: locks the counter row until the calling transaction ends, so concurrent callers queue instead of colliding, and a rollback returns the value (no gaps). Under READ COMMITTED callers never fail; under REPEATABLE READ or SERIALIZABLE a concurrent caller gets 40001 (retry the transaction). Errors: 23502/23514 when counter is NULL or empty.';
ALTER TABLE racefree.counters ADD CONSTRAINT counters_counter_check CHECK (counter <> ''),
  ADD CONSTRAINT counters_value_check CHECK (value >= 0);
ALTER TABLE racefree.idempotency_keys ADD CONSTRAINT idempotency_keys_scope_check CHECK (char_length(scope) BETWEEN 1 AND 255),
  ADD CONSTRAINT idempotency_keys_key_check CHECK (char_length(key) BETWEEN 1 AND 255);
CREATE OR REPLACE FUNCTION racefree_internal._lock_with_retries(tbl regclass, lock_mode text, config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  attempts int := coalesce((config->>'lockRetries')::int, 20) + 1;
  timeout_ms int := coalesce((config->>'lockTimeoutMs')::int, 100);
  step text := coalesce(config->>'stepName', 'addNumbering');
  saved text := current_setting('lock_timeout');
  holders text;
  more int;
  pause_ms int;
BEGIN
  IF lock_mode NOT IN ('SHARE ROW EXCLUSIVE', 'ACCESS EXCLUSIVE') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('racefree_internal._lock_with_retries: lock mode %L is not one the retrofit takes', lock_mode);
  END IF;
  FOR attempt IN 1 .. attempts LOOP
    BEGIN
      -- Writers queue behind a waiting lock request: it waits only this long.
      PERFORM set_config('lock_timeout', timeout_ms || 'ms', true);
      EXECUTE format('LOCK TABLE %s IN %s MODE', tbl, lock_mode);
      PERFORM set_config('lock_timeout', saved, true);
      RETURN;
    EXCEPTION WHEN lock_not_available THEN
      -- The failed attempt rolled back: this transaction holds no lock on tbl while it waits.
      SELECT string_agg(format('pid %s (%s, %s lock: %s)', h.pid, coalesce(h.state, 'unknown'), h.mode, left(coalesce(h.query, ''), 100)),
                        '; ' ORDER BY h.pid) FILTER (WHERE h.k <= 3),
             count(*) FILTER (WHERE h.k > 3)
        INTO holders, more
        FROM (SELECT l.pid, l.mode, a.state, a.query, row_number() OVER (ORDER BY l.pid) AS k
                FROM pg_catalog.pg_locks AS l LEFT JOIN pg_catalog.pg_stat_activity AS a ON a.pid = l.pid
               WHERE l.locktype = 'relation' AND l.relation = tbl AND l.granted AND l.pid <> pg_backend_pid()) AS h;
      IF more > 0 THEN
        holders := format('%s and %s more session(s)', holders, more);
      END IF;
      IF attempt = attempts THEN
        RAISE EXCEPTION USING
          ERRCODE = 'lock_not_available',
          MESSAGE = format('%s: could not lock %s in %s mode in %s attempts of %s ms: held by %s; this step changed nothing',
            step, tbl, lock_mode, attempts, timeout_ms, coalesce(holders, 'sessions that have ended since')),
          HINT = 'End or wait out the sessions holding the table, or raise lockRetries or lockTimeoutMs, then run the migration again: it goes on from the last step done.';
      END IF;
      pause_ms := least(2000, 25 * 2 ^ least(attempt, 7))::int;
      pause_ms := pause_ms / 2 + (random() * pause_ms / 2)::int;
      RAISE NOTICE USING MESSAGE = format('waiting: %s needs a %s lock on %s, held by %s (attempt %s of %s, next in %s ms)',
        step, lock_mode, tbl, coalesce(holders, 'a session that has ended since'), attempt, attempts, pause_ms);
      PERFORM pg_sleep(pause_ms / 1000.0);
    END;
  END LOOP;
END
$$;
COMMENT ON FUNCTION racefree_internal._lock_with_retries(regclass, text, jsonb) IS
  'Internal, the lock of each catalog step of an online retrofit: LOCK TABLE tbl in lock_mode under a short lock_timeout (config lockTimeoutMs, default 100), so writers queue behind the request for at most that long; on timeout it holds nothing, prints a NOTICE ''waiting: ...'' naming the sessions that hold the table, sleeps with exponential backoff and jitter (25 ms doubling, at most 2 s) and tries again, config lockRetries times (default 20); then 55P03 naming them. The lock, once taken, is held to the end of the calling transaction.';
DROP FUNCTION racefree_internal._lock_with_retries(regclass[], text, jsonb);
