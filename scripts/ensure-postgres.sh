#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 with a database "test" (trust auth), as the
# PostgreSQL test pass needs: start the cluster when it is stopped, install it when it is missing.
set -euo pipefail

ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! command -v pg_isready >/dev/null 2>&1; then
  echo "ensure-postgres: installing PostgreSQL" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi
if ! ready; then
  echo "ensure-postgres: starting PostgreSQL" >&2
  for v in /etc/postgresql/*; do
    pg_ctlcluster --skip-systemctl-redirect "$(basename "$v")" main start || true
  done
  for _ in $(seq 1 30); do ready && break; sleep 1; done
fi
ready || { echo "ensure-postgres: PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }
if ! psql -h 127.0.0.1 -U postgres -d test -tAc "select 1" >/dev/null 2>&1; then
  # a fresh install: trust local TCP connections and create the test database
  su postgres -c "psql -tAc \"select 1\"" >/dev/null
  hba=$(su postgres -c "psql -tAc 'show hba_file'")
  grep -q "anigate-test" "$hba" || sed -i '1i host all all 127.0.0.1/32 trust # anigate-test' "$hba"
  su postgres -c "psql -tAc 'select pg_reload_conf()'" >/dev/null
  su postgres -c "createdb test" 2>/dev/null || true
fi
psql -h 127.0.0.1 -U postgres -d test -tAc "select 1" >/dev/null
echo "ensure-postgres: ready on 127.0.0.1:5432, database test" >&2
