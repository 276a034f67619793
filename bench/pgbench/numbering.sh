#!/usr/bin/env bash
# A fast numbering (F-{seq:6}) against the hand-written sequence DEFAULT with
# the same unique index, measured from outside by pgbench -M prepared, beside
# three more hand-written tables (bench/fast-hand.sql): the DEFAULT with an
# explicit-number trigger (the same guarantee as racefree's); the DEFAULT with
# an empty row trigger (the floor of any design that keeps explicit numbers
# safe with one); and a fill trigger without DEFAULT (the cheapest shape with
# the guarantee, which racefree does not use: it would drop the column
# DEFAULT). ROUNDS rounds, each running the five for SECONDS_EACH seconds from
# emptied tables, in a rotating order, CLIENTS clients, in the database
# DATABASE_URL names (the racefree kit migrated there). Prints each run's tps
# and the medians of the per-round ratios.
#
#   DATABASE_URL=postgres://... bench/pgbench/numbering.sh
#
# PGBENCH (default: pgbench on PATH), ROUNDS (6), SECONDS_EACH (5), CLIENTS (32).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/rounds.sh"
setup numbering

to_hand=()
floor=()
to_guard=()
fill=()
for ((r = 0; r < rounds; r++)); do
  # Each round in another order of the five, so that none always runs first.
  order=(hand fast guard floor fill)
  order=("${order[@]:r%5}" "${order[@]:0:r%5}")
  declare -A t=()
  for v in "${order[@]}"; do
    run_sql numbering-reset
    t[$v]=$(tps "numbering-$v")
  done
  to_hand+=("$(ratio "${t[fast]}" "${t[hand]}")")
  floor+=("$(ratio "${t[floor]}" "${t[hand]}")")
  to_guard+=("$(ratio "${t[fast]}" "${t[guard]}")")
  fill+=("$(ratio "${t[fill]}" "${t[hand]}")")
  printf 'round %d: hand-written DEFAULT %.0f tps, racefree fast %.0f, with explicit-number trigger %.0f, with empty trigger %.0f, fill trigger %.0f; fast / hand %s, empty trigger / hand %s, fast / same guarantee %s, fill trigger / hand %s\n' \
    "$((r + 1))" "${t[hand]}" "${t[fast]}" "${t[guard]}" "${t[floor]}" "${t[fill]}" "${to_hand[-1]}" "${floor[-1]}" "${to_guard[-1]}" "${fill[-1]}"
done
what="fast / the hand-written DEFAULT" median "${to_hand[@]}"
echo "; target >= 0.95"
what="the DEFAULT with an empty row trigger / without (the floor of a row trigger)" median "${floor[@]}"
echo
what="fast / the hand-written DEFAULT with an explicit-number trigger (the same guarantee)" median "${to_guard[@]}"
echo
what="a fill trigger without DEFAULT / the hand-written DEFAULT (a design racefree does not use)" median "${fill[@]}"
echo
