-- racefree: the kit's schema and the roles that may call its functions.
--
-- Every racefree function is revoked from PUBLIC and granted to
-- racefree_user (what services need) or racefree_admin (maintenance); grant
-- them to the roles that log in:
--   GRANT racefree_user TO app;
--   GRANT racefree_admin TO ops;
--   GRANT racefree_monitor TO monitoring;   (racefree doctor; sql/monitor.sql)

CREATE SCHEMA IF NOT EXISTS racefree;
COMMENT ON SCHEMA racefree IS
  'racefree: atomic numbering, upserts and idempotency keys. Functions are documented with COMMENT ON FUNCTION; read them with \df+ racefree.*';

-- racefree_user: what services need. racefree_admin: maintenance an
-- application must not do (pruning idempotency keys), and all racefree_user may.
-- racefree_monitor: reads what racefree doctor checks, writes nothing.
-- Roles are cluster-wide, so another database may create one at the same moment.
DO $$
DECLARE
  role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY['racefree_user', 'racefree_admin', 'racefree_monitor'] LOOP
    BEGIN
      IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
      END IF;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN
        NULL;
    END;
  END LOOP;
END
$$;

GRANT USAGE ON SCHEMA racefree TO racefree_user;
GRANT racefree_user TO racefree_admin;

-- racefree_internal: the kit's internals (the builders' installers, the
-- generators and the checks they share), apart from the public functions so
-- that \df racefree.* lists only what users call. Services never call them:
-- generated code reaches them as its owner, triggers by oid. Only
-- racefree_monitor gets USAGE (sql/monitor.sql), for what racefree doctor calls.
CREATE SCHEMA IF NOT EXISTS racefree_internal;
COMMENT ON SCHEMA racefree_internal IS
  'racefree''s internals: the installers, generators and checks behind the public functions of schema racefree. Not an API: names and arguments change between kit versions.';

-- PUBLIC may execute every new function by default, and per-schema default
-- privileges cannot take that away: each racefree function revokes it itself
-- (racefree doctor reports any that does not).
