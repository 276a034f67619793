-- racefree upserts and unique keys: the checks the installers behind
-- addUniqueKey() and addUpsert() share. The installers and the upsert
-- generator are in generated.sql.
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

CREATE FUNCTION racefree_internal._table_oid(builder text, tbl text)
RETURNS regclass
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  rel regclass := to_regclass(tbl);
BEGIN
  IF rel IS NULL OR (SELECT c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid = rel) NOT IN ('r', 'p') THEN
    PERFORM racefree_internal._config_error('table', tbl, format('%s: table %s does not exist', builder, tbl));
  END IF;
  RETURN rel;
END
$$;
COMMENT ON FUNCTION racefree_internal._table_oid(text, text) IS
  'Internal: resolves a builder''s table option (quoted, search_path rules) to a table or partitioned table; RF100 when there is none.';

CREATE FUNCTION racefree_internal._column_names(builder text, option text, tbl regclass, columns jsonb)
RETURNS name[]
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  names name[] := '{}';
  col text;
BEGIN
  IF jsonb_typeof(columns) IS DISTINCT FROM 'array' OR jsonb_array_length(columns) = 0 THEN
    PERFORM racefree_internal._config_error(option, columns::text,
      format('%s: option "%s" must name at least one column', builder, option));
  END IF;
  FOR col IN SELECT jsonb_array_elements_text(columns) LOOP
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                    WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped) THEN
      PERFORM racefree_internal._config_error(option, col, format('%s: column %I does not exist in table %s', builder, col, tbl));
    END IF;
    IF col = ANY (names) THEN
      PERFORM racefree_internal._config_error(option, col, format('%s: option "%s" names column %I twice', builder, option, col));
    END IF;
    names := names || col::name;
  END LOOP;
  RETURN names;
END
$$;
COMMENT ON FUNCTION racefree_internal._column_names(text, text, regclass, jsonb) IS
  'Internal: checks that a builder option is a non-empty JSON array of distinct columns of the table; RF100 otherwise.';

-- ---------------------------------------------------------------------------
-- Unique keys

CREATE FUNCTION racefree_internal._assert_no_duplicates(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  builder text := coalesce(config->>'builder', 'addUniqueKey');
  tbl regclass := racefree_internal._table_oid(builder, config->>'table');
  cols name[] := racefree_internal._column_names(builder, 'columns', tbl, config->'columns');
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
    PERFORM racefree_internal._config_error('where', pred,
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
COMMENT ON FUNCTION racefree_internal._assert_no_duplicates(jsonb) IS
  'Internal, queued by addUniqueKey() before any DDL: raises RF101 when rows of the table share a value of the key columns (within the partial key''s WHERE; NULLs count only with nullsNotDistinct). DETAIL is JSON {table, columns, groups: up to 10 of {values, count}, total: number of groups}. Takes no lock of its own; RF100 for an unknown table or column or a bad where.';

-- ---------------------------------------------------------------------------
-- Generated upserts

CREATE FUNCTION racefree_internal._has_equality(typ regtype)
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  t pg_catalog.pg_type;
BEGIN
  SELECT * INTO t FROM pg_catalog.pg_type WHERE oid = typ;
  IF t.typtype = 'd' THEN
    RETURN racefree_internal._has_equality(t.typbasetype);
  ELSIF t.typcategory = 'A' AND t.typelem <> 0 THEN
    -- Array = resolves for any element type and fails only when it runs: ask the element.
    RETURN racefree_internal._has_equality(t.typelem);
  ELSIF t.typtype = 'c' THEN
    RETURN false;  -- the same holds for record =
  END IF;
  EXECUTE format('SELECT NULL::%s IS DISTINCT FROM NULL::%s', typ, typ);
  RETURN true;
EXCEPTION WHEN undefined_function THEN
  RETURN false;
END
$$;
COMMENT ON FUNCTION racefree_internal._has_equality(regtype) IS
  'Internal: whether values of the type can be compared with IS DISTINCT FROM. json, xml, point and composite columns cannot; generated upserts compare those as text.';

CREATE FUNCTION racefree_internal._upsert_match(col jsonb, ref text, nulls_not_distinct boolean)
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
COMMENT ON FUNCTION racefree_internal._upsert_match(jsonb, text, boolean) IS
  'Internal: SQL text comparing one key column of the row cur with a value, as the key''s unique index compares them.';

-- ---------------------------------------------------------------------------
-- Privileges: the installers run as the migrating role; nothing here is for services.

REVOKE ALL ON FUNCTION racefree_internal._table_oid(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._column_names(text, text, regclass, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._assert_no_duplicates(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._has_equality(regtype) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._upsert_match(jsonb, text, boolean) FROM PUBLIC;
