-- racefree kit migration 0010: an interrupted addUniqueKey({ concurrently: true }) is finished by the next run.
-- Re-creates only the unique-key functions of sql/upsert.sql that changed; frozen as released.

-- Up Migration
CREATE OR REPLACE FUNCTION racefree._prepare_unique_key(config jsonb)
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

REVOKE ALL ON FUNCTION racefree._attach_unique_key(jsonb) FROM PUBLIC;

-- Down Migration
DROP FUNCTION racefree._attach_unique_key(jsonb);
CREATE OR REPLACE FUNCTION racefree._prepare_unique_key(config jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  tbl regclass := racefree._table_oid('addUniqueKey', config->>'table');
  cols name[] := racefree._column_names('addUniqueKey', 'columns', tbl, config->'columns');
  key_name name := config->>'name';
  pred text := config->>'where';
  ns oid := (SELECT relnamespace FROM pg_catalog.pg_class WHERE oid = tbl);
  existing record;
  found_first regclass;
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = tbl AND conname = key_name) THEN
    PERFORM racefree._config_error('name', key_name,
      format('addUniqueKey: constraint %I already exists on table %s', key_name, tbl));
  END IF;
  SELECT c.oid, c.relkind, i.indrelid, i.indisvalid INTO existing
    FROM pg_catalog.pg_class AS c LEFT JOIN pg_catalog.pg_index AS i ON i.indexrelid = c.oid
   WHERE c.relname = key_name AND c.relnamespace = ns;
  -- Only an INVALID index of this table, left by a failed concurrent build, may be dropped.
  IF FOUND AND (existing.relkind <> 'i' OR existing.indrelid <> tbl OR existing.indisvalid) THEN
    PERFORM racefree._config_error('name', key_name,
      format('addUniqueKey: %I already exists in the schema of table %s and is not an invalid index left by an earlier attempt; choose another name',
        key_name, tbl));
  END IF;
  -- The DROP INDEX CONCURRENTLY that follows names the index as the builder
  -- names the table; it must find this leftover or nothing.
  found_first := to_regclass(config->>'index');
  IF found_first IS NOT NULL AND found_first::oid IS DISTINCT FROM existing.oid THEN
    PERFORM racefree._config_error('table', config->>'table',
      format('addUniqueKey: %s is found first on the search_path; give table as { schema, name }', found_first));
  END IF;
  IF pred IS NOT NULL THEN
    -- CREATE INDEX CONCURRENTLY would reject a bad predicate only later, on
    -- its own: try it on an empty copy of the table now.
    BEGIN
      EXECUTE format('CREATE TEMP TABLE racefree_probe (LIKE %s)', tbl);
      EXECUTE format('CREATE INDEX ON pg_temp.racefree_probe (%s) WHERE (%s)',
        (SELECT string_agg(format('%I', col), ', ') FROM unnest(cols) AS col), pred);
      DROP TABLE pg_temp.racefree_probe;
    EXCEPTION WHEN syntax_error_or_access_rule_violation OR invalid_object_definition THEN
      PERFORM racefree._config_error('where', pred, format('addUniqueKey: option "where" is not a condition on %s: %s', tbl, SQLERRM));
    END;
  END IF;
  PERFORM racefree._assert_no_duplicates(config || '{"builder": "addUniqueKey"}');
END
$$;
COMMENT ON FUNCTION racefree._prepare_unique_key(jsonb) IS
  'Internal, queued by addUniqueKey({ concurrently: true }) before its CREATE UNIQUE INDEX CONCURRENTLY: checks table, columns and name (RF100; an INVALID index of that name on this table, left by a failed build, is allowed and dropped next) and raises RF101 when existing rows would violate the key. Takes no lock: writers keep running.';

