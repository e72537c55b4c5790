#!/usr/bin/env bash
# Make sure the test Postgres answers at MONEYPRINTER_TEST_POSTGRES_DSN (default
# postgresql://postgres@127.0.0.1:5432/test): start the local cluster when it is down, install it
# when there is none (root on Debian), and create the DSN's database when it is missing.
# `make test` runs it when the tests include Postgres; `.ci/run` runs it first.
set -euo pipefail

DSN="${MONEYPRINTER_TEST_POSTGRES_DSN:-postgresql://postgres@127.0.0.1:5432/test}"
# The database is the DSN's last path segment, without any ?options.
DATABASE="${DSN##*/}"
DATABASE="${DATABASE%%\?*}"
WAIT_S=30
installed_here=0

say() { printf 'postgres: %s\n' "$*"; }

is_root() { [ "$(id -u)" -eq 0 ]; }

give_up() {
    say "$*"
    say "  set MONEYPRINTER_TEST_POSTGRES_DSN to a server where this user may CREATE DATABASE,"
    say "  or test on SQLite alone: make test MONEYPRINTER_TEST_DATABASES=sqlite"
    exit 1
}

cluster_version() {
    # The newest installed cluster version (a Debian postgresql-common layout).
    find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null \
        | sort -V | tail -n 1
}

install_postgres() {
    is_root && command -v apt-get >/dev/null 2>&1 \
        || give_up "Postgres is not installed (apt-get install -y postgresql, as root)"
    say "installing postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql
    installed_here=1
}

start_cluster() {
    local version
    version="$(cluster_version)"
    [ -n "$version" ] && is_root || give_up "Postgres does not answer at $DSN"
    # A running local cluster that does not answer means the DSN names another server.
    if pg_ctlcluster "$version" main status >/dev/null 2>&1; then
        give_up "Postgres does not answer at $DSN (the local cluster $version/main is running)"
    fi
    say "starting cluster $version/main"
    # --skip-systemctl-redirect: containers and CI machines usually run no systemd.
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq "$WAIT_S"); do
        pg_isready -q -d "$DSN" && return 0
        sleep 1
    done
    give_up "Postgres did not answer within ${WAIT_S} s of starting"
}

trust_loopback() {
    # Debian's default asks loopback clients for a password the postgres role does not have. Only
    # on a cluster installed just now or on a CI machine: elsewhere it is the owner's decision.
    local version hba
    version="$(cluster_version)"
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    if ! is_root || [ ! -f "$hba" ] || { [ "$installed_here" -eq 0 ] && [ "${CI:-}" != "true" ]; }; then
        return 1
    fi
    say "trusting loopback connections in $hba (a test cluster)"
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload
}

create_database() {
    is_root && command -v runuser >/dev/null 2>&1 || return 1
    say "creating database $DATABASE"
    runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$DATABASE\""
}

command -v pg_isready >/dev/null 2>&1 || install_postgres
pg_isready -q -d "$DSN" || start_cluster

if ! command -v psql >/dev/null 2>&1; then
    say "answering at $DSN (psql is missing, so the login is not checked here)"
    exit 0
fi
for _ in 1 2 3; do
    if error="$(psql "$DSN" -Atqc 'SELECT 1' 2>&1 >/dev/null)"; then
        say "ready at $DSN"
        exit 0
    fi
    case "$error" in
        *"database \"$DATABASE\" does not exist"*) create_database || give_up "$error" ;;
        *password* | *authentication*) trust_loopback || give_up "$error" ;;
        *) give_up "$error" ;;
    esac
done
give_up "cannot log in at $DSN: $error"
