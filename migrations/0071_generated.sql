-- racefree kit migration 0071: generated code (generator 7: a gapless numbering with column tokens renders the JSON of the constant side of its counter's scope once, when it generates the code, instead of calling to_json for it in every insert; its upsert_<t>_many types its empty arrays; a fast DEFAULT names everything it calls qualified, since the planner parses it under the inserting session's search_path).
-- A frozen copy of sql/generated.sql as released; change behaviour with a new migration.

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
-- racefree generated code: the registry of what the builders created, the
-- generators that render it, and the routine that re-renders it.
--
-- Applied after every other sql/ file, and written to run again: every kit
-- migration that changes a generator is a frozen copy of this file, and its
-- last statement, racefree_internal._regenerate_all(), rewrites every registered
-- function from its registry entry in the migration's own transaction. A
-- database migrated with an older kit and a fresh one built from the same
-- user migrations then hold byte-identical generated functions.
--
-- Generated code is rendered from named parts with format('%I' / '%L');
-- nothing is edited as text afterwards, so defaults, predicates and names
-- reach the generated functions byte for byte.

-- ---------------------------------------------------------------------------
-- The registry

CREATE TABLE IF NOT EXISTS racefree.registry (
  id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  builder           text        NOT NULL CHECK (builder IN ('addNumbering', 'addUniqueKey', 'addUpsert')),
  table_schema      name        NOT NULL,
  table_name        name        NOT NULL,
  name              text        NOT NULL,
  config            jsonb       NOT NULL,
  description       jsonb,
  generator_version integer     NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  regenerated_at    timestamptz,
  UNIQUE (builder, table_schema, table_name, name)
);
COMMENT ON TABLE racefree.registry IS
  'One row per builder call (addNumbering, addUniqueKey, addUpsert): its table, name, the configuration as given, the description the generator renders from (captured when the builder ran), and the generator version of its code. Drop, doctor and regeneration read it.';

CREATE TABLE IF NOT EXISTS racefree.registry_objects (
  registry_id   bigint NOT NULL REFERENCES racefree.registry (id) ON DELETE CASCADE,
  object_type   text   NOT NULL CHECK (object_type IN ('function', 'trigger', 'type', 'sequence', 'index', 'constraint')),
  object_schema name   NOT NULL,
  object_name   name   NOT NULL,
  arguments     text   NOT NULL DEFAULT '',
  PRIMARY KEY (registry_id, object_type, object_schema, object_name, arguments)
);
COMMENT ON TABLE racefree.registry_objects IS
  'Every object a registered builder call created: functions (arguments = their identity arguments), triggers and constraints (on the entry''s table), types, sequences and indexes, by exact name.';

CREATE OR REPLACE FUNCTION racefree_internal._generator_version()
RETURNS integer
LANGUAGE sql IMMUTABLE
AS $$ SELECT 7 $$;
COMMENT ON FUNCTION racefree_internal._generator_version() IS
  'Internal: the version of the kit''s generators. A kit migration that changes generated code raises it and ends with racefree_internal._regenerate_all(). Version 1 is the code of kit migrations 0002 and 0003, version 2 that of 0005, version 3 that of 0051; version 4 (0060) fills every gapless numbering by a BEFORE INSERT trigger; version 5 (0061) calls the internals in racefree_internal; version 6 (0070) checks a fast DEFAULT''s explicit numbers in a generated PL/pgSQL trigger, racefree_<name>_explicit(), instead of a trigger WHEN clause; version 7 (0071) renders the JSON of a gapless scope''s constant side once, at generation, instead of in every insert, and qualifies every name a fast DEFAULT calls.';

