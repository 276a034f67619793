-- racefree unique keys: the check addUniqueKey() queues before any DDL.
-- Installed, with upsert.sql, by the kit migration 0003_upsert; it uses the
-- shared checks of upsert.sql (_table_oid, _column_names). The installers
-- (_probe_unique_key .. _drop_unique_key) are in generated.sql.
--
-- A unique key is added only after the table is shown to hold no duplicates
-- for it (RF101 lists them otherwise), so a migration never half-fails on
-- CREATE UNIQUE INDEX.

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
-- Privileges: the installers run as the migrating role; nothing here is for services.

REVOKE ALL ON FUNCTION racefree_internal._assert_no_duplicates(jsonb) FROM PUBLIC;
