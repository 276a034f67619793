-- racefree's fast numbering, F-{seq:6}.
INSERT INTO racefree_pgbench_fast (title) VALUES ('x');
