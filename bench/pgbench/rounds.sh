# What the pgbench comparisons share (sourced by upsert.sh and numbering.sh):
# setup and teardown, one timed run of a script, and the median of ratios.
# PGBENCH (default: pgbench on PATH), ROUNDS (6), SECONDS_EACH (5), CLIENTS (32).
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${DATABASE_URL:?set DATABASE_URL to a database where the racefree kit is migrated}"
pgbench=${PGBENCH:-pgbench}
rounds=${ROUNDS:-6}
seconds=${SECONDS_EACH:-5}
clients=${CLIENTS:-32}

# Runs a psql script of bench/pgbench quietly, stopping at its first error.
run_sql() {
  PGOPTIONS="-c client_min_messages=warning" psql -q -v ON_ERROR_STOP=1 -f "bench/pgbench/$1.sql" "$DATABASE_URL" >/dev/null
}

# Creates the tables of comparison $1 ($1-setup.sql), and removes them on exit
# ($1-teardown.sql). The setups call the SQL API: a database without the kit
# is told so before anything is created, not through its error.
setup() {
  if [[ $(psql -XAtq -c "SELECT to_regprocedure('racefree.add_upsert(regclass, name[], text, name[], text)') IS NOT NULL" "$DATABASE_URL") != t ]]; then
    echo "bench/pgbench/$1.sh: racefree's kit is not migrated in this database: run racefree migrate up first" >&2
    exit 2
  fi
  run_sql "$1-setup"
  # shellcheck disable=SC2064 # $1 is meant to be expanded now
  trap "run_sql $1-teardown" EXIT
}

# The tps of bench/pgbench/$1.sql, prepared, $clients clients for $seconds s;
# a run that pgbench aborted (a failed statement) stops everything, with its output.
tps() {
  local out t
  out=$("$pgbench" -n -M prepared -c "$clients" -j 2 -T "$seconds" -f "bench/pgbench/$1.sql" "$DATABASE_URL" 2>&1) || true
  t=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")
  if [[ -z $t || $out == *"Run was aborted"* ]]; then
    printf 'pgbench %s failed:\n%s\n' "$1" "$out" >&2
    exit 1
  fi
  echo "$t"
}

# a / b with 3 decimals.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'
}

# "$what, median of N rounds: m (min x, max y)" of the ratios given.
median() {
  printf '%s\n' "$@" | sort -n | awk -v what="$what" '{ a[NR] = $1 } END {
    m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf "%s, median of %d rounds: %.3f (min %s, max %s)", what, NR, m, a[1], a[NR] }'
}
