-- racefree numbering: counters taken under a row lock. The generator behind
-- the addNumbering() migration builder is in generated.sql.
--
-- A gapless counter is one row in racefree.counters. next_value() takes the
-- next value with a single INSERT ... ON CONFLICT DO UPDATE, which locks the
-- row until the caller's transaction ends: a concurrent caller waits for the
-- commit and then reads the committed value, and a rollback hands the value
-- back. Fast numberings use a sequence instead and never wait.

-- No CHECK constraints: every statement that writes a table with one reads
-- it back from the catalog and plans it again, which cost a numbered insert
-- about an eighth of its server CPU. The writers keep the rules instead:
-- next_value() refuses an empty counter, the generated code names its own,
-- and every value written is 1 or more, or digits read from a number.
CREATE TABLE racefree.counters (
  counter    text        NOT NULL,
  scope      text        NOT NULL DEFAULT '',
  value      bigint      NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (counter, scope)
);
COMMENT ON TABLE racefree.counters IS
  'Gapless counters: one row per (counter, scope), value = the last value handed out. Written only by racefree.next_value() and the numbering triggers.';

CREATE TABLE racefree.numberings (
  counter           text        PRIMARY KEY,
  name              text        NOT NULL,
  table_schema      name        NOT NULL,
  table_name        name        NOT NULL,
  column_name       name        NOT NULL,
  template          text        NOT NULL,
  parts             jsonb       NOT NULL,
  mode              text        NOT NULL CHECK (mode IN ('gapless', 'fast')),
  time_zone         text        NOT NULL,
  date_column       name,
  scope_columns     name[]      NOT NULL DEFAULT '{}',
  reset             text        NOT NULL CHECK (reset IN ('never', 'yearly', 'monthly', 'daily')),
  generator         name        NOT NULL,
  sequence_name     name,
  added_constraint  name,
  created_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (table_schema, table_name, column_name)
);
COMMENT ON TABLE racefree.numberings IS
  'One row per addNumbering() migration: which column is numbered, by which template, mode and generator. Read by the numbering triggers and by racefree doctor.';

-- ---------------------------------------------------------------------------
-- Public functions

CREATE FUNCTION racefree.next_value(counter text, scope text DEFAULT '')
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

CREATE FUNCTION racefree.current_value(counter text, scope text DEFAULT '')
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(
    (SELECT c.value FROM racefree.counters AS c
      WHERE c.counter = current_value.counter AND c.scope = current_value.scope),
    0)
$$;
COMMENT ON FUNCTION racefree.current_value(text, text) IS
  'Last value next_value() handed out for counter within scope, as this transaction sees it; 0 when never used. Takes no lock.';

-- ---------------------------------------------------------------------------
-- Configuration errors, shared by every builder's installer

CREATE FUNCTION racefree_internal._config_error(option text, value text, message text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  RAISE EXCEPTION USING
    ERRCODE = 'RF100',
    MESSAGE = message,
    DETAIL = jsonb_build_object('option', option, 'value', value)::text;
END
$$;
COMMENT ON FUNCTION racefree_internal._config_error(text, text, text) IS
  'Internal: raises RF100 (racefree configuration error) with DETAIL {"option", "value"}, which the TypeScript client maps to RacefreeConfigError.';

-- ---------------------------------------------------------------------------
-- Inspection

CREATE VIEW racefree.counter_status AS
  SELECT c.counter, c.scope, c.value, 'gapless'::text AS mode, c.updated_at
    FROM racefree.counters AS c
  UNION ALL
  SELECT n.counter, '' AS scope, coalesce(s.last_value, 0) AS value, 'fast'::text AS mode, NULL::timestamptz AS updated_at
    FROM racefree.numberings AS n
    LEFT JOIN pg_catalog.pg_sequences AS s ON s.schemaname = n.table_schema AND s.sequencename = n.sequence_name
   WHERE n.mode = 'fast';
COMMENT ON VIEW racefree.counter_status IS
  'Every counter and its last value: gapless counters from racefree.counters (updated_at = last change), fast numberings from their sequences (value = last value taken, committed or not).';

-- ---------------------------------------------------------------------------
-- Privileges: services take numbers only by inserting into a numbered table
-- (the generated code is bound to its own counter); moving, reading or
-- creating any counter by name is racefree_admin's.

REVOKE ALL ON FUNCTION racefree.next_value(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree.current_value(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._config_error(text, text, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION racefree.next_value(text, text) TO racefree_admin;
GRANT EXECUTE ON FUNCTION racefree.current_value(text, text) TO racefree_admin;
GRANT SELECT ON racefree.counter_status TO racefree_admin;
