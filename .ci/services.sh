#!/usr/bin/env bash
# Makes sure the services the tests talk to are up: PostgreSQL on 127.0.0.1:5432 (or $RTLETTER_TEST_POSTGRES_URL).
# This machine kind starts PostgreSQL before each session and CI; elsewhere we try Debian's cluster tools, and if
# that fails we stop with a clear message instead of letting tests skip.
set -uo pipefail
host=127.0.0.1
port=5432
if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$host" -p "$port"; then
  exit 0
fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  version=$(ls /etc/postgresql | head -n 1)
  echo "PostgreSQL not answering on $host:$port; starting cluster $version/main" >&2
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 20); do pg_isready -q -h "$host" -p "$port" && exit 0; sleep 0.5; done
fi
cat >&2 <<MSG
error: PostgreSQL is not reachable on $host:$port, and the integration tests need a real server.
  On Debian: apt-get install -y postgresql && pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start
  Or point RTLETTER_TEST_POSTGRES_URL at a server with trust auth and a database named 'test'.
MSG
exit 1
