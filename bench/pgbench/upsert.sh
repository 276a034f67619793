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
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${DATABASE_URL:?set DATABASE_URL to a database where the racefree kit is migrated}"
pgbench=${PGBENCH:-pgbench}
rounds=${ROUNDS:-6}
seconds=${SECONDS_EACH:-5}
clients=${CLIENTS:-32}

# The setup calls the SQL API: say so before anything is created, not through its error.
if [[ $(psql -XAtq -c "SELECT to_regprocedure('racefree.add_upsert(regclass, name[], text, name[], text)') IS NOT NULL" "$DATABASE_URL") != t ]]; then
  echo "bench/pgbench/upsert.sh: racefree's kit is not migrated in this database: run racefree migrate up first" >&2
  exit 2
fi
PGOPTIONS="-c client_min_messages=warning" psql -q -v ON_ERROR_STOP=1 -f bench/pgbench/upsert-setup.sql "$DATABASE_URL" >/dev/null
trap 'PGOPTIONS="-c client_min_messages=warning" psql -q -f bench/pgbench/upsert-teardown.sql "$DATABASE_URL" >/dev/null' EXIT

tps() {
  "$pgbench" -n -M prepared -c "$clients" -j 2 -T "$seconds" -f "bench/pgbench/upsert-$1.sql" "$DATABASE_URL" 2>&1 |
    sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

ratios=()
to_hand=()
for ((r = 0; r < rounds; r++)); do
  # Each round in another order of the three, so that none always runs first.
  order=(raw generated hand)
  order=("${order[@]:r%3}" "${order[@]:0:r%3}")
  declare -A t=()
  for v in "${order[@]}"; do t[$v]=$(tps "$v"); done
  ratio=$(awk -v g="${t[generated]}" -v r="${t[raw]}" 'BEGIN { printf "%.3f", g / r }')
  hand=$(awk -v g="${t[generated]}" -v h="${t[hand]}" 'BEGIN { printf "%.3f", g / h }')
  ratios+=("$ratio")
  to_hand+=("$hand")
  printf 'round %d: raw %.0f tps, generated %.0f tps, hand-written function %.0f tps; generated / raw %s, generated / hand-written %s\n' \
    "$((r + 1))" "${t[raw]}" "${t[generated]}" "${t[hand]}" "$ratio" "$hand"
done
median() {
  printf '%s\n' "$@" | sort -n | awk -v what="$what" '{ a[NR] = $1 } END {
    m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf "%s, median of %d rounds: %.3f (min %s, max %s)", what, NR, m, a[1], a[NR] }'
}
what="generated / raw" median "${ratios[@]}"
echo "; target >= 0.95"
what="generated / the hand-written function with the same guarantees" median "${to_hand[@]}"
echo
