-- racefree kit migration 0050: the racefree_monitor role, which runs racefree doctor and writes nothing.
-- A frozen copy of sql/monitor.sql and of its change to sql/schema.sql as released; change behaviour with a new migration.

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
-- Roles are cluster-wide, so another database may create it at the same moment.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'racefree_monitor') THEN
    CREATE ROLE racefree_monitor NOLOGIN;
  END IF;
EXCEPTION
  WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA racefree TO racefree_monitor;
GRANT SELECT ON racefree.numberings, racefree.counters, racefree.registry,
  racefree.registry_objects, racefree.api TO racefree_monitor;
-- The kit lane's table exists whenever a kit migration runs (node-pg-migrate
-- or the racefree sql script creates it first); sql/ applied by hand lacks it.
-- The user lane's table is granted by racefree migrate up (src/migrate/lanes.ts).
DO $$
BEGIN
  IF pg_catalog.to_regclass('racefree.kit_migrations') IS NOT NULL THEN
    GRANT SELECT ON racefree.kit_migrations TO racefree_monitor;
  END IF;
END
$$;
GRANT SELECT (scope, created_at, completed_at) ON racefree.idempotency_keys TO racefree_monitor;

-- Rendering a generated function again to compare it reads the table as
-- the migration saw it (EXPLAIN checks the migrator's privileges, not the
-- monitor's): racefree._generated_stale() is SECURITY DEFINER for that.
GRANT EXECUTE ON FUNCTION racefree._generated_stale() TO racefree_monitor;
-- racefree doctor's counter check scans numbers back into scopes (sql/generated.sql grants the scan itself).
GRANT EXECUTE ON FUNCTION racefree._numbering_scope(text, text) TO racefree_monitor;

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
REVOKE EXECUTE ON FUNCTION racefree._generated_stale() FROM racefree_monitor;
REVOKE EXECUTE ON FUNCTION racefree._numbering_scope(text, text) FROM racefree_monitor;
REVOKE SELECT (scope, created_at, completed_at) ON racefree.idempotency_keys FROM racefree_monitor;
REVOKE SELECT ON racefree.numberings, racefree.counters, racefree.registry,
  racefree.registry_objects, racefree.api, racefree.kit_migrations FROM racefree_monitor;
REVOKE USAGE ON SCHEMA racefree FROM racefree_monitor;
-- racefree_monitor is cluster-wide and may serve other databases: it is kept.
