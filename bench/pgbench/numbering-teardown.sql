-- Removes what bench/pgbench/numbering-setup.sql made (nothing when it is not there).
DO $teardown$
BEGIN
  IF to_regclass('racefree_pgbench_fast') IS NOT NULL
     AND EXISTS (SELECT FROM racefree.numberings WHERE name = 'racefree_pgbench_fast' AND table_name = 'racefree_pgbench_fast' AND table_schema = current_schema()) THEN
    PERFORM racefree.drop_numbering('racefree_pgbench_fast', 'n', 'racefree_pgbench_fast');
  END IF;
END
$teardown$;
DROP TABLE IF EXISTS racefree_pgbench_fast;
\i bench/fast-hand-drop.sql
