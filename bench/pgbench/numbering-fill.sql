-- A fill trigger without DEFAULT, the cheapest shape with the guarantee, which racefree does not use (bench/fast-hand.sql).
INSERT INTO bench_fast_fill (title) VALUES ('x');
