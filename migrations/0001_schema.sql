-- racefree kit migration 0001: the racefree schema (sql/schema.sql) and the racefree_user role.
-- Released migrations are frozen: change behaviour with a new migration.

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
-- racefree: the kit's schema and the role that may call its functions.
--
-- Every racefree function is revoked from PUBLIC and granted to
-- racefree_user; grant that role to the roles your services log in as:
--   GRANT racefree_user TO app;

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

-- PUBLIC may execute every new function by default, and per-schema default
-- privileges cannot take that away: each racefree function revokes it itself
-- (racefree doctor reports any that does not).

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
-- The schema stays: it holds racefree.kit_migrations, the kit lane's own bookkeeping.
REVOKE USAGE ON SCHEMA racefree FROM racefree_user;
COMMENT ON SCHEMA racefree IS NULL;
-- racefree_user is cluster-wide and may serve other databases: it is kept.
