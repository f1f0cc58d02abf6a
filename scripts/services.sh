#!/usr/bin/env bash
# Start the real services the test suite needs (PostgreSQL, Redis, S3 via moto),
# installing them from Debian packages when missing. Prints `export NAME=value` lines for eval.
# Usage: eval "$(scripts/services.sh start)"     scripts/services.sh stop
set -euo pipefail
ROOT="${VIDEOGATE_SERVICES_DIR:-/tmp/videogate-services}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PG_PORT="${VIDEOGATE_PG_PORT:-54329}"

log() { echo "services: $*" >&2; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then log "not root: cannot install $*"; return 1; fi
  if [ ! -f /tmp/videogate-apt-updated ]; then
    apt-get update -qq >&2 && touch /tmp/videogate-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

# pgvector: no Debian package for bookworm, so the vendored release (third_party/pgvector) is
# built against this server's headers and installed into it, once. Idempotent: nothing
# happens when the server already has this version (or a newer one).
ensure_pgvector() {
  local bin="$1" src="$REPO/third_party/pgvector"
  local pgc="$bin/pg_config" major; major="$(basename "$(dirname "$bin")")"
  local want have control
  want="$(sed -n "s/^default_version = '\(.*\)'$/\1/p" "$src/vector.control")"
  control="$("$pgc" --sharedir)/extension/vector.control"
  if [ -f "$control" ]; then
    have="$(sed -n "s/^default_version = '\(.*\)'$/\1/p" "$control")"
    if [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n 1)" = "$want" ]; then
      return 0
    fi
  fi
  if [ ! -f "$("$pgc" --includedir-server)/postgres.h" ]; then
    apt_install "postgresql-server-dev-$major" || return 1
  fi
  command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || apt_install build-essential || return 1
  local tmp start=$SECONDS
  tmp="$(mktemp -d)"
  cp -R "$src/." "$tmp/"
  log "building pgvector $want for PostgreSQL $major (third_party/pgvector)"
  # OPTFLAGS="": no -march=native, so the library runs on any CPU of this architecture
  # (pgvector picks its SIMD distance functions at run time).
  if ! (cd "$tmp" && make -s -j"$(nproc)" PG_CONFIG="$pgc" OPTFLAGS="" \
        && make -s PG_CONFIG="$pgc" OPTFLAGS="" install) >&2; then
    rm -rf "$tmp"; log "pgvector build failed"; return 1
  fi
  rm -rf "$tmp"
  log "pgvector $want installed in $((SECONDS - start)) s"
}

start_pg() {
  local bin; bin="$(pg_bin)"
  if [ -z "$bin" ]; then apt_install postgresql || return 1; bin="$(pg_bin)"; fi
  if ! ensure_pgvector "$bin"; then
    # CI must test the cache's real index: a missing pgvector is a failure there, not a note.
    if [ "${CI:-}" = "true" ]; then log "pgvector could not be installed (CI=true): failing"; exit 1; fi
    log "pgvector unavailable: the cache falls back to brute force"
  fi
  local data="$ROOT/pg"
  mkdir -p "$ROOT"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$ROOT" 2>/dev/null || true; fi
  run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  if [ ! -f "$data/PG_VERSION" ]; then
    run "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  if ! run "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    run "$bin/pg_ctl" -D "$data" -l "$ROOT/pg.log" -w -o "-p $PG_PORT -k $ROOT -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
  fi
  echo "export VIDEOGATE_TEST_PG_URL=postgresql+asyncpg://postgres@127.0.0.1:$PG_PORT/postgres"
  log "PostgreSQL ready on 127.0.0.1:$PG_PORT"
}

start_s3() {
  # moto's S3-compatible server, from the project's venv (a PyPI package, not a download).
  local bin=".venv/bin/moto_server"
  [ -x "$bin" ] || { log "no $bin yet (run make install): S3 not started"; return 1; }
  local port="${VIDEOGATE_S3_PORT:-54330}"
  if ! curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
    mkdir -p "$ROOT"
    nohup "$bin" -H 127.0.0.1 -p "$port" >"$ROOT/moto.log" 2>&1 &
    echo $! >"$ROOT/moto.pid"
    for _ in $(seq 1 50); do
      curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break
      sleep 0.2
    done
  fi
  echo "export VIDEOGATE_TEST_S3_URL=http://127.0.0.1:$port"
  log "S3 (moto) ready on 127.0.0.1:$port"
}

start_redis() {
  local port="${VIDEOGATE_REDIS_PORT:-54331}"
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server || return 1
  if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
    mkdir -p "$ROOT"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
      --daemonize yes --pidfile "$ROOT/redis.pid" --logfile "$ROOT/redis.log" >&2
    for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  echo "export VIDEOGATE_TEST_REDIS_URL=redis://127.0.0.1:$port/0"
  log "Redis ready on 127.0.0.1:$port"
}

# Browser and metrics tools the UI and /metrics tests drive: Debian's Chromium with its
# driver (nothing downloads a browser) and Debian's Prometheus server (scrapes /metrics).
start_tools() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || missing+=(prometheus)
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}" || return 1; fi
  echo "export VIDEOGATE_TEST_CHROMIUM=$(command -v chromium)"
  echo "export VIDEOGATE_TEST_CHROMEDRIVER=$(command -v chromedriver)"
  echo "export VIDEOGATE_TEST_PROMETHEUS=$(command -v prometheus || echo /usr/bin/prometheus)"
  log "Chromium, ChromeDriver and Prometheus ready"
}

stop_redis() {
  redis-cli -p "${VIDEOGATE_REDIS_PORT:-54331}" shutdown nosave >/dev/null 2>&1 || true
}

stop_s3() {
  [ -f "$ROOT/moto.pid" ] && kill "$(cat "$ROOT/moto.pid")" 2>/dev/null || true
  rm -f "$ROOT/moto.pid"
}

stop_pg() {
  local bin; bin="$(pg_bin)"; [ -n "$bin" ] || return 0
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$bin/pg_ctl" -D "$ROOT/pg" stop -m fast >/dev/null 2>&1 || true
  else "$bin/pg_ctl" -D "$ROOT/pg" stop -m fast >/dev/null 2>&1 || true; fi
}

case "${1:-start}" in
  start)
    start_pg || log "PostgreSQL unavailable"
    start_redis || log "Redis unavailable"
    start_s3 || log "S3 unavailable"
    start_tools || log "Chromium/Prometheus unavailable"
    ;;
  stop) stop_pg; stop_redis; stop_s3 ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
