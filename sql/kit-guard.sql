-- Kit-lane guard: the first statement of every section of every kit migration.
-- psql -f on a migration file would run its Up and Down sections alike and
-- install nothing; this makes it fail instead. racefree migrate up and the
-- script of racefree sql hold racefree's migration lock (advisory lock
-- 8241978080226338149, "racefree") in the session that runs the migration.
DO $racefree_guard$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_locks
                  WHERE locktype = 'advisory' AND granted AND pid = pg_catalog.pg_backend_pid()
                    AND classid = 1918985061 AND objid = 1718773093 AND objsubid = 1) THEN
    RAISE EXCEPTION 'racefree kit migrations are applied by racefree migrate up, or with psql by the script racefree sql writes'
      USING ERRCODE = '55000',
            DETAIL = 'psql -f on a kit migration file runs its Up and Down sections alike and installs nothing.',
            HINT = 'racefree sql --out racefree.sql && psql -v ON_ERROR_STOP=1 -f racefree.sql';
  END IF;
END
$racefree_guard$;
