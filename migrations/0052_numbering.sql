-- racefree kit migration 0052: services take numbers only by inserting; counters by name are racefree_admin's.
-- A frozen copy of the changes to sql/numbering.sql as released, and the grants generator 2's code needed, revoked; change behaviour with a new migration.

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
-- Generator 3 (kit migration 0051) runs as the numbering's owner: inserting
-- roles need none of these. next_value, current_value and counter_status
-- move, read or create any counter by name: racefree_admin's.
REVOKE EXECUTE ON FUNCTION racefree.next_value(text, text), racefree.current_value(text, text) FROM racefree_user;
REVOKE SELECT ON racefree.counter_status FROM racefree_user;
REVOKE EXECUTE ON FUNCTION racefree._numbering_scope(text, text), racefree._numbering_advance(text, text) FROM racefree_user;
GRANT EXECUTE ON FUNCTION racefree.next_value(text, text) TO racefree_admin;
GRANT EXECUTE ON FUNCTION racefree.current_value(text, text) TO racefree_admin;
GRANT SELECT ON racefree.counter_status TO racefree_admin;

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
REVOKE SELECT ON racefree.counter_status FROM racefree_admin;
REVOKE EXECUTE ON FUNCTION racefree.next_value(text, text), racefree.current_value(text, text) FROM racefree_admin;
GRANT EXECUTE ON FUNCTION racefree._numbering_scope(text, text), racefree._numbering_advance(text, text) TO racefree_user;
GRANT SELECT ON racefree.counter_status TO racefree_user;
GRANT EXECUTE ON FUNCTION racefree.next_value(text, text), racefree.current_value(text, text) TO racefree_user;
