-- racefree kit migration 0041: racefree.api names each argument and type, optional ones in brackets, without their defaults (sql/api.sql), so the public functions, the SQL builders among them, still read as one screen in psql.
-- A frozen copy of the changes to sql/api.sql as released; change behaviour with a new migration.

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
CREATE OR REPLACE VIEW racefree.api AS
SELECT format('%I.%I', n.nspname, p.proname) AS function,
       -- Each argument's name and type; one with a DEFAULT in brackets. The
       -- defaults themselves (\df, \sf) would make the table too wide to read.
       -- (Collation "default", as 0015's column had: catalog names are "C".)
       (SELECT string_agg(format(CASE WHEN i > p.pronargs - p.pronargdefaults THEN '[%s %s]' ELSE '%s %s' END,
                                 quote_ident(p.proargnames[i]), pg_catalog.format_type(p.proargtypes[i - 1], NULL)), ', ' ORDER BY i)
          FROM generate_series(1, p.pronargs) AS i) COLLATE pg_catalog."default" AS arguments,
       pg_catalog.pg_get_function_result(p.oid) AS result,
       -- The comment's first sentence; the whole of it: obj_description('<function>'::regproc).
       coalesce(substring(pg_catalog.obj_description(p.oid, 'pg_proc') FROM '^.*?[.](?=\s|$)'),
                pg_catalog.obj_description(p.oid, 'pg_proc')) AS description
  FROM pg_catalog.pg_proc AS p
  JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
 WHERE n.nspname = 'racefree' AND NOT starts_with(p.proname, '_')
 ORDER BY 1, 2;
COMMENT ON VIEW racefree.api IS
  'racefree''s public functions: name, arguments (name and type; [optional ones] have a DEFAULT), result, and the first sentence of the COMMENT ON FUNCTION (the whole comment: obj_description(''<function>''::regproc)). Internals (racefree._*) are left out.';

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
CREATE OR REPLACE VIEW racefree.api AS
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
