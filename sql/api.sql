-- racefree's public functions as one short table to read in psql, on every
-- PostgreSQL version: \df+ prints every function's source before 17, and
-- \df racefree.* lists their defaults, which make it wide.
--
--   SELECT * FROM racefree.api;

CREATE VIEW racefree.api AS
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

GRANT SELECT ON racefree.api TO racefree_user;

-- The schema's comment pointed at \df+, which prints every function's source before PostgreSQL 17.
COMMENT ON SCHEMA racefree IS
  'racefree: atomic numbering, upserts and idempotency keys. SELECT * FROM racefree.api lists the public functions; \sf racefree.<function> prints one.';
