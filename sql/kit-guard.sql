-- Kit-lane guard: the first statement of every section of every kit migration.
-- psql -f on a migration file would run its Up and Down sections alike and
-- install nothing; this makes it fail instead. racefree migrate up and the
-- script of racefree sql mark the session that runs the migrations with the
-- setting racefree.migrate_session (migrate up holds its lock on a connection
-- of its own, so the lock cannot mark the session).
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
