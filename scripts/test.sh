#!/usr/bin/env bash
# Set up and run the whole test suite: lint (ruff), the docs site (mkdocs build --strict),
# the type check, a SQLite pass (everything, browser tests and the wheel's install test
# included), a PostgreSQL pass against a throwaway server this script starts and stops
# itself, and a pass with Django 5.2 LTS on that server (BYO_SKIP_LTS=true skips it), all
# with a throwaway Redis (Debian's redis-server) for the stateless-token revocation tests.
# Extra arguments go to pytest (both passes). With CI=true a missing PostgreSQL, Redis or
# Chromium is a failure, not a skip.
set -euo pipefail
BYO_EXTRAS="test,typecheck"
source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
CI="${CI:-false}"

# --- Chromium for the device.js browser tests (Debian's package; never `playwright install`)
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing Debian's chromium for the browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 || true
  fi
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$CI" = true ]; then echo "error: /usr/bin/chromium is missing and CI=true" >&2; exit 1; fi
    echo "note: /usr/bin/chromium is missing: browser tests will skip"
  fi
fi

# --- Redis for the revocation tests (Debian's package, installed like chromium)
if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing Debian's redis-server for the revocation tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null 2>&1 || true
  fi
  if ! command -v redis-server >/dev/null; then
    if [ "$CI" = true ]; then echo "error: redis-server is missing and CI=true" >&2; exit 1; fi
    echo "note: redis-server is missing: the Redis revocation tests will skip"
  fi
fi

# --- The published Node client for tests/server/test_node_client.py (pinned, into .node-client/)
bash "$ROOT/scripts/node_client.sh"
# --- panva's dpop for tests/test_dpop_node.py (pinned, into .node-dpop/)
bash "$ROOT/scripts/node_dpop.sh"
# --- examples/express_app's pinned dependencies for tests/examples/test_express_app.py
bash "$ROOT/scripts/express_example.sh"

# --- A throwaway PostgreSQL server
PG_BIN=""
for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) ; do
  [ -x "$dir/pg_ctl" ] && { PG_BIN="$dir"; break; }
done
[ -z "$PG_BIN" ] && command -v pg_ctl >/dev/null && PG_BIN="$(dirname "$(command -v pg_ctl)")"

PG_DIR=""
stop_pg() {
  if [ -n "$PG_DIR" ] && [ -d "$PG_DIR" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}

free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A throwaway Redis: no persistence, loopback only, in a temp dir; its URL goes to the tests.
REDIS_DIR=""
stop_redis() {
  if [ -n "$REDIS_DIR" ] && [ -f "$REDIS_DIR/redis.pid" ]; then
    local pid
    pid="$(cat "$REDIS_DIR/redis.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  [ -n "$REDIS_DIR" ] && rm -rf "$REDIS_DIR"
  REDIS_DIR=""
}
start_redis() {
  REDIS_DIR="$(mktemp -d /tmp/byo-redis.XXXXXX)"
  local port
  port="$(free_port)"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" >/dev/null || return 1
  for _ in $(seq 50); do
    if "$VENV/bin/python" -c "import redis; redis.Redis(port=$port).ping()" 2>/dev/null; then
      export BYO_TEST_REDIS="redis://127.0.0.1:$port/0"
      return 0
    fi
    sleep 0.1
  done
  cat "$REDIS_DIR/redis.log" >&2
  return 1
}
cleanup() { stop_redis; stop_pg; }
trap cleanup EXIT

if command -v redis-server >/dev/null; then
  echo "==> starting a throwaway Redis"
  start_redis || { echo "error: could not start Redis" >&2; [ "$CI" = true ] && exit 1; stop_redis; }
fi

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_pg() {
  PG_DIR="$(mktemp -d /tmp/byo-pg.XXXXXX)"
  chmod 755 "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
  PG_PORT="$(free_port)"
  as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 start -o \
    "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
}

echo "==> lint and format (ruff check, ruff format --check)"
ruff check .
ruff format --check .

echo "==> docs site (mkdocs build --strict)"
SITE_TMP="$(mktemp -d /tmp/byo-site.XXXXXX)"
NO_MKDOCS_2_WARNING=1 mkdocs build --strict --site-dir "$SITE_TMP"
rm -rf "$SITE_TMP"

echo "==> type check (mypy with django-stubs)"
python -m mypy

echo "==> pass 1/3: SQLite"
python -m pytest -q "$@"

if [ -z "$PG_BIN" ]; then
  if [ "$CI" = true ]; then echo "error: PostgreSQL binaries not found and CI=true" >&2; exit 1; fi
  echo "note: PostgreSQL binaries not found: skipping the PostgreSQL pass (install postgresql to run it)"
  exit 0
fi
echo "==> starting a throwaway PostgreSQL ($PG_BIN)"
start_pg || { echo "error: could not start PostgreSQL" >&2; exit 1; }
echo "==> pass 2/3: PostgreSQL on 127.0.0.1:$PG_PORT"
BYO_TEST_POSTGRES="127.0.0.1:$PG_PORT" python -m pytest -q -m "not browser and not packaging" "$@"

# --- The 5.2 LTS we also support, on PostgreSQL (its own venv, same project)
if [ "${BYO_SKIP_LTS:-false}" != true ]; then
  LTS="$ROOT/.venv-django52"
  if [ ! -x "$LTS/bin/python" ]; then "$VENV/bin/python" -m venv "$LTS"; fi
  if [ ! -f "$LTS/.byo-installed" ] || [ "$(cat "$LTS/.byo-installed")" != "$WANT" ]; then
    echo "==> installing Django 5.2 LTS into .venv-django52"
    "$LTS/bin/python" -m pip install --quiet --disable-pip-version-check "Django>=5.2,<5.3" -e "$ROOT[test]" 2>&1 \
      | grep -v "is ignored: it is neither a file nor a directory" || true
    echo "$WANT" > "$LTS/.byo-installed"
  fi
  echo "==> pass 3/3: Django $("$LTS/bin/python" -c 'import django; print(django.get_version())') on PostgreSQL"
  BYO_TEST_POSTGRES="127.0.0.1:$PG_PORT" "$LTS/bin/python" -m pytest -q -m "not browser and not packaging" "$@"
fi
