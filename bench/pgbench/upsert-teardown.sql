-- Removes what bench/pgbench/upsert-setup.sql made (nothing when it is not there).
DO $teardown$
BEGIN
  IF to_regclass('racefree_pgbench_gen') IS NOT NULL
     AND EXISTS (SELECT FROM racefree.registry WHERE builder = 'addUpsert' AND name = 'racefree_pgbench_gen') THEN
    PERFORM racefree.drop_upsert('racefree_pgbench_gen');
  END IF;
END
$teardown$;
DROP TABLE IF EXISTS racefree_pgbench_raw, racefree_pgbench_gen;
\i bench/upsert-hand-drop.sql
