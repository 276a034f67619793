-- The hand-written baselines of a fast numbering, F-{seq:6}, both numbering
-- benches compare it with (bench/numbering.ts, bench/pgbench/numbering.sh).
-- Plain SQL, run again from scratch.
DROP TABLE IF EXISTS bench_fast_hand, bench_fast_floor, bench_fast_guard_hand;
DROP SEQUENCE IF EXISTS bench_fast_hand_seq, bench_fast_floor_seq, bench_fast_guard_hand_seq;
DROP FUNCTION IF EXISTS bench_fast_floor_trigger(), bench_fast_guard_hand_explicit();

-- The baseline: a sequence DEFAULT with the same unique index, which, unlike
-- racefree, ignores explicit numbers and truncates past 6 digits.
CREATE SEQUENCE bench_fast_hand_seq;
CREATE TABLE bench_fast_hand (id bigserial PRIMARY KEY, title text,
  n text UNIQUE DEFAULT 'F-' || lpad(nextval('bench_fast_hand_seq')::text, 6, '0'));

-- The floor of any design that keeps explicit numbers safe with a row
-- trigger: the same DEFAULT beside a PL/pgSQL BEFORE INSERT trigger that
-- does nothing.
CREATE SEQUENCE bench_fast_floor_seq;
CREATE FUNCTION bench_fast_floor_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RETURN NEW;
END
$$;
CREATE TABLE bench_fast_floor (id bigserial PRIMARY KEY, title text,
  n text UNIQUE DEFAULT 'F-' || lpad(nextval('bench_fast_floor_seq')::text, 6, '0'));
CREATE TRIGGER bench_fast_floor BEFORE INSERT ON bench_fast_floor FOR EACH ROW EXECUTE FUNCTION bench_fast_floor_trigger();

-- What a careful hand would add for explicit numbers: a number ahead of the
-- sequence came with the row, and moves it (under a lock, so two explicit
-- numbers cannot move it back); a generated one is never ahead.
CREATE SEQUENCE bench_fast_guard_hand_seq;
CREATE FUNCTION bench_fast_guard_hand_explicit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.n ~ '^F-[0-9]{1,18}$' AND substr(NEW.n, 3)::bigint > coalesce(pg_sequence_last_value('bench_fast_guard_hand_seq'), 0) THEN
    PERFORM pg_advisory_xact_lock('bench_fast_guard_hand_seq'::regclass::oid::bigint);
    PERFORM setval('bench_fast_guard_hand_seq', greatest(substr(NEW.n, 3)::bigint, coalesce(pg_sequence_last_value('bench_fast_guard_hand_seq'), 0)));
  END IF;
  RETURN NEW;
END
$$;
CREATE TABLE bench_fast_guard_hand (id bigserial PRIMARY KEY, title text,
  n text UNIQUE DEFAULT 'F-' || lpad(nextval('bench_fast_guard_hand_seq')::text, 6, '0'));
CREATE TRIGGER bench_fast_guard_hand BEFORE INSERT ON bench_fast_guard_hand FOR EACH ROW EXECUTE FUNCTION bench_fast_guard_hand_explicit();
