-- The baseline: the hand-written sequence DEFAULT (bench/fast-hand.sql).
INSERT INTO bench_fast_hand (title) VALUES ('x');
