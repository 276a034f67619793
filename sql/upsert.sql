-- racefree upserts and unique keys: the installers behind addUniqueKey() and
-- addUpsert().
--
-- A unique key is added only after the table is shown to hold no duplicates
-- for it (RF101 lists them otherwise), so a migration never half-fails on
-- CREATE UNIQUE INDEX. addUpsert() generates, in the table's schema,
-- upsert_<t>(), get_or_create_<t>() and upsert_<t>_many(): each write is one
-- INSERT ... ON CONFLICT statement on a conflict target that PostgreSQL itself
-- confirmed when the migration ran, so a wrong key fails the migration rather
-- than the first request in production (42P10).

-- ---------------------------------------------------------------------------
-- Shared checks

CREATE FUNCTION racefree._table_oid(builder text, tbl text)
RETURNS regclass
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  rel regclass := to_regclass(tbl);
BEGIN
  IF rel IS NULL OR (SELECT c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid = rel) NOT IN ('r', 'p') THEN
    PERFORM racefree._config_error('table', tbl, format('%s: table %s does not exist', builder, tbl));
  END IF;
  RETURN rel;
END
$$;
COMMENT ON FUNCTION racefree._table_oid(text, text) IS
  'Internal: resolves a builder''s table option (quoted, search_path rules) to a table or partitioned table; RF100 when there is none.';

CREATE FUNCTION racefree._column_names(builder text, option text, tbl regclass, columns jsonb)
RETURNS name[]
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  names name[] := '{}';
  col text;
BEGIN
  IF jsonb_typeof(columns) IS DISTINCT FROM 'array' OR jsonb_array_length(columns) = 0 THEN
    PERFORM racefree._config_error(option, columns::text,
      format('%s: option "%s" must name at least one column', builder, option));
  END IF;
  FOR col IN SELECT jsonb_array_elements_text(columns) LOOP
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                    WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped) THEN
      PERFORM racefree._config_error(option, col, format('%s: column %I does not exist in table %s', builder, col, tbl));
    END IF;
    IF col = ANY (names) THEN
      PERFORM racefree._config_error(option, col, format('%s: option "%s" names column %I twice', builder, option, col));
    END IF;
    names := names || col::name;
  END LOOP;
  RETURN names;
END
$$;
COMMENT ON FUNCTION racefree._column_names(text, text, regclass, jsonb) IS
  'Internal: checks that a builder option is a non-empty JSON array of distinct columns of the table; RF100 otherwise.';

-- ---------------------------------------------------------------------------
-- Unique keys

