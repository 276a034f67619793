#!/usr/bin/env bash
# The generated upsert against the raw prepared statement and against a
# hand-written function with the same guarantees, measured from outside by
# pgbench -M prepared: ROUNDS rounds, each running the three for SECONDS_EACH
# seconds, in a rotating order, CLIENTS clients, in the database DATABASE_URL
# names (the racefree kit migrated there). Prints each run's tps and the
# medians of the per-round ratios generated / raw and generated / hand-written.
#
#   DATABASE_URL=postgres://... bench/pgbench/upsert.sh
#
# PGBENCH (default: pgbench on PATH), ROUNDS (6), SECONDS_EACH (5), CLIENTS (32).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/rounds.sh"
setup upsert

ratios=()
to_hand=()
for ((r = 0; r < rounds; r++)); do
  # Each round in another order of the three, so that none always runs first.
  order=(raw generated hand)
  order=("${order[@]:r%3}" "${order[@]:0:r%3}")
  declare -A t=()
  for v in "${order[@]}"; do t[$v]=$(tps "upsert-$v"); done
  ratios+=("$(ratio "${t[generated]}" "${t[raw]}")")
  to_hand+=("$(ratio "${t[generated]}" "${t[hand]}")")
  printf 'round %d: raw %.0f tps, generated %.0f tps, hand-written function %.0f tps; generated / raw %s, generated / hand-written %s\n' \
    "$((r + 1))" "${t[raw]}" "${t[generated]}" "${t[hand]}" "${ratios[-1]}" "${to_hand[-1]}"
done
what="generated / raw" median "${ratios[@]}"
echo "; target >= 0.95"
what="generated / the hand-written function with the same guarantees" median "${to_hand[@]}"
echo
