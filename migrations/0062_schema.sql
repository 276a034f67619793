-- racefree kit migration 0062: the kit's tables on the hot path lose their CHECK constraints, and their writers keep the rules: PostgreSQL reads a table's CHECK constraints back from the catalog and plans them again in every statement that writes it, which cost a numbered insert about an eighth of its server CPU and an idempotency claim about a quarter; racefree.next_value refuses an empty counter itself (23514, as before).
-- A frozen copy of the changes to sql/numbering.sql and sql/idempotency.sql as released; change behaviour with a new migration.

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
-- ALTER TABLE takes ACCESS EXCLUSIVE on tables every numbered insert and
-- every claim writes. Waiting for it behind a long transaction would queue
-- them all, so each attempt waits at most 1 s, and a few attempts are made
-- before the migration fails (run it again later).
DO $$
DECLARE
  previous text := current_setting('lock_timeout');
BEGIN
  FOR attempt IN 1..10 LOOP
    BEGIN
      PERFORM set_config('lock_timeout', '1s', true);
      LOCK TABLE racefree.counters, racefree.idempotency_keys IN ACCESS EXCLUSIVE MODE;
      EXIT;
    EXCEPTION WHEN lock_not_available THEN
      IF attempt = 10 THEN
        RAISE EXCEPTION USING ERRCODE = 'lock_not_available',
          MESSAGE = 'racefree kit migration 0062: racefree.counters and racefree.idempotency_keys stayed locked by other transactions through 10 attempts of 1 s',
          HINT = 'Run racefree migrate up again when no long transaction holds them.';
      END IF;
      PERFORM pg_sleep(0.2 * attempt);
    END;
  END LOOP;
  PERFORM set_config('lock_timeout', previous, true);
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