CREATE FUNCTION racefree._assert_no_duplicates(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  builder text := coalesce(config->>'builder', 'addUniqueKey');
  tbl regclass := racefree._table_oid(builder, config->>'table');
  cols name[] := racefree._column_names(builder, 'columns', tbl, config->'columns');
  pred text := config->>'where';
  nulls_not_distinct boolean := coalesce((config->>'nullsNotDistinct')::boolean, false);
  target text;
  list text;
  filter text;
  total bigint;
  groups jsonb;
BEGIN
  SELECT format('%I.%I', n.nspname, c.relname) INTO target
    FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = tbl;
  SELECT string_agg(format('%I', col), ', ') INTO list FROM unnest(cols) AS col;
  -- Rows with a NULL in the key never collide unless NULLS NOT DISTINCT; rows
  -- outside a partial key's predicate are not in the index at all.
  SELECT CASE WHEN nulls_not_distinct THEN 'true' ELSE string_agg(format('%I IS NOT NULL', col), ' AND ') END
    INTO filter FROM unnest(cols) AS col;
  IF pred IS NOT NULL THEN
    filter := format('%s AND (%s)', filter, pred);
  END IF;
  BEGIN
    EXECUTE format($q$
      SELECT count(*), coalesce(jsonb_agg(jsonb_build_object('values', vals, 'count', n) ORDER BY rn) FILTER (WHERE rn <= 10), '[]')
        FROM (SELECT vals, n, row_number() OVER (ORDER BY n DESC, vals) AS rn
                FROM (SELECT jsonb_build_array(%s) AS vals, count(*) AS n
                        FROM %s AS t WHERE %s GROUP BY %s HAVING count(*) > 1) AS g) AS r$q$,
      (SELECT string_agg(format('%I::text', col), ', ') FROM unnest(cols) AS col), tbl, filter, list)
      INTO total, groups;
  EXCEPTION WHEN syntax_error_or_access_rule_violation THEN
    IF pred IS NULL THEN
      RAISE;
    END IF;
    PERFORM racefree._config_error('where', pred,
      format('%s: option "where" is not a condition on %s: %s', builder, tbl, SQLERRM));
  END;
  IF total > 0 THEN
    RAISE EXCEPTION USING
      ERRCODE = 'RF101',
      MESSAGE = format('%s: %s holds %s group(s) of rows with the same (%s)%s; nothing was changed',
        builder, target, total, list, CASE WHEN pred IS NULL THEN '' ELSE format(' WHERE %s', pred) END),
      DETAIL = jsonb_build_object('table', target, 'columns', to_jsonb(cols), 'groups', groups, 'total', total)::text,
      HINT = 'Remove or merge the duplicate rows (DETAIL lists up to 10 groups), then run the migration again.';
  END IF;
END
$$;
COMMENT ON FUNCTION racefree._assert_no_duplicates(jsonb) IS
  'Internal, queued by addUniqueKey() before any DDL: raises RF101 when rows of the table share a value of the key columns (within the partial key''s WHERE; NULLs count only with nullsNotDistinct). DETAIL is JSON {table, columns, groups: up to 10 of {values, count}, total: number of groups}. Takes no lock of its own; RF100 for an unknown table or column or a bad where.';

CREATE FUNCTION racefree._add_unique_key(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl regclass := racefree._table_oid('addUniqueKey', config->>'table');
  cols name[] := racefree._column_names('addUniqueKey', 'columns', tbl, config->'columns');
  key_name name := config->>'name';
  pred text := config->>'where';
  nnd text := CASE WHEN coalesce((config->>'nullsNotDistinct')::boolean, false) THEN ' NULLS NOT DISTINCT' ELSE '' END;
  list text;
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = tbl AND conname = key_name)
     OR EXISTS (SELECT FROM pg_catalog.pg_class AS c
                 WHERE c.relname = key_name
                   AND c.relnamespace = (SELECT relnamespace FROM pg_catalog.pg_class WHERE oid = tbl)) THEN
    PERFORM racefree._config_error('name', key_name,
      format('addUniqueKey: %I already exists in the schema or on table %s; choose another name', key_name, tbl));
  END IF;
  -- Writers wait from here to the end of the migration, so no duplicate can
  -- slip in between the check and the index build.
  EXECUTE format('LOCK TABLE %s IN SHARE MODE', tbl);
  PERFORM racefree._assert_no_duplicates(config || '{"builder": "addUniqueKey"}');
  SELECT string_agg(format('%I', col), ', ') INTO list FROM unnest(cols) AS col;
  IF pred IS NULL THEN
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I UNIQUE%s (%s)', tbl, key_name, nnd, list);
  ELSE
    BEGIN
      EXECUTE format('CREATE UNIQUE INDEX %I ON %s (%s)%s WHERE (%s)', key_name, tbl, list, nnd, pred);
    EXCEPTION WHEN invalid_object_definition THEN  -- e.g. a non-IMMUTABLE function in the predicate
      PERFORM racefree._config_error('where', pred, format('addUniqueKey: option "where": %s', SQLERRM));
    END;
  END IF;
END
$$;
COMMENT ON FUNCTION racefree._add_unique_key(jsonb) IS
  'Internal, called by addUniqueKey(): checks table, columns and name (RF100), locks the table against writers (SHARE), raises RF101 when existing rows would violate the key, then adds a UNIQUE constraint, or a unique index when the key is partial (where). Everything happens in the migration''s transaction: on any error nothing is created.';

CREATE FUNCTION racefree._prepare_unique_key(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl regclass := racefree._table_oid('addUniqueKey', config->>'table');
  cols name[] := racefree._column_names('addUniqueKey', 'columns', tbl, config->'columns');
  key_name name := config->>'name';
  scratch name := config->>'scratch';
  pred text := config->>'where';
  nnd text := CASE WHEN coalesce((config->>'nullsNotDistinct')::boolean, false) THEN ' NULLS NOT DISTINCT' ELSE '' END;
  ns oid := (SELECT relnamespace FROM pg_catalog.pg_class WHERE oid = tbl);
  existing record;
  leftover record;
  con record;
  wanted text;
  found_first regclass;
BEGIN
  -- The key as asked for, built on an empty copy of the table: proves a
  -- partial key's predicate (CREATE INDEX CONCURRENTLY would reject a bad one
  -- only later, on its own) and gives the definition an earlier, interrupted
  -- run may already have built.
  BEGIN
    EXECUTE format('CREATE TEMP TABLE racefree_probe (LIKE %s)', tbl);
    EXECUTE format('CREATE UNIQUE INDEX racefree_probe_key ON pg_temp.racefree_probe (%s)%s%s',
      (SELECT string_agg(format('%I', col), ', ') FROM unnest(cols) AS col), nnd,
      CASE WHEN pred IS NULL THEN '' ELSE format(' WHERE (%s)', pred) END);
    wanted := substring(pg_catalog.pg_get_indexdef('pg_temp.racefree_probe_key'::regclass) FROM ' USING .*$');
    DROP TABLE pg_temp.racefree_probe;
  EXCEPTION WHEN syntax_error_or_access_rule_violation OR invalid_object_definition THEN
    PERFORM racefree._config_error('where', pred, format('addUniqueKey: option "where" is not a condition on %s: %s', tbl, SQLERRM));
  END;
  SELECT c.oid, c.relkind, i.indrelid, i.indisvalid, i.indisunique,
         CASE WHEN c.relkind = 'i' THEN substring(pg_catalog.pg_get_indexdef(c.oid) FROM ' USING .*$') END AS def
    INTO existing
    FROM pg_catalog.pg_class AS c LEFT JOIN pg_catalog.pg_index AS i ON i.indexrelid = c.oid
   WHERE c.relname = key_name AND c.relnamespace = ns;
  IF FOUND AND existing.relkind = 'i' AND existing.indrelid = tbl AND existing.indisvalid THEN
    -- Built by an interrupted earlier run (killed before the constraint was
    -- attached or the migration recorded): adopted when it is this key.
    IF existing.def IS DISTINCT FROM wanted THEN
      PERFORM racefree._config_error('name', key_name,
        format('addUniqueKey: index %I already exists on table %s as %s, not the key asked for, %s; drop it or choose another name',
          key_name, tbl, format('CREATE UNIQUE INDEX %I ON %s%s', key_name, tbl, existing.def),
          format('CREATE UNIQUE INDEX %I ON %s%s', key_name, tbl, wanted)));
    END IF;
  ELSIF FOUND AND existing.relkind = 'i' AND existing.indrelid = tbl THEN
    -- INVALID, left by a failed or interrupted build: moved out of the way for
    -- the DROP INDEX CONCURRENTLY that follows, which takes no lock writers wait for.
    IF to_regclass(format('%I.%I', (SELECT nspname FROM pg_catalog.pg_namespace WHERE oid = ns), scratch)) IS NOT NULL THEN
      PERFORM racefree._config_error('name', key_name,
        format('addUniqueKey: both %I and %I are left over from earlier attempts on table %s; drop one of them', key_name, scratch, tbl));
    END IF;
    EXECUTE format('ALTER INDEX %s RENAME TO %I', existing.oid::regclass, scratch);
  ELSIF FOUND THEN
    PERFORM racefree._config_error('name', key_name,
      format('addUniqueKey: %I already exists in the schema of table %s and is not an index of that table left by an earlier attempt; choose another name',
        key_name, tbl));
  END IF;
  SELECT c.contype, c.conindid INTO con FROM pg_catalog.pg_constraint AS c WHERE c.conrelid = tbl AND c.conname = key_name;
  IF FOUND AND NOT (con.contype = 'u' AND pred IS NULL AND con.conindid = existing.oid) THEN
    PERFORM racefree._config_error('name', key_name,
      format('addUniqueKey: constraint %I already exists on table %s and is not this key; choose another name', key_name, tbl));
  END IF;
  SELECT c.oid, i.indrelid, i.indisvalid INTO leftover
    FROM pg_catalog.pg_class AS c LEFT JOIN pg_catalog.pg_index AS i ON i.indexrelid = c.oid
   WHERE c.relname = scratch AND c.relnamespace = ns;
  IF FOUND AND (leftover.indrelid IS DISTINCT FROM tbl OR leftover.indisvalid) THEN
    PERFORM racefree._config_error('name', key_name,
      format('addUniqueKey: %I, the name an invalid leftover of %I is moved to, is taken by something else in the schema of table %s',
        scratch, key_name, tbl));
  END IF;
  -- The DROP INDEX CONCURRENTLY that follows names the leftover as the builder
  -- names the table; it must find this leftover or nothing.
  found_first := to_regclass(config->>'scratchIndex');
  IF found_first IS NOT NULL AND found_first::oid IS DISTINCT FROM leftover.oid THEN
    PERFORM racefree._config_error('table', config->>'table',
      format('addUniqueKey: %s is found first on the search_path; give table as { schema, name }', found_first));
  END IF;
  PERFORM racefree._assert_no_duplicates(config || '{"builder": "addUniqueKey"}');
END
$$;
COMMENT ON FUNCTION racefree._prepare_unique_key(jsonb) IS
  'Internal, queued by addUniqueKey({ concurrently: true }) before its CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS: checks table, columns, where and name (RF100) and raises RF101 when existing rows would violate the key. What an interrupted earlier run left is taken up: a VALID index of that name with the same definition (columns, predicate, NULLS NOT DISTINCT), and its constraint, are adopted; one with another definition is RF100 naming both; an INVALID one is renamed to config scratch, which the next step drops concurrently. Takes no lock writers wait for.';

CREATE FUNCTION racefree._attach_unique_key(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl regclass := racefree._table_oid('addUniqueKey', config->>'table');
  key_name name := config->>'name';
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = tbl AND conname = key_name) THEN
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I UNIQUE USING INDEX %I', tbl, key_name, key_name);
  END IF;
END
$$;
COMMENT ON FUNCTION racefree._attach_unique_key(jsonb) IS
  'Internal, queued by addUniqueKey({ concurrently: true }) after its index build: attaches the unique index as constraint config name (ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX), unless an interrupted earlier run already did.';

CREATE FUNCTION racefree._drop_unique_key(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl regclass := racefree._table_oid('dropUniqueKey', config->>'table');
  key_name name := config->>'name';
  idx regclass;
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = tbl AND conname = key_name AND contype = 'u') THEN
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', tbl, key_name);
    RETURN;
  END IF;
  SELECT i.indexrelid INTO idx
    FROM pg_catalog.pg_index AS i JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
   WHERE i.indrelid = tbl AND i.indisunique AND c.relname = key_name;
  IF idx IS NULL THEN
    PERFORM racefree._config_error('name', key_name, format('dropUniqueKey: no unique key %I on table %s', key_name, tbl));
  END IF;
  EXECUTE format('DROP INDEX %s', idx);
END
$$;
COMMENT ON FUNCTION racefree._drop_unique_key(jsonb) IS
  'Internal, called by dropUniqueKey(): drops the UNIQUE constraint or unique index of that name on the table; RF100 when there is none.';


-- ---------------------------------------------------------------------------
-- Generated upserts

CREATE FUNCTION racefree._has_equality(typ regtype)
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  t pg_catalog.pg_type;
BEGIN
  SELECT * INTO t FROM pg_catalog.pg_type WHERE oid = typ;
  IF t.typtype = 'd' THEN
    RETURN racefree._has_equality(t.typbasetype);
  ELSIF t.typcategory = 'A' AND t.typelem <> 0 THEN
    -- Array = resolves for any element type and fails only when it runs: ask the element.
    RETURN racefree._has_equality(t.typelem);
  ELSIF t.typtype = 'c' THEN
    RETURN false;  -- the same holds for record =
  END IF;
  EXECUTE format('SELECT NULL::%s IS DISTINCT FROM NULL::%s', typ, typ);
  RETURN true;
EXCEPTION WHEN undefined_function THEN
  RETURN false;
END
$$;
COMMENT ON FUNCTION racefree._has_equality(regtype) IS
  'Internal: whether values of the type can be compared with IS DISTINCT FROM. json, xml, point and composite columns cannot; generated upserts compare those as text.';

CREATE FUNCTION racefree._upsert_match(col jsonb, ref text, nulls_not_distinct boolean)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  -- The key index's own equality operator and collation, so the read-back
  -- finds exactly the row ON CONFLICT found.
  SELECT CASE WHEN nulls_not_distinct
              THEN format('(%s %s %s OR (cur.%I IS NULL AND %s IS NULL))', lhs, col->>'op', ref, col->>'name', ref)
              ELSE format('%s %s %s', lhs, col->>'op', ref) END
    FROM (SELECT format('cur.%I', col->>'name') || coalesce(' COLLATE ' || (col->>'collate'), '') AS lhs) AS l
$$;
COMMENT ON FUNCTION racefree._upsert_match(jsonb, text, boolean) IS
  'Internal: SQL text comparing one key column of the row cur with a value, as the key''s unique index compares them.';

CREATE FUNCTION racefree._upsert_conflict(info jsonb, set_list text, changed text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT CASE
    WHEN set_list IS NULL THEN
      -- Nothing may change, but DO UPDATE ... WHERE false still locks the row, so it can be read back.
      format(E'ON CONFLICT %s DO UPDATE\n     SET %I = cur.%I\n   WHERE false', info->>'target', info->>'firstKey', info->>'firstKey')
    ELSE format(E'ON CONFLICT %s DO UPDATE\n     SET %s\n   WHERE %s', info->>'target', set_list, changed) END
$$;
COMMENT ON FUNCTION racefree._upsert_conflict(jsonb, text, text) IS
  'Internal: the ON CONFLICT ... DO UPDATE clause of generated upserts. Its WHERE skips the update when no given value IS DISTINCT FROM the stored one (no new row version, no UPDATE trigger); ON CONFLICT locks the row either way.';

CREATE FUNCTION racefree._upsert_source(kind text, fn name, info jsonb)
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
BEGIN
  SELECT string_agg(format('%I', c->>'name'), ', ') INTO insert_cols FROM jsonb_array_elements(params) AS c;
  SELECT string_agg(format('cur.%I', c->>'name'), ', ') INTO row_cols FROM jsonb_array_elements(cols) AS c;
  -- Indented by where it goes.
  missing := format($m$
RAISE EXCEPTION USING ERRCODE = 'no_data_found', MESSAGE = %L,
  HINT = 'A BEFORE INSERT trigger that changes key columns, or a row-level security policy that hides rows, keeps it from being read back.';$m$,
    format('%s: a row with this key exists but cannot be read back by its key', fn));

  IF kind = 'many' THEN
    -- Each row's JSON says which columns were given; a given JSON null writes NULL.
    SELECT string_agg(format('%I = CASE WHEN r.racefree_row ? %L THEN excluded.%I ELSE cur.%I END',
                             c->>'name', c->>'name', c->>'name', c->>'name'), E',\n         '),
           string_agg(format('(r.racefree_row ? %L AND %s)', c->>'name',
                             CASE WHEN (c->>'eq')::boolean THEN format('cur.%I IS DISTINCT FROM excluded.%I', c->>'name', c->>'name')
                                  ELSE format('cur.%I::text IS DISTINCT FROM excluded.%I::text', c->>'name', c->>'name') END),
                      E'\n       OR ')
      INTO set_list, changed FROM jsonb_array_elements(updates) AS c;
    SELECT string_agg(racefree._upsert_match(c, format('r.%I', c->>'name'), nnd), ' AND ') INTO found_by
      FROM jsonb_array_elements(keys) AS c;
    body := format($body$DECLARE
  r record;
  unknown text;
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
  -- One row per key, the last one given, then in key order: concurrent
  -- batches lock their keys in the same order, so they never deadlock.
  FOR r IN
    SELECT DISTINCT ON (%5$s, v.racefree_solo) v.*
      FROM (SELECT w.*, %6$s AS racefree_solo
              FROM (SELECT x.racefree_ord, x.racefree_row,
                           %7$s
                      FROM jsonb_array_elements(%1$s.rows) WITH ORDINALITY AS x (racefree_row, racefree_ord),
                           jsonb_populate_record(NULL::%8$s, x.racefree_row) AS p) AS w) AS v
     ORDER BY %9$s, v.racefree_solo, v.racefree_ord DESC
  LOOP
    RETURN QUERY
      INSERT INTO %8$s AS cur (%10$s)
      VALUES (%11$s)
      %12$s
      RETURNING %13$s, CASE WHEN cur.xmax = 0 THEN 'inserted' ELSE 'updated' END;
    IF NOT FOUND THEN
      -- Equal values: nothing was written, but the row is locked; read it back.
      RETURN QUERY SELECT %13$s, 'unchanged'::text FROM %8$s AS cur WHERE %14$s;
      IF NOT FOUND THEN%15$s
      END IF;
    END IF;
  END LOOP;
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
      insert_cols,
      (SELECT string_agg(format('r.%I', c->>'name'), ', ') FROM jsonb_array_elements(params) AS c),
      replace(racefree._upsert_conflict(info, set_list, changed), E'\n', E'\n    '),
      row_cols,
      found_by || coalesce(' AND (' || (info->>'predicate') || ')', ''),
      replace(missing, E'\n', E'\n        '));
    RETURN format(E'-- Generated by racefree addUpsert() for %s.\n#variable_conflict use_column\n%s', tbl, body);
  END IF;

  -- Single row. A key column's default is evaluated once, in a local, so the
  -- insert and the read-back agree even when the default is volatile.
  SELECT string_agg(format(E'\n    %I %s := coalesce(%s.%I, %s);', c->>'name', c->>'type', arg, c->>'name', c->>'default'), '')
    INTO key_decl FROM jsonb_array_elements(keys) AS c WHERE c ? 'default';
  SELECT string_agg(CASE WHEN (c->>'key')::boolean AND c ? 'default' THEN format('key.%I', c->>'name')
                         WHEN c ? 'default' THEN format('coalesce(%s.%I, %s)', arg, c->>'name', c->>'default')
                         ELSE format('%s.%I', arg, c->>'name') END, ', ')
    INTO insert_vals FROM jsonb_array_elements(params) AS c;
  SELECT string_agg(racefree._upsert_match(c, CASE WHEN c ? 'default' THEN format('key.%I', c->>'name')
                                                   ELSE format('%s.%I', arg, c->>'name') END, nnd), ' AND ')
    INTO found_by FROM jsonb_array_elements(keys) AS c;
  found_by := found_by || coalesce(' AND (' || (info->>'predicate') || ')', '');

  IF kind = 'get_or_create' THEN
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
      tbl, insert_cols, insert_vals, info->>'target', row_cols, found_by, replace(missing, E'\n', E'\n  '));
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
      tbl, insert_cols, insert_vals, racefree._upsert_conflict(info, set_list, changed), row_cols, found_by,
      replace(missing, E'\n', E'\n      '));
  END IF;
  IF key_decl IS NOT NULL THEN
    body := format(E'\n  <<key>>\n  DECLARE%s\n  BEGIN%s\n  END key;', key_decl, replace(body, E'\n', E'\n  '));
  END IF;
  -- The result (the row and the action) is one variable of the generated row type.
  body := format(E'<<%s>>\nDECLARE\n  result %s;\nBEGIN%s\nEND %s;\n',
    kind, info->>'result', body, kind);
  RETURN format(E'-- Generated by racefree addUpsert() for %s.\n#variable_conflict use_column\n%s', tbl, body);
