-- Before each round: empty tables, and the baselines' sequences from 1 again
-- (their lpad truncates past 999,999, and a long run would repeat numbers).
TRUNCATE racefree_pgbench_fast, bench_fast_hand, bench_fast_floor, bench_fast_guard_hand, bench_fast_fill;
ALTER SEQUENCE bench_fast_hand_seq RESTART;
ALTER SEQUENCE bench_fast_floor_seq RESTART;
ALTER SEQUENCE bench_fast_guard_hand_seq RESTART;
ALTER SEQUENCE bench_fast_fill_seq RESTART;
