-- racefree builders as SQL: the one entry point of addNumbering(),
-- addUniqueKey(), addUpsert() and their drops, for the TypeScript builders
-- and for any migration tool that runs SQL (Alembic, Flyway, psql).
--
--   SELECT racefree.add_numbering('assessments', 'assessment_number', 'ASM-{YYYY}-{seq:3}', name => 'assessment');
--   SELECT racefree.add_unique_key('assessments', ARRAY['appointment_id']);
--   SELECT racefree.add_upsert('assessments', key => ARRAY['appointment_id']);
--
-- Each function checks its arguments (RF100 naming the option and value),
-- converts them to the configuration the installers in generated.sql read,
-- and calls them; the installers check the catalog, still before any DDL.
-- Errors name the builders' options: tbl is "table", col "column",
-- time_zone "timeZone", date_column "dateColumn", nulls_not_distinct
-- "nullsNotDistinct".

-- ---------------------------------------------------------------------------
-- Argument checks

CREATE FUNCTION racefree_internal._require_text(builder text, option text, value text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
  IF value IS NULL OR value = '' THEN
    PERFORM racefree_internal._config_error(option, value, format('%s: option "%s" must be a non-empty string', builder, option));
  END IF;
  RETURN value;
END
$$;
COMMENT ON FUNCTION racefree_internal._require_text(text, text, text) IS
  'Internal: RF100 when a builder option is NULL or empty; else the value.';

CREATE FUNCTION racefree_internal._require_names(builder text, option text, names name[])
RETURNS name[]
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
  -- Emptiness, duplicates and unknown columns are racefree_internal._column_names's to judge.
  IF array_ndims(names) > 1 THEN
    PERFORM racefree_internal._config_error(option, names::text, format('%s: option "%s" must be a one-dimensional array', builder, option));
  END IF;
  IF array_position(names, NULL) IS NOT NULL OR array_position(names, '') IS NOT NULL THEN
    PERFORM racefree_internal._config_error(option, names::text,
      format('%s: option "%s" must hold column names, not NULL or empty ones: %s', builder, option, names));
  END IF;
  RETURN names;
END
$$;
COMMENT ON FUNCTION racefree_internal._require_names(text, text, name[]) IS
  'Internal: RF100 when a builder''s column list holds a NULL or an empty name, or is not one-dimensional; else the list.';

CREATE FUNCTION racefree_internal._require_table(builder text, tbl regclass)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  IF tbl IS NULL THEN
    PERFORM racefree_internal._config_error('table', NULL, format('%s: option "table" (tbl) must be a table, not NULL', builder));
  END IF;
  -- Schema-qualified and quoted: the installers resolve it with to_regclass().
  RETURN (SELECT format('%I.%I', n.nspname, c.relname)
            FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = tbl);
END
$$;
COMMENT ON FUNCTION racefree_internal._require_table(text, regclass) IS
  'Internal: RF100 when a builder''s table is NULL; else the table as quoted schema.name text, as the installers read it.';

-- ---------------------------------------------------------------------------
-- Numbering templates

CREATE FUNCTION racefree_internal._numbering_template(template text)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  -- The one parser of numbering templates; the TypeScript builder passes the text through.
  max_width constant int := 18;       -- a bigint has 19 digits; wider padding is a typo, not a plan
  max_length constant int := 255;     -- numbers live in a unique index: a longer template is a mistake
  quoted text := to_jsonb(template)::text;
  parts jsonb := '[]'::jsonb;
  lit text := '';
  n int := char_length(template);
  i int := 1;
  ch text;
  close_at int;
  open_at int;
  token text;
  m text[];
  part jsonb;
  a jsonb;
  b jsonb;
  seqs bigint;
  dates text[];
  cols text[];
  has_year boolean;
  seq_at bigint;
BEGIN
  IF template IS NULL OR template = '' THEN
    PERFORM racefree_internal._config_error('template', template, 'addNumbering: option "template" must be a non-empty string');
  END IF;
  IF n > max_length THEN
    PERFORM racefree_internal._config_error('template', template,
      format('addNumbering: template %s is %s characters long; a template holds at most %s', quoted, n, max_length));
  END IF;
  WHILE i <= n LOOP
    ch := substr(template, i, 1);
    IF ch = '{' AND substr(template, i + 1, 1) = '{' THEN
      lit := lit || '{';
      i := i + 2;
    ELSIF ch = '}' AND substr(template, i + 1, 1) = '}' THEN
      lit := lit || '}';
      i := i + 2;
    ELSIF ch = '}' THEN
      PERFORM racefree_internal._config_error('template', template,
        format('addNumbering: template %s has an unmatched "}" at position %s (write "}}" for a literal brace)', quoted, i));
    ELSIF ch = '{' THEN
      close_at := strpos(substr(template, i + 1), '}');
      open_at := strpos(substr(template, i + 1), '{');
      IF close_at = 0 OR (open_at > 0 AND open_at < close_at) THEN
        PERFORM racefree_internal._config_error('template', template,
          format('addNumbering: template %s has an unclosed "{" at position %s (write "{{" for a literal brace)', quoted, i));
      END IF;
      IF lit <> '' THEN
        parts := parts || jsonb_build_object('literal', lit);
        lit := '';
      END IF;
      token := substr(template, i + 1, close_at - 1);
      m := regexp_match(token, '^seq(?::(.*))?$');
      IF token IN ('YYYY', 'YY', 'MM', 'DD') THEN
        part := jsonb_build_object('date', token);
      ELSIF m IS NOT NULL THEN
        IF m[1] IS NULL THEN
          part := jsonb_build_object('seq', 1);
        ELSIF m[1] !~ '^[0-9]+$' THEN
          PERFORM racefree_internal._config_error('template', template,
            format('addNumbering: template %s has {%s}: the width after "seq:" must be a whole number from 1 to %s', quoted, token, max_width));
        ELSIF m[1]::numeric < 1 OR m[1]::numeric > max_width THEN
          PERFORM racefree_internal._config_error('template', template,
            format('addNumbering: template %s has {%s}: the width must be from 1 to %s', quoted, token, max_width));
        ELSE
          part := jsonb_build_object('seq', m[1]::int);
        END IF;
      ELSIF token ~ '^[A-Za-z_][A-Za-z0-9_$]*$' AND upper(token) NOT IN ('YYYY', 'YY', 'MM', 'DD') THEN
        part := jsonb_build_object('column', token);
      ELSE
        PERFORM racefree_internal._config_error('template', template,
          format('addNumbering: template %s has an unknown token {%s}: use {YYYY}, {YY}, {MM}, {DD}, {seq}, {seq:N} or {column_name}', quoted, token));
      END IF;
      parts := parts || part;
      i := i + close_at + 1;
    ELSE
      lit := lit || ch;
      i := i + 1;
    END IF;
  END LOOP;
  IF lit <> '' THEN
    parts := parts || jsonb_build_object('literal', lit);
  END IF;

  seqs := (SELECT count(*) FROM jsonb_array_elements(parts) AS p WHERE p ? 'seq');
  IF seqs <> 1 THEN
    PERFORM racefree_internal._config_error('template', template, format('addNumbering: template %s %s', quoted,
      CASE WHEN seqs = 0 THEN 'has no {seq} token' ELSE format('has %s {seq} tokens; it needs exactly one', seqs) END));
  END IF;
  dates := ARRAY(SELECT p->>'date' FROM jsonb_array_elements(parts) WITH ORDINALITY AS e (p, o) WHERE p ? 'date' ORDER BY o);
  SELECT d INTO token FROM unnest(dates) WITH ORDINALITY AS u (d, o) GROUP BY d HAVING count(*) > 1 ORDER BY min(o) LIMIT 1;
  IF FOUND THEN
    PERFORM racefree_internal._config_error('template', template, format('addNumbering: template %s repeats {%s}', quoted, token));
  END IF;
  has_year := 'YYYY' = ANY (dates) OR 'YY' = ANY (dates);
  IF 'MM' = ANY (dates) AND NOT has_year THEN
    PERFORM racefree_internal._config_error('template', template,
      format('addNumbering: template %s has {MM} without a year ({YYYY} or {YY}): numbers of different years would collide', quoted));
  END IF;
  IF 'DD' = ANY (dates) AND NOT 'MM' = ANY (dates) THEN
    PERFORM racefree_internal._config_error('template', template,
      format('addNumbering: template %s has {DD} without {MM}: numbers of different months would collide', quoted));
  END IF;
  cols := ARRAY(SELECT p->>'column' FROM jsonb_array_elements(parts) WITH ORDINALITY AS e (p, o) WHERE p ? 'column' ORDER BY o);
  IF cardinality(cols) <> (SELECT count(DISTINCT c) FROM unnest(cols) AS c) THEN
    PERFORM racefree_internal._config_error('template', template, format('addNumbering: template %s names the same column twice', quoted));
  END IF;
  -- A column value next to a variable-width field makes numbers of different
  -- scopes spell the same text (tenant 1 + seq 23 = tenant 12 + seq 3).
  FOR i IN 0 .. jsonb_array_length(parts) - 1 LOOP
    a := parts->i;
    CONTINUE WHEN NOT (a ? 'column' OR a ? 'seq');
    FOR j IN i + 1 .. jsonb_array_length(parts) - 1 LOOP
      b := parts->j;
      EXIT WHEN b ? 'literal' AND b->>'literal' ~ '[^0-9]';
      IF (b ? 'column' OR b ? 'seq') AND (a ? 'column' OR b ? 'column') THEN
        PERFORM racefree_internal._config_error('template', template,
          format('addNumbering: template %s needs literal text with a non-digit between %s and %s', quoted,
                 racefree_internal._numbering_token(a), racefree_internal._numbering_token(b)));
      END IF;
    END LOOP;
  END LOOP;
  -- Column values may hold any text, so the {seq} of a number is found only
  -- from the side without them: two open sides make one text readable as two
  -- (scope, seq) pairs ({a}-{seq}-{b}: a='x', b='1-y', seq 5 and a='x-5', b='y', seq 1).
  SELECT o INTO seq_at FROM jsonb_array_elements(parts) WITH ORDINALITY AS e (p, o) WHERE p ? 'seq';
  IF EXISTS (SELECT FROM jsonb_array_elements(parts) WITH ORDINALITY AS e (p, o) WHERE p ? 'column' AND o < seq_at)
     AND EXISTS (SELECT FROM jsonb_array_elements(parts) WITH ORDINALITY AS e (p, o) WHERE p ? 'column' AND o > seq_at) THEN
    PERFORM racefree_internal._config_error('template', template,
      format('addNumbering: template %s has column tokens on both sides of {seq}; put them all before it or all after it', quoted));
  END IF;
  RETURN jsonb_build_object(
    'parts', parts,
    'reset', CASE WHEN 'DD' = ANY (dates) THEN 'daily' WHEN 'MM' = ANY (dates) THEN 'monthly'
                  WHEN has_year THEN 'yearly' ELSE 'never' END,
    'columns', to_jsonb(cols));
END
$$;
COMMENT ON FUNCTION racefree_internal._numbering_template(text) IS
  'Internal: parses a numbering template such as ASM-{YYYY}-{seq:3} into {parts, reset, columns}: parts of {literal}, {date: YYYY|YY|MM|DD}, {column}, {seq: width}; reset never, yearly, monthly or daily (the finest date token). RF100 naming the template and what is wrong with it: no {seq} or two, unbalanced or unknown tokens, a width outside 1 to 18, over 255 characters, repeated or incomplete dates, a column twice, column tokens on both sides of {seq} or next to another variable field.';

CREATE FUNCTION racefree_internal._numbering_token(part jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT CASE WHEN part ? 'column' THEN format('{%s}', part->>'column')
              WHEN part ? 'seq' THEN CASE WHEN (part->>'seq')::int = 1 THEN '{seq}' ELSE format('{seq:%s}', part->>'seq') END
              WHEN part ? 'date' THEN format('{%s}', part->>'date')
              ELSE part->>'literal' END
$$;
COMMENT ON FUNCTION racefree_internal._numbering_token(jsonb) IS
  'Internal: a parsed template part written back as template text, for error messages.';

-- ---------------------------------------------------------------------------
-- Numbering

CREATE FUNCTION racefree_internal._numbering_config(tbl regclass, col name, template text, mode text DEFAULT 'gapless',
                                           time_zone text DEFAULT 'UTC', date_column name DEFAULT NULL, name text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  tbl_text text := racefree_internal._require_table('addNumbering', _numbering_config.tbl);
  numbering text;
  generator text;
  parsed jsonb;
BEGIN
  PERFORM racefree_internal._require_text('addNumbering', 'column', _numbering_config.col);
  numbering := racefree_internal._require_text('addNumbering', 'name', coalesce(_numbering_config.name, _numbering_config.col));
  generator := 'generate_' || numbering || '_number';
  IF octet_length(generator) > 63 THEN
    PERFORM racefree_internal._config_error('name', numbering,
      format('addNumbering: option "name" %s makes %s, %s bytes; PostgreSQL names hold at most 63',
             to_jsonb(numbering), generator, octet_length(generator)));
  END IF;
  IF _numbering_config.mode IS NULL OR _numbering_config.mode NOT IN ('gapless', 'fast') THEN
    PERFORM racefree_internal._config_error('mode', _numbering_config.mode,
      format('addNumbering: option "mode" must be ''gapless'' or ''fast'', not %s', coalesce(to_jsonb(_numbering_config.mode)::text, 'NULL')));
  END IF;
  PERFORM racefree_internal._require_text('addNumbering', 'timeZone', _numbering_config.time_zone);
  IF _numbering_config.date_column IS NOT NULL THEN
    PERFORM racefree_internal._require_text('addNumbering', 'dateColumn', _numbering_config.date_column);
  END IF;
  parsed := racefree_internal._numbering_template(_numbering_config.template);
  IF _numbering_config.date_column IS NOT NULL AND parsed->>'reset' = 'never' THEN
    PERFORM racefree_internal._config_error('dateColumn', _numbering_config.date_column,
      format('addNumbering: option "dateColumn" is set but template %s has no date token', to_jsonb(_numbering_config.template)));
  END IF;
  -- The table, the columns, the time zone and which modes a template allows
  -- are the installer's to check, before its first DDL statement.
  RETURN jsonb_strip_nulls(jsonb_build_object(
    'name', numbering, 'table', tbl_text, 'column', _numbering_config.col, 'template', _numbering_config.template,
    'parts', parsed->'parts', 'reset', parsed->>'reset', 'mode', _numbering_config.mode,
    'timeZone', _numbering_config.time_zone, 'dateColumn', _numbering_config.date_column));
END
$$;
COMMENT ON FUNCTION racefree_internal._numbering_config(regclass, name, text, text, text, name, text) IS
  'Internal: add_numbering''s arguments checked (RF100 naming the option) and converted to the installer''s configuration; the online retrofit''s steps (addNumbering with concurrently) read the same.';

CREATE FUNCTION racefree.add_numbering(tbl regclass, col name, template text, mode text DEFAULT 'gapless',
                                       time_zone text DEFAULT 'UTC', date_column name DEFAULT NULL, name text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM racefree_internal._add_numbering(racefree_internal._numbering_config(add_numbering.tbl, add_numbering.col, add_numbering.template,
    add_numbering.mode, add_numbering.time_zone, add_numbering.date_column, add_numbering.name));
END
$$;
COMMENT ON FUNCTION racefree.add_numbering(regclass, name, text, text, text, name, text) IS
  'Numbers column col of table tbl race-free (addNumbering). Creates generate_<name>_number() (name defaults to col) in the table''s schema, as the column DEFAULT or, when the template uses row values or date_column is set, as a BEFORE INSERT trigger; adds a unique constraint when the column has none; starts the counters after the numbers already there. template: {YYYY} {YY} {MM} {DD}, exactly one {seq} or {seq:N}, {column}, {{ and }}. mode: gapless (committed numbers 1..n per period and scope) or fast (a sequence: never waits, gaps). time_zone: the IANA zone dates are read in. date_column: dates numbers by that column instead of the transaction start. Every bad argument is RF100 naming the option, before any DDL; run it in the migration''s transaction.';

CREATE FUNCTION racefree.drop_numbering(tbl regclass, col name, name text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl_text text := racefree_internal._require_table('dropNumbering', drop_numbering.tbl);
BEGIN
  PERFORM racefree_internal._require_text('dropNumbering', 'column', drop_numbering.col);
  PERFORM racefree_internal._drop_numbering(jsonb_build_object(
    'table', tbl_text, 'column', drop_numbering.col,
    'name', racefree_internal._require_text('dropNumbering', 'name', coalesce(drop_numbering.name, drop_numbering.col))));
END
$$;
COMMENT ON FUNCTION racefree.drop_numbering(regclass, name, text) IS
  'Undoes add_numbering with the same tbl, col and name (dropNumbering). Drops the generator, the column DEFAULT, the triggers, the sequence, the unique constraint it added, and the numbering''s counters. RF100 when there is no such numbering.';

-- ---------------------------------------------------------------------------
-- Unique keys

CREATE FUNCTION racefree_internal._unique_key_config(tbl regclass, columns name[], "where" text DEFAULT NULL,
                                            nulls_not_distinct boolean DEFAULT false, name text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  tbl_text text := racefree_internal._require_table('addUniqueKey', _unique_key_config.tbl);
  key_name text := _unique_key_config.name;
BEGIN
  PERFORM racefree_internal._column_names('addUniqueKey', 'columns', _unique_key_config.tbl,
    to_jsonb(racefree_internal._require_names('addUniqueKey', 'columns', _unique_key_config.columns)));
  IF _unique_key_config."where" = '' THEN
    PERFORM racefree_internal._config_error('where', '', 'addUniqueKey: option "where" must be a non-empty condition, or NULL for a key on every row');
  END IF;
  IF _unique_key_config.nulls_not_distinct IS NULL THEN
    PERFORM racefree_internal._config_error('nullsNotDistinct', NULL, 'addUniqueKey: option "nullsNotDistinct" must be true or false');
  END IF;
  IF key_name IS NULL THEN
    key_name := racefree_internal._unique_key_name(_unique_key_config.tbl, _unique_key_config.columns);
  END IF;
  PERFORM racefree_internal._require_text('addUniqueKey', 'name', key_name);
  IF octet_length(key_name) > 63 THEN
    PERFORM racefree_internal._config_error('name', key_name,
      format('addUniqueKey: option "name" is %s bytes; PostgreSQL names hold at most 63', octet_length(key_name)));
  END IF;
  RETURN jsonb_strip_nulls(jsonb_build_object(
    'table', tbl_text, 'columns', to_jsonb(_unique_key_config.columns), 'name', key_name,
    'where', _unique_key_config."where", 'nullsNotDistinct', _unique_key_config.nulls_not_distinct));
END
$$;
COMMENT ON FUNCTION racefree_internal._unique_key_config(regclass, name[], text, boolean, text) IS
  'Internal: checks the arguments of racefree.add_unique_key (RF100) and returns the configuration the unique-key installers read ({table, columns, name, where, nullsNotDistinct}); name defaults to racefree_internal._unique_key_name(). addUniqueKey({ concurrently: true }) passes it to each of its steps.';

CREATE FUNCTION racefree_internal._unique_key_name(tbl regclass, columns name[])
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  -- PostgreSQL's own default for UNIQUE (a, b), cut by characters to fit.
  RETURN racefree_internal._cut_to_fit((SELECT c.relname FROM pg_catalog.pg_class AS c WHERE c.oid = tbl) || '_' || array_to_string(columns, '_'), '_key');
END
$$;
COMMENT ON FUNCTION racefree_internal._unique_key_name(regclass, name[]) IS
  'Internal: the default name of a unique key, <table>_<columns>_key (PostgreSQL''s own for UNIQUE (a, b)), the beginning cut by characters to fit 63 bytes.';

CREATE FUNCTION racefree.add_unique_key(tbl regclass, columns name[], "where" text DEFAULT NULL,
                                        nulls_not_distinct boolean DEFAULT false, name text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM racefree_internal._add_unique_key(racefree_internal._unique_key_config(add_unique_key.tbl, add_unique_key.columns,
    add_unique_key."where", add_unique_key.nulls_not_distinct, add_unique_key.name));
END
$$;
COMMENT ON FUNCTION racefree.add_unique_key(regclass, name[], text, boolean, text) IS
  'Adds a unique key on columns of tbl, or RF101 listing existing duplicates (addUniqueKey). Locks the table against writers (SHARE) until the transaction ends, raises RF101 listing up to 10 groups of duplicates (nothing changed), else adds a UNIQUE constraint, or with "where" a partial unique index. nulls_not_distinct: NULLs count as equal. name defaults to <table>_<columns>_key. Every bad argument is RF100 naming the option, before any DDL. To build without blocking writers, use addUniqueKey({ concurrently: true }).';

CREATE FUNCTION racefree.drop_unique_key(tbl regclass, columns name[] DEFAULT NULL, name text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl_text text := racefree_internal._require_table('dropUniqueKey', drop_unique_key.tbl);
  key_name text := drop_unique_key.name;
BEGIN
  IF key_name IS NULL THEN
    IF drop_unique_key.columns IS NULL THEN
      PERFORM racefree_internal._config_error('columns', NULL, 'dropUniqueKey: give option "name", or "columns" for the default name');
    END IF;
    key_name := racefree_internal._unique_key_name(drop_unique_key.tbl, racefree_internal._require_names('dropUniqueKey', 'columns', drop_unique_key.columns));
  END IF;
  PERFORM racefree_internal._drop_unique_key(jsonb_build_object('table', tbl_text,
    'name', racefree_internal._require_text('dropUniqueKey', 'name', key_name)));
END
$$;
COMMENT ON FUNCTION racefree.drop_unique_key(regclass, name[], text) IS
  'Undoes add_unique_key (dropUniqueKey). Drops the constraint or unique index named name, or by default <table>_<columns>_key, of tbl. RF100 when there is none.';

-- ---------------------------------------------------------------------------
-- Upserts

CREATE FUNCTION racefree.add_upsert(tbl regclass, key name[], "where" text DEFAULT NULL, update name[] DEFAULT NULL,
                                    name text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl_text text := racefree_internal._require_table('addUpsert', add_upsert.tbl);
BEGIN
  PERFORM racefree_internal._require_names('addUpsert', 'key', add_upsert.key);
  PERFORM racefree_internal._require_names('addUpsert', 'update', add_upsert.update);
  IF add_upsert."where" = '' THEN
    PERFORM racefree_internal._config_error('where', '', 'addUpsert: option "where" must be a non-empty condition, or NULL for a key on every row');
  END IF;
  IF add_upsert.name IS NOT NULL THEN
    PERFORM racefree_internal._require_text('addUpsert', 'name', add_upsert.name);
  END IF;
  -- Key columns, update columns, the conflict target and the names' length
  -- are the installer's to check, before its first DDL statement.
  PERFORM racefree_internal._add_upsert(jsonb_strip_nulls(jsonb_build_object(
    'table', tbl_text, 'key', to_jsonb(add_upsert.key), 'where', add_upsert."where",
    'update', to_jsonb(add_upsert.update),
    'name', coalesce(add_upsert.name, (SELECT c.relname FROM pg_catalog.pg_class AS c WHERE c.oid = add_upsert.tbl)))));
END
$$;
COMMENT ON FUNCTION racefree.add_upsert(regclass, name[], text, name[], text) IS
  'Generates upsert functions for a unique key of tbl (addUpsert). Creates upsert_<name>(), get_or_create_<name>() and upsert_<name>_many() (name defaults to the table''s) and their row type upsert_<name>_result in the table''s schema: one INSERT ... ON CONFLICT (key) statement each. key: the columns of a unique constraint or index of tbl; "where": for a partial unique key, a condition implying the index''s own; update: the columns an update may change (default: every column a caller may give except key, identity and primary key columns; ARRAY[]::name[] never updates). The conflict target is confirmed by PostgreSQL''s ON CONFLICT inference; every bad argument is RF100 naming the option, before any DDL.';

CREATE FUNCTION racefree.drop_upsert(tbl regclass, name text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl_text text := racefree_internal._require_table('dropUpsert', drop_upsert.tbl);
BEGIN
  IF drop_upsert.name IS NOT NULL THEN
    PERFORM racefree_internal._require_text('dropUpsert', 'name', drop_upsert.name);
  END IF;
  PERFORM racefree_internal._drop_upsert(jsonb_strip_nulls(jsonb_build_object('table', tbl_text, 'name', drop_upsert.name)));
END
$$;
COMMENT ON FUNCTION racefree.drop_upsert(regclass, text) IS
  'Undoes add_upsert (dropUpsert). Drops the three generated functions and their row type for tbl (or name). RF100 when they are not registered.';

-- ---------------------------------------------------------------------------
-- Privileges: for migrations, never for services.

REVOKE ALL ON FUNCTION racefree_internal._require_text(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._require_names(text, text, name[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._require_table(text, regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_template(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_token(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._numbering_config(regclass, name, text, text, text, name, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree.add_numbering(regclass, name, text, text, text, name, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree.drop_numbering(regclass, name, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._unique_key_config(regclass, name[], text, boolean, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._unique_key_name(regclass, name[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree.add_unique_key(regclass, name[], text, boolean, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree.drop_unique_key(regclass, name[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree.add_upsert(regclass, name[], text, name[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree.drop_upsert(regclass, text) FROM PUBLIC;
