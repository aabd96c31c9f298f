# Sourced by .ci/run (and usable by hand: `source .ci/postgres.sh`): starts a PostgreSQL
# cluster named "driftgate" on 127.0.0.1:$DRIFTGATE_PG_PORT, creates the test database and
# exports DRIFTGATE_TEST_POSTGRES. Safe to run again on the same machine.
DRIFTGATE_PG_PORT="${DRIFTGATE_PG_PORT:-55432}"
pg_version="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -x "$pg_version driftgate" >/dev/null; then
  pg_createcluster -p "$DRIFTGATE_PG_PORT" "$pg_version" driftgate -- \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
fi
# conf.d is read last and wins; loopback only, the tests never reach further.
printf "listen_addresses = '127.0.0.1'\nport = %s\n" "$DRIFTGATE_PG_PORT" \
  >"/etc/postgresql/$pg_version/driftgate/conf.d/driftgate.conf"
if ! pg_lsclusters -h | awk '$1" "$2 == "'"$pg_version"' driftgate" {print $4}' | grep -x online >/dev/null; then
  pg_ctlcluster "$pg_version" driftgate start
fi
for _ in $(seq 1 50); do
  pg_isready -q -h 127.0.0.1 -p "$DRIFTGATE_PG_PORT" && break
  sleep 0.2
done
as_postgres() { runuser -u postgres -- "$@"; }
as_postgres psql -q -p "$DRIFTGATE_PG_PORT" -v ON_ERROR_STOP=1 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'driftgate') THEN
    CREATE ROLE driftgate LOGIN PASSWORD 'driftgate';
  END IF;
END $$;
SQL
if ! as_postgres psql -p "$DRIFTGATE_PG_PORT" -tAc "SELECT 1 FROM pg_database WHERE datname = 'driftgate_test'" | grep -x 1 >/dev/null; then
  as_postgres createdb -p "$DRIFTGATE_PG_PORT" -O driftgate driftgate_test
fi
export DRIFTGATE_TEST_POSTGRES="postgres://driftgate:driftgate@127.0.0.1:${DRIFTGATE_PG_PORT}/driftgate_test"
echo "PostgreSQL for tests: ${DRIFTGATE_TEST_POSTGRES}"
