-- racefree: the kit's schema and the role that may call its functions.
--
-- Every racefree function is revoked from PUBLIC and granted to
-- racefree_user (what services need) or racefree_admin (maintenance); grant
-- them to the roles that log in:
--   GRANT racefree_user TO app;
--   GRANT racefree_admin TO ops;

CREATE SCHEMA IF NOT EXISTS racefree;
COMMENT ON SCHEMA racefree IS
  'racefree: atomic numbering, upserts and idempotency keys. Functions are documented with COMMENT ON FUNCTION; read them with \df+ racefree.*';

-- Roles are cluster-wide, so another database may create it at the same moment.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'racefree_user') THEN
    CREATE ROLE racefree_user NOLOGIN;
  END IF;
EXCEPTION
  WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA racefree TO racefree_user;

-- racefree_admin: maintenance an application must not do (pruning idempotency
-- keys). It may also do everything racefree_user may.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'racefree_admin') THEN
    CREATE ROLE racefree_admin NOLOGIN;
  END IF;
EXCEPTION
  WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT racefree_user TO racefree_admin;

-- PUBLIC may execute every new function by default, and per-schema default
-- privileges cannot take that away: each racefree function revokes it itself
-- (racefree doctor reports any that does not).