CREATE OR REPLACE FUNCTION racefree_internal._cut_to_fit(base text, suffix text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  -- The longest beginning of base, cut by characters (never inside one), that
  -- leaves room for suffix in a name.
  SELECT left(base, n) || suffix
    FROM generate_series(length(base), 0, -1) AS n
   WHERE octet_length(left(base, n) || suffix) <= 63
   ORDER BY n DESC
   LIMIT 1
$$;
COMMENT ON FUNCTION racefree_internal._cut_to_fit(text, text) IS
  'Internal: base cut by characters to fit 63 bytes with suffix after it, then suffix: the one cutting rule of racefree_internal._object_name and racefree_internal._unique_key_name (and of cutToFit in the TypeScript builders, which must name what CREATE INDEX CONCURRENTLY builds).';

CREATE OR REPLACE FUNCTION racefree_internal._object_name(base text, suffix text)
RETURNS name
LANGUAGE sql IMMUTABLE
AS $$
  -- Too long for a name: cut, and kept distinct from other cut names by a hash of the whole name.
  SELECT CASE WHEN octet_length(base || suffix) <= 63 THEN base || suffix
              ELSE racefree_internal._cut_to_fit(base, '_' || left(md5(base || suffix), 8) || suffix) END
$$;
COMMENT ON FUNCTION racefree_internal._object_name(text, text) IS
  'Internal: the name base || suffix when it fits in 63 bytes; otherwise base cut to fit with 8 hex digits of md5(base || suffix) before the suffix, so names that share a long beginning stay distinct. Only the builders call it; drop and doctor read names from racefree.registry_objects.';

CREATE OR REPLACE FUNCTION racefree_internal._register(builder text, tbl regclass, name text, config jsonb, description jsonb, objects jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  id bigint;
BEGIN
  INSERT INTO racefree.registry AS r (builder, table_schema, table_name, name, config, description, generator_version)
  SELECT _register.builder, n.nspname, c.relname, _register.name, _register.config, _register.description,
         racefree_internal._generator_version()
    FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
   WHERE c.oid = tbl
  RETURNING r.id INTO id;
  INSERT INTO racefree.registry_objects (registry_id, object_type, object_schema, object_name, arguments)
  SELECT id, o->>'type', o->>'schema', o->>'name', coalesce(o->>'arguments', '')
    FROM jsonb_array_elements(objects) AS o;
END
$$;
COMMENT ON FUNCTION racefree_internal._register(text, regclass, text, jsonb, jsonb, jsonb) IS
  'Internal: records a builder call in racefree.registry with the current generator version, and the objects it created (a JSON array of {type, schema, name, arguments}) in racefree.registry_objects.';

CREATE OR REPLACE FUNCTION racefree_internal._registered(builder text, tbl regclass, name text)
RETURNS racefree.registry
LANGUAGE sql STABLE
AS $$
  SELECT r.*
    FROM racefree.registry AS r
    JOIN pg_catalog.pg_class AS c ON c.relname = r.table_name
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace AND n.nspname = r.table_schema
   WHERE c.oid = _registered.tbl AND r.builder = _registered.builder AND r.name = _registered.name
$$;
COMMENT ON FUNCTION racefree_internal._registered(text, regclass, text) IS
  'Internal: the registry entry of a builder call on a table by its name; all columns NULL when there is none.';

CREATE OR REPLACE FUNCTION racefree_internal._drop_registered(entry racefree.registry)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  o racefree.registry_objects;
  tbl text := format('%I.%I', entry.table_schema, entry.table_name);
BEGIN
  -- Triggers and constraints first, then what they use.
  FOR o IN SELECT * FROM racefree.registry_objects AS x WHERE x.registry_id = entry.id
            ORDER BY array_position(ARRAY['trigger', 'constraint', 'index', 'function', 'type', 'sequence'], x.object_type), x.object_name LOOP
    EXECUTE CASE o.object_type
      WHEN 'trigger' THEN format('DROP TRIGGER %I ON %s', o.object_name, tbl)
      WHEN 'constraint' THEN format('ALTER TABLE %s DROP CONSTRAINT %I', tbl, o.object_name)
      WHEN 'index' THEN format('DROP INDEX %I.%I', o.object_schema, o.object_name)
      WHEN 'function' THEN format('DROP FUNCTION %I.%I(%s)', o.object_schema, o.object_name, o.arguments)
      WHEN 'type' THEN format('DROP TYPE %I.%I', o.object_schema, o.object_name)
      WHEN 'sequence' THEN format('DROP SEQUENCE %I.%I', o.object_schema, o.object_name) END;
  END LOOP;
  DELETE FROM racefree.registry AS r WHERE r.id = entry.id;
END
$$;
COMMENT ON FUNCTION racefree_internal._drop_registered(racefree.registry) IS
  'Internal: drops every object racefree.registry_objects lists for the entry (triggers and constraints first) and removes the entry.';

CREATE OR REPLACE FUNCTION racefree_internal._partition_key_missing(tbl regclass, cols name[])
RETURNS text
LANGUAGE sql STABLE
AS $$
  -- A unique key on a partitioned table must contain every partition key column.
  SELECT string_agg(CASE WHEN k.attnum = 0 THEN 'an expression' ELSE format('%I', a.attname) END, ', ' ORDER BY k.o)
    FROM pg_catalog.pg_partitioned_table AS p,
         unnest(p.partattrs::int2[]) WITH ORDINALITY AS k (attnum, o)
    LEFT JOIN pg_catalog.pg_attribute AS a ON a.attrelid = _partition_key_missing.tbl AND a.attnum = k.attnum
   WHERE p.partrelid = _partition_key_missing.tbl AND (k.attnum = 0 OR a.attname <> ALL (cols))
$$;
COMMENT ON FUNCTION racefree_internal._partition_key_missing(regclass, name[]) IS
  'Internal: for a partitioned table, the partition key columns a unique key on cols lacks (PostgreSQL requires them all); NULL when none is missing or the table is not partitioned.';

-- ---------------------------------------------------------------------------
-- Numbering: reading numbers back, and the explicit-number triggers
--
-- A number is prefix || seq || suffix, each side rendered from its parts. The
-- counter's scope is that rendered rest of the number: the period (date
-- tokens joined by '-') when the template has no column token, since the
-- rest is then a function of the period alone; otherwise the JSON array
-- [prefix, suffix]. The template rules (column tokens on one side of {seq}
-- only, separated from it by literal text with a non-digit) make the split of
-- a number into prefix, seq and suffix unique, so two rows can be handed the
-- same number only by the same counter, which never hands out a value twice.

CREATE OR REPLACE FUNCTION racefree_internal._numbering_scope_json(prefix_json text, suffix_json text)
RETURNS text
LANGUAGE sql IMMUTABLE
-- The text of jsonb_build_array(prefix, suffix) from the JSON of each side.
-- SQL, so the planner inlines it; the parentheses let it fold a constant
-- suffix (a number ending in {seq}) into one literal.
AS $$ SELECT '[' || prefix_json || (', ' || suffix_json || ']') $$;
COMMENT ON FUNCTION racefree_internal._numbering_scope_json(text, text) IS
  'Internal: the layout of a counters.scope with column tokens, a JSON array of the text before and after {seq}, from the JSON (to_json) of each side.';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_scope(prefix text, suffix text)
RETURNS text
LANGUAGE sql STABLE
-- to_json escapes as jsonb_build_array does; inlined into the generated code.
AS $$ SELECT racefree_internal._numbering_scope_json(to_json(prefix)::text, to_json(suffix)::text) $$;
COMMENT ON FUNCTION racefree_internal._numbering_scope(text, text) IS
  'Internal: the counters.scope of a numbering whose template has column tokens: the rendered text before and after {seq}, as a JSON array (unambiguous whatever the text holds).';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_scope_source(prefix text, suffix text)
RETURNS text
LANGUAGE sql STABLE
-- A side with no row value and no date is the same for every row: its JSON
-- is rendered once, here, instead of by every insert (to_json looks up its
-- type's output function at each call).
AS $$
  SELECT format('racefree_internal._numbering_scope_json(%s, %s)',
    CASE WHEN prefix IS NULL THEN 'pg_catalog.to_json(prefix)::text' ELSE quote_literal(to_json(prefix)::text) END,
    CASE WHEN suffix IS NULL THEN 'pg_catalog.to_json(suffix)::text' ELSE quote_literal(to_json(suffix)::text) END)
$$;
COMMENT ON FUNCTION racefree_internal._numbering_scope_source(text, text) IS
  'Internal: the SQL expression of a generated trigger''s counters.scope (the value racefree_internal._numbering_scope gives): prefix and suffix are the constant text of that side of {seq}, or NULL for a side holding row values or dates, which the expression reads from the variable of that name.';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_part_pattern(part jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  -- [0-9], not \d, which matches other scripts' digits that ::bigint rejects:
  -- such a number is outside the format, as any other text is.
  SELECT CASE
    WHEN part ? 'literal' THEN regexp_replace(part->>'literal', '([.^$*+?()\[\]{}|\\-])', '\\\1', 'g')
    WHEN part ? 'date' THEN CASE part->>'date' WHEN 'YYYY' THEN '[0-9]{4}' ELSE '[0-9]{2}' END
    WHEN part ? 'column' THEN '.*'
    ELSE '[0-9]{1,18}' END
$$;
COMMENT ON FUNCTION racefree_internal._numbering_part_pattern(jsonb) IS
  'Internal: the regular expression of one template part (a literal escaped, a date token''s ASCII digits, a column token''s any text, {seq}''s 1 to 18 ASCII digits): the one rendering of a template into a regex, for racefree_internal._numbering_parse and racefree_internal._numbering_highest.';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_parse(parts jsonb, number text)
RETURNS TABLE (scope text, seq bigint)
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  pattern text := '';
  part jsonb;
  i int;
  m text[];
  seq_at int;
  prefix text := '';
  suffix text := '';
  periods text[] := '{}'::text[];
  has_columns boolean := false;
BEGIN
  -- One group per part, in order.
  FOR part, i IN SELECT e, o FROM jsonb_array_elements(parts) WITH ORDINALITY AS x (e, o) LOOP
    pattern := pattern || '(' || racefree_internal._numbering_part_pattern(part) || ')';
    IF part ? 'seq' THEN
      seq_at := i;
    END IF;
  END LOOP;
  m := regexp_match(number, '^' || pattern || '$');
  IF m IS NULL THEN
    RETURN;
  END IF;
  FOR part, i IN SELECT e, o FROM jsonb_array_elements(parts) WITH ORDINALITY AS x (e, o) LOOP
    IF i < seq_at THEN
      prefix := prefix || m[i];
    ELSIF i > seq_at THEN
      suffix := suffix || m[i];
    END IF;
    IF part ? 'date' THEN
      periods := periods || m[i];
    ELSIF part ? 'column' THEN
      has_columns := true;
    END IF;
  END LOOP;
  seq := m[seq_at]::bigint;
  scope := CASE WHEN has_columns THEN racefree_internal._numbering_scope(prefix, suffix) ELSE array_to_string(periods, '-') END;
  RETURN NEXT;
END
$$;
COMMENT ON FUNCTION racefree_internal._numbering_parse(jsonb, text) IS
  'Internal: reads a number back into (counter scope, sequence value) by the template parts alone; no row when it is not in the template''s format. The template rules make the split unique, so this is the scope and value that would generate exactly this text.';

CREATE OR REPLACE FUNCTION racefree_internal._sequence_advance(seq regclass, target bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  -- A sequence not yet used hands out last_value itself next. Read by a query
  -- (ACCESS SHARE), not pg_sequence_last_value(), whose ROW EXCLUSIVE lock
  -- stays until commit: taken before the ALTER below, two single-row inserts
  -- bringing numbers would wait for each other (a deadlock).
  read_last text := format('SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM %s', seq);
  last bigint;
BEGIN
  EXECUTE read_last INTO last;
  IF target <= last THEN
    RETURN;
  END IF;
  -- Read and set with nextval() held off, so the sequence never moves back
  -- past numbers handed out in between. ALTER SEQUENCE takes that lock
  -- (OWNED BY, the one option that does not rewrite the sequence); the block
  -- then undoes itself (RF191), which lets go of the lock at once instead of
  -- at commit, and undoes the ALTER, but not setval, which no rollback undoes.
  BEGIN
    EXECUTE format('ALTER SEQUENCE %s OWNED BY NONE', seq);
    EXECUTE read_last INTO last;
    IF target > last THEN
      PERFORM pg_catalog.setval(seq, target);
    END IF;
    RAISE SQLSTATE 'RF191';
  EXCEPTION WHEN SQLSTATE 'RF191' THEN
    NULL;
  END;
END
$$;
COMMENT ON FUNCTION racefree_internal._sequence_advance(regclass, bigint) IS
  'Internal: moves a fast numbering''s sequence past target, never back. Holds off nextval() only while it reads and sets the sequence: the lock (taken by an ALTER SEQUENCE that never commits) is released when its block rolls itself back with the private SQLSTATE RF191, which setval survives; nothing is rewritten, so a bulk load of explicit numbers costs one short lock per number ahead of the sequence. A move leaves the transaction holding the sequence''s ROW EXCLUSIVE lock, as nextval() does (setval takes it until commit), which a later move by another transaction waits for.';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_advance(counter text, number text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r racefree.numberings;
  p record;
BEGIN
  SELECT * INTO r FROM racefree.numberings AS n WHERE n.counter = _numbering_advance.counter;
  IF NOT FOUND OR number IS NULL THEN
    RETURN;
  END IF;
  SELECT * INTO p FROM racefree_internal._numbering_parse(r.parts, number);
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
    PERFORM racefree_internal._sequence_advance(format('%I.%I', r.table_schema, r.sequence_name)::regclass, p.seq);
  END IF;
END
$$;
COMMENT ON FUNCTION racefree_internal._numbering_advance(text, text) IS
  'Internal: moves a numbering''s counter past an explicitly written number (the scope the number''s own text names), so later generated numbers never collide with it. Gapless: locks the counter row. Fast: moves the sequence (racefree_internal._sequence_advance) when the number is ahead of it.';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_explicit()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r racefree.numberings;
  number text;
BEGIN
  SELECT * INTO r FROM racefree.numberings AS n WHERE n.counter = TG_ARGV[0];
  EXECUTE format('SELECT ($1).%I::text', r.column_name) INTO number USING NEW;
  PERFORM racefree_internal._numbering_advance(r.counter, number);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION racefree_internal._numbering_explicit() IS
  'Internal trigger (argument: the numbering''s counter): fires only when a row brings its own number (on UPDATE, during an online retrofit before it generates, and, before generator 6, beside a fast numbering''s DEFAULT), and moves the counter past it.';

-- In schema racefree, like racefree._idempotency_claim: the generated
-- explicit-number trigger calls it by name as the inserting role, which has
-- no way into racefree_internal.
CREATE OR REPLACE FUNCTION racefree._numbering_explicit_advance(counter text, number text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r racefree.numberings;
  p record;
  tbl regclass;
  refused text := format('racefree._numbering_explicit_advance(%L): only a row written to the table of a fast numbering moves its sequence', counter);
BEGIN
  SELECT * INTO r FROM racefree.numberings AS n WHERE n.counter = _numbering_explicit_advance.counter;
  IF r.counter IS NULL OR NOT racefree_internal._numbering_inline(r.mode, r.date_column, r.scope_columns) THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE = refused,
      HINT = 'Write the number with its row: the table''s trigger moves the sequence.';
  END IF;
  -- A number outside the format moves nothing: known before the costlier
  -- check below.
  SELECT * INTO p FROM racefree_internal._numbering_parse(r.parts, number);
  IF p.seq IS NULL THEN
    RETURN;
  END IF;
  -- Callable by racefree_user outside the trigger too, so it asks for what an
  -- explicit number gives anyway: a transaction that holds the lock every
  -- write of the table takes (of one of its partitions, for a row written to
  -- the partition directly; the tree of a table that is not partitioned is empty).
  tbl := pg_catalog.to_regclass(format('%I.%I', r.table_schema, r.table_name));
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_locks AS l
                  WHERE l.locktype = 'relation' AND l.pid = pg_catalog.pg_backend_pid() AND l.granted
                    AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = pg_catalog.current_database())
                    AND (l.relation = tbl OR l.relation IN (SELECT t.relid FROM pg_catalog.pg_partition_tree(tbl) AS t))
                    AND l.mode = 'RowExclusiveLock') THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE = refused,
      HINT = 'Write the number with its row: the table''s trigger moves the sequence.';
  END IF;
  PERFORM racefree_internal._sequence_advance(format('%I.%I', r.table_schema, r.sequence_name)::regclass, p.seq);
END
$$;
COMMENT ON FUNCTION racefree._numbering_explicit_advance(text, text) IS
  'Internal, called by the explicit-number trigger racefree_<name>_explicit() of a fast numbering without row values: moves the numbering''s sequence past a number a row brought itself (racefree_internal._sequence_advance), as the kit''s owner. Refuses (42501) any other numbering, and a transaction that is not writing the numbered table; a number outside the format moves nothing and is not checked further.';

-- ---------------------------------------------------------------------------
-- Numbering: the generator

CREATE OR REPLACE FUNCTION racefree_internal._numbering_inline(mode text, date_column name, scope_columns name[])
RETURNS boolean
LANGUAGE sql IMMUTABLE
-- A column DEFAULT is callable on its own, without inserting: only fast mode,
-- which allows gaps, may take its numbers that way.
AS $$ SELECT mode = 'fast' AND date_column IS NULL AND cardinality(scope_columns) = 0 $$;
COMMENT ON FUNCTION racefree_internal._numbering_inline(text, name, name[]) IS
  'Internal: whether a numbering is an SQL column DEFAULT the planner inlines (fast mode, no date column, no scope columns), with an explicit-number trigger beside it; every other numbering, every gapless one among them, is a BEFORE INSERT trigger, so its numbers are taken only by inserting.';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_hook_name(name text, inline boolean)
RETURNS name
LANGUAGE sql IMMUTABLE
AS $$ SELECT racefree_internal._object_name('racefree_' || name, CASE WHEN inline THEN '_explicit' ELSE '_number' END) $$;
COMMENT ON FUNCTION racefree_internal._numbering_hook_name(text, boolean) IS
  'Internal: the name of a numbering''s BEFORE INSERT trigger: racefree_<name>_explicit beside an inlined DEFAULT, racefree_<name>_number for the generator trigger (cut to 63 bytes by racefree_internal._object_name).';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_marker(counter text)
RETURNS text
LANGUAGE sql IMMUTABLE
-- Short: the trigger reads it for every row, and a longer name costs more
-- there; 48 bits of the counter's hash tell a database's numberings apart.
AS $$ SELECT 'racefree.n' || left(md5(counter), 12) $$;
COMMENT ON FUNCTION racefree_internal._numbering_marker(text) IS
  'Internal: the name of the transaction-local setting in which a fast numbering''s DEFAULT leaves the number it generated, for its explicit-number trigger to tell that number from one that came with the row: racefree.n and 12 hex digits of the counter''s md5.';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_digits(width int, n text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  -- At least width digits, never truncated (lpad would cut 1000 to 100), and
  -- n evaluated once, so it may be nextval() in a plain SQL expression.
  -- Qualified: the fast DEFAULT runs under the inserting session's search_path.
  SELECT CASE WHEN width > 1 THEN format('pg_catalog.translate(pg_catalog.format(%L, %s), '' '', ''0'')', '%' || width || 's', n)
              ELSE format('%s::pg_catalog.text', n) END
$$;
COMMENT ON FUNCTION racefree_internal._numbering_digits(int, text) IS
  'Internal: the SQL expression of {seq:width} for the number expression n: at least width digits, zero-padded, growing past them, n evaluated once.';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_source(r racefree.numberings)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  tbl regclass := to_regclass(format('%I.%I', r.table_schema, r.table_name));
  -- Fast and without row values: a plain SQL expression, inlined into the INSERT.
  inline boolean := racefree_internal._numbering_inline(r.mode, r.date_column, r.scope_columns);
  dated boolean := jsonb_path_exists(r.parts, '$[*].date');
  date_type regtype;
  seq_at int;
  width int;
  d text;            -- the numbering date (timestamp)
  dv text;           -- what date tokens read: the variable d, or the expression itself when inlined
  period text;       -- the period key
  prefix text;       -- the number before {seq}
  suffix text;       -- the number after {seq}
  prefix_text text;  -- the text before {seq} when it is the same for every row, else NULL
  suffix_text text;  -- the same after {seq}
  scope text;        -- the statements computing the scope's variable sides
  scope_expr text;   -- the counter's scope, when the template has column tokens
  checks text := '';
  marker text := racefree_internal._numbering_marker(r.counter);
  -- How the parts of a number are joined: qualified in the inlined DEFAULT
  -- (the inserting session's search_path), plain in a trigger (pinned).
  cat text := CASE WHEN inline THEN ' OPERATOR(pg_catalog.||) ' ELSE ' || ' END;
  c name;
  -- Names as a JSON string: one line, whatever they hold.
  header text := format(E'-- Generated by racefree addNumbering() (generator %s) for %s.\n', racefree_internal._generator_version(),
                        to_jsonb(format('%I.%I.%I', r.table_schema, r.table_name, r.column_name)));
  -- The counter's next value, bound to this numbering's own counter.
  -- (indent, counter, scope expression)
  take text := $t$
%1$sINSERT INTO racefree.counters AS c (counter, scope, value)
%1$sVALUES (%2$L, %3$s, 1)
%1$sON CONFLICT ON CONSTRAINT counters_pkey
%1$sDO UPDATE SET value = c.value + 1, updated_at = now()
%1$sRETURNING c.value INTO n;$t$;
BEGIN
  IF r.date_column IS NOT NULL THEN
    SELECT a.atttypid::regtype INTO date_type FROM pg_catalog.pg_attribute AS a
     WHERE a.attrelid = tbl AND a.attname = r.date_column AND a.attnum > 0 AND NOT a.attisdropped;
  END IF;
  d := CASE
    WHEN r.date_column IS NULL THEN format('(pg_catalog.now() AT TIME ZONE %L)', r.time_zone)
    WHEN date_type = 'timestamp with time zone'::regtype THEN format('(NEW.%I AT TIME ZONE %L)', r.date_column, r.time_zone)
    ELSE format('NEW.%I::timestamp', r.date_column) END;
  dv := CASE WHEN inline THEN d ELSE 'd' END;
  SELECT o INTO seq_at FROM jsonb_array_elements(r.parts) WITH ORDINALITY AS e (p, o) WHERE p ? 'seq';
  width := (r.parts->(seq_at - 1)->>'seq')::int;
  SELECT coalesce(string_agg(format('pg_catalog.to_char(%s, %L)', dv, p->>'date'), ' || ''-'' || ' ORDER BY o), '''''')
    INTO period FROM jsonb_array_elements(r.parts) WITH ORDINALITY AS e (p, o) WHERE p ? 'date';
  SELECT coalesce(string_agg(x.expr, cat ORDER BY x.o) FILTER (WHERE x.o < seq_at), ''''''),
         coalesce(string_agg(x.expr, cat ORDER BY x.o) FILTER (WHERE x.o > seq_at), ''''''),
         CASE WHEN bool_and(x.literal IS NOT NULL) FILTER (WHERE x.o < seq_at) IS NOT FALSE
              THEN coalesce(string_agg(x.literal, '' ORDER BY x.o) FILTER (WHERE x.o < seq_at), '') END,
         CASE WHEN bool_and(x.literal IS NOT NULL) FILTER (WHERE x.o > seq_at) IS NOT FALSE
              THEN coalesce(string_agg(x.literal, '' ORDER BY x.o) FILTER (WHERE x.o > seq_at), '') END
    INTO prefix, suffix, prefix_text, suffix_text
    FROM (SELECT o, p->>'literal' AS literal, CASE
                 WHEN p ? 'literal' THEN format('%L', p->>'literal')
                 WHEN p ? 'date' THEN format('pg_catalog.to_char(%s, %L)', dv, p->>'date')
                 ELSE format('NEW.%I::text', p->>'column') END AS expr
            FROM jsonb_array_elements(r.parts) WITH ORDINALITY AS e (p, o) WHERE NOT p ? 'seq') AS x;

  IF inline THEN
    -- SQL, so the planner inlines it into the INSERT: as cheap as a
    -- hand-written DEFAULT expression. set_config returns the number, and
    -- tells the explicit-number trigger that it was generated. Every name is
    -- qualified: the planner parses it under the inserting session's
    -- search_path, which must not choose what it calls.
    RETURN header || format('SELECT pg_catalog.set_config(%L, %s, true)', marker,
      concat_ws(cat, nullif(prefix, ''''''),
                racefree_internal._numbering_digits(width, format('pg_catalog.nextval(%L::pg_catalog.regclass)', format('%I.%I', r.table_schema, r.sequence_name))),
                nullif(suffix, '''''')));
  END IF;

  -- A BEFORE INSERT trigger: it sees the row (scope columns, the date
  -- column), and, unlike a DEFAULT, cannot be called without inserting, so a
  -- gapless number is taken only by a row that may be inserted.
  FOREACH c IN ARRAY r.scope_columns LOOP
    checks := checks || format($c$
  IF NEW.%I IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'not_null_violation', SCHEMA = %L, TABLE = %L, COLUMN = %L,
      MESSAGE = %L;
  END IF;$c$, c, r.table_schema, r.table_name, c,
      format('null value in column "%s" of relation "%s" violates numbering %s: the column is part of the number''s scope',
        c, r.table_name, r.name));
  END LOOP;
  IF r.date_column IS NOT NULL THEN
    checks := checks || format($c$
  IF NEW.%I IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'not_null_violation', SCHEMA = %L, TABLE = %L, COLUMN = %L,
      MESSAGE = %L;
  END IF;$c$, r.date_column, r.table_schema, r.table_name, r.date_column,
      format('null value in column "%s" of relation "%s" violates numbering %s: the column dates the number',
        r.date_column, r.table_name, r.name));
  END IF;
  IF dated THEN
    checks := checks || format(E'\n  d := %s;', d);
  END IF;
  IF r.date_column IS NOT NULL THEN
    -- Date tokens are fixed-width (a 4-digit year), which keeps numbers unambiguous.
    checks := checks || format($y$
  IF d >= '10000-01-01' THEN
    RAISE EXCEPTION USING ERRCODE = 'datetime_field_overflow', COLUMN = %L,
      MESSAGE = %L;
  END IF;$y$, r.date_column, format('numbering %s dates numbers by years of 4 digits; %s is past 9999', r.name, r.date_column));
  END IF;
  IF cardinality(r.scope_columns) > 0 AND r.mode = 'gapless' THEN
    -- The rendered rest of the number is the scope: a side that varies is
    -- computed once, into a variable; a constant side stays a literal.
    scope := concat(CASE WHEN prefix_text IS NULL THEN format(E'\n    prefix := %s;', prefix) END,
                    CASE WHEN suffix_text IS NULL THEN format(E'\n    suffix := %s;', suffix) END);
    scope_expr := racefree_internal._numbering_scope_source(prefix_text, suffix_text);
    prefix := CASE WHEN prefix_text IS NULL THEN 'prefix' ELSE prefix END;
    suffix := CASE WHEN suffix_text IS NULL THEN 'suffix' ELSE suffix END;
  END IF;
  RETURN header || format($b$%sBEGIN%s
  IF NEW.%I IS NULL THEN%s
    NEW.%I := %s;
  ELSE
    PERFORM racefree_internal._numbering_advance(%L, NEW.%I);
  END IF;
  RETURN NEW;
END
$b$,
     'DECLARE' || nullif(concat(CASE WHEN dated THEN E'\n  d timestamp;' END,
                                CASE WHEN r.mode = 'gapless' THEN E'\n  n bigint;' END,
                                CASE WHEN scope_expr IS NOT NULL AND prefix_text IS NULL THEN E'\n  prefix text;' END,
                                CASE WHEN scope_expr IS NOT NULL AND suffix_text IS NULL THEN E'\n  suffix text;' END), '') || E'\n',
     checks, r.column_name,
     CASE WHEN r.mode = 'gapless'
          THEN concat(scope, format(take, '    ', r.counter, coalesce(scope_expr, period)))
          ELSE '' END,
     r.column_name,
     concat_ws(' || ', nullif(prefix, ''''''),
               racefree_internal._numbering_digits(width, CASE WHEN r.mode = 'gapless' THEN 'n'
                 ELSE format('nextval(%L::regclass)', format('%I.%I', r.table_schema, r.sequence_name)) END),
               nullif(suffix, '''''')),
     r.counter, r.column_name);
END
$$;
COMMENT ON FUNCTION racefree_internal._numbering_source(racefree.numberings) IS
  'Internal: the source of a numbering''s generate_<name>_number(), rendered from its racefree.numberings row with its counter (gapless) or sequence (fast) as constants: in fast mode without row values an SQL DEFAULT the planner inlines (racefree_internal._numbering_inline); else, every gapless numbering among them, a BEFORE INSERT trigger function.';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_explicit_source(r racefree.numberings)
RETURNS text
LANGUAGE sql STABLE
AS $src$
  -- Not SECURITY DEFINER: its pinned search_path would cost the hot path a
  -- GUC change per row (an eighth of a fast insert's server time). So it runs
  -- as the inserting role, names everything qualified, and only the rare
  -- explicit number reaches the owner's rights, through a function that
  -- checks its caller (racefree._numbering_explicit_advance).
  SELECT format(E'-- Generated by racefree addNumbering() (generator %s) for %s: the explicit-number trigger beside the DEFAULT.\n', racefree_internal._generator_version(),
                to_jsonb(format('%I.%I.%I', r.table_schema, r.table_name, r.column_name)))
      || format($b$BEGIN
  -- The DEFAULT left its number in %2$s; any other value came with the row.
  IF pg_catalog.texteq(NEW.%1$I, pg_catalog.current_setting(%2$L, true)) IS NOT TRUE THEN
    PERFORM racefree._numbering_explicit_advance(%3$L, NEW.%1$I);
  END IF;
  RETURN NEW;
END
$b$, r.column_name, racefree_internal._numbering_marker(r.counter), r.counter)
$src$;
COMMENT ON FUNCTION racefree_internal._numbering_explicit_source(racefree.numberings) IS
  'Internal: the source of the BEFORE INSERT trigger function racefree_<name>_explicit() beside a fast numbering''s inlined DEFAULT (racefree_internal._numbering_inline): it compares the row''s number with the one the DEFAULT generated in this transaction (a transaction-local setting), and passes any other to racefree._numbering_explicit_advance. PL/pgSQL running as the inserting role, every name qualified: its check costs a compared string, not a trigger WHEN clause parsed again in every statement.';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_install(r racefree.numberings, replace boolean)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  inline boolean := racefree_internal._numbering_inline(r.mode, r.date_column, r.scope_columns);
  explicit name := racefree_internal._numbering_hook_name(r.name, true);
BEGIN
  -- The counter is written by the generated code itself, as the numbering's
  -- owner: inserting roles need no privilege on racefree.counters. The fast
  -- DEFAULT is plain SQL so the planner can inline it (SECURITY DEFINER
  -- would forbid that): inserting roles use its sequence (granted below).
  EXECUTE format('CREATE %sFUNCTION %I.%I() RETURNS %s AS %L',
    CASE WHEN replace THEN 'OR REPLACE ' ELSE '' END, r.table_schema, r.generator,
    CASE WHEN inline THEN 'text LANGUAGE sql VOLATILE'
         ELSE 'trigger LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp' END,
    racefree_internal._numbering_source(r));
  EXECUTE format('COMMENT ON FUNCTION %I.%I() IS %L', r.table_schema, r.generator, CASE WHEN inline THEN format(
      'Next %s number for %I.%I.%I, formatted as %s (%s mode, %s reset, dates in %s). Used as the column DEFAULT. %s',
      r.name, r.table_schema, r.table_name, r.column_name, r.template, r.mode, r.reset, r.time_zone,
      'Takes a sequence value: never waits, unique, gaps possible; the count goes on across periods (dates are a label).')
    ELSE format(
      'BEFORE INSERT trigger: fills %I.%I.%I with the next %s number, formatted as %s (%s mode, %s reset, dates from %s in %s, scope %s). A row that brings its own number moves the counter past it. %s',
      r.table_schema, r.table_name, r.column_name, r.name, r.template, r.mode, r.reset, coalesce(r.date_column, 'the transaction start'),
      r.time_zone, coalesce(nullif(array_to_string(r.scope_columns, ', '), ''), 'none'),
      CASE r.mode WHEN 'gapless' THEN 'Locks the scope''s counter row until the transaction ends: numbers are 1..n per scope and period, and a rollback returns its number. Numbers are taken only by inserting (a trigger function cannot be called on its own); racefree.next_value takes one by name (racefree_admin).'
      ELSE 'Takes a value of the numbering''s one sequence: never waits, unique, gaps possible; the count goes on across periods and scopes (dates and column values are a label).' END) END);
  EXECUTE format('REVOKE ALL ON FUNCTION %I.%I() FROM PUBLIC', r.table_schema, r.generator);
  -- A trigger function needs no EXECUTE to fire; granted anyway, so that a
  -- service calling it directly is told it is a trigger (0A000), not to ask
  -- for a grant that would not help.
  EXECUTE format('GRANT EXECUTE ON FUNCTION %I.%I() TO racefree_user', r.table_schema, r.generator);
  -- The fast DEFAULT is inlined into the INSERT (no SECURITY DEFINER), so the
  -- inserting role calls nextval itself: racefree_user may, which lets it
  -- skip numbers of a fast numbering (gaps, which fast mode allows), never
  -- reset or read them back.
  IF r.sequence_name IS NOT NULL THEN
    EXECUTE format('GRANT USAGE ON SEQUENCE %I.%I TO racefree_user', r.table_schema, r.sequence_name);
  END IF;
  IF inline THEN
    -- Fires as the inserting role (no GRANT needed to fire it), so nothing in it runs with more rights.
    EXECUTE format('CREATE %sFUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql VOLATILE AS %L',
      CASE WHEN replace THEN 'OR REPLACE ' ELSE '' END, r.table_schema, explicit, racefree_internal._numbering_explicit_source(r));
    EXECUTE format('COMMENT ON FUNCTION %I.%I() IS %L', r.table_schema, explicit, format(
      'BEFORE INSERT trigger beside the DEFAULT %I.%I(): a row that brings its own number moves the %s numbering''s sequence past it (racefree._numbering_explicit_advance). Runs as the inserting role.',
      r.table_schema, r.generator, r.name));
    EXECUTE format('REVOKE ALL ON FUNCTION %I.%I() FROM PUBLIC', r.table_schema, explicit);
  END IF;
  -- racefree doctor compares the counter with the column, and reads a fast
  -- counter's sequence (pg_sequences shows NULL to roles without SELECT on it).
  -- The role arrives with kit migration 0050; sql/ applied by hand may lack it.
  IF to_regrole('racefree_monitor') IS NOT NULL THEN
    EXECUTE format('GRANT SELECT (%I) ON %I.%I TO racefree_monitor', r.column_name, r.table_schema, r.table_name);
    IF r.sequence_name IS NOT NULL THEN
      EXECUTE format('GRANT SELECT ON SEQUENCE %I.%I TO racefree_monitor', r.table_schema, r.sequence_name);
    END IF;
  END IF;
END
$$;
COMMENT ON FUNCTION racefree_internal._numbering_install(racefree.numberings, boolean) IS
  'Internal: creates (or, with replace, replaces in place: same name, same signature) a numbering''s generate_<name>_number() from its racefree.numberings row, commented, revoked from PUBLIC and granted to racefree_user (and a fast numbering''s sequence for its inlined DEFAULT), and beside an inlined DEFAULT its explicit-number trigger function racefree_<name>_explicit() (racefree_internal._numbering_explicit_source); lets racefree_monitor read the numbered column and a fast numbering''s sequence. Trigger functions (every gapless numbering, and fast ones with row values) are SECURITY DEFINER (search_path pinned), bound to their own counter; the fast DEFAULT is inlinable SQL.';

-- ---------------------------------------------------------------------------
-- Numbering: the retrofit scan, and the lock steps of an online retrofit

CREATE OR REPLACE FUNCTION racefree_internal._numbering_highest(parts jsonb, tbl regclass, col name)
RETURNS TABLE (scope text, seq bigint)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  -- One regex for the whole template, compiled once for the scan.
  pattern text := '';
  seq_at int;
  has_columns boolean := parts @? '$[*] ? (exists(@.column))';
  fixed_before int := 0;   -- characters before {seq}, when no column token makes them vary
  fixed_after int := 0;
  widths int[] := '{}'::int[];
  offsets int[] := '{}'::int[];   -- of each date token: from the start before {seq}; after it, -(1 + from {seq})
  part jsonb;
  p text;
  i int;
  w int;
  seq_expr text;
  scope_expr text;
BEGIN
  FOR part, i IN SELECT e, o::int FROM jsonb_array_elements(parts) WITH ORDINALITY AS x (e, o) LOOP
    p := racefree_internal._numbering_part_pattern(part);
    IF part ? 'seq' THEN
      seq_at := i;
      pattern := pattern || CASE WHEN has_columns THEN ')(' || p || ')(' ELSE p END;
      CONTINUE;
    END IF;
    w := CASE WHEN part ? 'literal' THEN length(part->>'literal') WHEN part ? 'date' THEN CASE part->>'date' WHEN 'YYYY' THEN 4 ELSE 2 END END;
    pattern := pattern || p;
    IF part ? 'date' THEN
      widths := widths || w;
      offsets := offsets || CASE WHEN seq_at IS NULL THEN fixed_before ELSE -(fixed_after + 1) END;
    END IF;
    IF seq_at IS NULL THEN
      fixed_before := fixed_before + coalesce(w, 0);
    ELSE
      fixed_after := fixed_after + coalesce(w, 0);
    END IF;
  END LOOP;
  IF has_columns THEN
    -- Column tokens vary in width: three groups, before {seq}, {seq}, after it.
    RETURN QUERY EXECUTE format(
      'SELECT racefree_internal._numbering_scope(m.g[1], m.g[3]), max(m.g[2]::bigint) FROM %s AS t, regexp_match(t.%I::text, %L) AS m (g) WHERE m.g IS NOT NULL GROUP BY 1',
      tbl, col, '^(' || pattern || ')$');
    RETURN;
  END IF;
  -- Every other part has a fixed width: {seq} and the dates are substrings at known places.
  seq_expr := format('substr(t.%I::text, %s, length(t.%I::text) - %s)::bigint', col, fixed_before + 1, col, fixed_before + fixed_after);
  SELECT coalesce(string_agg(CASE WHEN d.d_at >= 0 THEN format('substr(t.%I::text, %s, %s)', col, d.d_at + 1, d.d_width)
                                  ELSE format('substr(t.%I::text, length(t.%I::text) - %s, %s)', col, col, fixed_after + d.d_at, d.d_width) END,
                             ' || ''-'' || ' ORDER BY d.k), '''''')
    INTO scope_expr FROM unnest(offsets, widths) WITH ORDINALITY AS d (d_at, d_width, k);
  RETURN QUERY EXECUTE format('SELECT %s, max(%s) FROM %s AS t WHERE t.%I::text ~ %L GROUP BY 1',
    scope_expr, seq_expr, tbl, col, '^' || pattern || '$');
END
$$;
COMMENT ON FUNCTION racefree_internal._numbering_highest(jsonb, regclass, name) IS
  'Internal: the highest sequence value per counter scope among the numbers in tbl.col that are in the template''s format: one set-based query, the template compiled into one regex, {seq} and the dates read at their fixed places (three regex groups when column tokens make the places vary). The same scopes and values as racefree_internal._numbering_parse. The retrofit and racefree doctor (counter_behind) both read it.';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_seed(r racefree.numberings)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  h record;
  seq regclass := CASE WHEN r.mode = 'fast' THEN format('%I.%I', r.table_schema, r.sequence_name)::regclass END;
BEGIN
  FOR h IN SELECT * FROM racefree_internal._numbering_highest(r.parts, format('%I.%I', r.table_schema, r.table_name)::regclass, r.column_name) LOOP
    IF r.mode = 'gapless' THEN
      INSERT INTO racefree.counters AS c (counter, scope, value) VALUES (r.counter, h.scope, h.seq)
      ON CONFLICT ON CONSTRAINT counters_pkey DO UPDATE SET value = excluded.value, updated_at = now()
      WHERE c.value < excluded.value;
    ELSIF h.seq > 0 THEN
      PERFORM racefree_internal._sequence_advance(seq, h.seq);
    END IF;
  END LOOP;
END
$$;
COMMENT ON FUNCTION racefree_internal._numbering_seed(racefree.numberings) IS
  'Internal: moves a numbering''s counters (gapless) or sequence (fast) past the highest number of each scope already in its column (racefree_internal._numbering_highest); never moves one back, so it can run while writers advance them too.';

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

CREATE OR REPLACE FUNCTION racefree_internal._numbering_insert_hook(r racefree.numberings, trigger_name name)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  IF racefree_internal._numbering_inline(r.mode, r.date_column, r.scope_columns) THEN
    EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN %I SET DEFAULT %I.%I()', r.table_schema, r.table_name, r.column_name, r.table_schema, r.generator);
    -- No WHEN clause: PostgreSQL parses one again in every statement; the
    -- generated function's comparison is planned once per session.
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE INSERT ON %I.%I FOR EACH ROW EXECUTE FUNCTION %I.%I()',
      trigger_name, r.table_schema, r.table_name, r.table_schema, racefree_internal._numbering_hook_name(r.name, true));
  ELSE
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE INSERT ON %I.%I FOR EACH ROW EXECUTE FUNCTION %I.%I()',
      trigger_name, r.table_schema, r.table_name, r.table_schema, r.generator);
  END IF;
END
$$;
COMMENT ON FUNCTION racefree_internal._numbering_insert_hook(racefree.numberings, name) IS
  'Internal: makes inserts generate the numbering''s numbers: generate_<name>_number() as the column DEFAULT plus the explicit-number trigger trigger_name firing racefree_<name>_explicit() (fast mode without row values), or the generator as BEFORE INSERT trigger trigger_name. CREATE OR REPLACE TRIGGER, so it also turns the explicit-only trigger of an online retrofit into the final one.';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_explicit_hook(r racefree.numberings, trigger_name name)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  EXECUTE format($t$CREATE TRIGGER %I BEFORE INSERT ON %I.%I FOR EACH ROW WHEN (NEW.%I IS NOT NULL)
      EXECUTE FUNCTION racefree_internal._numbering_explicit(%L)$t$,
    trigger_name, r.table_schema, r.table_name, r.column_name, r.counter);
END
$$;
COMMENT ON FUNCTION racefree_internal._numbering_explicit_hook(racefree.numberings, name) IS
  'Internal: the BEFORE INSERT trigger trigger_name of an online retrofit between its install and activate steps: numbers written explicitly move the counter, none is generated. racefree_internal._numbering_insert_hook replaces it under the same name.';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_default_active(tbl regclass, fn regprocedure)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
  SELECT EXISTS (SELECT FROM pg_catalog.pg_attrdef AS d
                   JOIN pg_catalog.pg_depend AS p ON p.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND p.objid = d.oid
                  WHERE d.adrelid = tbl AND p.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND p.refobjid = fn)
$$;
COMMENT ON FUNCTION racefree_internal._numbering_default_active(regclass, regprocedure) IS
  'Internal: whether a column DEFAULT of table tbl calls fn, a numbering''s generate_<name>_number(): false before an online retrofit''s activate step.';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_explicit_when(r racefree.numberings)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
  SELECT EXISTS (SELECT FROM pg_catalog.pg_trigger AS g
                  WHERE g.tgrelid = x.tbl
                    AND g.tgname = racefree_internal._numbering_hook_name(r.name, true)
                    AND g.tgfoid = 'racefree_internal._numbering_explicit()'::pg_catalog.regprocedure)
     AND racefree_internal._numbering_inline(r.mode, r.date_column, r.scope_columns)
     AND racefree_internal._numbering_default_active(x.tbl, to_regprocedure(format('%I.%I()', r.table_schema, r.generator)))
    FROM (SELECT to_regclass(format('%I.%I', r.table_schema, r.table_name)) AS tbl) AS x
$$;
COMMENT ON FUNCTION racefree_internal._numbering_explicit_when(racefree.numberings) IS
  'Internal: whether a fast numbering''s DEFAULT has an older generator''s explicit-number trigger beside it (racefree_internal._numbering_explicit under a WHEN clause, generators 1 to 5), which racefree_internal._regenerate_all replaces with generator 6''s racefree_<name>_explicit(). An online retrofit not yet activated keeps its explicit-only trigger: its activate step installs the new one.';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_to_trigger(r racefree.numberings)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
  tbl regclass := to_regclass(format('%I.%I', r.table_schema, r.table_name));
  fn regprocedure := to_regprocedure(format('%I.%I()', r.table_schema, r.generator));
  entry bigint := (SELECT x.id FROM racefree.registry AS x WHERE x.builder = 'addNumbering' AND x.description->>'counter' = r.counter);
  hook name := racefree_internal._numbering_hook_name(r.name, false);
  active boolean;
  old name;
BEGIN
  -- Generators 1 to 3 made a gapless numbering without row values a column
  -- DEFAULT, which any role granted EXECUTE could call without inserting.
  IF tbl IS NULL OR fn IS NULL OR entry IS NULL OR racefree_internal._numbering_inline(r.mode, r.date_column, r.scope_columns)
     OR (SELECT p.prorettype FROM pg_catalog.pg_proc AS p WHERE p.oid = fn) = 'pg_catalog.trigger'::pg_catalog.regtype THEN
    RETURN false;
  END IF;
  -- No DEFAULT yet: an online retrofit stopped before its activate step, which generates nothing until then.
  active := racefree_internal._numbering_default_active(tbl, fn);
  IF active THEN
    EXECUTE format('ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT', tbl, r.column_name);
  END IF;
  -- The explicit-number INSERT trigger beside the DEFAULT: the new trigger does its work.
  FOR old IN SELECT o.object_name FROM racefree.registry_objects AS o
               JOIN pg_catalog.pg_trigger AS g ON g.tgrelid = tbl AND g.tgname = o.object_name
              WHERE o.registry_id = entry AND o.object_type = 'trigger' AND g.tgtype::int & 4 <> 0 LOOP
    EXECUTE format('DROP TRIGGER %I ON %s', old, tbl);
    DELETE FROM racefree.registry_objects AS o WHERE o.registry_id = entry AND o.object_type = 'trigger' AND o.object_name = old;
  END LOOP;
  -- The return type changes: no CREATE OR REPLACE.
  EXECUTE format('DROP FUNCTION %s', fn);
  PERFORM racefree_internal._numbering_install(r, false);
  IF active THEN
    PERFORM racefree_internal._numbering_insert_hook(r, hook);
  ELSE
    PERFORM racefree_internal._numbering_explicit_hook(r, hook);
  END IF;
  INSERT INTO racefree.registry_objects (registry_id, object_type, object_schema, object_name)
  VALUES (entry, 'trigger', r.table_schema, hook);
  -- Upserts of the table captured the DEFAULT in their description: a NULL now gets its number from the trigger.
  UPDATE racefree.registry AS u
     SET description = jsonb_set(u.description, '{columns}',
           (SELECT jsonb_agg(CASE WHEN c->>'name' = r.column_name AND c->>'default' = format('%I.%I()', r.table_schema, r.generator)
                                  THEN c - 'default' ELSE c END ORDER BY k)
              FROM jsonb_array_elements(u.description->'columns') WITH ORDINALITY AS x (c, k)))
   WHERE u.builder = 'addUpsert' AND u.table_schema = r.table_schema AND u.table_name = r.table_name
     AND u.description->'columns' @> jsonb_build_array(jsonb_build_object('name', r.column_name, 'default', format('%I.%I()', r.table_schema, r.generator)));
  RETURN true;
END
$$;
COMMENT ON FUNCTION racefree_internal._numbering_to_trigger(racefree.numberings) IS
  'Internal, run by racefree_internal._regenerate_all before it rewrites anything: turns a gapless numbering that an older generator made a column DEFAULT (with an explicit-number trigger) into generator 4''s BEFORE INSERT trigger racefree_<name>_number, in the state it was in (generating, or an online retrofit not yet activated: explicit numbers only), updates racefree.registry_objects, and drops the DEFAULT from the descriptions of the table''s generated upserts. False, changing nothing, for any other numbering.';

CREATE OR REPLACE FUNCTION racefree_internal._numbering_config(config jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $$ SELECT config - ARRAY['parts', 'reset', 'step', 'key'] $$;
COMMENT ON FUNCTION racefree_internal._numbering_config(jsonb) IS
  'Internal: the builder options of an addNumbering() call as racefree.registry keeps them: the configuration without what the builder derives (parts, reset, the unique key''s names) and the online step.';

CREATE OR REPLACE FUNCTION racefree_internal._add_numbering(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $install$
#variable_conflict use_variable
DECLARE
  name text := config->>'name';
  tbl regclass;
  sch name;
  rel name;
  ns oid;
  col name := config->>'column';
  mode text := config->>'mode';
  tz text := config->>'timeZone';
  date_col name := config->>'dateColumn';
  parts jsonb := config->'parts';
  scope_cols name[];
  counter text;
  generator name;
  seq name;
  typ regtype;
  typmod int;
  date_type regtype;
  needed int;
  added name;
  triggers name[];
  explicit name;     -- the explicit-number trigger function beside an inlined DEFAULT
  taken text;
  r racefree.numberings;
  objects jsonb;
  -- An online retrofit (addNumbering({ concurrently: true })) calls this twice:
  -- step 'check' only checks; step 'install' installs without the DEFAULT.
  step text := config->>'step';
  online boolean := step IS NOT NULL;
  registered racefree.registry;
BEGIN
  -- Everything is checked before the first DDL statement; the migration's
  -- transaction rolls back on any error, so nothing is half-created.
  tbl := to_regclass(config->>'table');
  IF online AND tbl IS NOT NULL THEN
    -- Installed by an interrupted earlier run of the same migration: adopted.
    registered := racefree_internal._registered('addNumbering', tbl, name);
    IF registered.config = racefree_internal._numbering_config(config)
       AND EXISTS (SELECT FROM racefree.registry_objects AS o JOIN pg_trigger AS g ON g.tgrelid = tbl AND g.tgname = o.object_name
                    WHERE o.registry_id = registered.id AND o.object_type = 'trigger') THEN
      RETURN;
    END IF;
  END IF;
  IF tbl IS NULL OR (SELECT relkind FROM pg_class WHERE oid = tbl) NOT IN ('r', 'p') THEN
    PERFORM racefree_internal._config_error('table', config->>'table',
      format('addNumbering: table %s does not exist', config->>'table'));
  END IF;
  SELECT n.nspname, c.relname, n.oid INTO sch, rel, ns
    FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = tbl;

  SELECT a.atttypid::regtype, a.atttypmod INTO typ, typmod FROM pg_attribute AS a
   WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
  IF typ IS NULL THEN
    PERFORM racefree_internal._config_error('column', col,
      format('addNumbering: column %I does not exist in table %I.%I', col, sch, rel));
  END IF;
  IF typ NOT IN ('text'::regtype, 'character varying'::regtype) THEN
    PERFORM racefree_internal._config_error('column', col,
      format('addNumbering: column %I.%I.%I is %s; a numbered column must be text or varchar', sch, rel, col, typ));
  END IF;
  -- The shortest number the template makes: literals, fixed-width dates, {seq} at its width.
  SELECT coalesce(sum(CASE WHEN p ? 'literal' THEN length(p->>'literal')
                           WHEN p ? 'date' THEN CASE p->>'date' WHEN 'YYYY' THEN 4 ELSE 2 END
                           WHEN p ? 'seq' THEN (p->>'seq')::int ELSE 0 END), 0)
    INTO needed FROM jsonb_array_elements(parts) AS p;
  IF typ = 'character varying'::regtype AND typmod > 0 AND needed > typmod - 4 THEN
    PERFORM racefree_internal._config_error('column', col,
      format('addNumbering: column %I.%I.%I is varchar(%s), but template %s makes numbers of at least %s characters (more once {seq} outgrows its digits, or with longer column values); the column needs at least varchar(%s), or make it text',
        sch, rel, col, typmod - 4, config->>'template', needed, needed));
  END IF;
  IF EXISTS (SELECT FROM pg_attrdef WHERE adrelid = tbl
              AND adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = tbl AND attname = col)) THEN
    PERFORM racefree_internal._config_error('column', col,
      format('addNumbering: column %I.%I.%I already has a DEFAULT; drop it first so the numbering owns the column', sch, rel, col));
  END IF;

  SELECT coalesce(array_agg(p->>'column' ORDER BY o), '{}') INTO scope_cols
    FROM jsonb_array_elements(parts) WITH ORDINALITY AS e(p, o) WHERE p ? 'column';
  FOR i IN 1 .. cardinality(scope_cols) LOOP
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = tbl AND attname = scope_cols[i]
                    AND attnum > 0 AND NOT attisdropped) THEN
      PERFORM racefree_internal._config_error('template', config->>'template',
        format('addNumbering: template token {%s} names no column of table %I.%I', scope_cols[i], sch, rel));
    END IF;
  END LOOP;

  IF date_col IS NOT NULL THEN
    SELECT a.atttypid::regtype INTO date_type FROM pg_attribute AS a
     WHERE a.attrelid = tbl AND a.attname = date_col AND a.attnum > 0 AND NOT a.attisdropped;
    IF date_type IS NULL THEN
      PERFORM racefree_internal._config_error('dateColumn', date_col,
        format('addNumbering: dateColumn %I does not exist in table %I.%I', date_col, sch, rel));
    END IF;
    IF date_type NOT IN ('date'::regtype, 'timestamp without time zone'::regtype, 'timestamp with time zone'::regtype) THEN
      PERFORM racefree_internal._config_error('dateColumn', date_col,
        format('addNumbering: dateColumn %I.%I.%I is %s; it must be date, timestamp or timestamptz', sch, rel, date_col, date_type));
    END IF;
  END IF;

  IF mode NOT IN ('gapless', 'fast') THEN
    PERFORM racefree_internal._config_error('mode', mode, format('addNumbering: option "mode" must be ''gapless'' or ''fast'', not %L', mode));
  END IF;

  BEGIN
    PERFORM now() AT TIME ZONE tz;
  EXCEPTION WHEN invalid_parameter_value THEN
    PERFORM racefree_internal._config_error('timeZone', tz, format('addNumbering: unknown time zone %L', tz));
  END;

  counter := sch || '.' || name;
  generator := 'generate_' || name || '_number';
  IF octet_length(generator) > 63 THEN
    PERFORM racefree_internal._config_error('name', name,
      format('addNumbering: %I is longer than 63 bytes', generator));
  END IF;
  IF EXISTS (SELECT FROM racefree.numberings AS n WHERE n.counter = counter)
     OR EXISTS (SELECT FROM pg_proc WHERE proname = generator AND pronamespace = ns) THEN
    PERFORM racefree_internal._config_error('name', name,
      format('addNumbering: a numbering named %L already exists in schema %I (function %I.%I)', name, sch, sch, generator));
  END IF;
  IF EXISTS (SELECT FROM racefree.numberings AS n WHERE n.table_schema = sch AND n.table_name = rel AND n.column_name = col) THEN
    PERFORM racefree_internal._config_error('column', col,
      format('addNumbering: column %I.%I.%I is already numbered', sch, rel, col));
  END IF;

  -- A unique constraint makes the column's uniqueness a fact, not a hope.
  IF online THEN
    -- Built CONCURRENTLY under this name by a later step, unless the table
    -- already has a unique index of that name on the column.
    added := racefree_internal._object_name(rel || '_' || col, '_key');
    IF config->'key'->>'name' IS DISTINCT FROM added THEN
      PERFORM racefree_internal._config_error('table', config->>'table',
        format('addNumbering: the builder named the unique key %s, the installer %I; name the table exactly as PostgreSQL does', config->'key'->>'name', added));
    END IF;
    IF EXISTS (SELECT FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid
                WHERE i.indrelid = tbl AND c.relname = added AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
                  AND i.indexprs IS NULL AND i.indnkeyatts = 1
                  AND i.indkey[0] = (SELECT attnum FROM pg_attribute WHERE attrelid = tbl AND attname = col)) THEN
      added := NULL;
    END IF;
    IF (SELECT relkind FROM pg_class WHERE oid = tbl) = 'p' THEN
      PERFORM racefree_internal._config_error('concurrently', 'true',
        format('addNumbering: %I.%I is partitioned, and PostgreSQL cannot build an index on a partitioned table concurrently; number it without concurrently, or each partition', sch, rel));
    END IF;
  ELSIF NOT EXISTS (
    SELECT FROM pg_index AS i
     WHERE i.indrelid = tbl AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
       AND i.indnkeyatts = 1
       AND i.indkey[0] = (SELECT attnum FROM pg_attribute WHERE attrelid = tbl AND attname = col)) THEN
    added := racefree_internal._object_name(rel || '_' || col, '_key');
    IF racefree_internal._partition_key_missing(tbl, ARRAY[col]) IS NOT NULL THEN
      PERFORM racefree_internal._config_error('table', config->>'table',
        format('addNumbering: %I.%I is partitioned and %I.%I is not unique: a unique constraint on a partitioned table must include the partition key (%s), and a numbered column must be unique on its own; partition the table by %I, or number each partition',
          sch, rel, rel, col, racefree_internal._partition_key_missing(tbl, ARRAY[col]), col));
    END IF;
  END IF;
  triggers := ARRAY[racefree_internal._numbering_hook_name(name, racefree_internal._numbering_inline(mode, date_col, scope_cols)),
                    racefree_internal._object_name('racefree_' || name, '_update')];
  IF mode = 'fast' THEN
    seq := racefree_internal._object_name(name, '_number_seq');
  END IF;
  IF racefree_internal._numbering_inline(mode, date_col, scope_cols) THEN
    explicit := triggers[1];
  END IF;
  SELECT string_agg(x, ', ') INTO taken FROM (
    SELECT format('trigger %I', t.tgname) AS x FROM pg_trigger AS t WHERE t.tgrelid = tbl AND t.tgname = ANY (triggers)
    UNION ALL
    SELECT format('function %I.%I()', sch, p.proname) FROM pg_proc AS p WHERE p.pronamespace = ns AND p.proname = explicit AND p.pronargs = 0
    UNION ALL
    SELECT format('%I.%I', sch, c.relname) FROM pg_class AS c WHERE c.relnamespace = ns AND c.relname IN (seq, added)
    UNION ALL
    SELECT format('constraint %I', k.conname) FROM pg_constraint AS k WHERE k.conrelid = tbl AND k.conname = added) AS t;
  IF taken IS NOT NULL THEN
    PERFORM racefree_internal._config_error('name', name, format('addNumbering: %s already exist(s); give option "name" another value', taken));
  END IF;

  IF step = 'check' THEN
    RETURN;
  END IF;
  IF online THEN
    -- Online: only the explicit-number triggers go in here, under a lock
    -- taken briefly, with retries; the scan follows without a lock.
    PERFORM racefree_internal._lock_with_retries(tbl, 'SHARE ROW EXCLUSIVE', config || '{"stepName": "addNumbering (install)"}');
  ELSE
    -- No writer may slip a row in between the retrofit scan and the new default.
    EXECUTE format('LOCK TABLE %I.%I IN SHARE ROW EXCLUSIVE MODE', sch, rel);
    IF added IS NOT NULL THEN
      -- Before any DDL: the unique constraint below would fail on these with a bare 23505.
      PERFORM racefree_internal._assert_no_duplicates(jsonb_build_object(
        'builder', 'addNumbering', 'table', format('%I.%I', sch, rel), 'columns', jsonb_build_array(col)));
    END IF;
  END IF;

  IF mode = 'fast' THEN
    EXECUTE format('CREATE SEQUENCE %I.%I AS bigint MINVALUE 1 CACHE 1 OWNED BY %I.%I.%I', sch, seq, sch, rel, col);
    EXECUTE format('COMMENT ON SEQUENCE %I.%I IS %L', sch, seq,
      format('racefree fast numbering %s of %I.%I.%I', name, sch, rel, col));
  END IF;
  INSERT INTO racefree.numberings (counter, name, table_schema, table_name, column_name, template, parts, mode,
                                   time_zone, date_column, scope_columns, reset, generator, sequence_name, added_constraint)
  VALUES (counter, name, sch, rel, col, config->>'template', parts, mode,
          tz, date_col, scope_cols, config->>'reset', generator, seq, added)
  RETURNING * INTO r;
  PERFORM racefree_internal._numbering_install(r, false);

  IF online THEN
    -- Until racefree_internal._activate_numbering: numbers written explicitly move the counter, none is generated.
    PERFORM racefree_internal._numbering_explicit_hook(r, triggers[1]);
  ELSE
    PERFORM racefree_internal._numbering_insert_hook(r, triggers[1]);
  END IF;
  -- An explicit number written by UPDATE moves the counter too.
  EXECUTE format($t$CREATE TRIGGER %I BEFORE UPDATE OF %I ON %I.%I FOR EACH ROW
    WHEN (NEW.%I IS DISTINCT FROM OLD.%I)
    EXECUTE FUNCTION racefree_internal._numbering_explicit(%L)$t$,
    triggers[2], col, sch, rel, col, col, counter);
  IF added IS NOT NULL AND NOT online THEN
    EXECUTE format('ALTER TABLE %I.%I ADD CONSTRAINT %I UNIQUE (%I)', sch, rel, added, col);
  END IF;

  objects := jsonb_build_array(
    jsonb_build_object('type', 'function', 'schema', sch, 'name', generator),
    jsonb_build_object('type', 'trigger', 'schema', sch, 'name', triggers[1]),
    jsonb_build_object('type', 'trigger', 'schema', sch, 'name', triggers[2]));
  IF explicit IS NOT NULL THEN
    objects := objects || jsonb_build_object('type', 'function', 'schema', sch, 'name', explicit);
  END IF;
  IF seq IS NOT NULL THEN
    objects := objects || jsonb_build_object('type', 'sequence', 'schema', sch, 'name', seq);
  END IF;
  IF added IS NOT NULL THEN
    objects := objects || jsonb_build_object('type', 'constraint', 'schema', sch, 'name', added);
  END IF;
  PERFORM racefree_internal._register('addNumbering', tbl, name, racefree_internal._numbering_config(config), jsonb_build_object('counter', counter), objects);
  PERFORM racefree_internal._upsert_follow_numberings(sch, rel);

  -- Retrofit: continue after the numbers the table already holds (online: a step of its own).
  IF NOT online THEN
    PERFORM racefree_internal._numbering_seed(r);
  END IF;
END
$install$;
COMMENT ON FUNCTION racefree_internal._add_numbering(jsonb) IS
  'Internal, called by the addNumbering() migration builder: checks the configuration (RF100 on any problem, before any DDL), raises RF101 when the column holds duplicates and has no unique key yet, then creates generate_<name>_number() as a BEFORE INSERT trigger (or, fast mode without row values, the column DEFAULT with its explicit-number trigger function racefree_<name>_explicit()), the explicit-number triggers, a unique constraint if missing, registers them all in racefree.registry, and starts the counters after the numbers already in the table (racefree_internal._numbering_seed), all under one SHARE ROW EXCLUSIVE lock. config step (addNumbering({ concurrently: true })): ''check'' only checks; ''install'' takes its lock with racefree_internal._lock_with_retries and installs only the explicit-number triggers, the function and the registry entry, leaving the scan, the DEFAULT and the unique key to the later steps; either returns at once when an interrupted run of the same configuration installed it.';

CREATE OR REPLACE FUNCTION racefree_internal._online_numbering(config jsonb)
RETURNS racefree.numberings
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  tbl regclass := racefree_internal._table_oid('addNumbering', config->>'table');
  entry racefree.registry := racefree_internal._registered('addNumbering', tbl, config->>'name');
  r racefree.numberings;
BEGIN
  SELECT n.* INTO r FROM racefree.numberings AS n WHERE n.counter = entry.description->>'counter';
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '55000',
      MESSAGE = format('addNumbering: numbering %L of table %s is not installed; its install step must run first', config->>'name', tbl);
  END IF;
  RETURN r;
END
$$;
COMMENT ON FUNCTION racefree_internal._online_numbering(jsonb) IS
  'Internal: the racefree.numberings row of the numbering an online retrofit step works on (config as the builder made it); 55000 when its install step has not run.';

CREATE OR REPLACE FUNCTION racefree_internal._prepare_numbering(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  -- RF100 for any bad option; returns at once for a numbering an interrupted run installed.
  PERFORM racefree_internal._add_numbering(config || '{"step": "check"}');
  -- The unique key as addUniqueKey({ concurrently: true }) prepares it: RF101
  -- on duplicates, a leftover VALID index of that name adopted, an INVALID one
  -- moved aside for the DROP INDEX CONCURRENTLY that follows.
  PERFORM racefree_internal._prepare_unique_key(config->'key');
END
$$;
COMMENT ON FUNCTION racefree_internal._prepare_numbering(jsonb) IS
  'Internal, the first step of addNumbering({ concurrently: true }): checks the configuration (RF100) and prepares its unique key as addUniqueKey({ concurrently: true }) does (config key: RF101 on duplicate numbers, listing up to 10 groups; what an interrupted run left is adopted or moved aside). Changes nothing else and takes no lock writers wait for.';

CREATE OR REPLACE FUNCTION racefree_internal._retrofit_numbering(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  -- No table lock: rows committed before the install step are in this scan's
  -- snapshot (that step waited for every writer), later ones fired its trigger.
  PERFORM racefree_internal._numbering_seed(racefree_internal._online_numbering(config));
END
$$;
COMMENT ON FUNCTION racefree_internal._retrofit_numbering(jsonb) IS
  'Internal, the step of addNumbering({ concurrently: true }) after its install, before its index build: moves the counters past every number already in the table (racefree_internal._numbering_seed) without locking the table. Numbers written meanwhile move the counters through the explicit-number triggers the install step created; both only ever raise a counter.';

CREATE OR REPLACE FUNCTION racefree_internal._activate_numbering(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  r racefree.numberings := racefree_internal._online_numbering(config);
  tbl regclass := format('%I.%I', r.table_schema, r.table_name)::regclass;
  inline boolean := racefree_internal._numbering_inline(r.mode, r.date_column, r.scope_columns);
  attach boolean := r.added_constraint IS NOT NULL
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = tbl AND conname = r.added_constraint);
  hook name;
BEGIN
  SELECT o.object_name INTO hook
    FROM racefree.registry_objects AS o JOIN racefree.registry AS e ON e.id = o.registry_id
   WHERE e.builder = 'addNumbering' AND e.description->>'counter' = r.counter AND o.object_type = 'trigger'
     AND o.object_name = racefree_internal._numbering_hook_name(r.name, inline);
  -- SET DEFAULT and ADD CONSTRAINT ... USING INDEX take ACCESS EXCLUSIVE; replacing a trigger, SHARE ROW EXCLUSIVE.
  PERFORM racefree_internal._lock_with_retries(tbl, CASE WHEN inline OR attach THEN 'ACCESS EXCLUSIVE' ELSE 'SHARE ROW EXCLUSIVE' END,
    config || '{"stepName": "addNumbering (activate)"}');
  IF attach THEN
    -- Built by the CREATE UNIQUE INDEX CONCURRENTLY before this step.
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I UNIQUE USING INDEX %I', tbl, r.added_constraint, r.added_constraint);
  END IF;
  PERFORM racefree_internal._numbering_insert_hook(r, hook);
  -- The install step did it already; an upsert added since then did too.
  PERFORM racefree_internal._upsert_follow_numberings(r.table_schema, r.table_name);
END
$$;
COMMENT ON FUNCTION racefree_internal._activate_numbering(jsonb) IS
  'Internal, the last step of addNumbering({ concurrently: true }), after its retrofit scan and CREATE UNIQUE INDEX CONCURRENTLY: attaches that index as the numbering''s unique constraint (unless the column had a unique index of that name, or an interrupted run attached it), and from here inserts generate numbers (the generator trigger, or for fast mode without row values the DEFAULT and explicit-number trigger); one lock, taken with racefree_internal._lock_with_retries and held only for these catalog changes. Safe to run again.';

CREATE OR REPLACE FUNCTION racefree_internal._drop_numbering(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl regclass := to_regclass(config->>'table');
  entry racefree.registry := racefree_internal._registered('addNumbering', tbl, config->>'name');
  r racefree.numberings;
BEGIN
  SELECT n.* INTO r FROM racefree.numberings AS n WHERE n.counter = entry.description->>'counter';
  IF entry.id IS NULL OR r.column_name IS DISTINCT FROM config->>'column' THEN
    PERFORM racefree_internal._config_error('name', config->>'name',
      format('dropNumbering: no numbering %L on column %s of table %s', config->>'name', config->>'column', config->>'table'));
  END IF;
  -- A fast numbering's DEFAULT is the generator's: it goes before the function.
  EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN %I DROP DEFAULT', r.table_schema, r.table_name, r.column_name);
  PERFORM racefree_internal._drop_registered(entry);
  DELETE FROM racefree.counters AS c WHERE c.counter = r.counter;
  DELETE FROM racefree.numberings AS n WHERE n.counter = r.counter;
  PERFORM racefree_internal._upsert_follow_numberings(r.table_schema, r.table_name);
END
$$;
COMMENT ON FUNCTION racefree_internal._drop_numbering(jsonb) IS
  'Internal, called by the dropNumbering() migration builder: removes the column DEFAULT (fast mode without row values) and every object racefree.registry_objects lists for the numbering (function, triggers, sequence, the unique constraint it added), its counters and its registry entry.';

-- ---------------------------------------------------------------------------
-- Unique keys

CREATE OR REPLACE FUNCTION racefree_internal._probe_unique_key(config jsonb)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
  tbl regclass := racefree_internal._table_oid('addUniqueKey', config->>'table');
  cols name[] := racefree_internal._column_names('addUniqueKey', 'columns', tbl, config->'columns');
  pred text := config->>'where';
  missing text := racefree_internal._partition_key_missing(tbl, cols);
  def text;
BEGIN
  IF missing IS NOT NULL THEN
    PERFORM racefree_internal._config_error('columns', config->>'columns',
      format('addUniqueKey: %s is partitioned, and a unique key on a partitioned table must include the partition key: add %s to option "columns"',
        tbl, missing));
  END IF;
  -- Build the same unique index on an empty copy of the table: a column type
  -- without btree equality (json), a subquery or a volatile function in
  -- where, fails here, before anything of the table is touched.
  BEGIN
    EXECUTE format('CREATE TEMP TABLE racefree_probe (LIKE %s)', tbl);
    EXECUTE format('CREATE UNIQUE INDEX racefree_probe_key ON pg_temp.racefree_probe (%s)%s%s',
      (SELECT string_agg(format('%I', c), ', ') FROM unnest(cols) AS c),
      CASE WHEN coalesce((config->>'nullsNotDistinct')::boolean, false) THEN ' NULLS NOT DISTINCT' ELSE '' END,
      CASE WHEN pred IS NULL THEN '' ELSE format(' WHERE (%s)', pred) END);
    -- to_regclass: the temporary schema exists only once the table does.
    def := substring(pg_catalog.pg_get_indexdef(pg_catalog.to_regclass('pg_temp.racefree_probe_key')) FROM ' USING .*$');
    DROP TABLE pg_temp.racefree_probe;
  EXCEPTION WHEN syntax_error_or_access_rule_violation OR invalid_object_definition OR feature_not_supported
              OR datatype_mismatch OR undefined_object OR undefined_function THEN
    IF pred IS NOT NULL AND SQLSTATE NOT IN ('42704', '42883') THEN
      PERFORM racefree_internal._config_error('where', pred, format('addUniqueKey: option "where" is not a condition on %s: %s', tbl, SQLERRM));
    END IF;
    PERFORM racefree_internal._config_error('columns', config->>'columns',
      format('addUniqueKey: no unique index of %s can be built on (%s): %s', tbl,
        (SELECT string_agg(format('%I', c), ', ') FROM unnest(cols) AS c), SQLERRM));
  END;
  RETURN def;
END
$$;
COMMENT ON FUNCTION racefree_internal._probe_unique_key(jsonb) IS
  'Internal: RF100 when the unique key cannot exist: a partitioned table whose partition key it lacks, a column type without btree equality (json), or a where PostgreSQL rejects in an index predicate (a subquery, a volatile function). Tries the index on an empty temporary copy of the table and returns its definition from USING on (pg_get_indexdef), which an index left by an interrupted run must match.';

CREATE OR REPLACE FUNCTION racefree_internal._register_unique_key(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl regclass := racefree_internal._table_oid('addUniqueKey', config->>'table');
  key_name name := config->>'name';
  sch name := (SELECT n.nspname FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = tbl);
  is_constraint boolean := EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = tbl AND conname = key_name);
BEGIN
  -- Registered already by a concurrent run that was interrupted before its migration was recorded.
  IF (racefree_internal._registered('addUniqueKey', tbl, key_name)).id IS NOT NULL THEN
    RETURN;
  END IF;
  PERFORM racefree_internal._register('addUniqueKey', tbl, key_name, config - ARRAY['index', 'scratch', 'scratchIndex'], NULL,
    jsonb_build_array(jsonb_build_object('type', CASE WHEN is_constraint THEN 'constraint' ELSE 'index' END,
                                         'schema', sch, 'name', key_name)));
END
$$;
COMMENT ON FUNCTION racefree_internal._register_unique_key(jsonb) IS
  'Internal: records a unique key added by addUniqueKey() in racefree.registry, as a constraint or (partial key) an index, unless it is recorded already (a concurrent run interrupted after this step). Queued last by addUniqueKey({ concurrently: true }).';

CREATE OR REPLACE FUNCTION racefree_internal._add_unique_key(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl regclass := racefree_internal._table_oid('addUniqueKey', config->>'table');
  cols name[] := racefree_internal._column_names('addUniqueKey', 'columns', tbl, config->'columns');
  key_name name := config->>'name';
  pred text := config->>'where';
  nnd text := CASE WHEN coalesce((config->>'nullsNotDistinct')::boolean, false) THEN ' NULLS NOT DISTINCT' ELSE '' END;
  list text;
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = tbl AND conname = key_name)
     OR EXISTS (SELECT FROM pg_catalog.pg_class AS c
                 WHERE c.relname = key_name
                   AND c.relnamespace = (SELECT relnamespace FROM pg_catalog.pg_class WHERE oid = tbl)) THEN
    PERFORM racefree_internal._config_error('name', key_name,
      format('addUniqueKey: %I already exists in the schema or on table %s; choose another name', key_name, tbl));
  END IF;
  PERFORM racefree_internal._probe_unique_key(config);
  -- Writers wait from here to the end of the migration, so no duplicate can
  -- slip in between the check and the index build.
  EXECUTE format('LOCK TABLE %s IN SHARE MODE', tbl);
  PERFORM racefree_internal._assert_no_duplicates(config || '{"builder": "addUniqueKey"}');
  SELECT string_agg(format('%I', col), ', ') INTO list FROM unnest(cols) AS col;
  IF pred IS NULL THEN
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I UNIQUE%s (%s)', tbl, key_name, nnd, list);
  ELSE
    EXECUTE format('CREATE UNIQUE INDEX %I ON %s (%s)%s WHERE (%s)', key_name, tbl, list, nnd, pred);
  END IF;
  PERFORM racefree_internal._register_unique_key(config);
END
$$;
COMMENT ON FUNCTION racefree_internal._add_unique_key(jsonb) IS
  'Internal, called by addUniqueKey(): checks table, columns, name and where (RF100), locks the table against writers (SHARE), raises RF101 when existing rows would violate the key, then adds a UNIQUE constraint, or a unique index when the key is partial (where), and registers it. Everything happens in the migration''s transaction: on any error nothing is created.';

CREATE OR REPLACE FUNCTION racefree_internal._prepare_unique_key(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl regclass := racefree_internal._table_oid('addUniqueKey', config->>'table');
  key_name name := config->>'name';
  scratch name := config->>'scratch';
  pred text := config->>'where';
  ns oid := (SELECT relnamespace FROM pg_catalog.pg_class WHERE oid = tbl);
  existing record;
  leftover record;
  con record;
  -- CREATE INDEX CONCURRENTLY would reject a bad key only later, on its own;
  -- the definition is what an index left by an interrupted run must match.
  wanted text := racefree_internal._probe_unique_key(config);
  found_first regclass;
BEGIN
  SELECT c.oid, c.relkind, i.indrelid, i.indisvalid,
         CASE WHEN c.relkind = 'i' THEN substring(pg_catalog.pg_get_indexdef(c.oid) FROM ' USING .*$') END AS def
    INTO existing
    FROM pg_catalog.pg_class AS c LEFT JOIN pg_catalog.pg_index AS i ON i.indexrelid = c.oid
   WHERE c.relname = key_name AND c.relnamespace = ns;
  IF FOUND AND existing.relkind = 'i' AND existing.indrelid = tbl AND existing.indisvalid THEN
    -- Built by an interrupted earlier run (killed before the constraint was
    -- attached or the migration recorded): adopted when it is this key.
    IF existing.def IS DISTINCT FROM wanted THEN
      PERFORM racefree_internal._config_error('name', key_name,
        format('addUniqueKey: index %I already exists on table %s as %s, not the key asked for, %s; drop it or choose another name',
          key_name, tbl, format('CREATE UNIQUE INDEX %I ON %s%s', key_name, tbl, existing.def),
          format('CREATE UNIQUE INDEX %I ON %s%s', key_name, tbl, wanted)));
    END IF;
  ELSIF FOUND AND existing.relkind = 'i' AND existing.indrelid = tbl THEN
    -- INVALID, left by a failed or interrupted build: moved out of the way for
    -- the DROP INDEX CONCURRENTLY that follows, which takes no lock writers wait for.
    IF to_regclass(format('%I.%I', (SELECT nspname FROM pg_catalog.pg_namespace WHERE oid = ns), scratch)) IS NOT NULL THEN
      PERFORM racefree_internal._config_error('name', key_name,
        format('addUniqueKey: both %I and %I are left over from earlier attempts on table %s; drop one of them', key_name, scratch, tbl));
    END IF;
    EXECUTE format('ALTER INDEX %s RENAME TO %I', existing.oid::regclass, scratch);
  ELSIF FOUND THEN
    PERFORM racefree_internal._config_error('name', key_name,
      format('addUniqueKey: %I already exists in the schema of table %s and is not an index of that table left by an earlier attempt; choose another name',
        key_name, tbl));
  END IF;
  SELECT c.contype, c.conindid INTO con FROM pg_catalog.pg_constraint AS c WHERE c.conrelid = tbl AND c.conname = key_name;
  IF FOUND AND NOT (con.contype = 'u' AND pred IS NULL AND con.conindid = existing.oid) THEN
    PERFORM racefree_internal._config_error('name', key_name,
      format('addUniqueKey: constraint %I already exists on table %s and is not this key; choose another name', key_name, tbl));
  END IF;
  SELECT c.oid, i.indrelid, i.indisvalid INTO leftover
    FROM pg_catalog.pg_class AS c LEFT JOIN pg_catalog.pg_index AS i ON i.indexrelid = c.oid
   WHERE c.relname = scratch AND c.relnamespace = ns;
  IF FOUND AND (leftover.indrelid IS DISTINCT FROM tbl OR leftover.indisvalid) THEN
    PERFORM racefree_internal._config_error('name', key_name,
      format('addUniqueKey: %I, the name an invalid leftover of %I is moved to, is taken by something else in the schema of table %s',
        scratch, key_name, tbl));
  END IF;
  -- The DROP INDEX CONCURRENTLY that follows names the leftover as the builder
  -- names the table; it must find this leftover or nothing.
  found_first := to_regclass(config->>'scratchIndex');
  IF found_first IS NOT NULL AND found_first::oid IS DISTINCT FROM leftover.oid THEN
    PERFORM racefree_internal._config_error('table', config->>'table',
      format('addUniqueKey: %s is found first on the search_path; give table as { schema, name }', found_first));
  END IF;
  PERFORM racefree_internal._assert_no_duplicates(config || '{"builder": "addUniqueKey"}');
END
$$;
COMMENT ON FUNCTION racefree_internal._prepare_unique_key(jsonb) IS
  'Internal, queued by addUniqueKey({ concurrently: true }) before its CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS: checks table, columns, where and name (RF100) and raises RF101 when existing rows would violate the key. What an interrupted earlier run left is taken up: a VALID index of that name with the same definition (columns, predicate, NULLS NOT DISTINCT), and its constraint, are adopted; one with another definition is RF100 naming both; an INVALID one is renamed to config scratch, which the next step drops concurrently. Takes no lock writers wait for.';

CREATE OR REPLACE FUNCTION racefree_internal._attach_unique_key(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl regclass := racefree_internal._table_oid('addUniqueKey', config->>'table');
  key_name name := config->>'name';
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = tbl AND conname = key_name) THEN
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I UNIQUE USING INDEX %I', tbl, key_name, key_name);
  END IF;
END
$$;
COMMENT ON FUNCTION racefree_internal._attach_unique_key(jsonb) IS
  'Internal, queued by addUniqueKey({ concurrently: true }) after its index build: attaches the unique index as constraint config name (ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX), unless an interrupted earlier run already did.';

CREATE OR REPLACE FUNCTION racefree_internal._drop_unique_key(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl regclass := racefree_internal._table_oid('dropUniqueKey', config->>'table');
  key_name name := config->>'name';
  entry racefree.registry := racefree_internal._registered('addUniqueKey', tbl, key_name);
  idx regclass;
BEGIN
  IF entry.id IS NOT NULL THEN
    PERFORM racefree_internal._drop_registered(entry);
    RETURN;
  END IF;
  -- A key added before the registry existed (kit before 0005): by its exact name.
  IF EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = tbl AND conname = key_name AND contype = 'u') THEN
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', tbl, key_name);
    RETURN;
  END IF;
  SELECT i.indexrelid INTO idx
    FROM pg_catalog.pg_index AS i JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
   WHERE i.indrelid = tbl AND i.indisunique AND c.relname = key_name;
  IF idx IS NULL THEN
    PERFORM racefree_internal._config_error('name', key_name, format('dropUniqueKey: no unique key %I on table %s', key_name, tbl));
  END IF;
  EXECUTE format('DROP INDEX %s', idx);
END
$$;
COMMENT ON FUNCTION racefree_internal._drop_unique_key(jsonb) IS
  'Internal, called by dropUniqueKey(): drops the constraint or index the registry lists for the key, and its entry; a key added before the registry existed is found by its exact name on the table. RF100 when there is none.';

-- ---------------------------------------------------------------------------
-- Generated upserts

DROP FUNCTION IF EXISTS racefree_internal._upsert_conflict(jsonb, text, text);
CREATE OR REPLACE FUNCTION racefree_internal._upsert_conflict(info jsonb, set_list text, changed text, indent text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  -- indent: that of the line the clause starts on.
  SELECT CASE
    WHEN set_list IS NULL THEN
      -- Nothing may change, but DO UPDATE ... WHERE false still locks the row, so it can be read back.
      format(E'ON CONFLICT %s DO UPDATE\n%s     SET %I = cur.%I\n%s   WHERE false', info->>'target', indent, info->>'firstKey', info->>'firstKey', indent)
    ELSE format(E'ON CONFLICT %s DO UPDATE\n%s     SET %s\n%s   WHERE %s', info->>'target', indent, set_list, indent, changed) END
$$;
COMMENT ON FUNCTION racefree_internal._upsert_conflict(jsonb, text, text, text) IS
  'Internal: the ON CONFLICT ... DO UPDATE clause of generated upserts. Its WHERE skips the update when no given value IS DISTINCT FROM the stored one (no new row version, no UPDATE trigger); ON CONFLICT locks the row either way.';

CREATE OR REPLACE FUNCTION racefree_internal._upsert_insert_once(info jsonb, insert_vals text, target text, done text[], indent text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  -- indent: that of the BEGIN line; target: the row variable the result goes
  -- into; done: the statements that return it.
  SELECT format($b$BEGIN
%1$s  INSERT INTO %2$s AS cur (%3$s)
%1$s  VALUES (%4$s)
%1$s  ON CONFLICT %5$s DO NOTHING
%1$s  RETURNING %6$s, 'inserted' INTO %7$s;
%1$s  IF FOUND THEN
%1$s    %8$s
%1$s  END IF;
%1$s  -- A concurrent insert of the key won: undo this one, which gives back the number its trigger took.
%1$s  RAISE SQLSTATE 'RF190';
%1$sEXCEPTION WHEN SQLSTATE 'RF190' THEN
%1$s  NULL;  -- the next attempt, a new statement, finds the row that won
%1$sEND;$b$,
    indent, info->>'table',
    (SELECT string_agg(format('%I', c->>'name'), ', ') FROM jsonb_array_elements(info->'columns') AS c WHERE (c->>'param')::boolean),
    insert_vals, info->>'target',
    (SELECT string_agg(format('cur.%I', c->>'name'), ', ') FROM jsonb_array_elements(info->'columns') AS c),
    target, array_to_string(done, E'\n' || indent || '    '))
$$;
COMMENT ON FUNCTION racefree_internal._upsert_insert_once(jsonb, text, text, text[], text) IS
  'Internal: the insert of a generated upsert on a table with a gapless numbering: INSERT ... ON CONFLICT DO NOTHING in a block of its own (a subtransaction), returning the row through done when it inserted. When a concurrent insert of the key won instead, it raises and catches the private SQLSTATE RF190, which rolls the insert back and so gives back the number its BEFORE INSERT trigger took; the caller then reads the row that won.';

CREATE OR REPLACE FUNCTION racefree_internal._upsert_source(kind text, fn name, info jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  tbl text := info->>'table';
  nnd boolean := (info->>'nullsNotDistinct')::boolean;
  cols jsonb := info->'columns';
  params jsonb := jsonb_path_query_array(cols, '$[*] ? (@.param == true)');
  keys jsonb := jsonb_path_query_array(cols, '$[*] ? (@.key == true)');
  updates jsonb := jsonb_path_query_array(cols, '$[*] ? (@.update == true)');
  arg text := format('%I', fn);  -- parameters are qualified by the function name: their names are the columns'
  body text;
  insert_cols text;
  insert_vals text;
  set_list text;
  changed text;
  row_cols text;
  key_decl text;
  found_by text;
  missing text;
  -- A gapless numbering takes its number in a BEFORE INSERT trigger, which
  -- fires before ON CONFLICT finds the key: on such a table the functions
  -- find the row first and insert only a key not found.
  gapless boolean := coalesce((info->>'gapless')::boolean, false);
  eligible text := '';
  up_set text;
  up_changed text;
  up_part text := '';
  loop_body text;
  after_loop text := '';
  -- Indentation of the clauses below, by where they go.
  ind text := CASE kind WHEN 'many' THEN '    ' ELSE '' END;
  -- The table as a JSON string: one line, whatever its name holds.
  header text := format(E'-- Generated by racefree addUpsert() (generator %s) for %s.\n#variable_conflict use_column\n',
                        racefree_internal._generator_version(), to_jsonb(info->>'table'));
BEGIN
  SELECT string_agg(format('%I', c->>'name'), ', ') INTO insert_cols FROM jsonb_array_elements(params) AS c;
  SELECT string_agg(format('cur.%I', c->>'name'), ', ') INTO row_cols FROM jsonb_array_elements(cols) AS c;
  -- Indented by where it goes.
  missing := format($m$
%1$sRAISE EXCEPTION USING ERRCODE = 'no_data_found', MESSAGE = %2$L,
%1$s  HINT = 'A BEFORE INSERT trigger that changes key columns, or a row-level security policy that hides rows, keeps it from being read back.';$m$,
    CASE WHEN kind = 'many' AND gapless THEN '    ' WHEN kind = 'many' THEN '        '
         WHEN kind = 'get_or_create' OR gapless THEN '  ' ELSE '      ' END,
    format('%s: a row with this key exists but cannot be read back by its key', fn));

  IF kind = 'many' THEN
    -- Each row's JSON says which columns were given; a given JSON null writes NULL.
    SELECT string_agg(format('%I = CASE WHEN r.racefree_row ? %L THEN excluded.%I ELSE cur.%I END',
                             c->>'name', c->>'name', c->>'name', c->>'name'), E',\n' || ind || '         '),
           string_agg(format('(r.racefree_row ? %L AND %s)', c->>'name',
                             CASE WHEN (c->>'eq')::boolean THEN format('cur.%I IS DISTINCT FROM excluded.%I', c->>'name', c->>'name')
                                  ELSE format('cur.%I::text IS DISTINCT FROM excluded.%I::text', c->>'name', c->>'name') END),
                      E'\n' || ind || '       OR ')
      INTO set_list, changed FROM jsonb_array_elements(updates) AS c;
    SELECT string_agg(racefree_internal._upsert_match(c, format('r.%I', c->>'name'), nnd), ' AND ') INTO found_by
      FROM jsonb_array_elements(keys) AS c;
    found_by := found_by || coalesce(' AND (' || (info->>'predicate') || ')', '');
    insert_vals := (SELECT string_agg(format('r.%I', c->>'name'), ', ') FROM jsonb_array_elements(params) AS c);
    IF NOT gapless THEN
      loop_body := format($l$
    RETURN QUERY
      INSERT INTO %1$s AS cur (%2$s)
      VALUES (%3$s)
      %4$s
      RETURNING %5$s, CASE WHEN cur.xmax = 0 THEN 'inserted' ELSE 'updated' END;
    IF NOT FOUND THEN
      -- Equal values: nothing was written, but the row is locked; read it back.
      RETURN QUERY SELECT %5$s, 'unchanged'::text FROM %1$s AS cur WHERE %6$s;
      IF NOT FOUND THEN%7$s
      END IF;
    END IF;$l$,
        tbl, insert_cols, insert_vals, racefree_internal._upsert_conflict(info, set_list, changed, ind), row_cols, found_by, missing);
    ELSE
      SELECT string_agg(format('%I = CASE WHEN r.racefree_row ? %L THEN r.%I ELSE cur.%I END',
                               c->>'name', c->>'name', c->>'name', c->>'name'), E',\n                   '),
             string_agg(format('(r.racefree_row ? %L AND %s)', c->>'name',
                               CASE WHEN (c->>'eq')::boolean THEN format('result.%I IS DISTINCT FROM r.%I', c->>'name', c->>'name')
                                    ELSE format('result.%I::text IS DISTINCT FROM r.%I::text', c->>'name', c->>'name') END),
                        E'\n              OR ')
        INTO up_set, up_changed FROM jsonb_array_elements(updates) AS c;
      IF up_set IS NOT NULL THEN
        up_part := format($u$
          IF %1$s THEN
            UPDATE %2$s AS cur
               SET %3$s
             WHERE %4$s
            RETURNING %5$s, 'updated' INTO result;
          END IF;$u$, up_changed, tbl, up_set, found_by, row_cols);
      END IF;
      -- First pass: a key not found by a plain read (no lock) is inserted;
      -- a key found, or inserted meanwhile, waits for the second pass.
      loop_body := format($l$
    n := n + 1;
    IF r.racefree_solo IS NOT NULL OR NOT EXISTS (SELECT FROM %1$s AS cur WHERE %2$s) THEN
      %3$s
    END IF;
    -- Found, or a concurrent insert of the key won: locked and updated below.%4$s
    later := array_append(later, given);
    later_row := array_append(later_row, r.racefree_row);
    later_solo := array_append(later_solo, r.racefree_solo);
    later_at := array_append(later_at, n);$l$,
        tbl, found_by,
        racefree_internal._upsert_insert_once(info, insert_vals, 'result', ARRAY['results[n] := result;', 'CONTINUE new_keys;'], '      '),
        (SELECT string_agg(format(E'\n    given.%I := r.%I;', c->>'name', c->>'name'), '') FROM jsonb_array_elements(params) AS c));
      -- Second pass: the rows found, locked (FOR UPDATE) and updated in key
      -- order; a row deleted meanwhile is inserted after all.
      after_loop := format($l$
  -- Then the keys found: lock and update each row, in key order.
  <<found_keys>>
  FOR j IN 1 .. cardinality(later_at) LOOP
    SELECT later_row[j] AS racefree_row, later_solo[j] AS racefree_solo, (later[j]).* INTO r;
    FOR attempt IN 1 .. 100 LOOP
      IF r.racefree_solo IS NULL THEN
        SELECT %1$s, 'unchanged' INTO result FROM %2$s AS cur WHERE %3$s FOR UPDATE;
        IF FOUND THEN%4$s
          results[later_at[j]] := result;
          CONTINUE found_keys;
        END IF;
      END IF;
      %5$s
    END LOOP;%6$s
  END LOOP;
  -- One result per key, in key order.
  FOR j IN 1 .. n LOOP
    result := results[j];
    RETURN NEXT result;
  END LOOP;$l$,
        row_cols, tbl, found_by, up_part,
        racefree_internal._upsert_insert_once(info, insert_vals, 'result', ARRAY['results[later_at[j]] := result;', 'CONTINUE found_keys;'], '      '),
        missing);
    END IF;
    body := format($body$DECLARE
  r record;
  unknown text;%10$s
BEGIN
  -- A key that names no writable column is a typo: refuse it rather than ignore it.
  SELECT k INTO unknown
    FROM jsonb_array_elements(%1$s.rows) AS x (e), jsonb_object_keys(x.e) AS k
   WHERE k <> ALL (%2$L::text[])
   LIMIT 1;
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_column',
      MESSAGE = %3$L || quote_literal(unknown) || %4$L;
  END IF;
%11$s  FOR r IN
    SELECT DISTINCT ON (%5$s, v.racefree_solo) v.*
      FROM (SELECT w.*, %6$s AS racefree_solo
              FROM (SELECT x.racefree_ord, x.racefree_row,
                           %7$s
                      FROM jsonb_array_elements(%1$s.rows) WITH ORDINALITY AS x (racefree_row, racefree_ord),
                           jsonb_populate_record(NULL::%8$s, x.racefree_row) AS p) AS w) AS v
     ORDER BY %9$s, v.racefree_solo, v.racefree_ord DESC
  LOOP%12$s
  END LOOP;%13$s
END
$body$,
      arg,
      (SELECT array_agg(c->>'name') FROM jsonb_array_elements(params) AS c),
      format('%s: rows hold key ', fn),
      format(', which is not a writable column of %s', tbl),
      (SELECT string_agg(format('v.%I', c->>'name') || coalesce(' COLLATE ' || (c->>'collate'), ''), ', ')
         FROM jsonb_array_elements(keys) AS c),
      -- Rows that cannot conflict (a NULL in the key, or outside a partial key) are all kept.
      coalesce('CASE WHEN ' || nullif(concat_ws(' OR ',
        CASE WHEN NOT nnd THEN (SELECT string_agg(format('w.%I IS NULL', c->>'name'), ' OR ') FROM jsonb_array_elements(keys) AS c) END,
        CASE WHEN info ? 'predicate' THEN format('(%s) IS NOT TRUE', info->>'predicate') END), '') || ' THEN w.racefree_ord END', 'NULL::bigint'),
      (SELECT string_agg(CASE WHEN c ? 'default'
                           THEN format('CASE WHEN x.racefree_row ? %L THEN p.%I ELSE %s END AS %I', c->>'name', c->>'name', c->>'default', c->>'name')
                           ELSE format('p.%I', c->>'name') END, E',\n                           ')
         FROM jsonb_array_elements(params) AS c),
      tbl,
      (SELECT string_agg(format('v.%I', c->>'name') || coalesce(' COLLATE ' || (c->>'collate'), '') || ' USING ' || (c->>'sort'), ', ')
         FROM jsonb_array_elements(keys) AS c),
      CASE WHEN NOT gapless THEN '' ELSE format($d$
  result %1$s;
  -- The result of each row, by its place in key order.
  results %1$s[] := '{}'::%1$s[];
  n integer := 0;
  -- The rows left for the second pass, with their JSON and place.
  given %2$s;
  later %2$s[] := '{}'::%2$s[];
  later_row jsonb[] := '{}'::jsonb[];
  later_solo bigint[] := '{}'::bigint[];
  later_at integer[] := '{}'::integer[];$d$, info->>'result', tbl) END,
      CASE WHEN NOT gapless THEN $c$  -- One row per key, the last one given, then in key order: concurrent
  -- batches lock their keys in the same order, so they never deadlock.
$c$ ELSE $c$  -- One row per key, the last one given, then in key order. First the keys
  -- not found are inserted, which takes the gapless numbering's counter lock
  -- (held until commit); then the rows found are locked and updated. A call
  -- so takes the counter lock before any row lock, and concurrent batches
  -- lock their rows in the same order: they never deadlock.
  <<new_keys>>
$c$ END,
      loop_body,
      after_loop);
    RETURN header || body;
  END IF;

  -- Single row. A key column's default is evaluated once, in a local key_<n>,
  -- so the insert and the read-back agree even when the default is volatile.
  SELECT string_agg(format(E'\n  key_%s %s := coalesce(%s.%I, %s);', o, c->>'type', arg, c->>'name', c->>'default'), '' ORDER BY o)
    INTO key_decl FROM jsonb_array_elements(keys) WITH ORDINALITY AS k (c, o) WHERE c ? 'default';
  SELECT string_agg(CASE WHEN (c->>'key')::boolean AND c ? 'default'
                           THEN format('%s.key_%s', kind, (SELECT o FROM jsonb_array_elements(keys) WITH ORDINALITY AS k (e, o) WHERE e->>'name' = c->>'name'))
                         WHEN c ? 'default' THEN format('coalesce(%s.%I, %s)', arg, c->>'name', c->>'default')
                         ELSE format('%s.%I', arg, c->>'name') END, ', ')
    INTO insert_vals FROM jsonb_array_elements(params) AS c;
  SELECT string_agg(racefree_internal._upsert_match(c, CASE WHEN c ? 'default' THEN format('%s.key_%s', kind, o)
                                                   ELSE format('%s.%I', arg, c->>'name') END, nnd), ' AND ' ORDER BY o)
    INTO found_by FROM jsonb_array_elements(keys) WITH ORDINALITY AS k (c, o);
  found_by := found_by || coalesce(' AND (' || (info->>'predicate') || ')', '');
  IF gapless AND info ? 'predicate' THEN
    -- A row outside the partial key never conflicts: look for the key only
    -- when the row given (its defaults included) is inside it.
    eligible := format(' AND EXISTS (SELECT FROM (SELECT %s) AS p (%s) WHERE (%s))', insert_vals, insert_cols, info->>'predicate');
  END IF;

  IF kind = 'get_or_create' AND gapless THEN
    body := format($body$
  -- The table's gapless numbering takes a number for every row INSERT
  -- proposes: insert only a key not found.
  FOR attempt IN 1 .. 100 LOOP
    SELECT %1$s, 'existing' INTO get_or_create.result FROM %2$s AS cur WHERE %3$s;
    IF FOUND THEN
      RETURN get_or_create.result;
    END IF;
    %4$s
  END LOOP;%5$s$body$,
      row_cols, tbl, found_by || eligible,
      racefree_internal._upsert_insert_once(info, insert_vals, 'get_or_create.result', ARRAY['RETURN get_or_create.result;'], '    '),
      missing);
  ELSIF kind = 'get_or_create' THEN
    body := format($body$
  FOR attempt IN 1 .. 100 LOOP
    INSERT INTO %1$s AS cur (%2$s)
    VALUES (%3$s)
    ON CONFLICT %4$s DO NOTHING
    RETURNING %5$s, 'inserted' INTO get_or_create.result;
    IF FOUND THEN
      RETURN get_or_create.result;
    END IF;
    -- A new statement, so a new snapshot: it sees the row that made the insert give way.
    SELECT %5$s, 'existing' INTO get_or_create.result FROM %1$s AS cur WHERE %6$s;
    IF FOUND THEN
      RETURN get_or_create.result;
    END IF;
    -- That row was deleted before it could be read: insert again.
  END LOOP;%7$s$body$,
      tbl, insert_cols, insert_vals, info->>'target', row_cols, found_by, missing);
  ELSE
    -- An argument is given when it is not NULL (a composite is NULL only as a whole).
    SELECT string_agg(format('%I = CASE WHEN %s THEN excluded.%I ELSE cur.%I END', c->>'name', g, c->>'name', c->>'name'),
                      E',\n         '),
           string_agg(format('(%s AND %s)', g,
                             CASE WHEN (c->>'eq')::boolean THEN format('cur.%I IS DISTINCT FROM excluded.%I', c->>'name', c->>'name')
                                  ELSE format('cur.%I::text IS DISTINCT FROM excluded.%I::text', c->>'name', c->>'name') END),
                      E'\n       OR ')
      INTO set_list, changed
      FROM jsonb_array_elements(updates) AS c,
           LATERAL (SELECT CASE WHEN (c->>'composite')::boolean THEN format('num_nonnulls(%s.%I) = 1', arg, c->>'name')
                                ELSE format('%s.%I IS NOT NULL', arg, c->>'name') END AS g) AS given;
    IF gapless THEN
      -- An argument is compared as the column would store it (its type modifier applied).
      SELECT string_agg(format('%I = CASE WHEN %s THEN %s.%I ELSE cur.%I END', c->>'name', g, arg, c->>'name', c->>'name'),
                        E',\n               '),
             string_agg(format('(%s AND %s)', g,
                               CASE WHEN (c->>'eq')::boolean THEN format('upsert.result.%I IS DISTINCT FROM %s', c->>'name', v)
                                    ELSE format('upsert.result.%I::text IS DISTINCT FROM (%s)::text', c->>'name', v) END),
                        E'\n          OR ')
        INTO up_set, up_changed
        FROM jsonb_array_elements(updates) AS c,
             LATERAL (SELECT CASE WHEN (c->>'composite')::boolean THEN format('num_nonnulls(%s.%I) = 1', arg, c->>'name')
                                  ELSE format('%s.%I IS NOT NULL', arg, c->>'name') END AS g,
                             CASE WHEN c->>'rowType' = c->>'type' THEN format('%s.%I', arg, c->>'name')
                                  ELSE format('CAST(%s.%I AS %s)', arg, c->>'name', c->>'rowType') END AS v) AS given;
      IF up_set IS NOT NULL THEN
        up_part := format($u$
      IF %1$s THEN
        UPDATE %2$s AS cur
           SET %3$s
         WHERE %4$s
        RETURNING %5$s, 'updated' INTO upsert.result;
      END IF;$u$, up_changed, tbl, up_set, found_by, row_cols);
      END IF;
      body := format($body$
  -- The table's gapless numbering takes a number for every row INSERT
  -- proposes: lock and update a row found by its key, insert only a new key.
  FOR attempt IN 1 .. 100 LOOP
    SELECT %1$s, 'unchanged' INTO upsert.result FROM %2$s AS cur WHERE %3$s FOR UPDATE;
    IF FOUND THEN%4$s
      RETURN upsert.result;
    END IF;
    %5$s
  END LOOP;%6$s$body$,
        row_cols, tbl, found_by || eligible, up_part,
        racefree_internal._upsert_insert_once(info, insert_vals, 'upsert.result', ARRAY['RETURN upsert.result;'], '    '),
        missing);
    ELSE
    body := format($body$
  INSERT INTO %1$s AS cur (%2$s)
  VALUES (%3$s)
  %4$s
  RETURNING %5$s, CASE WHEN cur.xmax = 0 THEN 'inserted' ELSE 'updated' END
  INTO upsert.result;
  IF NOT FOUND THEN
    -- Equal values: nothing was written, but the row is locked; read it back.
    SELECT %5$s, 'unchanged' INTO upsert.result FROM %1$s AS cur WHERE %6$s;
    IF NOT FOUND THEN%7$s
    END IF;
  END IF;
  RETURN upsert.result;$body$,
      tbl, insert_cols, insert_vals, racefree_internal._upsert_conflict(info, set_list, changed, ind), row_cols, found_by, missing);
    END IF;
  END IF;
  -- The result (the row and the action) is one variable of the generated row type.
  RETURN header || format(E'<<%s>>\nDECLARE\n  result %s;%s\nBEGIN%s\nEND %s;\n',
    kind, info->>'result', coalesce(key_decl, ''), body, kind);
END
$$;
COMMENT ON FUNCTION racefree_internal._upsert_source(text, name, jsonb) IS
  'Internal: the PL/pgSQL body of a generated upsert (kind ''upsert''), get-or-create (''get_or_create'') or batch upsert (''many'') function, from the description _add_upsert() builds. cur.xmax = 0 in RETURNING tells an insert from an update: the new version of an updated row keeps the row lock ON CONFLICT took, so its xmax is set.';

CREATE OR REPLACE FUNCTION racefree_internal._upsert_describe(config jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE  -- EXPLAIN runs only in volatile functions; it writes nothing
AS $describe$
DECLARE
  tbl regclass := racefree_internal._table_oid('addUpsert', config->>'table');
  key_cols name[] := racefree_internal._column_names('addUpsert', 'key', tbl, config->'key');
  pred text := config->>'where';
  sch name;
  rel name;
  base text;
  fns name[];
  result_type name;
  update_cols name[];
  target text;
  plan jsonb;
  failure text;
  arbiters oid[];
  arbiter pg_catalog.pg_index;
  predicate text;
  saved_path text := current_setting('search_path');
  cols jsonb;
  info jsonb;
  described_keys text;
  bad text;
  partial_match boolean;
BEGIN
  SELECT n.nspname, c.relname INTO sch, rel
    FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = tbl;
  base := coalesce(config->>'name', rel);
  IF octet_length('get_or_create_' || base) > 63 OR octet_length('upsert_' || base || '_many') > 63 THEN
    PERFORM racefree_internal._config_error('name', base,
      format('addUpsert: get_or_create_%s and upsert_%s_many must fit in 63 bytes; give a shorter option "name"', base, base));
  END IF;
  fns := ARRAY['upsert_' || base, 'get_or_create_' || base, 'upsert_' || base || '_many']::name[];
  result_type := 'upsert_' || base || '_result';

  -- The result row is the table's columns plus action, and the batch names
  -- its helper columns racefree_*: none may clash with a column.
  SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum) INTO bad FROM pg_catalog.pg_attribute AS a
   WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
     AND a.attname IN ('action', 'racefree_row', 'racefree_ord', 'racefree_solo');
  IF bad IS NOT NULL THEN
    PERFORM racefree_internal._config_error('table', config->>'table',
      format('addUpsert: table %s has a column named %s, a name the generated functions use for their own output or arguments', tbl, bad));
  END IF;
  SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum) INTO bad FROM pg_catalog.pg_attribute AS a
   WHERE a.attrelid = tbl AND a.attname = ANY (key_cols) AND (a.attgenerated <> '' OR a.attidentity = 'a');
  IF bad IS NOT NULL THEN
    PERFORM racefree_internal._config_error('key', config->>'key',
      format('addUpsert: key column %s of %s is generated, so a caller cannot give it', bad, tbl));
  END IF;

  IF config ? 'update' THEN
    IF jsonb_array_length(config->'update') = 0 THEN
      update_cols := '{}';
    ELSE
      update_cols := racefree_internal._column_names('addUpsert', 'update', tbl, config->'update');
    END IF;
    SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum) INTO bad FROM pg_catalog.pg_attribute AS a
     WHERE a.attrelid = tbl AND a.attname = ANY (update_cols)
       AND (a.attname = ANY (key_cols) OR a.attgenerated <> '' OR a.attidentity = 'a');
    IF bad IS NOT NULL THEN
      PERFORM racefree_internal._config_error('update', config->>'update',
        format('addUpsert: option "update" names %s, which an update cannot change (a key or generated column)', bad));
    END IF;
  ELSE
    -- Default: every column a caller may give, except the key, identity and primary key columns.
    SELECT coalesce(array_agg(a.attname ORDER BY a.attnum), '{}') INTO update_cols FROM pg_catalog.pg_attribute AS a
     WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attgenerated = '' AND a.attidentity = '' AND a.attname <> ALL (key_cols)
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_index AS i WHERE i.indrelid = tbl AND i.indisprimary AND a.attnum = ANY (i.indkey));
  END IF;

  -- Ask PostgreSQL which unique indexes ON CONFLICT would use: EXPLAIN runs
  -- its arbiter inference (partial predicates included) without executing.
  target := format('(%s)%s', (SELECT string_agg(format('%I', k), ', ') FROM unnest(key_cols) AS k),
                   CASE WHEN pred IS NULL THEN '' ELSE format(' WHERE (%s)', pred) END);
  BEGIN
    EXECUTE format('EXPLAIN (FORMAT JSON, COSTS OFF) INSERT INTO %s AS cur DEFAULT VALUES ON CONFLICT %s DO NOTHING', tbl, target)
      INTO plan;
  EXCEPTION WHEN OTHERS THEN
    -- 42P10 is "no arbiter"; anything else (a bad where, a deferrable constraint) is worth quoting.
    failure := CASE WHEN SQLSTATE = '42P10' THEN '' ELSE ': ' || SQLERRM END;
  END;
  SELECT array_agg(i.indexrelid ORDER BY c.relname) INTO arbiters
    FROM pg_catalog.pg_index AS i JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
   WHERE i.indrelid = tbl AND c.relname IN (SELECT jsonb_array_elements_text(plan->0->'Plan'->'Conflict Arbiter Indexes'));
  IF arbiters IS NULL THEN
    SELECT string_agg(format('%I (%s)%s', c.relname,
                             (SELECT string_agg(pg_get_indexdef(i.indexrelid, k, true), ', ') FROM generate_series(1, i.indnkeyatts) AS k),
                             coalesce(' WHERE ' || pg_get_expr(i.indpred, i.indrelid, true), '')), '; ' ORDER BY c.relname),
           bool_or(i.indpred IS NOT NULL AND i.indexprs IS NULL AND i.indnkeyatts = cardinality(key_cols)
                   AND (SELECT array_agg(a.attname ORDER BY a.attname) FROM pg_catalog.pg_attribute AS a
                         WHERE a.attrelid = tbl AND a.attnum = ANY (i.indkey::int2[]))
                       = (SELECT array_agg(k ORDER BY k) FROM unnest(key_cols) AS k))
      INTO described_keys, partial_match
      FROM pg_catalog.pg_index AS i JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
     WHERE i.indrelid = tbl AND i.indisunique;
    PERFORM racefree_internal._config_error(
      CASE WHEN pred IS NOT NULL OR partial_match THEN 'where' ELSE 'key' END,
      CASE WHEN pred IS NOT NULL THEN pred ELSE config->>'key' END,
      format('addUpsert: no unique index or constraint of table %s matches ON CONFLICT %s%s; the table''s unique keys: %s%s',
             tbl, target, failure, coalesce(described_keys, 'none'),
             CASE WHEN partial_match AND pred IS NULL THEN ' (a partial unique key needs option "where" with its condition)' ELSE '' END));
  END IF;
  -- EXPLAIN accepts a deferrable arbiter; the statement would fail at its first conflict.
  SELECT string_agg(format('%I', c.relname), ', ' ORDER BY c.relname) INTO bad
    FROM pg_catalog.pg_index AS i JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
   WHERE i.indexrelid = ANY (arbiters) AND NOT i.indimmediate;
  IF bad IS NOT NULL THEN
    PERFORM racefree_internal._config_error('key', config->>'key',
      format('addUpsert: the unique key %s of table %s is DEFERRABLE, and ON CONFLICT cannot use a deferrable constraint', bad, tbl));
  END IF;
  SELECT * INTO arbiter FROM pg_catalog.pg_index WHERE indexrelid = arbiters[1];

  -- Everything below is deparsed with only pg_catalog on the search_path, so
  -- the generated code names types, defaults and operators schema-qualified.
  PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
  -- The read-back must find the row in one of the arbiters; a full unique index finds any.
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_index WHERE indexrelid = ANY (arbiters) AND indpred IS NULL) THEN
    SELECT string_agg(format('(%s)', pg_get_expr(indpred, indrelid)), ' OR ') INTO predicate
      FROM pg_catalog.pg_index WHERE indexrelid = ANY (arbiters);
  END IF;
  SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
           'name', a.attname,
           'type', format_type(a.atttypid, NULL),
           'rowType', format_type(a.atttypid, a.atttypmod),
           'param', a.attgenerated = '' AND a.attidentity <> 'a',
           'default', CASE WHEN a.attgenerated <> '' OR a.attidentity = 'a' THEN NULL
                           WHEN a.attidentity = 'd' THEN format('nextval(%L::regclass)', pg_get_serial_sequence(tbl::text, a.attname))
                           ELSE pg_get_expr(d.adbin, d.adrelid) END,
           'key', a.attname = ANY (key_cols),
           'update', a.attname = ANY (update_cols),
           'composite', t.typtype = 'c' OR (t.typtype = 'd' AND (SELECT b.typtype FROM pg_catalog.pg_type AS b WHERE b.oid = t.typbasetype) = 'c'),
           'eq', CASE WHEN a.attname = ANY (update_cols) THEN racefree_internal._has_equality(a.atttypid) END,
           'op', ops.eq,
           'sort', ops.lt,
           'collate', ops.coll)) ORDER BY a.attnum)
    INTO cols
    FROM pg_catalog.pg_attribute AS a
    JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
    LEFT JOIN pg_catalog.pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    LEFT JOIN LATERAL (
      SELECT (SELECT format('OPERATOR(%I.%s)', n.nspname, o.oprname)
                FROM pg_catalog.pg_amop AS am JOIN pg_catalog.pg_operator AS o ON o.oid = am.amopopr
                JOIN pg_catalog.pg_namespace AS n ON n.oid = o.oprnamespace
               WHERE am.amopfamily = oc.opcfamily AND am.amoplefttype = oc.opcintype
                 AND am.amoprighttype = oc.opcintype AND am.amopstrategy = 3) AS eq,
             (SELECT format('OPERATOR(%I.%s)', n.nspname, o.oprname)
                FROM pg_catalog.pg_amop AS am JOIN pg_catalog.pg_operator AS o ON o.oid = am.amopopr
                JOIN pg_catalog.pg_namespace AS n ON n.oid = o.oprnamespace
               WHERE am.amopfamily = oc.opcfamily AND am.amoplefttype = oc.opcintype
                 AND am.amoprighttype = oc.opcintype AND am.amopstrategy = 1) AS lt,
             (SELECT format('%I.%I', n.nspname, co.collname)
                FROM pg_catalog.pg_collation AS co JOIN pg_catalog.pg_namespace AS n ON n.oid = co.collnamespace
               WHERE co.oid = arbiter.indcollation[pos] AND co.oid <> a.attcollation) AS coll
        FROM generate_series(0, arbiter.indnkeyatts - 1) AS pos
        JOIN pg_catalog.pg_opclass AS oc ON oc.oid = arbiter.indclass[pos]
       WHERE arbiter.indkey[pos] = a.attnum) AS ops ON a.attname = ANY (key_cols)
   WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped;
  info := jsonb_strip_nulls(jsonb_build_object(
    'schema', sch,
    'name', base,
    'functions', to_jsonb(fns),
    'resultType', result_type,
    'table', format('%I.%I', sch, rel),
    'result', format('%I.%I', sch, result_type),
    'target', target,
    'predicate', predicate,
    'nullsNotDistinct', arbiter.indnullsnotdistinct,
    'firstKey', key_cols[1],
    'gapless', racefree_internal._upsert_gapless(sch, rel),
    'columns', cols));

  PERFORM set_config('search_path', saved_path, true);
  IF (SELECT count(*) FROM jsonb_array_elements(cols) AS c WHERE (c->>'param')::boolean) > current_setting('max_function_args')::int THEN
    PERFORM racefree_internal._config_error('table', config->>'table',
      format('addUpsert: table %s has %s columns a caller may give, and a function takes at most %s arguments (max_function_args)',
        tbl, (SELECT count(*) FROM jsonb_array_elements(cols) AS c WHERE (c->>'param')::boolean), current_setting('max_function_args')));
  END IF;
  RETURN info;
END
$describe$;
COMMENT ON FUNCTION racefree_internal._upsert_describe(jsonb) IS
  'Internal: checks an addUpsert() configuration against the catalog (RF100 on any problem), confirms with EXPLAIN that ON CONFLICT (key) WHERE (where) infers a unique index of the table, and returns the description the generator renders from: names, conflict target, and each column with its type, captured default, key and update roles and the key index''s operators.';

CREATE OR REPLACE FUNCTION racefree_internal._upsert_install(info jsonb, replace boolean)
RETURNS void
LANGUAGE plpgsql
AS $install$
DECLARE
  sch name := info->>'schema';
  fns name[] := ARRAY(SELECT jsonb_array_elements_text(info->'functions'))::name[];
  cols jsonb := info->'columns';
  params text;
  argtypes text;
  about text := format('%s on key %s', info->>'table', info->>'target');
  create_fn text := CASE WHEN replace THEN 'CREATE OR REPLACE FUNCTION' ELSE 'CREATE FUNCTION' END;
  gapless boolean := coalesce((info->>'gapless')::boolean, false);
  seq regclass;
BEGIN
  IF NOT replace THEN
    -- The three functions return rows of one generated type: the table's columns and action.
    EXECUTE format('CREATE TYPE %s AS (%s, action text)', info->>'result',
      (SELECT string_agg(format('%I %s', c->>'name', c->>'rowType'), ', ') FROM jsonb_array_elements(cols) AS c));
    EXECUTE format('COMMENT ON TYPE %s IS %L', info->>'result', format(
      'Generated by racefree addUpsert(): what %s, %s and %s return, a row of %s and the action taken.',
      fns[1], fns[2], fns[3], info->>'table'));
  END IF;
  SELECT string_agg(format('%I %s DEFAULT NULL', c->>'name', c->>'type'), ', '), string_agg(c->>'type', ', ')
    INTO params, argtypes
    FROM jsonb_array_elements(cols) AS c WHERE (c->>'param')::boolean;
  EXECUTE format('%s %I.%I(%s) RETURNS %s LANGUAGE plpgsql AS %L',
    create_fn, sch, fns[1], params, info->>'result', racefree_internal._upsert_source('upsert', fns[1], info));
  EXECUTE format('%s %I.%I(%s) RETURNS %s LANGUAGE plpgsql AS %L',
    create_fn, sch, fns[2], params, info->>'result', racefree_internal._upsert_source('get_or_create', fns[2], info));
  EXECUTE format('%s %I.%I(rows jsonb) RETURNS SETOF %s LANGUAGE plpgsql AS %L',
    create_fn, sch, fns[3], info->>'result', racefree_internal._upsert_source('many', fns[3], info));
  EXECUTE format('COMMENT ON FUNCTION %I.%I(%s) IS %L', sch, fns[1], argtypes, format(
    'Upsert into %s: %s Arguments left out or NULL are not written: a new row takes the column default, an existing row keeps its value. '
    'An update may change %s, and only when a given value IS DISTINCT FROM the stored one; otherwise nothing is written (no new row version, no UPDATE trigger). '
    'Returns the row and action: inserted, updated or unchanged; always exactly one row. Locks the row until the transaction ends. '
    'Use %s to write NULL into a column.',
    about, CASE WHEN gapless THEN 'finds the row by its key and locks it (SELECT ... FOR UPDATE), or inserts a new key (INSERT ... ON CONFLICT DO NOTHING in a subtransaction, rolled back and retried when a concurrent insert of the key won), so the table''s gapless numbering takes a number only for a row inserted.'
                ELSE 'one INSERT ... ON CONFLICT DO UPDATE statement.' END,
    coalesce((SELECT string_agg(format('%I', c->>'name'), ', ') FROM jsonb_array_elements(cols) AS c WHERE (c->>'update')::boolean),
             'no column'), fns[3]));
  EXECUTE format('COMMENT ON FUNCTION %I.%I(%s) IS %L', sch, fns[2], argtypes, format(
    'Get or create the row of %s: returns it with action existing, or inserts it (arguments left out or NULL take the column default) and returns action inserted. '
    'Never changes an existing row and never returns zero rows: concurrent callers of one key at READ COMMITTED all get the same row, without an error '
    '(%s).',
    about, CASE WHEN gapless THEN 'SELECT, then INSERT ... ON CONFLICT DO NOTHING in a subtransaction, rolled back when a concurrent insert of the key won, so the table''s gapless numbering takes a number only for a row inserted; retried'
                ELSE 'INSERT ... ON CONFLICT DO NOTHING, then SELECT in a new statement, retried if the row was deleted in between' END));
  EXECUTE format('COMMENT ON FUNCTION %I.%I(jsonb) IS %L', sch, fns[3], format(
    'Batch upsert into %s. rows: a JSON array of objects keyed by column name; a key left out is not written, JSON null writes NULL, a key that is not a writable column is an error (42703). '
    'Rows with the same key: the last one wins. %s '
    'Returns one row per distinct key, in key order, with action inserted, updated or unchanged (as %s).',
    about,
    CASE WHEN gapless THEN 'First the keys not found are inserted, each in a subtransaction, which takes the gapless numbering''s counter lock; then the rows found are locked and updated, in key order. '
                           'A batch so takes the counter lock before any row lock, and concurrent batches lock rows in the same order: they never deadlock.'
         ELSE 'Rows are written in key order, so concurrent batches lock keys in the same order and never deadlock.' END,
    fns[1]));
  EXECUTE format('REVOKE ALL ON FUNCTION %I.%I(%s) FROM PUBLIC', sch, fns[1], argtypes);
  EXECUTE format('REVOKE ALL ON FUNCTION %I.%I(%s) FROM PUBLIC', sch, fns[2], argtypes);
  EXECUTE format('REVOKE ALL ON FUNCTION %I.%I(jsonb) FROM PUBLIC', sch, fns[3]);
  EXECUTE format('GRANT EXECUTE ON FUNCTION %I.%I(%s) TO racefree_user', sch, fns[1], argtypes);
  EXECUTE format('GRANT EXECUTE ON FUNCTION %I.%I(%s) TO racefree_user', sch, fns[2], argtypes);
  EXECUTE format('GRANT EXECUTE ON FUNCTION %I.%I(jsonb) TO racefree_user', sch, fns[3]);
  -- An identity column's default is written out as nextval(): a plain INSERT
  -- takes it without USAGE on the sequence, a function's nextval() does not.
  -- racefree_user may use it, so every role that may INSERT can upsert; it
  -- can only skip values, never reset or read them.
  FOR seq IN SELECT pg_get_serial_sequence(info->>'table', a.attname)::regclass FROM pg_catalog.pg_attribute AS a
              WHERE a.attrelid = (info->>'table')::regclass AND a.attidentity = 'd' AND NOT a.attisdropped LOOP
    EXECUTE format('GRANT USAGE ON SEQUENCE %s TO racefree_user', seq);
  END LOOP;
END
$install$;
COMMENT ON FUNCTION racefree_internal._upsert_install(jsonb, boolean) IS
  'Internal: creates from a description (racefree_internal._upsert_describe) the row type upsert_<name>_result and the functions upsert_<name>(), get_or_create_<name>() and upsert_<name>_many(), commented, revoked from PUBLIC and granted to racefree_user (and the table''s identity sequences, whose nextval() they call); with replace, replaces the functions in place (same names and signatures, new code).';

CREATE OR REPLACE FUNCTION racefree_internal._upsert_gapless(table_schema name, table_name name)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
  -- NULL, not false: a description without the key is byte for byte what it was before it.
  SELECT true WHERE EXISTS (SELECT FROM racefree.numberings AS n
                             WHERE n.table_schema = _upsert_gapless.table_schema AND n.table_name = _upsert_gapless.table_name
                               AND n.mode = 'gapless')
$$;
COMMENT ON FUNCTION racefree_internal._upsert_gapless(name, name) IS
  'Internal: true when the table has a gapless numbering (racefree.numberings), NULL otherwise: the key gapless of an upsert''s description, which makes the generator render functions that take a number only when they insert.';

CREATE OR REPLACE FUNCTION racefree_internal._upsert_follow_numberings(table_schema name, table_name name)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  gapless boolean := racefree_internal._upsert_gapless(table_schema, table_name);
  e racefree.registry;
BEGIN
  FOR e IN UPDATE racefree.registry AS x
              SET description = CASE WHEN gapless THEN x.description || '{"gapless": true}' ELSE x.description - 'gapless' END
            WHERE x.builder = 'addUpsert' AND x.table_schema = _upsert_follow_numberings.table_schema
              AND x.table_name = _upsert_follow_numberings.table_name
              AND (x.description->'gapless') IS DISTINCT FROM to_jsonb(gapless)
           RETURNING x.* LOOP
    PERFORM racefree_internal._upsert_install(e.description, true);
  END LOOP;
END
$$;
COMMENT ON FUNCTION racefree_internal._upsert_follow_numberings(name, name) IS
  'Internal, run by addNumbering and dropNumbering (and racefree_internal._regenerate_all): when whether the table has a gapless numbering changed, records it in the descriptions of the table''s registered upserts and rewrites their functions in place, so they take a number only when they insert.';

CREATE OR REPLACE FUNCTION racefree_internal._add_upsert(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  info jsonb := racefree_internal._upsert_describe(config);
  sch name := info->>'schema';
  ns oid := (SELECT n.oid FROM pg_catalog.pg_namespace AS n WHERE n.nspname = info->>'schema');
  bad text;
  objects jsonb;
  saved_path text := current_setting('search_path');
BEGIN
  SELECT string_agg(x.n, ', ' ORDER BY x.n) INTO bad
    FROM (SELECT format('%I.%I', sch, p.proname) AS n FROM pg_catalog.pg_proc AS p
           WHERE p.pronamespace = ns AND p.proname IN (SELECT jsonb_array_elements_text(info->'functions'))
          UNION
          SELECT format('%I.%I', sch, t.typname) FROM pg_catalog.pg_type AS t
           WHERE t.typnamespace = ns AND t.typname = info->>'resultType') AS x;
  IF bad IS NOT NULL THEN
    PERFORM racefree_internal._config_error('name', info->>'name', format('addUpsert: %s already exist(s); give option "name" another value', bad));
  END IF;
  PERFORM racefree_internal._upsert_install(info, false);
  -- Argument types print schema-qualified with only pg_catalog on the search_path.
  PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
  SELECT jsonb_agg(jsonb_build_object('type', 'function', 'schema', sch, 'name', p.proname,
                                      'arguments', pg_catalog.oidvectortypes(p.proargtypes)) ORDER BY p.proname)
    INTO objects
    FROM pg_catalog.pg_proc AS p
   WHERE p.pronamespace = ns AND p.proname IN (SELECT jsonb_array_elements_text(info->'functions'));
  PERFORM set_config('search_path', saved_path, true);
  PERFORM racefree_internal._register('addUpsert', (info->>'table')::regclass, info->>'name', config, info,
    objects || jsonb_build_array(jsonb_build_object('type', 'type', 'schema', sch, 'name', info->>'resultType')));
END
$$;
COMMENT ON FUNCTION racefree_internal._add_upsert(jsonb) IS
  'Internal, called by the addUpsert() builder: checks the table, key, where, update and name (RF100 on any problem, before any DDL), confirms with EXPLAIN that ON CONFLICT (key) WHERE (where) infers a unique index of the table, then creates upsert_<name>(), get_or_create_<name>() and upsert_<name>_many() in the table''s schema, commented, revoked from PUBLIC and granted to racefree_user, and their result row type upsert_<name>_result, and registers them all.';


CREATE OR REPLACE FUNCTION racefree_internal._drop_upsert(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl regclass := racefree_internal._table_oid('dropUpsert', config->>'table');
  base text := coalesce(config->>'name', (SELECT relname FROM pg_catalog.pg_class WHERE oid = tbl));
  entry racefree.registry := racefree_internal._registered('addUpsert', tbl, base);
BEGIN
  IF entry.id IS NULL THEN
    PERFORM racefree_internal._config_error('name', base,
      format('dropUpsert: no upsert %L of table %s in racefree.registry', base, tbl));
  END IF;
  PERFORM racefree_internal._drop_registered(entry);
END
$$;
COMMENT ON FUNCTION racefree_internal._drop_upsert(jsonb) IS
  'Internal, called by the dropUpsert() builder: drops the three functions and the row type racefree.registry_objects lists for the upsert of the table (or name), and its entry; RF100 when there is none.';
-- ---------------------------------------------------------------------------
-- Regeneration and its check

CREATE OR REPLACE FUNCTION racefree_internal._regenerate_all()
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
  e racefree.registry;
  r racefree.numberings;
  sch name;
  rel name;
  done integer := 0;
  old_hooks regclass[];
  hook name;
BEGIN
  -- First: it rewrites descriptions of upserts, which the loop below renders from.
  FOR r IN SELECT * FROM racefree.numberings AS n ORDER BY n.counter LOOP
    PERFORM racefree_internal._numbering_to_trigger(r);
  END LOOP;
  -- Replacing a trigger takes SHARE ROW EXCLUSIVE, which blocks inserts:
  -- all such tables at once, in short attempts, so none is held while
  -- another is waited for and no long transaction queues inserts behind it.
  SELECT array_agg(DISTINCT format('%I.%I', n.table_schema, n.table_name)::regclass) INTO old_hooks
    FROM racefree.numberings AS n WHERE racefree_internal._numbering_explicit_when(n);
  IF old_hooks IS NOT NULL THEN
    PERFORM racefree_internal._lock_with_retries(old_hooks, 'SHARE ROW EXCLUSIVE',
      '{"lockTimeoutMs": 1000, "lockRetries": 9, "stepName": "racefree_internal._regenerate_all (explicit-number triggers)",
        "hint": "Run racefree migrate up again when no long transaction holds them."}');
  END IF;
  -- Descriptions made before generator 5 learned of gapless numberings.
  FOR sch, rel IN SELECT DISTINCT x.table_schema, x.table_name FROM racefree.registry AS x
                   WHERE x.builder = 'addUpsert' AND to_regclass(format('%I.%I', x.table_schema, x.table_name)) IS NOT NULL LOOP
    PERFORM racefree_internal._upsert_follow_numberings(sch, rel);
  END LOOP;
  FOR e IN SELECT * FROM racefree.registry AS x ORDER BY x.id LOOP
    IF to_regclass(format('%I.%I', e.table_schema, e.table_name)) IS NULL THEN
      RAISE NOTICE 'racefree: % of %.% not regenerated: the table no longer exists', e.builder, e.table_schema, e.table_name;
      CONTINUE;
    END IF;
    IF e.builder = 'addNumbering' THEN
      SELECT * INTO r FROM racefree.numberings AS n WHERE n.counter = e.description->>'counter';
      IF NOT FOUND THEN
        RAISE NOTICE 'racefree: numbering % not regenerated: its racefree.numberings row is gone', e.description->>'counter';
        CONTINUE;
      END IF;
      PERFORM racefree_internal._numbering_install(r, true);
      IF racefree_internal._numbering_inline(r.mode, r.date_column, r.scope_columns) THEN
        -- Generated before generator 6 without it: the explicit-number trigger function.
        hook := racefree_internal._numbering_hook_name(r.name, true);
        INSERT INTO racefree.registry_objects (registry_id, object_type, object_schema, object_name)
        VALUES (e.id, 'function', r.table_schema, hook)
        ON CONFLICT DO NOTHING;
        IF racefree_internal._numbering_explicit_when(r) THEN
          PERFORM racefree_internal._numbering_insert_hook(r, hook);
        END IF;
      END IF;
    ELSIF e.builder = 'addUpsert' THEN
      PERFORM racefree_internal._upsert_install(e.description, true);
    END IF;  -- a unique key has no generated code
    UPDATE racefree.registry AS x SET generator_version = racefree_internal._generator_version(), regenerated_at = now()
     WHERE x.id = e.id AND x.generator_version IS DISTINCT FROM racefree_internal._generator_version();
    done := done + 1;
  END LOOP;
  RETURN done;
END
$$;
COMMENT ON FUNCTION racefree_internal._regenerate_all() IS
  'Internal, the last statement of every kit migration that changes a generator: turns older gapless DEFAULTs into triggers (racefree_internal._numbering_to_trigger), replaces older explicit-number triggers beside fast DEFAULTs (racefree_internal._numbering_explicit_when; their tables locked together with racefree_internal._lock_with_retries), then rewrites every registered generated function from its registry entry with the current generators (same names and signatures, new code; a numbering from its racefree.numberings row, an upsert from the table description captured when addUpsert ran) and records the generator version. Returns the number of entries regenerated.';

CREATE OR REPLACE FUNCTION racefree_internal._generated_stale()
RETURNS TABLE (object text, detail text)
LANGUAGE plpgsql VOLATILE  -- calls _upsert_describe; writes nothing
-- As the kit's owner: describing a table EXPLAINs an insert into it, which
-- checks privileges racefree_monitor does not have (sql/monitor.sql).
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  e racefree.registry;
  r racefree.numberings;
  fresh jsonb;
  fn text;
  kind text;
  actual text;
  expected text;
  sig regprocedure;
  table_ref jsonb;  -- the table as builder options name it
BEGIN
  FOR e IN SELECT * FROM racefree.registry AS x WHERE x.builder IN ('addNumbering', 'addUpsert') ORDER BY x.table_schema, x.name LOOP
    table_ref := jsonb_build_object('schema', e.table_schema, 'name', e.table_name);
    IF to_regclass(format('%I.%I', e.table_schema, e.table_name)) IS NULL THEN
      CONTINUE;
    END IF;
    IF e.builder = 'addNumbering' THEN
      SELECT * INTO r FROM racefree.numberings AS n WHERE n.counter = e.description->>'counter';
      CONTINUE WHEN NOT FOUND;
      FOR fn, expected IN SELECT r.generator, racefree_internal._numbering_source(r)
                          UNION ALL
                          SELECT racefree_internal._numbering_hook_name(r.name, true), racefree_internal._numbering_explicit_source(r)
                           WHERE racefree_internal._numbering_inline(r.mode, r.date_column, r.scope_columns) LOOP
        sig := to_regprocedure(format('%I.%I()', r.table_schema, fn));
        actual := (SELECT p.prosrc FROM pg_catalog.pg_proc AS p WHERE p.oid = sig);
        IF actual IS DISTINCT FROM expected THEN
          object := format('%I.%I()', r.table_schema, fn);
          detail := format('its source differs from what addNumbering() generates from its registry entry (generator %s, current %s)%s; fix: SELECT racefree_internal._regenerate_all(), which rewrites it from the registry',
            e.generator_version, racefree_internal._generator_version(), CASE WHEN actual IS NULL THEN ': the function is missing' ELSE '' END);
          RETURN NEXT;
        END IF;
      END LOOP;
      CONTINUE;
    END IF;
    BEGIN
      -- The table as registered: the name as given was resolved by the migration's search_path.
      fresh := racefree_internal._upsert_describe(e.config || jsonb_build_object('table', format('%I.%I', e.table_schema, e.table_name)));
    EXCEPTION WHEN OTHERS THEN
      object := format('%I.%I', e.table_schema, 'upsert_' || e.name);
      detail := format('addUpsert(%s) no longer fits table %I.%I: %s; fix: a migration that drops the upsert (dropUpsert) and adds it with options that fit',
        e.config, e.table_schema, e.table_name, SQLERRM);
      RETURN NEXT;
      CONTINUE;
    END;
    FOR fn, kind IN SELECT f, k FROM unnest(ARRAY(SELECT jsonb_array_elements_text(e.description->'functions')),
                                         ARRAY['upsert', 'get_or_create', 'many']) AS u (f, k) LOOP
      SELECT p.prosrc, p.oid INTO actual, sig FROM racefree.registry_objects AS o
        JOIN pg_catalog.pg_proc AS p ON p.oid = to_regprocedure(format('%I.%I(%s)', o.object_schema, o.object_name, o.arguments))
       WHERE o.registry_id = e.id AND o.object_type = 'function' AND o.object_name = fn;
      expected := racefree_internal._upsert_source(kind, fn::name, fresh);
      IF actual IS DISTINCT FROM expected THEN
        object := coalesce(sig::text, format('%I.%I', e.table_schema, fn));
        detail := CASE
          WHEN fresh IS DISTINCT FROM e.description THEN format(
            'generated by addUpsert() from table %I.%I as it was then; a column default, type or the column list has changed since, and the function still writes the old ones; fix: a new migration with dropUpsert(pgm, %s) then addUpsert(pgm, %s)',
            e.table_schema, e.table_name, jsonb_build_object('table', table_ref, 'name', e.name),
            e.config || jsonb_build_object('table', table_ref))
          ELSE format('its source differs from what addUpsert() generates from its registry entry (generator %s, current %s)%s; fix: SELECT racefree_internal._regenerate_all(), which rewrites it from the registry',
            e.generator_version, racefree_internal._generator_version(), CASE WHEN actual IS NULL THEN ': the function is missing' ELSE '' END) END;
        RETURN NEXT;
      END IF;
    END LOOP;
  END LOOP;
END
$$;
COMMENT ON FUNCTION racefree_internal._generated_stale() IS
  'Internal, read by racefree doctor (check generated_stale): every registered generated function whose source differs from what the current generator makes from its registry entry and the table as it is now, with the fix. Only reads.';

-- ---------------------------------------------------------------------------
-- Upgrade: register what kit migrations 0002 and 0003 generated (generator
-- 1), found once through the catalog, then move column-scoped counters to the
-- rendered-rest scope. A fresh database has nothing to register.

DO $upgrade$
DECLARE
  r racefree.numberings;
  entry bigint;
  tbl regclass;
  c racefree.counters;
  vals text[];
  dates text[];
  part jsonb;
  prefix text;
  suffix text;
  before boolean;
  di int;
  vi int;
  piece text;
  scopes text[];
  values_ bigint[];
  t record;
  base text;
  fn oid;
  header text[];
  note text;
  target text[];
  config jsonb;
  info jsonb;
  saved_path text := current_setting('search_path');
BEGIN
  FOR r IN SELECT n.* FROM racefree.numberings AS n
            WHERE NOT EXISTS (SELECT FROM racefree.registry AS x WHERE x.builder = 'addNumbering' AND x.description->>'counter' = n.counter)
            ORDER BY n.counter LOOP
    tbl := to_regclass(format('%I.%I', r.table_schema, r.table_name));
    INSERT INTO racefree.registry (builder, table_schema, table_name, name, config, description, generator_version)
    VALUES ('addNumbering', r.table_schema, r.table_name, r.name,
            jsonb_strip_nulls(jsonb_build_object('name', r.name, 'table', format('%I.%I', r.table_schema, r.table_name),
              'column', r.column_name, 'template', r.template, 'mode', r.mode, 'timeZone', r.time_zone, 'dateColumn', r.date_column)),
            jsonb_build_object('counter', r.counter), 1)
    RETURNING id INTO entry;
    INSERT INTO racefree.registry_objects (registry_id, object_type, object_schema, object_name)
    SELECT entry, 'function', r.table_schema, r.generator
    UNION ALL
    SELECT entry, 'trigger', r.table_schema, g.tgname FROM pg_catalog.pg_trigger AS g
     WHERE g.tgrelid = tbl AND NOT g.tgisinternal
       AND (g.tgfoid = to_regprocedure(format('%I.%I()', r.table_schema, r.generator))
            OR (g.tgfoid = 'racefree_internal._numbering_explicit()'::regprocedure
                AND g.tgargs = convert_to(r.counter, current_setting('server_encoding')) || '\x00'::bytea))
    UNION ALL
    SELECT entry, 'sequence', r.table_schema, r.sequence_name WHERE r.sequence_name IS NOT NULL
    UNION ALL
    SELECT entry, 'constraint', r.table_schema, r.added_constraint
     WHERE EXISTS (SELECT FROM pg_catalog.pg_constraint AS k WHERE k.conrelid = tbl AND k.conname = r.added_constraint);

    -- Generator 1 keyed a column-scoped counter by [period, values...]; it is now the rendered rest.
    CONTINUE WHEN cardinality(r.scope_columns) = 0;
    scopes := '{}';
    values_ := '{}';
    FOR c IN SELECT * FROM racefree.counters AS x WHERE x.counter = r.counter LOOP
      vals := ARRAY(SELECT jsonb_array_elements_text(c.scope::jsonb));
      dates := string_to_array(vals[1], '-');
      prefix := '';
      suffix := '';
      before := true;
      di := 0;
      vi := 1;
      FOR part IN SELECT * FROM jsonb_array_elements(r.parts) LOOP
        IF part ? 'seq' THEN
          before := false;
          CONTINUE;
        ELSIF part ? 'literal' THEN
          piece := part->>'literal';
        ELSIF part ? 'date' THEN
          di := di + 1;
          piece := dates[di];
        ELSE
          vi := vi + 1;
          piece := vals[vi];
        END IF;
        IF before THEN
          prefix := prefix || piece;
        ELSE
          suffix := suffix || piece;
        END IF;
      END LOOP;
      scopes := scopes || racefree_internal._numbering_scope(prefix, suffix);
      values_ := values_ || c.value;
    END LOOP;
    DELETE FROM racefree.counters AS x WHERE x.counter = r.counter;
    INSERT INTO racefree.counters (counter, scope, value)
    SELECT r.counter, s, max(v) FROM unnest(scopes, values_) AS u (s, v) GROUP BY s;
  END LOOP;

  -- Upserts of generator 1: their row type, functions and comments give the configuration.
  FOR t IN SELECT n.nspname, n.oid AS ns, ty.typname FROM pg_catalog.pg_type AS ty JOIN pg_catalog.pg_namespace AS n ON n.oid = ty.typnamespace
            WHERE ty.typname LIKE 'upsert\_%\_result' AND obj_description(ty.oid, 'pg_type') LIKE 'Generated by racefree addUpsert()%'
            ORDER BY 1, 2 LOOP
    base := substr(t.typname, 8, length(t.typname) - 14);
    SELECT p.oid INTO fn FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace = t.ns AND p.proname = 'upsert_' || base AND p.prosrc LIKE '-- Generated by racefree addUpsert()%';
    CONTINUE WHEN fn IS NULL;
    header := regexp_match((SELECT prosrc FROM pg_catalog.pg_proc WHERE oid = fn), '^-- Generated by racefree addUpsert\(\) for ([^\n]*)\.\n');
    note := obj_description(fn, 'pg_proc');
    CONTINUE WHEN EXISTS (SELECT FROM racefree.registry AS x WHERE x.builder = 'addUpsert' AND x.table_schema = t.nspname AND x.name = base);
    -- 'Upsert into <table> on key (<key>)[ WHERE (<where>)]: one INSERT ...  An update may change <columns>, and only when ...'
    target := regexp_match(substr(note, length('Upsert into ' || header[1] || ' on key ') + 1),
      '^\(((?:"(?:[^"]|"")*"|[^"()])*)\)(?: WHERE \((.*)\))?: one INSERT \.\.\. ON CONFLICT DO UPDATE statement\. .*An update may change (.*), and only when a given value IS DISTINCT FROM');
    config := jsonb_strip_nulls(jsonb_build_object(
      'table', header[1],
      'key', (SELECT jsonb_agg(coalesce(replace(m[1], '""', '"'), m[2])) FROM regexp_matches(target[1], '"((?:[^"]|"")*)"|([^", ]+)', 'g') AS m),
      'where', target[2],
      'update', CASE WHEN target[3] = 'no column' THEN '[]'::jsonb
                     ELSE (SELECT jsonb_agg(coalesce(replace(m[1], '""', '"'), m[2])) FROM regexp_matches(target[3], '"((?:[^"]|"")*)"|([^", ]+)', 'g') AS m) END,
      'name', CASE WHEN base <> (SELECT c2.relname FROM pg_catalog.pg_class AS c2 WHERE c2.oid = to_regclass(header[1])) THEN base END));
    info := racefree_internal._upsert_describe(config);
    INSERT INTO racefree.registry (builder, table_schema, table_name, name, config, description, generator_version)
    SELECT 'addUpsert', n.nspname, c2.relname, base, config, info, 1
      FROM pg_catalog.pg_class AS c2 JOIN pg_catalog.pg_namespace AS n ON n.oid = c2.relnamespace
     WHERE c2.oid = to_regclass(header[1])
    RETURNING id INTO entry;
    PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
    INSERT INTO racefree.registry_objects (registry_id, object_type, object_schema, object_name, arguments)
    SELECT entry, 'function', t.nspname, p.proname, pg_catalog.oidvectortypes(p.proargtypes)
      FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace = t.ns AND p.proname IN ('upsert_' || base, 'get_or_create_' || base, 'upsert_' || base || '_many')
    UNION ALL
    SELECT entry, 'type', t.nspname, t.typname, '';
    PERFORM set_config('search_path', saved_path, true);
  END LOOP;
END
$upgrade$;

-- Every registered function, rewritten by the generators above.
-- A DO block, not a SELECT: psql (racefree sql) would print its result.
DO $racefree_regenerate$ BEGIN PERFORM racefree_internal._regenerate_all(); END $racefree_regenerate$;

-- Used only by generator 1's code, which is gone now.
DROP FUNCTION IF EXISTS racefree_internal._numbering_advance(text, text, text[]);
DROP FUNCTION IF EXISTS racefree_internal._numbering_parse(jsonb, text, text[]);
DROP FUNCTION IF EXISTS racefree_internal._numbering_key(text, text[]);

-- ---------------------------------------------------------------------------
-- Privileges: generator 3's code runs as the numbering's owner, so inserting
-- roles need none of the kit's numbering functions (kit migration 0052
-- revokes what generator 2's code needed from racefree_user). The rest is for
-- migrations.

REVOKE ALL ON FUNCTION racefree_internal._generator_version() FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._cut_to_fit(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._object_name(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._register(text, regclass, text, jsonb, jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._registered(text, regclass, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._drop_registered(racefree.registry) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._partition_key_missing(regclass, name[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_scope(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_scope_json(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_scope_source(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_part_pattern(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_parse(jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._sequence_advance(regclass, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_advance(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_explicit() FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._numbering_explicit_advance(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_explicit_source(racefree.numberings) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_marker(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_default_active(regclass, regprocedure) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_explicit_when(racefree.numberings) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_inline(text, name, name[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_hook_name(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_digits(int, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_source(racefree.numberings) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_install(racefree.numberings, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_highest(jsonb, regclass, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_seed(racefree.numberings) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._lock_with_retries(regclass[], text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._lock_with_retries(regclass, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_insert_hook(racefree.numberings, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_explicit_hook(racefree.numberings, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_to_trigger(racefree.numberings) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_config(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._add_numbering(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._online_numbering(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._prepare_numbering(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._retrofit_numbering(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._activate_numbering(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._drop_numbering(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._probe_unique_key(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._register_unique_key(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._add_unique_key(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._prepare_unique_key(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._attach_unique_key(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._drop_unique_key(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._upsert_conflict(jsonb, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._upsert_insert_once(jsonb, text, text, text[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._upsert_source(text, name, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._upsert_describe(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._upsert_install(jsonb, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._upsert_gapless(name, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._upsert_follow_numberings(name, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._add_upsert(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._drop_upsert(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._regenerate_all() FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._generated_stale() FROM PUBLIC;

-- The explicit-number trigger of a fast DEFAULT runs as the inserting role.
GRANT EXECUTE ON FUNCTION racefree._numbering_explicit_advance(text, text) TO racefree_user;

-- racefree doctor's counter check, run as racefree_monitor (sql/monitor.sql).
GRANT EXECUTE ON FUNCTION racefree_internal._numbering_highest(jsonb, regclass, name) TO racefree_monitor;
GRANT EXECUTE ON FUNCTION racefree_internal._numbering_part_pattern(jsonb) TO racefree_monitor;
-- racefree_internal._numbering_scope, granted to it by sql/monitor.sql, calls it.
GRANT EXECUTE ON FUNCTION racefree_internal._numbering_scope_json(text, text) TO racefree_monitor;
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
-- Generated code was rewritten by generator 7: there is no faithful way back,
-- and racefree never rolls the kit lane back.
DO $$
BEGIN
  RAISE EXCEPTION 'racefree kit migration 0071 cannot be undone: restore a backup taken before it';
END
$$;
