#!/usr/bin/env bash
# Every Python test. When both databases are asked for and no test is picked, two pytest
# processes run at once, each on a database of its own: the tests that run on Postgres
# (`-k postgres`) in one, all the others (SQLite, and those that need no database) in the
# other. Many tests wait on a worker, a browser or a loopback server rather than on the CPU, so
# the two halves overlap well on two cores. Each test database is its own (a copied SQLite file,
# a Postgres database from a per-process template), so the halves never share one. Their logs
# are printed once both have ended, the SQLite half first; the run fails when either does.
set -uo pipefail
cd "$(dirname "$0")/.."

pytest=.venv/bin/pytest
databases=",${MONEYPRINTER_TEST_DATABASES:-sqlite,postgres},"
if [[ $# -gt 0 || $databases != *,sqlite,* || $databases != *,postgres,* ]]; then
    exec "$pytest" "$@"
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# No cache plugin: two sessions would write .pytest_cache at once.
"$pytest" -p no:cacheprovider -k "not postgres" >"$logs/sqlite.log" 2>&1 &
sqlite=$!
"$pytest" -p no:cacheprovider -k "postgres" >"$logs/postgres.log" 2>&1 &
postgres=$!
wait "$sqlite"
sqlite_status=$?
wait "$postgres"
postgres_status=$?

echo "== the tests on SQLite and those without a database (exit $sqlite_status)"
cat "$logs/sqlite.log"
echo "== the tests on Postgres (exit $postgres_status)"
cat "$logs/postgres.log"
[[ $sqlite_status -eq 0 && $postgres_status -eq 0 ]]
