-- The same DEFAULT beside an empty row trigger: the floor of a row trigger (bench/fast-hand.sql).
INSERT INTO bench_fast_floor (title) VALUES ('x');
