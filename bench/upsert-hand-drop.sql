-- Removes what bench/upsert-hand.sql makes (nothing when it is not there); the
-- function goes with its result type.
DROP TABLE IF EXISTS bench_upsert_hand;
DROP TYPE IF EXISTS bench_upsert_hand_result CASCADE;
