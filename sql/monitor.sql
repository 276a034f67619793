-- racefree_monitor: what racefree doctor reads, and nothing it could write.
--
-- A role granted only racefree_monitor (and CONNECT on the database) runs
-- racefree doctor fully:
--   GRANT racefree_monitor TO monitoring;
-- The role itself is created with the others (sql/schema.sql). It sees the
-- kit's records and counters, the registry, and of idempotency keys only
-- which scopes hold claims never completed and since when: never a key or a
-- stored response.

GRANT USAGE ON SCHEMA racefree, racefree_internal TO racefree_monitor;
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
-- monitor's): racefree_internal._generated_stale() is SECURITY DEFINER for that.
GRANT EXECUTE ON FUNCTION racefree_internal._generated_stale() TO racefree_monitor;
-- racefree doctor's counter check scans numbers back into scopes (sql/generated.sql grants the scan itself).
GRANT EXECUTE ON FUNCTION racefree_internal._numbering_scope(text, text) TO racefree_monitor;
