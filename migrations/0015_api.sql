-- racefree kit migration 0015: racefree.api, the public functions in one short table (sql/api.sql).
-- A frozen copy of sql/api.sql as released; change behaviour with a new migration.

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
-- racefree's public functions as one short table to read in psql, on every
-- PostgreSQL version: \df+ prints every function's source before 17, and
-- \df racefree.* lists the internals (racefree._*) too.
--
--   SELECT * FROM racefree.api;

CREATE VIEW racefree.api AS
SELECT format('%I.%I', n.nspname, p.proname) AS function,
       pg_catalog.pg_get_function_arguments(p.oid) AS arguments,
       pg_catalog.pg_get_function_result(p.oid) AS result,
       -- The comment's first sentence; the whole of it: obj_description('<function>'::regproc).
       coalesce(substring(pg_catalog.obj_description(p.oid, 'pg_proc') FROM '^.*?[.](?=\s|$)'),
                pg_catalog.obj_description(p.oid, 'pg_proc')) AS description
  FROM pg_catalog.pg_proc AS p
  JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
 WHERE n.nspname = 'racefree' AND NOT starts_with(p.proname, '_')
 ORDER BY 1, 2;
COMMENT ON VIEW racefree.api IS
  'racefree''s public functions: name, arguments, result, and the first sentence of the COMMENT ON FUNCTION (the whole comment: obj_description(''<function>''::regproc)). Internals (racefree._*) are left out.';

GRANT SELECT ON racefree.api TO racefree_user;

-- The schema's comment pointed at \df+, which prints every function's source before PostgreSQL 17.
COMMENT ON SCHEMA racefree IS
  'racefree: atomic numbering, upserts and idempotency keys. SELECT * FROM racefree.api lists the public functions; \sf racefree.<function> prints one.';

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
COMMENT ON SCHEMA racefree IS
  'racefree: atomic numbering, upserts and idempotency keys. Functions are documented with COMMENT ON FUNCTION; read them with \df+ racefree.*';
DROP VIEW racefree.api;
