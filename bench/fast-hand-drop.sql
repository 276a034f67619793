-- Removes what bench/fast-hand.sql makes (nothing when it is not there).
DROP TABLE IF EXISTS bench_fast_hand, bench_fast_floor, bench_fast_guard_hand, bench_fast_fill;
DROP SEQUENCE IF EXISTS bench_fast_hand_seq, bench_fast_floor_seq, bench_fast_guard_hand_seq, bench_fast_fill_seq;
DROP FUNCTION IF EXISTS bench_fast_floor_trigger(), bench_fast_guard_hand_explicit(), bench_fast_fill_number(),
  bench_fast_ahead(regclass, text), bench_fast_advance(regclass, text);
