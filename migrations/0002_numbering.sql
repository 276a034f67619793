-- racefree kit migration 0002: numbering (racefree.next_value and the addNumbering installer).
-- A frozen copy of sql/numbering.sql as released; change behaviour with a new migration.

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
-- racefree numbering: counters taken under a row lock, and the installer
-- behind the addNumbering() migration builder.
--
-- A gapless counter is one row in racefree.counters. next_value() takes the
-- next value with a single INSERT ... ON CONFLICT DO UPDATE, which locks the
-- row until the caller's transaction ends: a concurrent caller waits for the
-- commit and then reads the committed value, and a rollback hands the value
-- back. Fast numberings use a sequence instead and never wait.

CREATE TABLE racefree.counters (
  counter    text        NOT NULL CHECK (counter <> ''),
  scope      text        NOT NULL DEFAULT '',
  value      bigint      NOT NULL CHECK (value >= 0),
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
-- Internals shared by the generated functions and the installer

CREATE FUNCTION racefree._numbering_key(period text, scope_values text[])
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  -- A JSON array keeps (period, values) unambiguous whatever the values hold.
  SELECT CASE WHEN cardinality(scope_values) = 0 THEN period
              ELSE (jsonb_build_array(period) || to_jsonb(scope_values))::text END
$$;
COMMENT ON FUNCTION racefree._numbering_key(text, text[]) IS
  'Internal: the counters.scope of a numbering for one period (date tokens joined by -) and the values of its scope columns.';

CREATE FUNCTION racefree._numbering_parse(parts jsonb, number text, scope_values text[])
RETURNS TABLE (scope text, seq bigint)
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  pattern text := '';
  part jsonb;
  col int := 0;
  m text[];
  g int := 0;
  periods text[] := '{}';
BEGIN
  FOR part IN SELECT * FROM jsonb_array_elements(parts) LOOP
    IF part ? 'literal' THEN
      pattern := pattern || regexp_replace(part->>'literal', '([.^$*+?()\[\]{}|\\-])', '\\\1', 'g');
    ELSIF part ? 'date' THEN
      pattern := pattern || CASE part->>'date' WHEN 'YYYY' THEN '(\d{4})' ELSE '(\d{2})' END;
    ELSIF part ? 'column' THEN
      col := col + 1;
      pattern := pattern || regexp_replace(scope_values[col], '([.^$*+?()\[\]{}|\\-])', '\\\1', 'g');
    ELSE
      pattern := pattern || '(\d{1,18})';
    END IF;
  END LOOP;
  m := regexp_match(number, '^' || pattern || '$');
  IF m IS NULL THEN
    RETURN;
  END IF;
  FOR part IN SELECT * FROM jsonb_array_elements(parts) LOOP
    IF part ? 'date' THEN
      g := g + 1;
      periods := periods || m[g];
    ELSIF part ? 'seq' THEN
      g := g + 1;
      seq := m[g]::bigint;
    END IF;
  END LOOP;
  scope := racefree._numbering_key(array_to_string(periods, '-'), scope_values);
  RETURN NEXT;
END
$$;
COMMENT ON FUNCTION racefree._numbering_parse(jsonb, text, text[]) IS
  'Internal: reads an existing number back into (counter scope, sequence value) when it matches the template parts for the given scope values; no row when it does not.';

CREATE FUNCTION racefree._numbering_advance(counter text, number text, scope_values text[])
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r racefree.numberings;
  p record;
  last bigint;
BEGIN
  SELECT * INTO r FROM racefree.numberings AS n WHERE n.counter = _numbering_advance.counter;
  IF NOT FOUND OR number IS NULL THEN
    RETURN;
  END IF;
  SELECT * INTO p FROM racefree._numbering_parse(r.parts, number, scope_values);
  IF p.seq IS NULL THEN
    RETURN;  -- not in the template's format: it cannot collide with a generated number
  END IF;
  IF r.mode = 'gapless' THEN
    INSERT INTO racefree.counters AS c (counter, scope, value)
    VALUES (r.counter, p.scope, p.seq)
    ON CONFLICT ON CONSTRAINT counters_pkey
    DO UPDATE SET value = excluded.value, updated_at = now()
    WHERE c.value < excluded.value;
  ELSE
    -- A sequence not yet used hands out last_value itself next.
    EXECUTE format('SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM %I.%I',
                   r.table_schema, r.sequence_name) INTO last;
    IF p.seq > last THEN
      -- ALTER SEQUENCE blocks nextval() until this transaction ends, so the
      -- read-then-setval below cannot move the sequence backwards.
      EXECUTE format('ALTER SEQUENCE %I.%I NO CYCLE', r.table_schema, r.sequence_name);
      EXECUTE format('SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM %I.%I',
                     r.table_schema, r.sequence_name) INTO last;
      IF p.seq > last THEN
        PERFORM setval(format('%I.%I', r.table_schema, r.sequence_name)::regclass, p.seq);
      END IF;
    END IF;
  END IF;
END
$$;
COMMENT ON FUNCTION racefree._numbering_advance(text, text, text[]) IS
  'Internal: moves a numbering''s counter past an explicitly written number, so later generated numbers never collide with it. Gapless: locks the counter row. Fast: briefly blocks the sequence (ALTER SEQUENCE) when the number is ahead of it.';

CREATE FUNCTION racefree._numbering_explicit()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r racefree.numberings;
  number text;
  scope_values text[] := '{}';
  c name;
  v text;
BEGIN
  SELECT * INTO r FROM racefree.numberings AS n WHERE n.counter = TG_ARGV[0];
  EXECUTE format('SELECT ($1).%I::text', r.column_name) INTO number USING NEW;
  FOREACH c IN ARRAY r.scope_columns LOOP
    EXECUTE format('SELECT ($1).%I::text', c) INTO v USING NEW;
    scope_values := scope_values || v;
  END LOOP;
  PERFORM racefree._numbering_advance(r.counter, number, scope_values);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION racefree._numbering_explicit() IS
  'Internal trigger (argument: the numbering''s counter): fires only when a row brings its own number instead of the generated DEFAULT, and moves the counter past it.';

-- ---------------------------------------------------------------------------
-- The installer behind addNumbering() / dropNumbering()

CREATE FUNCTION racefree._config_error(option text, value text, message text)
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
COMMENT ON FUNCTION racefree._config_error(text, text, text) IS
  'Internal: raises RF100 (racefree configuration error) with DETAIL {"option", "value"}, which the TypeScript client maps to RacefreeConfigError.';

CREATE FUNCTION racefree._add_numbering(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $install$
#variable_conflict use_variable
DECLARE
  name text := config->>'name';
  tbl regclass;
  sch name;
  rel name;
  col name := config->>'column';
  mode text := config->>'mode';
  tz text := config->>'timeZone';
  date_col name := config->>'dateColumn';
  parts jsonb := config->'parts';
  reset text := config->>'reset';
  scope_cols name[];
  counter text;
  generator name;
  seq name;
  guc text;
  typ regtype;
  date_type regtype;
  part jsonb;
  d text;            -- expression for the numbering date (timestamp)
  period text;       -- expression for the period key
  number text;       -- expression for the formatted number
  scope_array text;  -- expression for the scope values
  added name;
  body text;
  checks text := '';
  retro record;
BEGIN
  -- Everything is checked before the first DDL statement; the migration's
  -- transaction rolls back on any error, so nothing is half-created.
  tbl := to_regclass(config->>'table');
  IF tbl IS NULL OR (SELECT relkind FROM pg_class WHERE oid = tbl) NOT IN ('r', 'p') THEN
    PERFORM racefree._config_error('table', config->>'table',
      format('addNumbering: table %s does not exist', config->>'table'));
  END IF;
  SELECT n.nspname, c.relname INTO sch, rel
    FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = tbl;

  SELECT a.atttypid::regtype INTO typ FROM pg_attribute AS a
   WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
  IF typ IS NULL THEN
    PERFORM racefree._config_error('column', col,
      format('addNumbering: column %I does not exist in table %I.%I', col, sch, rel));
  END IF;
  IF typ NOT IN ('text'::regtype, 'character varying'::regtype) THEN
    PERFORM racefree._config_error('column', col,
      format('addNumbering: column %I.%I.%I is %s; a numbered column must be text or varchar', sch, rel, col, typ));
  END IF;
  IF EXISTS (SELECT FROM pg_attrdef WHERE adrelid = tbl
              AND adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = tbl AND attname = col)) THEN
    PERFORM racefree._config_error('column', col,
      format('addNumbering: column %I.%I.%I already has a DEFAULT; drop it first so the numbering owns the column', sch, rel, col));
  END IF;

  SELECT coalesce(array_agg(p->>'column' ORDER BY o), '{}') INTO scope_cols
    FROM jsonb_array_elements(parts) WITH ORDINALITY AS e(p, o) WHERE p ? 'column';
  FOR i IN 1 .. cardinality(scope_cols) LOOP
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = tbl AND attname = scope_cols[i]
                    AND attnum > 0 AND NOT attisdropped) THEN
      PERFORM racefree._config_error('template', config->>'template',
        format('addNumbering: template token {%s} names no column of table %I.%I', scope_cols[i], sch, rel));
    END IF;
  END LOOP;

  IF date_col IS NOT NULL THEN
    SELECT a.atttypid::regtype INTO date_type FROM pg_attribute AS a
     WHERE a.attrelid = tbl AND a.attname = date_col AND a.attnum > 0 AND NOT a.attisdropped;
    IF date_type IS NULL THEN
      PERFORM racefree._config_error('dateColumn', date_col,
        format('addNumbering: dateColumn %I does not exist in table %I.%I', date_col, sch, rel));
    END IF;
    IF date_type NOT IN ('date'::regtype, 'timestamp without time zone'::regtype, 'timestamp with time zone'::regtype) THEN
      PERFORM racefree._config_error('dateColumn', date_col,
        format('addNumbering: dateColumn %I.%I.%I is %s; it must be date, timestamp or timestamptz', sch, rel, date_col, date_type));
    END IF;
  END IF;

  IF mode = 'fast' AND (reset <> 'never' OR cardinality(scope_cols) > 0 OR date_col IS NOT NULL) THEN
    PERFORM racefree._config_error('mode', mode,
      'addNumbering: mode ''fast'' cannot reset per period or scope without making concurrent inserters wait; use mode ''gapless''');
  END IF;

  BEGIN
    PERFORM now() AT TIME ZONE tz;
  EXCEPTION WHEN invalid_parameter_value THEN
    PERFORM racefree._config_error('timeZone', tz, format('addNumbering: unknown time zone %L', tz));
  END;

  counter := sch || '.' || name;
  generator := 'generate_' || name || '_number';
  IF octet_length(generator) > 63 THEN
    PERFORM racefree._config_error('name', name,
      format('addNumbering: %I is longer than 63 bytes', generator));
  END IF;
  IF EXISTS (SELECT FROM racefree.numberings AS n WHERE n.counter = counter)
     OR EXISTS (SELECT FROM pg_proc WHERE proname = generator AND pronamespace = sch::regnamespace) THEN
    PERFORM racefree._config_error('name', name,
      format('addNumbering: a numbering named %L already exists in schema %I (function %I.%I)', name, sch, sch, generator));
  END IF;
  IF EXISTS (SELECT FROM racefree.numberings AS n WHERE n.table_schema = sch AND n.table_name = rel AND n.column_name = col) THEN
    PERFORM racefree._config_error('column', col,
      format('addNumbering: column %I.%I.%I is already numbered', sch, rel, col));
  END IF;

  -- No writer may slip a row in between the retrofit scan and the new default.
  EXECUTE format('LOCK TABLE %I.%I IN SHARE ROW EXCLUSIVE MODE', sch, rel);

  -- Expressions of the generated code.
  d := CASE
    WHEN date_col IS NULL THEN format('(now() AT TIME ZONE %L)', tz)
    WHEN date_type = 'timestamp with time zone'::regtype THEN format('(NEW.%I AT TIME ZONE %L)', date_col, tz)
    ELSE format('NEW.%I::timestamp', date_col) END;
  SELECT coalesce(string_agg(format('to_char(d, %L)', p->>'date'), ' || ''-'' || ' ORDER BY o), '''''')
    INTO period FROM jsonb_array_elements(parts) WITH ORDINALITY AS e(p, o) WHERE p ? 'date';
  SELECT string_agg(CASE
      WHEN p ? 'literal' THEN format('%L', p->>'literal')
      WHEN p ? 'date' THEN format('to_char(d, %L)', p->>'date')
      WHEN p ? 'column' THEN format('NEW.%I::text', p->>'column')
      WHEN (p->>'seq')::int > 1 THEN format('lpad(n::text, greatest(%s, length(n::text)), ''0'')', (p->>'seq')::int)
      ELSE 'n::text' END, ' || ' ORDER BY o)
    INTO number FROM jsonb_array_elements(parts) WITH ORDINALITY AS e(p, o);
  SELECT 'ARRAY[' || coalesce(string_agg(format('NEW.%I::text', c), ', '), '') || ']::text[]'
    INTO scope_array FROM unnest(scope_cols) AS c;
  guc := 'racefree.n_' || md5(counter);

  IF mode = 'fast' THEN
    seq := left(name, 48) || '_number_seq';
    IF to_regclass(format('%I.%I', sch, seq)) IS NOT NULL THEN
      PERFORM racefree._config_error('name', name, format('addNumbering: relation %I.%I already exists', sch, seq));
    END IF;
    EXECUTE format('CREATE SEQUENCE %I.%I AS bigint MINVALUE 1 CACHE 1 OWNED BY %I.%I.%I', sch, seq, sch, rel, col);
    EXECUTE format('COMMENT ON SEQUENCE %I.%I IS %L', sch, seq,
      format('racefree fast numbering %s of %I.%I.%I', name, sch, rel, col));
  END IF;
  -- PL/pgSQL rather than SQL: it keeps its plans for the session, where an SQL
  -- function used as a DEFAULT is planned again on every INSERT.
  body := format($f$
DECLARE
  d timestamp := %s;
  n bigint := %s;
  v text := %s;
BEGIN
  -- Tells the explicit-number trigger that this value was generated.
  PERFORM set_config(%L, v, true);
  RETURN v;
END
$f$, d, CASE mode WHEN 'fast' THEN format('nextval(%L::regclass)', format('%I.%I', sch, seq))
                  ELSE format('racefree.next_value(%L, %s)', counter, period) END,
     number, guc);

  IF date_col IS NULL AND cardinality(scope_cols) = 0 THEN
    -- The number depends on nothing in the row: a column DEFAULT.
    EXECUTE format('CREATE FUNCTION %I.%I() RETURNS text LANGUAGE plpgsql VOLATILE AS %L',
      sch, generator, body);
    EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN %I SET DEFAULT %I.%I()', sch, rel, col, sch, generator);
    EXECUTE format($t$CREATE TRIGGER %I BEFORE INSERT ON %I.%I FOR EACH ROW
      WHEN (NEW.%I IS DISTINCT FROM current_setting(%L, true))
      EXECUTE FUNCTION racefree._numbering_explicit(%L)$t$,
      'racefree_' || left(name, 40) || '_explicit', sch, rel, col, guc, counter);
    EXECUTE format('COMMENT ON FUNCTION %I.%I() IS %L', sch, generator, format(
      'Next %s number for %I.%I.%I, formatted as %s (%s mode, %s reset, dates in %s). Used as the column DEFAULT. %s',
      name, sch, rel, col, config->>'template', mode, reset, tz,
      CASE mode WHEN 'gapless' THEN 'Locks the period''s counter row until the transaction ends: numbers are 1..n with no gaps, and a rollback returns its number.'
      ELSE 'Takes a sequence value: never waits, unique, gaps possible.' END));
  ELSE
    -- The number needs row values (scope columns or the date column): a BEFORE INSERT trigger.
    FOR i IN 1 .. cardinality(scope_cols) LOOP
      checks := checks || format($c$
  IF NEW.%I IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'not_null_violation', SCHEMA = %L, TABLE = %L, COLUMN = %L,
      MESSAGE = %L;
  END IF;$c$, scope_cols[i], sch, rel, scope_cols[i],
        format('null value in column "%s" of relation "%s" violates numbering %s: the column is part of the number''s scope',
          scope_cols[i], rel, name));
    END LOOP;
    IF date_col IS NOT NULL THEN
      checks := checks || format($c$
  IF NEW.%I IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'not_null_violation', SCHEMA = %L, TABLE = %L, COLUMN = %L,
      MESSAGE = %L;
  END IF;$c$, date_col, sch, rel, date_col,
        format('null value in column "%s" of relation "%s" violates numbering %s: the column dates the number',
          date_col, rel, name));
    END IF;
    EXECUTE format($f$CREATE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql AS %L$f$, sch, generator,
      format($b$
DECLARE
  d timestamp;
  n bigint;
BEGIN%s
  d := %s;
  IF NEW.%I IS NULL THEN
    n := racefree.next_value(%L, racefree._numbering_key(%s, %s));
    NEW.%I := %s;
  ELSE
    PERFORM racefree._numbering_advance(%L, NEW.%I, %s);
  END IF;
  RETURN NEW;
END
$b$, checks, d, col, counter, period, scope_array, col, number, counter, col, scope_array));
    EXECUTE format('CREATE TRIGGER %I BEFORE INSERT ON %I.%I FOR EACH ROW EXECUTE FUNCTION %I.%I()',
      'racefree_' || left(name, 40) || '_number', sch, rel, sch, generator);
    EXECUTE format('COMMENT ON FUNCTION %I.%I() IS %L', sch, generator, format(
      'BEFORE INSERT trigger: fills %I.%I.%I with the next %s number, formatted as %s (%s mode, %s reset, dates from %s in %s, scope %s). A row that brings its own number moves the counter past it. Locks the scope''s counter row until the transaction ends: numbers are 1..n per scope and period, and a rollback returns its number.',
      sch, rel, col, name, config->>'template', mode, reset, coalesce(date_col, 'the transaction start'), tz,
      coalesce(nullif(array_to_string(scope_cols, ', '), ''), 'none')));
  END IF;
  EXECUTE format('REVOKE ALL ON FUNCTION %I.%I() FROM PUBLIC', sch, generator);
  EXECUTE format('GRANT EXECUTE ON FUNCTION %I.%I() TO racefree_user', sch, generator);

  -- An explicit number written by UPDATE moves the counter too.
  EXECUTE format($t$CREATE TRIGGER %I BEFORE UPDATE OF %I ON %I.%I FOR EACH ROW
    WHEN (NEW.%I IS DISTINCT FROM OLD.%I)
    EXECUTE FUNCTION racefree._numbering_explicit(%L)$t$,
    'racefree_' || left(name, 40) || '_update', col, sch, rel, col, col, counter);

  -- A unique constraint makes the column's uniqueness a fact, not a hope.
  IF NOT EXISTS (
    SELECT FROM pg_index AS i
     WHERE i.indrelid = tbl AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
       AND i.indnkeyatts = 1
       AND i.indkey[0] = (SELECT attnum FROM pg_attribute WHERE attrelid = tbl AND attname = col)) THEN
    added := left(rel, 28) || '_' || left(col, 28) || '_key';
    EXECUTE format('ALTER TABLE %I.%I ADD CONSTRAINT %I UNIQUE (%I)', sch, rel, added, col);
  END IF;

  INSERT INTO racefree.numberings (counter, name, table_schema, table_name, column_name, template, parts, mode,
                                   time_zone, date_column, scope_columns, reset, generator, sequence_name, added_constraint)
  VALUES (counter, name, sch, rel, col, config->>'template', parts, mode,
          tz, date_col, scope_cols, reset, generator, seq, added);

  -- Retrofit: continue after the numbers the table already holds.
  FOR retro IN EXECUTE format(
    'SELECT p.scope, max(p.seq) AS seq FROM %I.%I AS t, LATERAL racefree._numbering_parse(%L, t.%I::text, %s) AS p GROUP BY p.scope',
    sch, rel, parts, col, replace(scope_array, 'NEW.', 't.'))
  LOOP
    IF mode = 'gapless' THEN
      INSERT INTO racefree.counters (counter, scope, value) VALUES (counter, retro.scope, retro.seq)
      ON CONFLICT ON CONSTRAINT counters_pkey DO UPDATE SET value = greatest(counters.value, excluded.value);
    ELSIF retro.seq > 0 THEN
      PERFORM setval(format('%I.%I', sch, seq)::regclass,
        greatest(retro.seq, (SELECT last_value FROM pg_sequences WHERE schemaname = sch AND sequencename = seq)));
    END IF;
  END LOOP;
