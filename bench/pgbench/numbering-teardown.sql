-- Removes what bench/pgbench/numbering-setup.sql made (nothing when it is not there).
DO $teardown$
BEGIN
  IF to_regclass('racefree_pgbench_fast') IS NOT NULL
     AND EXISTS (SELECT FROM racefree.numberings WHERE name = 'racefree_pgbench_fast' AND table_name = 'racefree_pgbench_fast' AND table_schema = current_schema()) THEN
    PERFORM racefree.drop_numbering('racefree_pgbench_fast', 'n', 'racefree_pgbench_fast');
  END IF;
END
$teardown$;
DROP TABLE IF EXISTS racefree_pgbench_fast, bench_fast_hand, bench_fast_floor, bench_fast_guard_hand, bench_fast_fill;
DROP SEQUENCE IF EXISTS bench_fast_hand_seq, bench_fast_floor_seq, bench_fast_guard_hand_seq, bench_fast_fill_seq;
DROP FUNCTION IF EXISTS bench_fast_floor_trigger(), bench_fast_guard_hand_explicit(), bench_fast_fill_number(),
  bench_fast_ahead(regclass, text), bench_fast_advance(regclass, text);
