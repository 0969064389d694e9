#!/usr/bin/env bash
# Start (or reuse) a throwaway PostgreSQL cluster on loopback for the store tests,
# and print its SQLAlchemy URL on stdout (everything else goes to stderr).
#
#   export VEREDICTO_TEST_PG_URL="$(scripts/start_postgres.sh)"
#
# - Installs Debian's `postgresql` package with apt-get when no server binaries exist.
# - The cluster lives in $VEREDICTO_PG_DIR (default /tmp/veredicto-pg), listens on
#   127.0.0.1 only, on a free port chosen at first start, with `trust` auth: it is for
#   tests, never for real data (fsync is off to keep the tests quick).
# - Runs the server as an unprivileged user: `postgres` when called as root, else yourself.
# - Idempotent: a second call finds the running cluster and prints the same URL.
# - `scripts/start_postgres.sh stop` stops it.
set -euo pipefail

PGROOT="${VEREDICTO_PG_DIR:-/tmp/veredicto-pg}"
DATA="$PGROOT/data"
PORT_FILE="$PGROOT/port"
DB_NAME="veredicto_test"
log() { echo "start_postgres: $*" >&2; }

find_bindir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then echo "$dir"; return; fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"; return
    fi
}

BINDIR="$(find_bindir)"
if [[ -z "$BINDIR" ]]; then
    if [[ "$(id -u)" != 0 ]]; then
        log "PostgreSQL is not installed and installing it needs root: run 'apt-get update && apt-get install -y postgresql' as root."
        exit 1
    fi
    log "installing Debian's postgresql package…"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends postgresql >&2
    BINDIR="$(find_bindir)"
    [[ -n "$BINDIR" ]] || { log "postgresql installed but initdb was not found"; exit 1; }
fi

if [[ "$(id -u)" == 0 ]]; then
    RUN_AS=postgres
    id "$RUN_AS" >/dev/null 2>&1 || useradd --system --home-dir "$PGROOT" --shell /bin/false "$RUN_AS"
    as_user() { runuser -u "$RUN_AS" -- "$@"; }
else
    RUN_AS="$(id -un)"
    as_user() { "$@"; }
fi

if [[ "${1:-}" == "stop" ]]; then
    if [[ -f "$DATA/PG_VERSION" ]]; then as_user "$BINDIR/pg_ctl" -D "$DATA" -m fast stop >&2 || true; fi
    exit 0
fi

free_port() {
    python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

mkdir -p "$PGROOT"
chmod 755 "$PGROOT"
[[ "$(id -u)" == 0 ]] && chown "$RUN_AS" "$PGROOT"

if [[ ! -f "$DATA/PG_VERSION" ]]; then
    log "initialising a cluster in $DATA (user $RUN_AS)"
    as_user "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >&2 \
        || as_user "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C >&2
    rm -f "$PORT_FILE"
fi

url() { echo "postgresql+psycopg2://postgres@127.0.0.1:$(cat "$PORT_FILE")/$DB_NAME"; }

if [[ -f "$PORT_FILE" ]] && as_user "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1 \
    && "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$(cat "$PORT_FILE")"; then
    log "already running on port $(cat "$PORT_FILE")"
    url
    exit 0
fi

# Not running (first start, or a stale pid after a reboot): pick a free port and start.
as_user "$BINDIR/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
PORT="$(free_port)"
echo "$PORT" > "$PORT_FILE"
chmod 644 "$PORT_FILE"
log "starting on 127.0.0.1:$PORT"
as_user "$BINDIR/pg_ctl" -D "$DATA" -w -t 60 -l "$PGROOT/server.log" \
    -o "-h 127.0.0.1 -p $PORT -k $PGROOT -c fsync=off -c full_page_writes=off -c max_connections=100" start >&2 \
    || { log "server did not start; last log lines:"; tail -n 20 "$PGROOT/server.log" >&2 || true; exit 1; }

for _ in $(seq 1 30); do
    "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
    sleep 1
done
if ! as_user "$BINDIR/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
    as_user "$BINDIR/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB_NAME" >&2
fi
url
