-- The same DEFAULT with a hand-written explicit-number trigger: the same guarantee (bench/fast-hand.sql).
INSERT INTO bench_fast_guard_hand (title) VALUES ('x');
