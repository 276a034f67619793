#!/usr/bin/env bash
# The generated upsert against the raw prepared statement, measured from
# outside by pgbench -M prepared: ROUNDS alternating runs (raw, generated;
# then generated, raw; ...) of SECONDS_EACH seconds each, CLIENTS clients, in the database
# DATABASE_URL names (the racefree kit migrated there). Prints each run's tps
# and the median of the per-round ratios generated / raw.
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
for ((r = 0; r < rounds; r++)); do
  if ((r % 2 == 0)); then raw=$(tps raw); gen=$(tps generated); else gen=$(tps generated); raw=$(tps raw); fi
  ratio=$(awk -v g="$gen" -v r="$raw" 'BEGIN { printf "%.3f", g / r }')
  ratios+=("$ratio")
  printf 'round %d: raw %.0f tps, generated %.0f tps, ratio %s\n' "$((r + 1))" "$raw" "$gen" "$ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END {
  m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
  printf "generated / raw, median of %d rounds: %.3f (min %s, max %s); target >= 0.95\n", NR, m, a[1], a[NR] }'
