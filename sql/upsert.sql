-- racefree upserts: the checks the installers behind addUniqueKey() and
-- addUpsert() share, and the helpers of the upsert generator. The unique
-- key's own check is in unique-key.sql; the installers and the upsert
-- generator are in generated.sql.
--
-- addUpsert() generates, in the table's schema, upsert_<t>(),
-- get_or_create_<t>() and upsert_<t>_many(): each write is one
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
REVOKE ALL ON FUNCTION racefree_internal._has_equality(regtype) FROM PUBLIC;
REVOKE ALL ON FUNCTION racefree_internal._upsert_match(jsonb, text, boolean) FROM PUBLIC;