END
$$;
COMMENT ON FUNCTION racefree._upsert_source(text, name, jsonb) IS
  'Internal: the PL/pgSQL body of a generated upsert (kind ''upsert''), get-or-create (''get_or_create'') or batch upsert (''many'') function, from the description _add_upsert() builds. cur.xmax = 0 in RETURNING tells an insert from an update: the new version of an updated row keeps the row lock ON CONFLICT took, so its xmax is set.';

CREATE FUNCTION racefree._add_upsert(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $install$
DECLARE
  tbl regclass := racefree._table_oid('addUpsert', config->>'table');
  key_cols name[] := racefree._column_names('addUpsert', 'key', tbl, config->'key');
  pred text := config->>'where';
  sch name;
  rel name;
  ns oid;
  base text;
  fns name[];
  result_type name;
  params text;
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
  about text;
  described_keys text;
  bad text;
  partial_match boolean;
BEGIN
  SELECT n.nspname, c.relname, c.relnamespace INTO sch, rel, ns
    FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = tbl;
  base := coalesce(config->>'name', rel);
  IF octet_length('get_or_create_' || base) > 63 OR octet_length('upsert_' || base || '_many') > 63 THEN
    PERFORM racefree._config_error('name', base,
      format('addUpsert: get_or_create_%s and upsert_%s_many must fit in 63 bytes; give a shorter option "name"', base, base));
  END IF;
  fns := ARRAY['upsert_' || base, 'get_or_create_' || base, 'upsert_' || base || '_many']::name[];
  result_type := 'upsert_' || base || '_result';
  SELECT string_agg(x.n, ', ' ORDER BY x.n) INTO bad
    FROM (SELECT format('%I.%I', sch, p.proname) AS n FROM pg_catalog.pg_proc AS p WHERE p.pronamespace = ns AND p.proname = ANY (fns)
          UNION
          SELECT format('%I.%I', sch, t.typname) FROM pg_catalog.pg_type AS t WHERE t.typnamespace = ns AND t.typname = result_type) AS x;
  IF bad IS NOT NULL THEN
    PERFORM racefree._config_error('name', base, format('addUpsert: %s already exist(s); give option "name" another value', bad));
  END IF;

  -- The result row is the table's columns plus action, and the batch names
  -- its helper columns racefree_*: none may clash with a column.
  SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum) INTO bad FROM pg_catalog.pg_attribute AS a
   WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
     AND a.attname IN ('action', 'racefree_row', 'racefree_ord', 'racefree_solo');
  IF bad IS NOT NULL THEN
    PERFORM racefree._config_error('table', config->>'table',
      format('addUpsert: table %s has a column named %s, a name the generated functions use for their own output or arguments', tbl, bad));
  END IF;
  SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum) INTO bad FROM pg_catalog.pg_attribute AS a
   WHERE a.attrelid = tbl AND a.attname = ANY (key_cols) AND (a.attgenerated <> '' OR a.attidentity = 'a');
  IF bad IS NOT NULL THEN
    PERFORM racefree._config_error('key', config->>'key',
      format('addUpsert: key column %s of %s is generated, so a caller cannot give it', bad, tbl));
  END IF;

  IF config ? 'update' THEN
    IF jsonb_array_length(config->'update') = 0 THEN
      update_cols := '{}';
    ELSE
      update_cols := racefree._column_names('addUpsert', 'update', tbl, config->'update');
    END IF;
    SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum) INTO bad FROM pg_catalog.pg_attribute AS a
     WHERE a.attrelid = tbl AND a.attname = ANY (update_cols)
       AND (a.attname = ANY (key_cols) OR a.attgenerated <> '' OR a.attidentity = 'a');
    IF bad IS NOT NULL THEN
      PERFORM racefree._config_error('update', config->>'update',
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
    PERFORM racefree._config_error(
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
    PERFORM racefree._config_error('key', config->>'key',
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
           'eq', CASE WHEN a.attname = ANY (update_cols) THEN racefree._has_equality(a.atttypid) END,
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
    'table', format('%I.%I', sch, rel),
    'result', format('%I.%I', sch, result_type),
    'target', target,
    'predicate', predicate,
    'nullsNotDistinct', arbiter.indnullsnotdistinct,
    'firstKey', key_cols[1],
    'columns', cols));

  -- The three functions return rows of one generated type: the table's columns and action.
  EXECUTE format('CREATE TYPE %I.%I AS (%s, action text)', sch, result_type,
    (SELECT string_agg(format('%I %s', c->>'name', c->>'rowType'), ', ') FROM jsonb_array_elements(cols) AS c));
  SELECT string_agg(format('%I %s DEFAULT NULL', c->>'name', c->>'type'), ', ') INTO params
    FROM jsonb_array_elements(cols) AS c WHERE (c->>'param')::boolean;
  EXECUTE format('CREATE FUNCTION %I.%I(%s) RETURNS %s LANGUAGE plpgsql AS %L',
    sch, fns[1], params, info->>'result', racefree._upsert_source('upsert', fns[1], info));
  EXECUTE format('CREATE FUNCTION %I.%I(%s) RETURNS %s LANGUAGE plpgsql AS %L',
    sch, fns[2], params, info->>'result', racefree._upsert_source('get_or_create', fns[2], info));
  EXECUTE format('CREATE FUNCTION %I.%I(rows jsonb) RETURNS SETOF %s LANGUAGE plpgsql AS %L',
    sch, fns[3], info->>'result', racefree._upsert_source('many', fns[3], info));

  about := format('%s on key %s', info->>'table', target);
  EXECUTE format('COMMENT ON FUNCTION %I.%I IS %L', sch, fns[1], format(
    'Upsert into %s: one INSERT ... ON CONFLICT DO UPDATE statement. Arguments left out or NULL are not written: a new row takes the column default, an existing row keeps its value. '
    'An update may change %s, and only when a given value IS DISTINCT FROM the stored one; otherwise nothing is written (no new row version, no UPDATE trigger). '
    'Returns the row and action: inserted, updated or unchanged; always exactly one row. Locks the row until the transaction ends. '
    'Use %s to write NULL into a column.',
    about, coalesce((SELECT string_agg(format('%I', u), ', ') FROM unnest(update_cols) AS u), 'no column'), fns[3]));
  EXECUTE format('COMMENT ON FUNCTION %I.%I IS %L', sch, fns[2], format(
    'Get or create the row of %s: returns it with action existing, or inserts it (arguments left out or NULL take the column default) and returns action inserted. '
    'Never changes an existing row and never returns zero rows: concurrent callers of one key at READ COMMITTED all get the same row, without an error '
    '(INSERT ... ON CONFLICT DO NOTHING, then SELECT in a new statement, retried if the row was deleted in between).',
    about));
  EXECUTE format('COMMENT ON FUNCTION %I.%I IS %L', sch, fns[3], format(
    'Batch upsert into %s. rows: a JSON array of objects keyed by column name; a key left out is not written, JSON null writes NULL, a key that is not a writable column is an error (42703). '
    'Rows with the same key: the last one wins. Rows are written in key order, so concurrent batches lock keys in the same order and never deadlock. '
    'Returns one row per distinct key, in key order, with action inserted, updated or unchanged (as %s).',
    about, fns[1]));
  EXECUTE format('COMMENT ON TYPE %I.%I IS %L', sch, result_type, format(
    'Generated by racefree addUpsert(): what %s, %s and %s return, a row of %s and the action taken.',
    fns[1], fns[2], fns[3], info->>'table'));
  FOR i IN 1 .. 3 LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION %I.%I FROM PUBLIC', sch, fns[i]);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %I.%I TO racefree_user', sch, fns[i]);
  END LOOP;
  PERFORM set_config('search_path', saved_path, true);