END
$install$;
COMMENT ON FUNCTION racefree._add_numbering(jsonb) IS
  'Internal, called by the addNumbering() migration builder: checks the configuration (RF100 on any problem, before any DDL), then creates generate_<name>_number() as the column DEFAULT or as a BEFORE INSERT trigger, the explicit-number triggers, a unique constraint if missing, and starts the counters after the numbers already in the table.';

CREATE FUNCTION racefree._drop_numbering(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl regclass := to_regclass(config->>'table');
  r racefree.numberings;
BEGIN
  SELECT n.* INTO r FROM racefree.numberings AS n
    JOIN pg_class AS c ON c.relname = n.table_name
    JOIN pg_namespace AS s ON s.oid = c.relnamespace AND s.nspname = n.table_schema
   WHERE c.oid = tbl AND n.name = config->>'name' AND n.column_name = config->>'column';
  IF NOT FOUND THEN
    PERFORM racefree._config_error('name', config->>'name',
      format('dropNumbering: no numbering %L on column %s of table %s', config->>'name', config->>'column', config->>'table'));
  END IF;
  EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I.%I', 'racefree_' || left(r.name, 40) || '_explicit', r.table_schema, r.table_name);
  EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I.%I', 'racefree_' || left(r.name, 40) || '_number', r.table_schema, r.table_name);
  EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I.%I', 'racefree_' || left(r.name, 40) || '_update', r.table_schema, r.table_name);
  EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN %I DROP DEFAULT', r.table_schema, r.table_name, r.column_name);
  IF r.added_constraint IS NOT NULL THEN
    EXECUTE format('ALTER TABLE %I.%I DROP CONSTRAINT IF EXISTS %I', r.table_schema, r.table_name, r.added_constraint);
  END IF;
  EXECUTE format('DROP FUNCTION %I.%I()', r.table_schema, r.generator);
  IF r.sequence_name IS NOT NULL THEN
    EXECUTE format('DROP SEQUENCE IF EXISTS %I.%I', r.table_schema, r.sequence_name);
  END IF;
  DELETE FROM racefree.counters AS c WHERE c.counter = r.counter;
  DELETE FROM racefree.numberings AS n WHERE n.counter = r.counter;
END
$$;
COMMENT ON FUNCTION racefree._drop_numbering(jsonb) IS
  'Internal, called by the dropNumbering() migration builder: removes everything _add_numbering() created (function, default, triggers, sequence, the unique constraint it added) and the numbering''s counters.';

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
-- Privileges: services get the public functions through racefree_user.

REVOKE ALL ON FUNCTION racefree.next_value(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree.current_value(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._numbering_key(text, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._numbering_parse(jsonb, text, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._numbering_advance(text, text, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._numbering_explicit() FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._config_error(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._add_numbering(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._drop_numbering(jsonb) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION racefree.next_value(text, text) TO racefree_user;
GRANT EXECUTE ON FUNCTION racefree.current_value(text, text) TO racefree_user;
GRANT EXECUTE ON FUNCTION racefree._numbering_key(text, text[]) TO racefree_user;
GRANT EXECUTE ON FUNCTION racefree._numbering_advance(text, text, text[]) TO racefree_user;
GRANT SELECT ON racefree.counter_status TO racefree_user;

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
DROP VIEW racefree.counter_status;
DROP FUNCTION racefree._drop_numbering(jsonb);
DROP FUNCTION racefree._add_numbering(jsonb);
DROP FUNCTION racefree._config_error(text, text, text);
DROP FUNCTION racefree._numbering_explicit();
DROP FUNCTION racefree._numbering_advance(text, text, text[]);
DROP FUNCTION racefree._numbering_parse(jsonb, text, text[]);
DROP FUNCTION racefree._numbering_key(text, text[]);
DROP FUNCTION racefree.current_value(text, text);
DROP FUNCTION racefree.next_value(text, text);
DROP TABLE racefree.numberings;
DROP TABLE racefree.counters;
