-- racefree kit migration 0020: the racefree_admin role.
-- A frozen copy of the change to sql/schema.sql as released; change behaviour with a new migration.

-- Up Migration
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

-- Down Migration
REVOKE racefree_user FROM racefree_admin;
-- racefree_admin is cluster-wide and may serve other databases: it is kept.