END
$install$;
COMMENT ON FUNCTION racefree._add_upsert(jsonb) IS
  'Internal, called by the addUpsert() builder: checks the table, key, where, update and name (RF100 on any problem, before any DDL), confirms with EXPLAIN that ON CONFLICT (key) WHERE (where) infers a unique index of the table, then creates upsert_<name>(), get_or_create_<name>() and upsert_<name>_many() in the table''s schema, commented, revoked from PUBLIC and granted to racefree_user, and their result row type upsert_<name>_result.';

CREATE FUNCTION racefree._drop_upsert(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl regclass := racefree._table_oid('dropUpsert', config->>'table');
  ns oid := (SELECT relnamespace FROM pg_catalog.pg_class WHERE oid = tbl);
  base text := coalesce(config->>'name', (SELECT relname FROM pg_catalog.pg_class WHERE oid = tbl));
  fns text[] := ARRAY['upsert_' || base, 'get_or_create_' || base, 'upsert_' || base || '_many'];
  generated regprocedure[];
  result_type regtype;
BEGIN
  SELECT array_agg(p.oid::regprocedure) INTO generated
    FROM pg_catalog.pg_proc AS p
   WHERE p.pronamespace = ns AND p.proname = ANY (fns) AND p.prosrc LIKE '-- Generated by racefree addUpsert()%';
  SELECT t.oid::regtype INTO result_type
    FROM pg_catalog.pg_type AS t
   WHERE t.typnamespace = ns AND t.typname = 'upsert_' || base || '_result'
     AND obj_description(t.oid, 'pg_type') LIKE 'Generated by racefree addUpsert()%';
  IF cardinality(generated) IS DISTINCT FROM 3 OR result_type IS NULL THEN
    PERFORM racefree._config_error('name', base,
      format('dropUpsert: %s are not all generated by addUpsert() in the schema of table %s',
             array_to_string(fns || ('upsert_' || base || '_result'), ', '), tbl));
  END IF;
  FOR i IN 1 .. 3 LOOP
    EXECUTE format('DROP FUNCTION %s', generated[i]);
  END LOOP;
  EXECUTE format('DROP TYPE %s', result_type);
END
$$;
COMMENT ON FUNCTION racefree._drop_upsert(jsonb) IS
  'Internal, called by the dropUpsert() builder: drops the three functions and the row type addUpsert() generated for the table (or name); RF100 when they are not all there.';

-- ---------------------------------------------------------------------------
-- Privileges: the installers run as the migrating role; nothing here is for services.

REVOKE ALL ON FUNCTION racefree._table_oid(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._column_names(text, text, regclass, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._assert_no_duplicates(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._add_unique_key(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._prepare_unique_key(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._attach_unique_key(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._drop_unique_key(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._has_equality(regtype) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._upsert_match(jsonb, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._upsert_conflict(jsonb, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._upsert_source(text, name, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._add_upsert(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree._drop_upsert(jsonb) FROM PUBLIC;
